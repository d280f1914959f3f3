// RepeatWorkload and the "inf" capacity: k copies share nothing, so with a
// cache that never evicts they hit exactly k times what one copy hits, and
// "inf" is the distinct full blocks (k times one copy's) plus one.
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pagekv/eviction_policy.h"
#include "pagekv/sim/cache_replay.h"
#include "pagekv/sim/trace_reader.h"
#include "pagekv/sim/workload.h"

namespace pagekv {
namespace {

const std::string kMooncakeTrace =
    std::string(PAGEKV_SOURCE_DIR) +
    "/data/traces/mooncake/conversation_trace.jsonl";

// Requests 0-2 share a two-block prefix; the last one has explicit tokens,
// asked twice (the second time hits).
Workload Mixed() {
  Workload w;
  w.name = "mixed";
  for (int i = 0; i < 3; ++i) {
    Request r;
    r.id = w.requests.size();
    r.arrival_s = 0.5 * i;
    r.output_tokens = 2;
    r.segments = {{7, 8}, {static_cast<uint64_t>(100 + i), 5}};
    w.requests.push_back(r);
  }
  for (int i = 0; i < 2; ++i) {
    Request r;
    r.id = w.requests.size();
    r.arrival_s = 2.0 + i;
    r.output_tokens = 2;
    r.tokens = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    w.requests.push_back(r);
  }
  return w;
}

TEST(RepeatWorkloadTest, CopiesAreShiftedRenumberedAndValid) {
  const Workload w = Mixed();
  absl::StatusOr<Workload> r = RepeatWorkload(w, 3);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->requests.size(), 15u);
  EXPECT_TRUE(r->Validate().ok()) << r->Validate();
  // Duration 3 s, mean gap 0.75 s: copies start 3.75 s apart.
  EXPECT_DOUBLE_EQ(r->requests[5].arrival_s, 3.75);
  EXPECT_DOUBLE_EQ(r->requests[14].arrival_s, 3.0 + 2 * 3.75);
  for (size_t i = 0; i < r->requests.size(); ++i) {
    EXPECT_EQ(r->requests[i].id, i);
    EXPECT_EQ(r->requests[i].PromptTokens(), w.requests[i % 5].PromptTokens());
  }
  // Copy 0 is the workload itself.
  EXPECT_EQ(r->requests[0].segments[0].content_id, 7u);
  EXPECT_NE(r->requests[5].segments[0].content_id, 7u);
  EXPECT_NE(r->requests[8].cache_salt, 0u);
  EXPECT_EQ(r->requests[8].tokens, w.requests[3].tokens);
}

TEST(RepeatWorkloadTest, RejectsBadCopiesAndEmptyWorkloads) {
  EXPECT_FALSE(RepeatWorkload(Mixed(), 0).ok());
  EXPECT_FALSE(RepeatWorkload(Mixed(), kMaxWorkloadCopies + 1).ok());
  EXPECT_FALSE(RepeatWorkload(Workload{}, 2).ok());
}

// With no eviction a copy hits only what it hit alone: k copies hit k times
// one copy, and "inf" for k copies is k times one copy's distinct blocks + 1.
void ExpectCopiesShareNothing(const Workload& w, int32_t block_size,
                              int32_t k) {
  absl::StatusOr<Workload> repeated = RepeatWorkload(w, k);
  ASSERT_TRUE(repeated.ok()) << repeated.status();
  const int64_t distinct = DistinctFullBlocks(w, block_size);
  EXPECT_EQ(DistinctFullBlocks(*repeated, block_size), k * distinct);
  EXPECT_EQ(InfiniteCapacityBlocks(w, block_size, k),
            InfiniteCapacityBlocks(*repeated, block_size));
  EXPECT_EQ(InfiniteCapacityBlocks(w, block_size, k), k * distinct + 1);
  for (const std::string& policy : EvictionPolicyNames()) {
    absl::StatusOr<ReplayResult> one = ReplayWorkload(
        w, {block_size, InfiniteCapacityBlocks(w, block_size), policy});
    absl::StatusOr<ReplayResult> all = ReplayWorkload(
        *repeated,
        {block_size, InfiniteCapacityBlocks(w, block_size, k), policy});
    ASSERT_TRUE(one.ok() && all.ok()) << policy;
    EXPECT_GT(one->hit_tokens, 0) << policy;
    EXPECT_EQ(all->hit_tokens, k * one->hit_tokens) << policy;
    EXPECT_EQ(all->hit_blocks, k * one->hit_blocks) << policy;
    EXPECT_EQ(all->prompt_tokens, k * one->prompt_tokens) << policy;
    EXPECT_DOUBLE_EQ(all->HitRateTokens(), one->HitRateTokens()) << policy;
    // inf never evicts, and ends holding exactly the distinct blocks.
    EXPECT_EQ(all->evictions, 0) << policy;
    EXPECT_EQ(all->cached_blocks, k * distinct) << policy;
  }
}

TEST(RepeatWorkloadTest, CopiesShareNothingHandMade) {
  ExpectCopiesShareNothing(Mixed(), 4, 3);
}

TEST(RepeatWorkloadTest, CopiesShareNothingMooncakeSlice) {
  ASSERT_TRUE(std::ifstream(kMooncakeTrace).good()) << kMooncakeTrace;
  WorkloadOptions options;
  options.max_requests = 60;
  absl::StatusOr<Workload> w =
      ReadWorkload(kMooncakeTrace, "mooncake", options);
  ASSERT_TRUE(w.ok()) << w.status();
  ExpectCopiesShareNothing(*w, 512, 2);
}

// One block fewer than "inf" and the last request must evict: the extra
// block is the admitted request's partial last block.
TEST(RepeatWorkloadTest, OneBlockBelowInfEvicts) {
  const Workload w = Mixed();
  const int64_t inf = InfiniteCapacityBlocks(w, 4);
  absl::StatusOr<ReplayResult> at = ReplayWorkload(w, {4, inf, "lru"});
  absl::StatusOr<ReplayResult> below = ReplayWorkload(w, {4, inf - 1, "lru"});
  ASSERT_TRUE(at.ok() && below.ok());
  EXPECT_EQ(at->evictions, 0);
  EXPECT_GT(below->evictions, 0);
}

}  // namespace
}  // namespace pagekv
