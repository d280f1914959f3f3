// VllmBlockPool and VllmManager: vLLM's block order, hits and failure
// behaviour at the C++ level (the Python tests cover the adapter).
#include <numeric>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/vllm/block_pool.h"
#include "pagekv/vllm/manager.h"
#include "vllm_test_util.h"

namespace pagekv::vllm {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

GroupSpec Sliding(int32_t window) {
  GroupSpec g;
  g.kind = GroupKind::kSlidingWindow;
  g.block_size = kBs;
  g.sliding_window = window;
  g.spec_class = 1;
  g.track_new_block_ids = false;
  return g;
}

bool Allocate(VllmManager& m, ReqHandle h, int64_t computed, int64_t n,
              std::vector<std::vector<int32_t>>* hit = nullptr,
              int64_t hit_tokens = 0) {
  AllocateArgs a;
  a.num_computed_tokens = computed;
  a.num_tokens = m.NumTokens(h);
  a.num_new_tokens = n;
  a.num_new_computed_tokens = hit_tokens;
  a.new_computed = hit;
  std::vector<std::vector<int32_t>> out;
  auto r = m.AllocateSlots(h, a, &out);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() && *r;
}

TEST(VllmBlockPoolTest, FreshPoolHandsOutIdsInOrderAndQueuesFreesInOrder) {
  VllmBlockPool pool(6, kBs, true, false);
  std::vector<int32_t> got;
  ASSERT_TRUE(pool.GetNewBlocks(3, &got).ok());
  EXPECT_THAT(got, ElementsAre(1, 2, 3));
  pool.FreeBlocksReversed(got);
  EXPECT_THAT(pool.FreeQueue(), ElementsAre(4, 5, 3, 2, 1));
  EXPECT_EQ(pool.GetNewBlocks(6, &got).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool.NumFreeBlocks(), 5);
  EXPECT_TRUE(pool.Verify().ok());
}

TEST(VllmBlockPoolTest, MetricEventsFollowVllmsCalls) {
  using Kind = VllmBlockPool::MetricEvent::Kind;
  auto kinds = [](const std::vector<VllmBlockPool::MetricEvent>& events) {
    std::vector<std::pair<Kind, int32_t>> out;
    for (const auto& e : events) out.emplace_back(e.kind, e.block);
    return out;
  };
  VllmBlockPool pool(4, kBs, /*enable_caching=*/true, false);
  std::vector<int32_t> got;
  ASSERT_TRUE(pool.GetNewBlocks(1, &got).ok());
  EXPECT_THAT(pool.TakeMetricEvents(), IsEmpty());  // not enabled yet
  pool.EnableMetrics();
  ASSERT_TRUE(pool.GetNewBlocks(1, &got).ok());
  const std::vector<int32_t> touched = {0, 1};
  pool.Touch(touched);
  const std::vector<int32_t> evicted = {3};
  ASSERT_TRUE(pool.EvictBlocks(evicted).ok());
  EXPECT_THAT(
      kinds(pool.TakeMetricEvents()),
      ElementsAre(std::pair(Kind::kEvicted, 2), std::pair(Kind::kAllocated, 2),
                  std::pair(Kind::kAccessed, 0), std::pair(Kind::kAccessed, 1),
                  std::pair(Kind::kEvicted, 3)));
  EXPECT_FALSE(pool.ResetPrefixCache());  // blocks in use: no reset event
  pool.FreeBlocks(std::vector<int32_t>{1, 1, 2});
  EXPECT_TRUE(pool.ResetPrefixCache());
  EXPECT_THAT(kinds(pool.TakeMetricEvents()),
              ElementsAre(std::pair(Kind::kReset, -1)));
}

TEST(VllmBlockPoolTest, NullBlockIsNeverFreed) {
  VllmBlockPool pool(3, kBs, true, false);
  const std::vector<int32_t> null_block = {0};
  pool.Touch(null_block);
  pool.FreeBlocks(null_block);
  pool.FreeBlocks(null_block);
  EXPECT_THAT(pool.FreeQueue(), ElementsAre(1, 2));
  EXPECT_TRUE(pool.Verify().ok());
}

TEST(VllmManagerTest, HitSharesBlocksAndFreeIsTailFirst) {
  VllmManager m(Config(11, {Full()}, /*events=*/true));
  const ReqHandle a = Add(m, 0, 14);  // 3 full blocks + 2 tokens
  ASSERT_TRUE(Allocate(m, a, 0, 14));
  EXPECT_THAT(m.Blocks(a, 0), ElementsAre(1, 2, 3, 4));
  const ReqHandle b = Add(m, 0, 13);
  std::vector<std::vector<int32_t>> hit;
  EXPECT_EQ(m.FindLongestCacheHit(b, 12, &hit), 12);
  EXPECT_THAT(hit[0], ElementsAre(1, 2, 3));
  ASSERT_TRUE(Allocate(m, b, 0, 1, &hit, 12));
  EXPECT_THAT(m.Blocks(b, 0), ElementsAre(1, 2, 3, 5));
  EXPECT_EQ(m.pool().RefCnt(1), 2);
  m.Free(a);
  m.Free(b);
  EXPECT_THAT(m.pool().FreeQueue(), ElementsAre(6, 7, 8, 9, 10, 4, 5, 3, 2, 1));
  EXPECT_TRUE(m.Verify().ok()) << m.Verify();
}

TEST(VllmManagerTest, CollidingVllmKeysWithOtherTokensDoNotHit) {
  VllmManager m(Config(11, {Full()}, /*events=*/true));
  const ReqHandle a = Add(m, 0, 9);
  ASSERT_TRUE(Allocate(m, a, 0, 9));
  m.Free(a);
  const ReqHandle b = m.AddRequest({});
  m.AppendTokens(b, std::vector<TokenId>(9, 77));
  m.AppendVllmKey(b, "k0.0");  // a's keys, b's tokens
  m.AppendVllmKey(b, "k0.1");
  std::vector<std::vector<int32_t>> hit;
  EXPECT_EQ(m.FindLongestCacheHit(b, 8, &hit), 0);
  EXPECT_THAT(hit[0], IsEmpty());
}

TEST(VllmManagerTest, SlidingWindowHitHasNullsBefore) {
  VllmManager m(Config(21, {Full(), Sliding(2 * kBs)}, /*events=*/true));
  const ReqHandle a = Add(m, 0, 14);
  ASSERT_TRUE(Allocate(m, a, 0, 14));
  const ReqHandle b = Add(m, 0, 13);
  std::vector<std::vector<int32_t>> hit;
  EXPECT_EQ(m.FindLongestCacheHit(b, 12, &hit), 12);
  EXPECT_THAT(hit[0], ElementsAre(1, 2, 3));
  EXPECT_THAT(hit[1], ElementsAre(0, 6, 7));
}

// Token by token, the decode steps that need nothing (most of them) and the
// ones that take a block, drop one behind the window or cache one. With
// caching on, a window that is a multiple of the block size drops a block
// on the step that caches one; with caching off the drop comes alone.
class DecodeStepTest : public ::testing::TestWithParam<bool> {};

TEST_P(DecodeStepTest, TakesDropsAndCachesExactlyAtTheBoundaries) {
  const bool caching = GetParam();
  ManagerConfig config =
      Config(32, {Full(), Sliding(2 * kBs)}, /*events=*/true);
  config.enable_caching = caching;
  VllmManager m(config);
  const ReqHandle a = Add(m, 0, 6);
  ASSERT_TRUE(Allocate(m, a, 0, 6));
  EXPECT_THAT(m.Blocks(a, 0), ElementsAre(1, 2));
  EXPECT_THAT(m.Blocks(a, 1), ElementsAre(3, 4));
  m.pool().TakeEvents();
  for (int32_t n = 7; n <= 17; ++n) {
    const TokenId t = 100 + n;
    m.AppendTokens(a, absl::MakeConstSpan(&t, 1));
    if (n % kBs == 0) m.AppendVllmKey(a, "d" + std::to_string(n));
    AllocateArgs args;
    args.num_computed_tokens = n - 1;
    args.num_tokens = n;
    args.num_new_tokens = 1;
    std::vector<std::vector<int32_t>> out;
    ASSERT_TRUE(*m.AllocateSlots(a, args, &out)) << n;
    const bool new_block = (n - 1) % kBs == 0;
    EXPECT_EQ(out[0].size(), new_block ? 1u : 0u) << n;
    // The window (8 tokens) skips computed - 8 + 1 tokens: block 0 goes
    // once 11 tokens are computed, block 1 once 15 are.
    const size_t nulls = n - 1 >= 15 ? 2 : n - 1 >= 11 ? 1 : 0;
    size_t seen = 0;
    for (int32_t b : m.Blocks(a, 1)) seen += b == 0;
    EXPECT_EQ(seen, nulls) << n;
    // A block is cached when the step's token fills it.
    const auto events = m.pool().TakeEvents();
    EXPECT_EQ(events.size(), caching && n % kBs == 0 ? 2u : 0u) << n;
    ASSERT_TRUE(m.Verify().ok()) << n;
  }
  EXPECT_THAT(m.Blocks(a, 0), ElementsAre(1, 2, 5, 7, 9));
}

INSTANTIATE_TEST_SUITE_P(Caching, DecodeStepTest, ::testing::Bool());

// AppendAndTryDecode + (when it declines) AllocateSlots gives what
// AppendTokens + AllocateSlots gives, step by step, and declines whenever
// the general path would do anything. Keys are added one step late for
// some blocks, so the general path also sees a missing key.
class TryDecodeTest : public ::testing::TestWithParam<int> {};

TEST_P(TryDecodeTest, MatchesTheGeneralPath) {
  std::vector<GroupSpec> groups = {Full()};
  if (GetParam() == 1) groups.push_back(Sliding(2 * kBs));
  ManagerConfig config = Config(64, groups, /*events=*/true);
  config.enable_caching = GetParam() != 2;
  config.max_model_len = 40;
  VllmManager general(config), fast(config);
  const ReqHandle g = Add(general, 0, 6), f = Add(fast, 0, 6);
  ASSERT_TRUE(Allocate(general, g, 0, 6));
  ASSERT_TRUE(Allocate(fast, f, 0, 6));
  int took_fast = 0;
  for (int32_t n = 7; n <= 44; ++n) {
    const TokenId t = 100 + n;
    const bool late_key = n % 3 == 0;  // this block's key comes next step
    auto keys = [&](VllmManager& m, ReqHandle h) {
      while ((m.NumVllmKeys(h) + 1) * kBs <= n - (late_key ? 1 : 0)) {
        m.AppendVllmKey(h, "d" + std::to_string(m.NumVllmKeys(h)));
      }
    };
    AllocateArgs a;
    a.num_tokens = n;
    a.num_computed_tokens = n - 1;
    a.num_new_tokens = 1;
    std::vector<std::vector<int32_t>> want, got;
    general.AppendTokens(g, absl::MakeConstSpan(&t, 1));
    keys(general, g);
    const auto r = general.AllocateSlots(g, a, &want);
    int64_t num_tokens = 0;
    const bool done = fast.AppendAndTryDecode(f, t, &num_tokens);
    ASSERT_EQ(num_tokens, n);
    absl::StatusOr<bool> q = true;
    got.assign(groups.size(), {});
    if (done) {
      ++took_fast;
    } else {
      keys(fast, f);
      q = fast.AllocateSlots(f, a, &got);
    }
    ASSERT_EQ(r.ok(), q.ok()) << n << ": " << r.status();
    if (r.ok()) {
      EXPECT_EQ(*r, *q) << n;
      EXPECT_EQ(want, got) << n;
    }
    for (int32_t k = 0; k < static_cast<int32_t>(groups.size()); ++k) {
      EXPECT_EQ(general.Blocks(g, k), fast.Blocks(f, k)) << n;
    }
    EXPECT_EQ(general.pool().TakeEvents().size(),
              fast.pool().TakeEvents().size())
        << n;
    ASSERT_TRUE(fast.Verify().ok()) << n;
  }
  EXPECT_GE(took_fast, 10);  // most steps that fill and take no block
}

INSTANTIATE_TEST_SUITE_P(Configs, TryDecodeTest, ::testing::Values(0, 1, 2));

TEST(VllmManagerTest, ShortPoolReturnsFalseAndChangesNothing) {
  VllmManager m(Config(4, {Full()}, /*events=*/true));
  const ReqHandle a = Add(m, 0, 20);
  EXPECT_FALSE(Allocate(m, a, 0, 20));
  EXPECT_EQ(m.pool().NumFreeBlocks(), 3);
  EXPECT_THAT(m.pool().TakeEvents(), IsEmpty());
  AllocateArgs zero;
  zero.num_tokens = 20;
  std::vector<std::vector<int32_t>> out;
  EXPECT_EQ(m.AllocateSlots(a, zero, &out).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(m.Verify().ok());
}

TEST(VllmManagerTest, EventsNameTheVllmKeys) {
  VllmManager m(Config(8, {Full()}, /*events=*/true));
  const ReqHandle a = Add(m, 0, 9);
  ASSERT_TRUE(Allocate(m, a, 0, 9));
  auto events = m.pool().TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, VllmEvent::Type::kBlockStored);
  EXPECT_THAT(events[0].block_hashes, ElementsAre("k0.0", "k0.1"));
  EXPECT_FALSE(events[0].parent_block_hash.has_value());
  EXPECT_EQ(events[0].token_ids.size(), 8u);
  EXPECT_EQ(events[0].owner, a);
}

TEST(VllmManagerTest, KeysOfAHitNeedNotBeKept) {
  VllmManager m(Config(16, {Full()}, /*events=*/true));
  const ReqHandle a = Add(m, 0, 17);  // 4 full blocks + 1 token
  ASSERT_TRUE(Allocate(m, a, 0, 17));
  m.pool().TakeEvents();
  // b shares a's 4 full blocks; it keeps its keys from the hit's last on.
  const ReqHandle b = m.AddRequest({});
  std::vector<TokenId> t(25);
  std::iota(t.begin(), t.end(), 0);
  m.AppendTokens(b, t);
  m.ResetVllmKeys(b, 3);
  for (int i = 3; i < 6; ++i) m.AppendVllmKey(b, "b." + std::to_string(i));
  EXPECT_EQ(m.NumVllmKeys(b), 6);
  EXPECT_EQ(m.FirstKeptVllmKey(b), 3);
  EXPECT_FALSE(m.IsRunning(b));
  std::vector<std::vector<int32_t>> hit;
  ASSERT_EQ(m.FindLongestCacheHit(b, 24, &hit), 16);
  ASSERT_TRUE(Allocate(m, b, 0, 9, &hit, 16));
  EXPECT_TRUE(m.IsRunning(b));
  const auto events = m.pool().TakeEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_THAT(events[0].block_hashes, ElementsAre("b.4", "b.5"));
  EXPECT_EQ(events[0].parent_block_hash, "b.3");
  EXPECT_TRUE(m.Verify().ok()) << m.Verify();
  // Resetting again drops the kept keys too.
  m.ResetVllmKeys(b, 0);
  EXPECT_EQ(m.NumVllmKeys(b), 0);
  EXPECT_EQ(m.FirstKeptVllmKey(b), 0);
}

TEST(VllmManagerConfigTest, RejectsMixedBlockSizes) {
  ManagerConfig c = Config(8, {Full()}, /*events=*/true);
  c.groups[0].block_size = 8;
  EXPECT_EQ(c.Validate().code(), absl::StatusCode::kUnimplemented);
  c = Config(0, {Full()}, /*events=*/true);
  EXPECT_EQ(c.Validate().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pagekv::vllm
