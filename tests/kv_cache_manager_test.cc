#include "pagekv/kv_cache_manager.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace pagekv {
namespace {

using ::pagekv::testing::Ids;
using ::pagekv::testing::Iota;
using ::pagekv::testing::MakeManager;
using ::pagekv::testing::SmallConfig;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

TEST(KVCacheConfigTest, ValidateNamesTheBadField) {
  KVCacheConfig c = SmallConfig(16);
  c.block_size = 0;
  EXPECT_THAT(std::string(c.Validate().message()), HasSubstr("block_size = 0"));
  c = SmallConfig(1);
  EXPECT_THAT(std::string(c.Validate().message()), HasSubstr("num_blocks = 1"));
  c = SmallConfig(16);
  c.eviction_policy = "nope";
  EXPECT_THAT(std::string(c.Validate().message()),
              HasSubstr("unknown eviction policy \"nope\""));
  c = SmallConfig(16);
  c.groups = {KVCacheGroupSpec::SlidingWindow(0)};
  EXPECT_THAT(std::string(c.Validate().message()),
              HasSubstr("groups[0].sliding_window = 0"));
  EXPECT_EQ(KVCacheManager::Create(c).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KVCacheManagerTest, ReserveAllocatesBlocksAsTokensArrive) {
  auto m = MakeManager(SmallConfig(16));
  SeqId s = *m->AddSequence(Iota(6));
  auto admitted = m->Admit(s, 6);
  PAGEKV_ASSERT_OK(admitted.status());
  EXPECT_EQ(admitted->num_new_tokens, 6);
  EXPECT_THAT(*m->BlockTable(s, GroupId(0)), SizeIs(2));
  PAGEKV_ASSERT_OK(m->AppendTokens(s, {100}));
  PAGEKV_ASSERT_OK(m->Reserve(s, 1));
  PAGEKV_ASSERT_OK(m->AppendTokens(s, {101}));
  PAGEKV_ASSERT_OK(m->Reserve(s, 1));
  EXPECT_THAT(*m->BlockTable(s, GroupId(0)), SizeIs(2));  // 8 tokens
  PAGEKV_ASSERT_OK(m->AppendTokens(s, {102}));
  PAGEKV_ASSERT_OK(m->Reserve(s, 1));
  EXPECT_THAT(*m->BlockTable(s, GroupId(0)), SizeIs(3));
  KVCacheStats st = m->Stats();
  EXPECT_EQ(st.in_use_blocks, 3u);
  EXPECT_EQ(st.used_token_slots, 9u);
  EXPECT_EQ(st.empty_token_slots, 3u);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(KVCacheManagerTest, ReserveBeyondKnownTokensIsInvalid) {
  auto m = MakeManager(SmallConfig(16));
  SeqId s = *m->AddSequence(Iota(3));
  PAGEKV_ASSERT_OK(m->Admit(s, 3).status());
  absl::Status st = m->Reserve(s, 1);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("append the tokens first"));
  EXPECT_EQ(m->Reserve(s, -1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(KVCacheManagerTest, UnknownAndStaleSequencesAreRejected) {
  auto m = MakeManager(SmallConfig(16));
  SeqId s = *m->AddSequence(Iota(3));
  PAGEKV_ASSERT_OK(m->Release(s));
  EXPECT_EQ(m->Reserve(s, 0).code(), absl::StatusCode::kInvalidArgument);
  SeqId t = *m->AddSequence(Iota(3));  // reuses the slot
  EXPECT_NE(s, t);
  EXPECT_EQ(m->Release(s).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m->Release(SeqId(12345)).code(),
            absl::StatusCode::kInvalidArgument);
  PAGEKV_ASSERT_OK(m->Release(t));
}

TEST(KVCacheManagerTest, OutOfBlocksIsResourceExhaustedAndChangesNothing) {
  auto m = MakeManager(SmallConfig(4));  // 3 usable blocks of 4 tokens
  SeqId a = *m->AddSequence(Iota(8));
  PAGEKV_ASSERT_OK(m->Admit(a, 8).status());
  SeqId b = *m->AddSequence(Iota(8, 500));
  auto before = m->Stats();
  auto admitted = m->Admit(b, 8);
  EXPECT_EQ(admitted.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(admitted.status().message()), HasSubstr("needs 2"));
  EXPECT_EQ(*m->NumComputedTokens(b), 0);
  EXPECT_EQ(m->Stats().in_use_blocks, before.in_use_blocks);
  EXPECT_EQ(m->Stats().allocation_failures, 1u);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(KVCacheManagerTest, LookaheadSlotsAreReservedButEmpty) {
  auto m = MakeManager(SmallConfig(16));
  SeqId s = *m->AddSequence(Iota(4));
  PAGEKV_ASSERT_OK(m->Admit(s, 4).status());
  PAGEKV_ASSERT_OK(m->Reserve(s, 0, 5));
  EXPECT_THAT(*m->BlockTable(s, GroupId(0)), SizeIs(3));
  EXPECT_EQ(*m->NumComputedTokens(s), 4);
  EXPECT_EQ(m->Stats().empty_token_slots, 8u);
}

TEST(KVCacheManagerTest, TruncateFreesBlocksNoLongerNeeded) {
  auto m = MakeManager(SmallConfig(16));
  SeqId s = *m->AddSequence(Iota(10));
  PAGEKV_ASSERT_OK(m->Admit(s, 10).status());
  EXPECT_THAT(*m->BlockTable(s, GroupId(0)), SizeIs(3));
  PAGEKV_ASSERT_OK(m->Truncate(s, 5));
  EXPECT_THAT(*m->BlockTable(s, GroupId(0)), SizeIs(2));
  EXPECT_EQ(*m->NumKnownTokens(s), 5);
  EXPECT_EQ(*m->NumComputedTokens(s), 5);
  EXPECT_EQ(m->Stats().used_token_slots, 5u);
  EXPECT_EQ(m->Truncate(s, 6).code(), absl::StatusCode::kInvalidArgument);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(KVCacheManagerTest, ForkSharesBlocksAndCopiesOnWrite) {
  KVCacheConfig c = SmallConfig(16);
  c.enable_prefix_caching = false;
  auto m = MakeManager(c);
  SeqId a = *m->AddSequence(Iota(6));
  PAGEKV_ASSERT_OK(m->Admit(a, 6).status());
  SeqId b = *m->Fork(a);
  auto table_a = Ids(*m->BlockTable(a, GroupId(0)));
  EXPECT_EQ(table_a, Ids(*m->BlockTable(b, GroupId(0))));
  EXPECT_EQ(m->pool().ref_count(BlockId(table_a[1])), 2u);
  PAGEKV_ASSERT_OK(m->AppendTokens(b, {7}));
  PAGEKV_ASSERT_OK(m->Reserve(b, 1));
  auto table_b = Ids(*m->BlockTable(b, GroupId(0)));
  EXPECT_EQ(table_b[0], table_a[0]);  // full block still shared
  EXPECT_NE(table_b[1], table_a[1]);  // partial block copied
  auto copies = m->DrainCopies();
  ASSERT_THAT(copies, SizeIs(1));
  EXPECT_EQ(copies[0].src.value(), table_a[1]);
  EXPECT_EQ(copies[0].dst.value(), table_b[1]);
  EXPECT_TRUE(m->DrainCopies().empty());
  // The parent now owns its partial block alone: no copy on its write.
  PAGEKV_ASSERT_OK(m->AppendTokens(a, {9}));
  PAGEKV_ASSERT_OK(m->Reserve(a, 1));
  EXPECT_TRUE(m->DrainCopies().empty());
  EXPECT_EQ(m->Stats().cow_copies, 1u);
  PAGEKV_ASSERT_OK(m->Verify());
}

// a (6 tokens, so its second block of 4 is partial) forked into b and
// `others` more: a pool with exactly `copies` blocks left must fit the decode
// step of a and b, in the dry run and in the batch, with `copies` copies.
void ExpectForkedPairDecodeCopies(int others, size_t copies) {
  auto m = MakeManager(SmallConfig(static_cast<int64_t>(3 + copies)));
  SeqId a = *m->AddSequence(Iota(6));
  PAGEKV_ASSERT_OK(m->Admit(a, 6).status());
  SeqId b = *m->Fork(a);
  for (int i = 0; i < others; ++i) ASSERT_TRUE(m->Fork(a).ok());
  ASSERT_EQ(m->pool().NumAvailable(), copies);
  // The dry run needs the tokens appended; roll them back after.
  PAGEKV_ASSERT_OK(m->AppendTokens(a, {7}));
  PAGEKV_ASSERT_OK(m->AppendTokens(b, {8}));
  const std::vector<ReserveRequest> dry = {{a, 1, 0}, {b, 1, 0}};
  EXPECT_TRUE(*m->CanReserve(dry));
  EXPECT_EQ(*m->BlocksToReserve(a, 1, 0) + *m->BlocksToReserve(b, 1, 0), 2);
  PAGEKV_ASSERT_OK(m->Truncate(a, 6));
  PAGEKV_ASSERT_OK(m->Truncate(b, 6));
  const std::vector<SeqId> both = {a, b};
  PAGEKV_ASSERT_OK(m->AppendDecodeTokens(both, {{7, 8}}));
  EXPECT_THAT(m->DrainCopies(), SizeIs(copies));
  EXPECT_EQ(m->pool().NumAvailable(), 0u);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(KVCacheManagerTest, DecodeBatchOfEveryHolderCopiesAllButTheLast) {
  // a and b hold the partial block alone: a copies it, then b finds it
  // private, so one block suffices.
  ExpectForkedPairDecodeCopies(/*others=*/0, /*copies=*/1);
  // A third holder is not in the batch: both must copy.
  ExpectForkedPairDecodeCopies(/*others=*/1, /*copies=*/2);
}

TEST(KVCacheManagerTest, CopyOnWriteCountsInTheDryRun) {
  KVCacheConfig c = SmallConfig(4);  // 3 usable
  c.enable_prefix_caching = false;
  auto m = MakeManager(c);
  SeqId a = *m->AddSequence(Iota(6));
  PAGEKV_ASSERT_OK(m->Admit(a, 6).status());
  SeqId b = *m->Fork(a);
  PAGEKV_ASSERT_OK(m->AppendTokens(b, {7, 8, 9}));
  EXPECT_EQ(*m->BlocksToReserve(b, 3, 0), 2);  // copy + one new block
  EXPECT_EQ(m->Reserve(b, 3).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(*m->BlocksToReserve(b, 1, 0), 1);
  PAGEKV_ASSERT_OK(m->Reserve(b, 1));
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(KVCacheManagerTest, ReleaseReturnsEverything) {
  KVCacheConfig c = SmallConfig(8);
  c.enable_prefix_caching = false;
  auto m = MakeManager(c);
  SeqId a = *m->AddSequence(Iota(9));
  PAGEKV_ASSERT_OK(m->Admit(a, 9).status());
  SeqId b = *m->Fork(a);
  PAGEKV_ASSERT_OK(m->Release(a));
  EXPECT_EQ(m->Stats().in_use_blocks, 3u);
  PAGEKV_ASSERT_OK(m->Release(b));
  EXPECT_EQ(m->Stats().free_blocks, 7u);
  EXPECT_EQ(m->Stats().used_token_slots, 0u);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(KVCacheManagerTest, SlidingWindowReturnsOutOfWindowBlocks) {
  KVCacheConfig c = SmallConfig(32);
  c.enable_prefix_caching = false;
  c.groups = {KVCacheGroupSpec::FullAttention(),
              KVCacheGroupSpec::SlidingWindow(5)};
  auto m = MakeManager(c);
  SeqId s = *m->AddSequence(Iota(16));
  PAGEKV_ASSERT_OK(m->Admit(s, 16).status());
  // Admission computed tokens [0, 16): the first new token (0) attends
  // nothing earlier, so nothing is dropped yet.
  EXPECT_THAT(Ids(*m->BlockTable(s, GroupId(1))), SizeIs(4));
  PAGEKV_ASSERT_OK(m->AppendTokens(s, {99}));
  PAGEKV_ASSERT_OK(m->Reserve(s, 1));
  // Token 16 attends [12, 16]: blocks 0..2 (tokens 0..11) are out.
  auto sw = Ids(*m->BlockTable(s, GroupId(1)));
  ASSERT_THAT(sw, SizeIs(5));
  EXPECT_THAT(std::vector<uint32_t>(sw.begin(), sw.begin() + 3),
              ElementsAre(0u, 0u, 0u));
  EXPECT_THAT(*m->BlockTable(s, GroupId(0)), SizeIs(5));
  EXPECT_EQ(m->Stats().in_use_blocks, 5u + 2u);
  StepFootprint fp;
  PAGEKV_ASSERT_OK(m->AddToFootprint(s, 1, &fp));
  ASSERT_THAT(fp.sequences, SizeIs(1));
  EXPECT_EQ(fp.sequences[0].groups[0].pages_read, 5);
  EXPECT_EQ(fp.sequences[0].groups[0].context_tokens, 17);
  EXPECT_EQ(fp.sequences[0].groups[1].pages_read, 2);
  EXPECT_EQ(fp.sequences[0].groups[1].context_tokens, 5);
  EXPECT_EQ(fp.sequences[0].groups[1].pages_written, 1);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(KVCacheManagerTest, ExportsPaddedTableAndCsr) {
  KVCacheConfig c = SmallConfig(16);
  c.enable_prefix_caching = false;
  auto m = MakeManager(c);
  SeqId a = *m->AddSequence(Iota(6));
  SeqId b = *m->AddSequence(Iota(4, 50));
  PAGEKV_ASSERT_OK(m->Admit(a, 6).status());
  PAGEKV_ASSERT_OK(m->Admit(b, 4).status());
  auto ta = Ids(*m->BlockTable(a, GroupId(0)));
  auto tb = Ids(*m->BlockTable(b, GroupId(0)));
  std::vector<SeqId> seqs = {a, b};
  std::vector<int32_t> table(6, -1);
  PAGEKV_ASSERT_OK(
      m->ExportBlockTable(seqs, GroupId(0), 3, absl::MakeSpan(table)));
  EXPECT_THAT(table, ElementsAre(int32_t(ta[0]), int32_t(ta[1]), 0,
                                 int32_t(tb[0]), 0, 0));
  EXPECT_EQ(
      m->ExportBlockTable(seqs, GroupId(0), 1, absl::MakeSpan(table)).code(),
      absl::StatusCode::kInvalidArgument);
  std::vector<int32_t> indptr(3), indices(3), last(2);
  auto n = m->ExportCsr(seqs, GroupId(0), absl::MakeSpan(indptr),
                        absl::MakeSpan(indices), absl::MakeSpan(last));
  PAGEKV_ASSERT_OK(n.status());
  EXPECT_EQ(*n, 3);
  EXPECT_THAT(indptr, ElementsAre(0, 2, 3));
  EXPECT_THAT(indices,
              ElementsAre(int32_t(ta[0]), int32_t(ta[1]), int32_t(tb[0])));
  EXPECT_THAT(last, ElementsAre(2, 4));
  std::vector<int32_t> small(2);
  EXPECT_EQ(m->ExportCsr(seqs, GroupId(0), absl::MakeSpan(indptr),
                         absl::MakeSpan(small), absl::MakeSpan(last))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m->ExportCsr(seqs, GroupId(7), absl::MakeSpan(indptr),
                         absl::MakeSpan(indices), absl::MakeSpan(last))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KVCacheManagerTest, CanReserveIsADryRun) {
  KVCacheConfig c = SmallConfig(5);  // 4 usable
  c.enable_prefix_caching = false;
  auto m = MakeManager(c);
  SeqId a = *m->AddSequence(Iota(8));
  SeqId b = *m->AddSequence(Iota(8, 100));
  PAGEKV_ASSERT_OK(m->Admit(a, 4).status());
  PAGEKV_ASSERT_OK(m->Admit(b, 4).status());
  std::vector<ReserveRequest> both = {{a, 4, 0}, {b, 4, 0}};
  EXPECT_TRUE(*m->CanReserve(both));
  std::vector<ReserveRequest> too_much = {{a, 4, 4}, {b, 4, 0}};
  EXPECT_FALSE(*m->CanReserve(too_much));
  EXPECT_EQ(m->Stats().in_use_blocks, 2u);
}

TEST(KVCacheManagerTest, DecodeBatchEqualsAppendPlusReserve) {
  auto batched = MakeManager(SmallConfig(64));
  auto single = MakeManager(SmallConfig(64));
  std::vector<SeqId> a, b;
  for (int i = 0; i < 3; ++i) {
    a.push_back(*batched->AddSequence(Iota(3 + i, 100 * i)));
    b.push_back(*single->AddSequence(Iota(3 + i, 100 * i)));
    PAGEKV_ASSERT_OK(batched->Admit(a.back(), 100).status());
    PAGEKV_ASSERT_OK(single->Admit(b.back(), 100).status());
  }
  for (TokenId t = 0; t < 9; ++t) {
    std::vector<TokenId> tokens = {t, t + 1, t + 2};
    PAGEKV_ASSERT_OK(batched->AppendDecodeTokens(a, tokens));
    for (int i = 0; i < 3; ++i) {
      PAGEKV_ASSERT_OK(single->AppendTokens(b[i], {tokens[i]}));
      PAGEKV_ASSERT_OK(single->Reserve(b[i], 1));
    }
  }
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Ids(*batched->BlockTable(a[i], GroupId(0))),
              Ids(*single->BlockTable(b[i], GroupId(0))));
    EXPECT_EQ(*batched->NumComputedTokens(a[i]), 12 + i);
  }
  EXPECT_EQ(batched->Stats().used_token_slots,
            single->Stats().used_token_slots);
  PAGEKV_ASSERT_OK(batched->Verify());
}

TEST(KVCacheManagerTest, DecodeBatchIsAllOrNothing) {
  auto m = MakeManager(SmallConfig(4));  // 3 usable blocks of 4
  SeqId a = *m->AddSequence(Iota(4));
  SeqId b = *m->AddSequence(Iota(4, 50));
  SeqId pending = *m->AddSequence(Iota(4, 90));
  PAGEKV_ASSERT_OK(m->Admit(a, 4).status());
  PAGEKV_ASSERT_OK(m->Admit(b, 4).status());
  PAGEKV_ASSERT_OK(m->Admit(pending, 2).status());
  std::vector<SeqId> both = {a, b};
  std::vector<TokenId> tokens = {1, 2};
  // Both need a new block; only... none is left after pending's.
  EXPECT_EQ(m->AppendDecodeTokens(both, tokens).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(*m->NumKnownTokens(a), 4);
  EXPECT_EQ(*m->NumKnownTokens(b), 4);
  std::vector<SeqId> twice = {a, a};
  EXPECT_EQ(m->AppendDecodeTokens(twice, tokens).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<SeqId> unfinished = {pending};
  EXPECT_EQ(m->AppendDecodeTokens(unfinished, {{7}}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(m->AppendDecodeTokens(both, {{7}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*m->NumKnownTokens(a), 4);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(KVCacheManagerTest, FootprintCountsPartialLastPage) {
  KVCacheConfig c = SmallConfig(16);
  auto m = MakeManager(c);
  SeqId s = *m->AddSequence(Iota(10));
  PAGEKV_ASSERT_OK(m->Admit(s, 10).status());
  StepFootprint fp;
  PAGEKV_ASSERT_OK(m->AddToFootprint(s, 10, &fp));
  EXPECT_EQ(fp.block_size, 4);
  EXPECT_TRUE(fp.sequences[0].is_prefill);
  EXPECT_EQ(fp.sequences[0].cached_tokens, 0);
  EXPECT_EQ(fp.sequences[0].groups[0].pages_read, 3);
  EXPECT_EQ(fp.sequences[0].groups[0].pages_written, 3);
  EXPECT_EQ(m->AddToFootprint(s, 11, &fp).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pagekv
