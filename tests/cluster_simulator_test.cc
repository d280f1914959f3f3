#include "pagekv/cluster/cluster_simulator.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"
#include "pagekv/sim/default_workload.h"
#include "pagekv/sim/simulator.h"
#include "sim_test_util.h"

namespace pagekv::cluster {
namespace {

using pagekv::testing::SmallDefaultWorkload;

SimulatorConfig Instance(double kv_gib) {
  return pagekv::testing::SmallSimConfig(kv_gib);
}

ClusterConfig Cluster(int n, const std::string& router, double kv_gib = 0.5) {
  ClusterConfig c;
  c.instances.assign(static_cast<size_t>(n), Instance(kv_gib));
  c.router.name = router;
  return c;
}

// A request at `t` with prompt segment `prefix` (1024 tokens) and a unique
// 32-token tail, 4 output tokens.
Request At(double t, uint64_t prefix, uint64_t id) {
  Request r;
  r.id = id;
  r.arrival_s = t;
  r.output_tokens = 4;
  r.segments = {{prefix, 1024}, {1000 + id, 32}};
  return r;
}

TEST(ClusterSimulatorTest, OneInstanceReproducesSimulateWithAnyRouter) {
  const Workload w = SmallDefaultWorkload(80);
  // Tight memory: preemptions and evictions happen.
  const SimulatorConfig single = Instance(0.15);
  absl::StatusOr<SimulationReport> expected = Simulate(w, single);
  ASSERT_TRUE(expected.ok()) << expected.status();
  ASSERT_GT(expected->preemptions, 0);
  for (const std::string& router : RouterNames()) {
    SCOPED_TRACE(router);
    ClusterConfig c = Cluster(1, router);
    c.instances = {single};
    absl::StatusOr<ClusterReport> got = SimulateCluster(w, c);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->requests.size(), expected->requests.size());
    for (size_t i = 0; i < got->requests.size(); ++i) {
      const RequestResult& a = got->requests[i];
      const RequestResult& b = expected->requests[i];
      EXPECT_EQ(a.first_token_s, b.first_token_s) << i;
      EXPECT_EQ(a.finish_s, b.finish_s) << i;
      EXPECT_EQ(a.hit_tokens, b.hit_tokens) << i;
      EXPECT_EQ(a.preemptions, b.preemptions) << i;
      EXPECT_EQ(a.rejected, b.rejected) << i;
    }
    EXPECT_EQ(got->ttft.p90, expected->ttft.p90);
    EXPECT_EQ(got->tpot.p90, expected->tpot.p90);
    EXPECT_EQ(got->e2e.mean, expected->e2e.mean);
    EXPECT_EQ(got->makespan_s, expected->makespan_s);
    EXPECT_EQ(got->output_throughput, expected->output_throughput);
    EXPECT_EQ(got->prefix_hit_rate, expected->prefix_hit_rate);
    EXPECT_EQ(got->preemptions, expected->preemptions);
    EXPECT_EQ(got->instances[0].steps, expected->steps);
  }
}

TEST(ClusterSimulatorTest, RoundRobinSplitsEvenly) {
  const Workload w = SmallDefaultWorkload(40);
  absl::StatusOr<ClusterReport> r =
      SimulateCluster(w, Cluster(4, "round-robin"));
  ASSERT_TRUE(r.ok()) << r.status();
  for (size_t k = 0; k < r->routed_to.size(); ++k) {
    EXPECT_EQ(r->routed_to[k], static_cast<int32_t>(k % 4));
  }
  for (const InstanceSummary& s : r->instances) EXPECT_EQ(s.routed, 10);
  EXPECT_DOUBLE_EQ(r->imbalance, 1.0);
  EXPECT_EQ(r->completed, 40);
}

TEST(ClusterSimulatorTest, PrefixRouterSendsARepeatedPrefixWhereItIsCached) {
  Workload w;
  w.name = "repeat";
  // Four prefixes, one request each, then each again once all finished.
  for (uint64_t p = 0; p < 4; ++p)
    w.requests.push_back(At(0.001 * p, 10 + p, p));
  const uint64_t again[] = {12, 10, 13, 11};
  for (uint64_t k = 0; k < 4; ++k) {
    w.requests.push_back(At(20 + 0.001 * k, again[k], 4 + k));
  }
  absl::StatusOr<ClusterReport> r = SimulateCluster(w, Cluster(4, "prefix"));
  ASSERT_TRUE(r.ok()) << r.status();
  // The cold requests spread (load), the repeats follow their prefix.
  std::vector<int32_t> first(r->routed_to.begin(), r->routed_to.begin() + 4);
  std::sort(first.begin(), first.end());
  EXPECT_THAT(first, ::testing::ElementsAre(0, 1, 2, 3));
  for (uint64_t k = 0; k < 4; ++k) {
    EXPECT_EQ(r->routed_to[4 + k], r->routed_to[again[k] - 10]) << k;
    EXPECT_EQ(r->requests[4 + k].hit_tokens, 1024) << k;
  }
  EXPECT_GT(r->event_batches, 0);
  EXPECT_EQ(r->unresolved_blocks, 0);
  // Round-robin puts the repeats elsewhere: they miss.
  absl::StatusOr<ClusterReport> rr =
      SimulateCluster(w, Cluster(4, "round-robin"));
  ASSERT_TRUE(rr.ok());
  EXPECT_LT(rr->prefix_hit_rate, r->prefix_hit_rate);
}

// Request 0 warms prefix 7 on one instance; a burst with the same prefix
// follows once it finished.
Workload WarmThenBurst() {
  Workload w;
  w.name = "burst";
  w.requests.push_back(At(0, 7, 0));
  for (uint64_t k = 1; k <= 8; ++k)
    w.requests.push_back(At(1 + 0.01 * k, 7, k));
  w.requests.push_back(At(30, 7, 9));  // long after any delay
  return w;
}

TEST(ClusterSimulatorTest, WithEventDelayTheFirstRequestsOfABurstMiss) {
  const Workload w = WarmThenBurst();
  ClusterConfig fresh = Cluster(4, "prefix");
  absl::StatusOr<ClusterReport> now = SimulateCluster(w, fresh);
  ASSERT_TRUE(now.ok()) << now.status();
  for (uint64_t k = 1; k <= 9; ++k) {
    EXPECT_EQ(now->requests[k].hit_tokens, 1024) << k;
    EXPECT_EQ(now->routed_to[k], now->routed_to[0]) << k;
  }
  ClusterConfig stale = Cluster(4, "prefix");
  stale.event_delay_s = 10;
  absl::StatusOr<ClusterReport> late = SimulateCluster(w, stale);
  ASSERT_TRUE(late.ok()) << late.status();
  int misses = 0;
  for (uint64_t k = 1; k <= 8; ++k) {
    misses += late->requests[k].hit_tokens == 0 ? 1 : 0;
  }
  // The router saw an empty index and spread the burst by load: whatever
  // did not land on the warm instance recomputed the prefix.
  EXPECT_GE(misses, 3);
  EXPECT_LT(late->prefix_hit_rate, now->prefix_hit_rate);
  EXPECT_EQ(late->requests[9].hit_tokens, 1024);  // the events arrived
}

TEST(ClusterSimulatorTest, BoundedLoadCapsAnInstance) {
  Workload w;
  w.name = "hot";
  for (uint64_t k = 0; k < 40; ++k) w.requests.push_back(At(0.0001 * k, 7, k));
  absl::StatusOr<ClusterReport> hot =
      SimulateCluster(w, Cluster(4, "approx-prefix"));
  ASSERT_TRUE(hot.ok()) << hot.status();
  EXPECT_EQ(hot->instances[0].routed, 40);  // history: all on one instance
  EXPECT_DOUBLE_EQ(hot->imbalance, 4.0);
  ClusterConfig bounded = Cluster(4, "approx-prefix");
  bounded.router.load_bound = 1.25;
  absl::StatusOr<ClusterReport> capped = SimulateCluster(w, bounded);
  ASSERT_TRUE(capped.ok()) << capped.status();
  // Nothing finishes during the burst, so in-flight = routed: at most
  // 1.25 * 40 / 4 + 1 = 13.5 on any instance.
  for (const InstanceSummary& s : capped->instances) EXPECT_LE(s.routed, 13);
  EXPECT_GT(capped->guarded_decisions, 0);
}

TEST(ClusterSimulatorTest, SessionAffinityKeepsASessionOnOneInstance) {
  Workload w;
  w.name = "sessions";
  for (uint64_t k = 0; k < 24; ++k) w.requests.push_back(At(0.5 * k, k % 3, k));
  ClusterConfig c = Cluster(4, "round-robin");
  c.router.affinity_blocks = 1;
  absl::StatusOr<ClusterReport> r = SimulateCluster(w, c);
  ASSERT_TRUE(r.ok()) << r.status();
  for (uint64_t k = 3; k < 24; ++k) {
    EXPECT_EQ(r->routed_to[k], r->routed_to[k % 3]) << k;
  }
  EXPECT_EQ(r->affinity_hits, 21);
}

TEST(ClusterSimulatorTest, SameSeedSameReport) {
  const Workload w = SmallDefaultWorkload(60);
  ClusterConfig c = Cluster(3, "random");
  c.router.seed = 7;
  absl::StatusOr<ClusterReport> a = SimulateCluster(w, c);
  absl::StatusOr<ClusterReport> b = SimulateCluster(w, c);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->routed_to, b->routed_to);
  for (size_t i = 0; i < a->requests.size(); ++i) {
    EXPECT_EQ(a->requests[i].finish_s, b->requests[i].finish_s);
  }
  EXPECT_EQ(a->ttft.p99, b->ttft.p99);
  c.router.seed = 8;
  absl::StatusOr<ClusterReport> other = SimulateCluster(w, c);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(a->routed_to, other->routed_to);
}

