// VllmManager with chunked-local attention and Mamba groups: the per-kind
// rules of src/vllm/group_kinds.cc and the hit searches, at the C++ level
// (python/tests/test_vllm_kinds.py covers them through the adapter).
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/vllm/manager.h"
#include "vllm_test_util.h"

namespace pagekv::vllm {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Lists = std::vector<std::vector<int32_t>>;

GroupSpec Chunked(int32_t chunk) {
  GroupSpec g;
  g.kind = GroupKind::kChunkedLocal;
  g.block_size = kBs;
  g.attention_chunk_size = chunk;
  g.spec_class = 1;
  g.track_new_block_ids = false;
  return g;
}
GroupSpec Mamba(MambaCacheMode mode, int32_t spec_blocks,
                int32_t block_size = kBs) {
  GroupSpec g;
  g.kind = GroupKind::kMamba;
  g.block_size = block_size;
  g.mamba_cache_mode = mode;
  g.num_speculative_blocks = spec_blocks;
  g.spec_class = 2;
  g.track_new_block_ids = false;
  return g;
}

// A request with `n` tokens 0, 1, ...
ReqHandle Add(VllmManager& m, int32_t n) { return Add(m, 0, n); }

// allocate_slots(n) after `computed` tokens; the new blocks, or nothing
// when the pool is short.
std::optional<Lists> Allocate(VllmManager& m, ReqHandle h, int64_t computed,
                              int64_t n, const Lists* hit = nullptr,
                              int64_t hit_tokens = 0) {
  AllocateArgs a;
  a.num_computed_tokens = computed;
  a.num_tokens = m.NumTokens(h);
  a.num_new_tokens = n;
  a.num_new_computed_tokens = hit_tokens;
  a.new_computed = hit;
  Lists out;
  auto r = m.AllocateSlots(h, a, &out);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok() || !*r) return std::nullopt;
  return out;
}

TEST(VllmGroupKindsTest, ChunkedLocalHitHasNullsBeforeTheChunk) {
  VllmManager m(Config(10, {Chunked(8)}));
  const ReqHandle a = Add(m, 14);
  ASSERT_EQ(Allocate(m, a, 0, 14), Lists({{1, 2, 3, 4}}));
  const ReqHandle b = Add(m, 14);  // same tokens and keys
  Lists hit;
  EXPECT_EQ(m.FindLongestCacheHit(b, 13, &hit), 12);
  EXPECT_EQ(hit, Lists({{0, 0, 3}}));
  // After 14 computed tokens, a's first chunk (blocks 0-1) is released.
  m.RemoveSkippedBlocks(a, 14);
  EXPECT_THAT(m.Blocks(a, 0), ElementsAre(0, 0, 3, 4));
  EXPECT_THAT(m.pool().FreeQueue(), ElementsAre(5, 6, 7, 8, 9, 2, 1));
  EXPECT_TRUE(m.Verify().ok());
}

TEST(VllmGroupKindsTest, MambaAlignRotatesStateAndSpeculativeBlocks) {
  VllmManager m(Config(30, {Full(), Mamba(MambaCacheMode::kAlign, 1)}));
  const ReqHandle a = Add(m, 20);
  EXPECT_EQ(Allocate(m, a, 0, 4), Lists({{1}, {2, 3}}));
  EXPECT_EQ(Allocate(m, a, 4, 8), Lists({{4, 5}, {3, 6}}));
  EXPECT_THAT(m.Blocks(a, 1), ElementsAre(2, 0, 3, 6));
  EXPECT_EQ(Allocate(m, a, 12, 4), Lists({{7}, {8}}));
  EXPECT_THAT(m.Blocks(a, 1), ElementsAre(0, 0, 3, 6, 8));
  EXPECT_EQ(m.pool().FreeQueue().back(), 2);
  EXPECT_TRUE(m.Verify().ok());
}

TEST(VllmGroupKindsTest, MambaHitCachedThisStepWaitsForTheNextStep) {
  ManagerConfig c = Config(20, {Full(), Mamba(MambaCacheMode::kAlign, 0)});
  VllmManager m(c);
  const ReqHandle a = Add(m, 12);
  ASSERT_TRUE(Allocate(m, a, 0, 12).has_value());
  const ReqHandle b = Add(m, 16);
  Lists hit;
  ASSERT_EQ(m.FindLongestCacheHit(b, 15, &hit), 12);
  EXPECT_EQ(hit, Lists({{1, 2, 3}, {0, 0, 4}}));
  const int32_t free = m.pool().NumFreeBlocks();
  EXPECT_FALSE(Allocate(m, b, 0, 4, &hit, 12).has_value());
  EXPECT_EQ(m.pool().NumFreeBlocks(), free);
  EXPECT_THAT(m.Blocks(b, 0), IsEmpty());
  m.NewStepStarts();
  EXPECT_EQ(Allocate(m, b, 0, 4, &hit, 12), Lists({{5}, {6}}));
  EXPECT_TRUE(m.Verify().ok());
}

