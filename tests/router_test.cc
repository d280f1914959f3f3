#include "pagekv/cluster/router.h"

#include <cstdint>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pagekv::cluster {
namespace {

std::unique_ptr<RoutingPolicy> Policy(RouterConfig c, int n) {
  std::vector<int64_t> capacity(static_cast<size_t>(n), 1000);
  absl::StatusOr<std::unique_ptr<RoutingPolicy>> p =
      RoutingPolicy::Create(c, n, capacity);
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

RouterConfig Named(const char* name) {
  RouterConfig c;
  c.name = name;
  return c;
}

TEST(RouterTest, LoadScoreAveragesQueueShareAndKvUsage) {
  std::vector<InstanceLoad> loads(2);
  loads[0].queued = 4;
  loads[0].kv_usage = 0.5;
  loads[1].queued = 2;
  loads[1].kv_usage = 0;
  EXPECT_DOUBLE_EQ(LoadScore(loads, 0), 0.75);
  EXPECT_DOUBLE_EQ(LoadScore(loads, 1), 0.25);
  loads[0].queued = loads[1].queued = 0;
  EXPECT_DOUBLE_EQ(LoadScore(loads, 1), 0);
}

TEST(RouterTest, LeastLoadedPicksTheLightestInstance) {
  auto p = Policy(Named("least-loaded"), 3);
  std::vector<InstanceLoad> loads(3);
  loads[0].queued = 3;
  loads[1].queued = 1;
  loads[2].queued = 1;
  loads[2].kv_usage = 0.9;
  EXPECT_EQ(p->Route(RouteQuery{}, loads), 1);
}

TEST(RouterTest, PrefixScorersWeighCacheAgainstLoad) {
  RouterConfig c = Named("prefix");
  auto p = Policy(c, 2);
  const std::vector<uint64_t> keys = {1, 2, 3, 4};
  const std::vector<int32_t> cached = {4, 0};
  RouteQuery q;
  q.block_keys = keys;
  q.cached_blocks = cached;
  std::vector<InstanceLoad> loads(2);
  loads[0].kv_usage = 0.9;           // busy, but holds the prompt
  EXPECT_EQ(p->Route(q, loads), 0);  // 3 * 1 - 2 * 0.45 > 0
  c.w_load = 10;
  EXPECT_EQ(Policy(c, 2)->Route(q, loads), 1);  // load wins
  // Dynamo's cost: 0 uncovered + 100 decode blocks vs 4 + 0.
  RouterConfig cost = Named("prefix");
  cost.scorer = "cost";
  loads[0].used_blocks = 100;
  EXPECT_EQ(Policy(cost, 2)->Route(q, loads), 1);
  cost.prefill_scale = 50;
  EXPECT_EQ(Policy(cost, 2)->Route(q, loads), 0);
}

TEST(RouterTest, ApproxPrefixRemembersWhereItSentBlocksAndForgets) {
  std::vector<int64_t> capacity = {2, 2};
  RouterConfig c = Named("approx-prefix");
  auto p = *RoutingPolicy::Create(c, 2, capacity);
  std::vector<InstanceLoad> loads(2);
  const std::vector<uint64_t> a = {1, 2};
  const std::vector<uint64_t> b = {3, 4};
  RouteQuery qa, qb;
  qa.block_keys = a;
  qb.block_keys = b;
  EXPECT_EQ(p->Route(qa, loads), 0);  // tie: lowest index
  loads[0].queued = 1;
  EXPECT_EQ(p->Route(qb, loads), 1);  // load
  loads[1].queued = 1;
  EXPECT_EQ(p->Route(qa, loads), 0);  // history
  EXPECT_EQ(p->Route(qb, loads), 1);
  // A third prompt on instance 0 pushes {1, 2} out of its 2-block history.
  const std::vector<uint64_t> d = {5, 6};
  RouteQuery qd;
  qd.block_keys = d;
  loads[1].queued = 5;
  EXPECT_EQ(p->Route(qd, loads), 0);
  loads[1].queued = 0;
  EXPECT_EQ(p->Route(qa, loads), 1);  // forgotten: least loaded now
}

TEST(RouterTest, RandomIsSeededAndUsesOnlyEligibleInstances) {
  RouterConfig c = Named("random");
  c.seed = 3;
  auto p1 = Policy(c, 4);
  auto p2 = Policy(c, 4);
  std::vector<InstanceLoad> loads(4);
  std::vector<int32_t> seen(4, 0);
  for (int i = 0; i < 200; ++i) {
    const int32_t a = p1->Route(RouteQuery{}, loads);
    EXPECT_EQ(a, p2->Route(RouteQuery{}, loads));
    ++seen[static_cast<size_t>(a)];
  }
  for (int32_t s : seen) EXPECT_GT(s, 20);
  // Bounded load: an instance far above the mean is never picked.
  c.load_bound = 1;
  auto p3 = Policy(c, 4);
  loads[2].in_flight = 50;
  for (int i = 0; i < 50; ++i) EXPECT_NE(p3->Route(RouteQuery{}, loads), 2);
  EXPECT_EQ(p3->guarded_decisions(), 50);
}

TEST(RouterTest, ValidateListsTheRouters) {
  RouterConfig c = Named("nearest");
  EXPECT_THAT(c.Validate().message(),
              testing::HasSubstr("round-robin, random, least-loaded, prefix, "
                                 "approx-prefix"));
  c = Named("prefix");
  c.scorer = "magic";
  EXPECT_THAT(c.Validate().message(), testing::HasSubstr("scorer"));
  c = Named("prefix");
  c.w_prefix = -1;
  EXPECT_THAT(c.Validate().message(), testing::HasSubstr("w_prefix"));
  c = Named("prefix");
  c.affinity_blocks = -2;
  EXPECT_THAT(c.Validate().message(), testing::HasSubstr("affinity_blocks"));
}

}  // namespace
}  // namespace pagekv::cluster