TEST(ClusterSimulatorTest, GlobalCacheServesHitsFromOtherInstances) {
  Workload w;
  w.name = "spread";
  // Two prefixes, requests alternating, spaced so each finishes first.
  for (uint64_t k = 0; k < 16; ++k)
    w.requests.push_back(At(0.5 * k, 7 + k % 2, k));
  ClusterConfig local = Cluster(4, "round-robin");
  absl::StatusOr<ClusterReport> l = SimulateCluster(w, local);
  ClusterConfig global = local;
  global.global_cache = true;
  absl::StatusOr<ClusterReport> g = SimulateCluster(w, global);
  ASSERT_TRUE(l.ok() && g.ok()) << l.status() << g.status();
  EXPECT_EQ(l->transferred_blocks, 0);
  EXPECT_GT(g->transferred_blocks, 0);
  EXPECT_GT(g->transfer_s, 0);
  EXPECT_GT(g->prefix_hit_rate, l->prefix_hit_rate);
  EXPECT_GT(g->remote_hit_share, 0);
  // Only the very first request of each prefix computes it.
  for (uint64_t k = 2; k < 16; ++k)
    EXPECT_EQ(g->requests[k].hit_tokens, 1024) << k;
}

TEST(ClusterSimulatorTest, ValidateNamesTheBadField) {
  ClusterConfig c = Cluster(2, "nope");
  EXPECT_THAT(SimulateCluster(SmallDefaultWorkload(4), c).status().message(),
              ::testing::HasSubstr("unknown router 'nope'"));
  c = Cluster(2, "prefix");
  c.event_delay_s = -1;
  EXPECT_THAT(c.Validate().message(), ::testing::HasSubstr("event_delay_s"));
  c = Cluster(2, "prefix");
  c.instances[1].block_size = 32;
  EXPECT_THAT(c.Validate().message(), ::testing::HasSubstr("instance 1"));
  c = Cluster(2, "prefix");
  c.instances[0].allocator = AllocatorKind::kOracle;
  EXPECT_THAT(c.Validate().message(), ::testing::HasSubstr("paged"));
  c = Cluster(0, "prefix");
  EXPECT_THAT(c.Validate().message(), ::testing::HasSubstr("1..64"));
  c = Cluster(2, "prefix");
  c.router.load_bound = 0.5;
  EXPECT_THAT(c.Validate().message(), ::testing::HasSubstr("load_bound"));
}

}  // namespace
}  // namespace pagekv::cluster