TEST(VllmGroupKindsTest, MambaNoneTakesItsSpeculativeBlocks) {
  ManagerConfig c =
      Config(10, {Full(), Mamba(MambaCacheMode::kNone, 1, /*block_size=*/64)});
  c.enable_caching = false;
  c.max_model_len = 64;
  VllmManager m(c);
  const ReqHandle a = Add(m, 10);
  EXPECT_EQ(Allocate(m, a, 0, 10), Lists({{1, 2, 3}, {4, 5}}));
}

TEST(VllmGroupKindsConfigTest, BlockSizesMayDifferOnlyWithoutCaching) {
  ManagerConfig c = Config(8, {Full(), Mamba(MambaCacheMode::kNone, 0, 64)});
  EXPECT_EQ(c.Validate().code(), absl::StatusCode::kUnimplemented);
  c.enable_caching = false;
  EXPECT_TRUE(c.Validate().ok());
  c = Config(8, {Full(), Chunked(0)});
  EXPECT_EQ(c.Validate().code(), absl::StatusCode::kInvalidArgument);
  c = Config(8, {Full(), Mamba(MambaCacheMode::kAlign, -1)});
  EXPECT_EQ(c.Validate().code(), absl::StatusCode::kInvalidArgument);
  c = Config(8, {Full(), Chunked(8)});
  c.use_eagle = true;
  EXPECT_EQ(c.Validate().code(), absl::StatusCode::kUnimplemented);
  c.groups[0].is_eagle_group = true;  // the drop stays on group 0
  EXPECT_TRUE(c.Validate().ok());
}

// Random admissions with hits, chunked prefill, decode with lookahead,
// frees and new steps over every kind at once: Verify() holds after each
// operation (the Python differential test checks the results; this one
// runs under the sanitizers).
TEST(VllmGroupKindsTest, RandomOperationsKeepInvariants) {
  for (const MambaCacheMode mode :
       {MambaCacheMode::kAlign, MambaCacheMode::kAll}) {
    GroupSpec sliding = Chunked(8);
    sliding.kind = GroupKind::kSlidingWindow;
    sliding.sliding_window = 7;
    sliding.spec_class = 3;
    VllmManager m(Config(48, {Full(), sliding, Chunked(8), Mamba(mode, 1)}));
    std::mt19937 rng(7);
    struct Live {
      ReqHandle h;
      int64_t computed;
    };
    std::vector<Live> live;
    int served = 0;
    for (int op = 0; op < 3000; ++op) {
      const uint32_t pick = rng() % 10;
      if (pick == 9) {
        m.NewStepStarts();
      } else if (pick < 3 || live.empty()) {
        const ReqHandle h = Add(m, 8 + static_cast<int32_t>(rng() % 40));
        Lists hit;
        const int64_t n = m.FindLongestCacheHit(h, m.NumTokens(h) - 1, &hit);
        bool any = false;
        for (const auto& g : hit) any |= !g.empty();
        const int64_t chunk = 1 + rng() % (m.NumTokens(h) - n);
        if (Allocate(m, h, 0, chunk, any ? &hit : nullptr, n)) {
          live.push_back({h, n + chunk});
          ++served;
        } else {
          m.Free(h);
        }
      } else if (pick < 8) {
        Live& l = live[rng() % live.size()];
        if (l.computed == m.NumTokens(l.h)) {
          const TokenId t = static_cast<TokenId>(rng() % 50);
          m.AppendTokens(l.h, absl::MakeConstSpan(&t, 1));
          if (m.NumTokens(l.h) % kBs == 0) {
            m.AppendVllmKey(l.h, "d" + std::to_string(l.h) + "." +
                                     std::to_string(m.NumTokens(l.h)));
          }
        }
        AllocateArgs a;
        a.num_computed_tokens = l.computed;
        a.num_tokens = m.NumTokens(l.h);
        a.num_new_tokens = a.num_tokens - l.computed;
        a.num_lookahead_tokens = rng() % 3;
        Lists out;
        auto r = m.AllocateSlots(l.h, a, &out);
        ASSERT_TRUE(r.ok()) << r.status();
        if (*r) l.computed = a.num_tokens;
      } else {
        const size_t i = rng() % live.size();
        m.Free(live[i].h);
        live.erase(live.begin() + i);
      }
      ASSERT_TRUE(m.Verify().ok()) << m.Verify() << " after op " << op;
    }
    EXPECT_GT(served, 100);
  }
}

}  // namespace
}  // namespace pagekv::vllm
