// The cache replay in vLLM's block order (policy "vllm"): exact figures on
// a hand-traced workload where vLLM evicts cached blocks while an uncached
// free block waits behind them, and the refusals.
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "pagekv/sim/cache_replay.h"
#include "pagekv/sim/workload.h"

namespace pagekv {
namespace {

std::vector<TokenId> Tokens(TokenId first, int n) {
  std::vector<TokenId> t(n);
  for (int i = 0; i < n; ++i) t[i] = first + i;
  return t;
}

Workload FourRequests() {
  // Block size 4, capacity 5 blocks. Prompts A (9 tokens), B (9), C (5),
  // then A again.
  Workload w;
  w.name = "hand";
  const std::vector<std::vector<TokenId>> prompts = {
      Tokens(100, 9), Tokens(200, 9), Tokens(300, 5), Tokens(100, 9)};
  for (size_t i = 0; i < prompts.size(); ++i) {
    Request r;
    r.id = i;
    r.arrival_s = static_cast<double>(i);
    r.output_tokens = 1;
    r.tokens = prompts[i];
    w.requests.push_back(r);
  }
  return w;
}

// vLLM's queue, block by block: A takes 1-3 and frees them tail first
// ([4, 5, 3, 2, 1], 3 uncached); B takes 4, 5, 3 ([2, 1, 3, 5, 4]); C takes
// 2 and 1, evicting both of A's cached blocks while block 3 (uncached) waits
// behind them; A's second turn finds nothing and takes 3, 5, 4 (evicting
// B's two). pagekv's LRU gives C block 3 first and keeps one of A's blocks.
TEST(CacheReplayVllmTest, EvictsCachedBlocksWhileAnUncachedOneWaits) {
  const Workload w = FourRequests();
  absl::StatusOr<ReplayResult> vllm = ReplayWorkload(w, {4, 5, "vllm"});
  ASSERT_TRUE(vllm.ok()) << vllm.status();
  EXPECT_EQ(vllm->requests, 4);
  EXPECT_EQ(vllm->prompt_tokens, 32);
  EXPECT_EQ(vllm->hit_tokens, 0);
  EXPECT_EQ(vllm->query_blocks, 7);
  EXPECT_EQ(vllm->evictions, 4);
  EXPECT_EQ(vllm->cached_blocks, 3);  // C's block and A's two
  absl::StatusOr<ReplayResult> lru = ReplayWorkload(w, {4, 5, "lru"});
  ASSERT_TRUE(lru.ok()) << lru.status();
  EXPECT_GT(lru->hit_tokens, vllm->hit_tokens);
}

TEST(CacheReplayVllmTest, NeverEvictingItEqualsLru) {
  const Workload w = FourRequests();
  absl::StatusOr<ReplayResult> vllm = ReplayWorkload(w, {4, 64, "vllm"});
  absl::StatusOr<ReplayResult> lru = ReplayWorkload(w, {4, 64, "lru"});
  ASSERT_TRUE(vllm.ok() && lru.ok());
  EXPECT_EQ(vllm->hit_tokens, 8);  // A's two blocks, the second time
  EXPECT_EQ(vllm->hit_tokens, lru->hit_tokens);
  EXPECT_EQ(vllm->hit_blocks, lru->hit_blocks);
  EXPECT_EQ(vllm->evictions, 0);
  EXPECT_EQ(vllm->cached_blocks, lru->cached_blocks);
}

TEST(CacheReplayVllmTest, APromptLargerThanThePoolIsSkipped) {
  absl::StatusOr<ReplayResult> r =
      ReplayWorkload(FourRequests(), {4, 2, "vllm"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->requests, 1);  // only C (2 blocks) fits
  EXPECT_EQ(r->skipped_requests, 3);
  EXPECT_EQ(r->skipped_prompt_tokens, 27);
}

TEST(CacheReplayVllmTest, RefusesAHostTier) {
  ReplayOptions options{4, 5, "vllm"};
  options.host_tier.num_blocks = 8;
  absl::StatusOr<ReplayResult> r = ReplayWorkload(FourRequests(), options);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("host tier"), std::string::npos);
}

}  // namespace
}  // namespace pagekv
