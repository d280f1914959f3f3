// The documented edges of KVCacheManager (docs/reliability.md, "Limits"):
// block sizes 1..4096, pools of 2..2^32 - 2 blocks (null block included),
// 1..64 groups, at most 2^31 - 1 tokens per sequence, sequences larger than
// the pool, zero-length prompts and zero counts. Large limits are tested on
// their rejection path (Validate(), a length check before any copy) so the
// test allocates nothing big.
#include <limits>

#include "gtest/gtest.h"
#include "pagekv/kv_cache_manager.h"
#include "test_util.h"

namespace pagekv {
namespace {

using testing::Iota;
using testing::MakeManager;
using testing::SmallConfig;

constexpr int64_t kMaxTokens = std::numeric_limits<int32_t>::max();

// Add, admit with a hit, decode across block boundaries, fork, truncate and
// release at one block size; Verify() after each step.
void ExerciseBlockSize(int32_t block_size) {
  SCOPED_TRACE(block_size);
  auto m = MakeManager(SmallConfig(12, block_size));
  ASSERT_NE(m, nullptr);
  const int n = 3 * block_size + 1;
  const SeqId a = *m->AddSequence(Iota(n));
  auto admitted = m->Admit(a, n);
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->num_new_tokens, n);
  EXPECT_EQ(m->BlockTable(a, GroupId(0))->size(), 4u);
  PAGEKV_ASSERT_OK(m->Verify());
  PAGEKV_ASSERT_OK(m->AppendTokens(a, Iota(block_size, 100)));
  PAGEKV_ASSERT_OK(m->Reserve(a, block_size));
  EXPECT_EQ(m->BlockTable(a, GroupId(0))->size(), 5u);
  const SeqId child = *m->Fork(a);
  PAGEKV_ASSERT_OK(m->Truncate(child, block_size));
  PAGEKV_ASSERT_OK(m->Verify());
  // A second sequence with the same prompt hits the full blocks, capped so
  // the last prompt token is computed.
  const SeqId b = *m->AddSequence(Iota(n));
  auto hit = m->Admit(b, n);
  ASSERT_TRUE(hit.ok()) << hit.status();
  EXPECT_EQ(hit->hit.num_tokens, 3 * block_size);
  EXPECT_EQ(hit->num_new_tokens, 1);
  PAGEKV_ASSERT_OK(m->Release(a));
  PAGEKV_ASSERT_OK(m->Release(b));
  PAGEKV_ASSERT_OK(m->Release(child));
  PAGEKV_ASSERT_OK(m->Verify());
  EXPECT_EQ(m->pool().NumInUse(), 0u);
}

TEST(LimitsTest, BlockSizeOneWorks) { ExerciseBlockSize(1); }
TEST(LimitsTest, BlockSize1024Works) { ExerciseBlockSize(1024); }
TEST(LimitsTest, LargestBlockSizeWorks) { ExerciseBlockSize(4096); }

TEST(LimitsTest, BlockSizeOneCapsTheHitAtAllButTheLastToken) {
  auto m = MakeManager(SmallConfig(16, 1));
  const SeqId a = *m->AddSequence(Iota(5));
  PAGEKV_ASSERT_OK(m->Admit(a, 5).status());
  PAGEKV_ASSERT_OK(m->Release(a));
  const SeqId b = *m->AddSequence(Iota(5));
  EXPECT_EQ(m->MatchPrefix(b)->num_tokens, 4);
}

TEST(LimitsTest, BlockSizeRange) {
  for (int32_t ok : {1, 2, 16, 1024, 4096}) {
    EXPECT_TRUE(SmallConfig(8, ok).Validate().ok()) << ok;
  }
  for (int32_t bad : {std::numeric_limits<int32_t>::min(), -1, 0, 4097,
                      std::numeric_limits<int32_t>::max()}) {
    const absl::Status st = SmallConfig(8, bad).Validate();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(st.message().find("block_size"), absl::string_view::npos) << st;
  }
}

TEST(LimitsTest, NumBlocksRange) {
  // 2^32 - 2 is the largest pool (ids are 32-bit and 2^32 - 1 is reserved);
  // tested through Validate() only: creating it would allocate ~40 GB.
  constexpr int64_t kLargest = (int64_t{1} << 32) - 2;
  for (int64_t ok : {int64_t{2}, int64_t{3}, int64_t{1} << 20, kLargest}) {
    EXPECT_TRUE(SmallConfig(ok).Validate().ok()) << ok;
  }
  for (int64_t bad : {std::numeric_limits<int64_t>::min(), int64_t{-1},
                      int64_t{0}, int64_t{1}, kLargest + 1, kLargest + 2,
                      std::numeric_limits<int64_t>::max()}) {
    const absl::Status st = SmallConfig(bad).Validate();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(st.message().find("num_blocks"), absl::string_view::npos) << st;
    EXPECT_FALSE(KVCacheManager::Create(SmallConfig(bad)).ok()) << bad;
  }
}

TEST(LimitsTest, SmallestPoolHoldsOneBlock) {
  auto m = MakeManager(SmallConfig(2, 4));
  EXPECT_EQ(m->Stats().total_blocks, 1u);
  const SeqId a = *m->AddSequence(Iota(4));
  PAGEKV_ASSERT_OK(m->Admit(a, 4).status());
  PAGEKV_ASSERT_OK(m->AppendTokens(a, {9}));
  EXPECT_EQ(m->Reserve(a, 1).code(), absl::StatusCode::kResourceExhausted);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(LimitsTest, GroupCountRange) {
  KVCacheConfig c = SmallConfig(64);
  c.groups.assign(64, KVCacheGroupSpec::FullAttention());
  EXPECT_TRUE(c.Validate().ok());
  c.groups.push_back(KVCacheGroupSpec::FullAttention());
  EXPECT_EQ(c.Validate().code(), absl::StatusCode::kInvalidArgument);
  c.groups.clear();
  EXPECT_EQ(c.Validate().code(), absl::StatusCode::kInvalidArgument);
  c.groups = {KVCacheGroupSpec::SlidingWindow(0)};
  EXPECT_EQ(c.Validate().code(), absl::StatusCode::kInvalidArgument);
  c.groups = {KVCacheGroupSpec::SlidingWindow(1)};
  EXPECT_TRUE(c.Validate().ok());
}

TEST(LimitsTest, SlidingWindowOfOneTokenKeepsOnlyTheCurrentBlock) {
  KVCacheConfig c = SmallConfig(8, 2);
  c.groups = {KVCacheGroupSpec::SlidingWindow(1)};
  auto m = MakeManager(c);
  const SeqId a = *m->AddSequence(Iota(40));
  // 40 tokens do not fit 7 blocks at once, but a window of 1 needs only the
  // blocks of the chunk being computed.
  for (int i = 0; i < 40; i += 4) PAGEKV_ASSERT_OK(m->Reserve(a, 4));
  PAGEKV_ASSERT_OK(m->Verify());
  EXPECT_LE(m->pool().NumInUse(), 3u);
}

TEST(LimitsTest, SequenceLargerThanThePoolIsExhaustedAndChangesNothing) {
  auto m = MakeManager(SmallConfig(9, 4));  // 8 blocks = 32 tokens
  const SeqId small = *m->AddSequence(Iota(6, 500));
  PAGEKV_ASSERT_OK(m->Admit(small, 6).status());
  const SeqId big = *m->AddSequence(Iota(33));
  const KVCacheStats before = m->Stats();
  auto admitted = m->Admit(big, 33);
  EXPECT_EQ(admitted.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(admitted.status().message().find("out of KV blocks"),
            absl::string_view::npos);
  EXPECT_EQ(*m->BlocksToAdmit(big, 33), 9);
  // Chunked: the prefill gets as far as the pool allows, then stops cleanly.
  EXPECT_EQ(m->Reserve(big, 33).code(), absl::StatusCode::kResourceExhausted);
  PAGEKV_ASSERT_OK(m->Reserve(big, 24));
  EXPECT_EQ(m->Reserve(big, 4).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(m->Reserve(big, 0, 100).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(*m->NumComputedTokens(big), 24);
  EXPECT_EQ(m->Stats().allocation_failures, before.allocation_failures + 4);
  PAGEKV_ASSERT_OK(m->Verify());
  PAGEKV_ASSERT_OK(m->Release(big));
  EXPECT_EQ(m->Stats().in_use_blocks, before.in_use_blocks);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(LimitsTest, TokenLimitOnAddSequence) {
  auto m = MakeManager(SmallConfig(8));
  // The length is checked before the span is read, so a span of 2^31 tokens
  // over one real token exercises the rejection without 8 GB.
  static const TokenId one = 1;
  auto s = m->AddSequence(
      absl::Span<const TokenId>(&one, static_cast<size_t>(kMaxTokens) + 1));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("2^31 - 1"), absl::string_view::npos);
  EXPECT_EQ(m->Stats().num_sequences, 0u);
}

TEST(LimitsTest, TokenLimitOnAppendTokens) {
  auto m = MakeManager(SmallConfig(8));
  const SeqId a = *m->AddSequence(Iota(10));
  static const TokenId one = 1;
  // 10 + (2^31 - 10) = 2^31: one past the limit.
  const absl::Status st = m->AppendTokens(
      a, absl::Span<const TokenId>(&one, static_cast<size_t>(kMaxTokens) - 9));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("2^31 - 1"), absl::string_view::npos);
  EXPECT_EQ(*m->NumKnownTokens(a), 10);
  // Far past the limit, too.
  EXPECT_FALSE(
      m->AppendTokens(a, absl::Span<const TokenId>(&one, size_t{1} << 40))
          .ok());
  EXPECT_EQ(*m->NumKnownTokens(a), 10);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(LimitsTest, ZeroLengthPrompt) {
  auto m = MakeManager(SmallConfig(8));
  const SeqId a = *m->AddSequence({});
  EXPECT_EQ(*m->NumKnownTokens(a), 0);
  EXPECT_EQ(m->MatchPrefix(a)->num_tokens, 0);
  EXPECT_EQ(*m->BlocksToAdmit(a, 100), 0);
  auto admitted = m->Admit(a, 100);
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->hit.num_tokens, 0);
  EXPECT_EQ(admitted->num_new_tokens, 0);
  EXPECT_TRUE(m->BlockTable(a, GroupId(0))->empty());
  PAGEKV_ASSERT_OK(m->Reserve(a, 0, 0));
  EXPECT_EQ(m->Reserve(a, 1).code(), absl::StatusCode::kInvalidArgument);
  PAGEKV_ASSERT_OK(m->Truncate(a, 0));
  PAGEKV_ASSERT_OK(m->AppendTokens(a, {7}));
  PAGEKV_ASSERT_OK(m->Reserve(a, 1));
  EXPECT_EQ(m->BlockTable(a, GroupId(0))->size(), 1u);
  const SeqId child = *m->Fork(a);
  PAGEKV_ASSERT_OK(m->Truncate(child, 0));
  EXPECT_EQ(m->BlockTable(child, GroupId(0))->size(), 0u);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(LimitsTest, ZeroCountsAreNoOps) {
  auto m = MakeManager(SmallConfig(8));
  const SeqId a = *m->AddSequence(Iota(6));
  PAGEKV_ASSERT_OK(m->Admit(a, 6).status());
  const KVCacheStats before = m->Stats();
  PAGEKV_ASSERT_OK(m->Reserve(a, 0, 0));
  PAGEKV_ASSERT_OK(m->AppendTokens(a, {}));
  EXPECT_EQ(*m->BlocksToReserve(a, 0, 0), 0);
  EXPECT_EQ(m->Stats().blocks_allocated, before.blocks_allocated);
  EXPECT_EQ(m->Stats().in_use_blocks, before.in_use_blocks);
  PAGEKV_ASSERT_OK(m->AdmitBatch({}).status());
}

TEST(LimitsTest, HugeAdmitBudgetIsClampedToThePrompt) {
  auto m = MakeManager(SmallConfig(8));
  const SeqId a = *m->AddSequence(Iota(6));
  auto admitted = m->Admit(a, std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->num_new_tokens, 6);
}

TEST(LimitsTest, LargeCountsAreRejectedOrExhausted) {
  auto m = MakeManager(SmallConfig(8));
  const SeqId a = *m->AddSequence(Iota(6));
  PAGEKV_ASSERT_OK(m->Admit(a, 2).status());
  const KVCacheStats before = m->Stats();
  EXPECT_EQ(m->Reserve(a, int64_t{1} << 40).code(),
            absl::StatusCode::kInvalidArgument);
  // Lookahead beyond the per-sequence limit is a bad argument; within it,
  // more than the pool holds is exhaustion.
  EXPECT_EQ(m->Reserve(a, 1, int64_t{1} << 40).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m->Reserve(a, 1, kMaxSequenceTokens).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(m->Truncate(a, std::numeric_limits<int64_t>::max()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m->Stats().in_use_blocks, before.in_use_blocks);
  PAGEKV_ASSERT_OK(m->Verify());
}

// --- Regressions of bugs found ----------------------------------------------

// Reserve() used to check `num_computed + num_new_tokens > known` in int64,
// so a count near INT64_MAX overflowed and passed; the manager then read
// past the token buffer while hashing. Counts are now checked without sums
// and lookahead is bounded by kMaxSequenceTokens.
TEST(LimitsTest, ReserveHugeCountIsRejected) {
  for (bool prefix_caching : {true, false}) {
    KVCacheConfig c = SmallConfig(8);
    c.enable_prefix_caching = prefix_caching;
    auto m = MakeManager(c);
    const SeqId a = *m->AddSequence(Iota(6));
    PAGEKV_ASSERT_OK(m->Admit(a, 2).status());
    const KVCacheStats before = m->Stats();
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    EXPECT_FALSE(m->Reserve(a, kMax).ok()) << prefix_caching;
    EXPECT_FALSE(m->Reserve(a, 1, kMax).ok()) << prefix_caching;
    EXPECT_FALSE(m->BlocksToReserve(a, 0, kMax).ok() &&
                 *m->BlocksToReserve(a, 0, kMax) < 0);
    const ReserveRequest batch[] = {{a, 0, kMax}};
    EXPECT_FALSE(m->CanReserve(batch).ok() && *m->CanReserve(batch));
    EXPECT_EQ(*m->NumComputedTokens(a), 2);
    EXPECT_EQ(m->Stats().in_use_blocks, before.in_use_blocks);
    PAGEKV_ASSERT_OK(m->Verify());
  }
}

// Regression: Truncate() used to refuse cutting into a sliding window's
// released blocks only when the new window started after token 0, so
// truncating a long sequence to fewer than window - 1 tokens left null slots
// for computed tokens the next token attends to. Found by
// fuzz/manager_fuzzer (input in fuzz/regressions/manager_fuzzer/).
TEST(LimitsTest, TruncateIntoDroppedWindowFromTheStartIsRejected) {
  KVCacheConfig c = SmallConfig(32, 2);
  c.groups = {KVCacheGroupSpec::FullAttention(),
              KVCacheGroupSpec::SlidingWindow(6)};
  auto m = MakeManager(c);
  const SeqId a = *m->AddSequence(Iota(12));
  PAGEKV_ASSERT_OK(m->Admit(a, 6).status());
  for (int i = 0; i < 3; ++i) PAGEKV_ASSERT_OK(m->Reserve(a, 2));
  // Window 6 at 12 computed tokens: blocks of tokens 0..5 went back.
  ASSERT_EQ((*m->BlockTable(a, GroupId(1)))[0], kNullBlock);
  const absl::Status st = m->Truncate(a, 2);
  if (st.ok()) {
    // Tokens 0 and 1 are computed and inside the next token's window.
    EXPECT_NE((*m->BlockTable(a, GroupId(1)))[0], kNullBlock)
        << "computed token 0 is in the window but its slot is null";
  }
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace pagekv
