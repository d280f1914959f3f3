// The hybrid group kinds: chunked local attention and state (Mamba / linear
// attention) groups, alone and beside full attention, and hybrid prefix hits.
#include <numeric>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/kv_cache_manager.h"
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

using Kind = KVCacheGroupSpec::Kind;

KVCacheConfig Hybrid(std::vector<KVCacheGroupSpec> groups,
                     int64_t num_blocks = 64) {
  KVCacheConfig c = SmallConfig(num_blocks);  // block_size 4
  c.groups = std::move(groups);
  return c;
}

std::vector<uint32_t> Table(const KVCacheManager& m, SeqId s, uint32_t g) {
  return Ids(*m.BlockTable(s, GroupId(g)));
}

// Blocks indexed in group `g`.
int IndexedIn(const KVCacheManager& m, uint32_t g) {
  int n = 0;
  m.ForEachIndexedBlock([&](const IndexedBlock& b) {
    if (b.group.value() == g) ++n;
  });
  return n;
}

// A sequence of `prompt` computed through in steps of `chunks` tokens.
SeqId Computed(KVCacheManager& m, const std::vector<TokenId>& prompt,
               std::vector<int64_t> chunks) {
  SeqId s = *m.AddSequence(prompt);
  auto a = m.Admit(s, chunks[0]);
  EXPECT_TRUE(a.ok()) << a.status();
  for (size_t i = 1; i < chunks.size(); ++i) {
    EXPECT_TRUE(m.Reserve(s, chunks[i]).ok());
  }
  m.DrainCopies();
  return s;
}

TEST(HybridConfigTest, ValidateNamesTheBadField) {
  KVCacheConfig c = Hybrid({KVCacheGroupSpec::ChunkedLocal(0)});
  EXPECT_THAT(std::string(c.Validate().message()),
              HasSubstr("groups[0].attention_chunk_size = 0"));
  c = Hybrid({KVCacheGroupSpec::FullAttention(),
              KVCacheGroupSpec::State(StateCacheMode::kAlign, 0, 6)});
  EXPECT_THAT(std::string(c.Validate().message()),
              HasSubstr("groups[1].state_block_size = 6"));
  c = Hybrid({KVCacheGroupSpec::State(StateCacheMode::kNone, 17)});
  EXPECT_THAT(std::string(c.Validate().message()),
              HasSubstr("num_speculative_blocks = 17"));
  EXPECT_EQ(KVCacheManager::Create(c).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_STREQ(GroupKindName(Kind::kChunkedLocal), "chunked_local");
  EXPECT_STREQ(GroupKindName(Kind::kState), "state");
}

TEST(ChunkedLocalTest, ReleasesBlocksBeforeTheCurrentChunk) {
  // No caching: a chunked-only model would hit the first 32 tokens (the
  // next token reads only its chunk; see AHitAtAChunkBoundaryReadsNoBlocks).
  KVCacheConfig c = Hybrid({KVCacheGroupSpec::ChunkedLocal(8)});
  c.enable_prefix_caching = false;
  auto m = MakeManager(c);
  SeqId s = *m->AddSequence(Iota(40));
  PAGEKV_ASSERT_OK(m->Admit(s, 20).status());  // read from token 0
  EXPECT_THAT(*m->BlockTable(s, GroupId(0)), SizeIs(5));
  EXPECT_EQ(m->Stats().in_use_blocks, 5u);
  PAGEKV_ASSERT_OK(m->Reserve(s, 1));  // token 20 reads its chunk [16, 20]
  const auto t = Table(*m, s, 0);
  ASSERT_THAT(t, SizeIs(6));
  EXPECT_THAT(std::vector<uint32_t>(t.begin(), t.begin() + 4),
              ElementsAre(0, 0, 0, 0));
  EXPECT_NE(t[4], 0u);
  EXPECT_EQ(m->Stats().in_use_blocks, 2u);
  // A rollback into a released chunk is refused and changes nothing.
  EXPECT_EQ(m->Truncate(s, 10).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Table(*m, s, 0), t);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(ChunkedLocalTest, HitNeedsOnlyTheCurrentChunk) {
  // Full attention beside chunked local (Llama 4's 1 global : 3 local).
  auto m = MakeManager(Hybrid(
      {KVCacheGroupSpec::FullAttention(), KVCacheGroupSpec::ChunkedLocal(8)}));
  const std::vector<TokenId> prompt = Iota(30);
  SeqId a = Computed(*m, prompt, {29});
  PAGEKV_ASSERT_OK(m->Release(a));
  SeqId b = *m->AddSequence(prompt);
  auto hit = m->MatchPrefix(b);
  PAGEKV_ASSERT_OK(hit.status());
  EXPECT_EQ(hit->num_tokens, 28);
  auto admitted = m->Admit(b, 2);
  PAGEKV_ASSERT_OK(admitted.status());
  // Chunked local: the hit of 28 tokens reads only its chunk [24, 28).
  const auto t = Table(*m, b, 1);
  EXPECT_THAT(std::vector<uint32_t>(t.begin(), t.begin() + 6),
              ElementsAre(0, 0, 0, 0, 0, 0));
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(ChunkedLocalTest, AHitAtAChunkBoundaryReadsNoBlocks) {
  auto m = MakeManager(Hybrid({KVCacheGroupSpec::ChunkedLocal(8)}));
  // Nothing is cached, yet the next token at 16 reads only its own chunk.
  auto hit = m->MatchPrefix(Iota(17));
  EXPECT_EQ(hit.num_tokens, 16);
  EXPECT_EQ(hit.num_evictable_blocks, 0);
  EXPECT_EQ(m->MatchPrefix(Iota(15)).num_tokens, 8);
}

TEST(StateGroupTest, NoneModeKeepsOneBlockForTheWholeSequence) {
  auto m =
      MakeManager(Hybrid({KVCacheGroupSpec::FullAttention(),
                          KVCacheGroupSpec::State(StateCacheMode::kNone)}));
  SeqId s = *m->AddSequence(Iota(10));
  PAGEKV_ASSERT_OK(m->Admit(s, 10).status());
  const auto first = Table(*m, s, 1);
  ASSERT_THAT(first, SizeIs(1));
  for (int i = 0; i < 30; ++i) {
    PAGEKV_ASSERT_OK(m->AppendDecodeTokens({s}, {7}));
  }
  EXPECT_EQ(Table(*m, s, 1), first);
  EXPECT_THAT(*m->BlockTable(s, GroupId(0)), SizeIs(10));
  EXPECT_TRUE(m->DrainCopies().empty());
  // Nothing can ever serve a hit, so nothing is cached.
  PAGEKV_ASSERT_OK(m->Release(s));
  EXPECT_EQ(m->Stats().cached_blocks, 0u);
  EXPECT_EQ(m->MatchPrefix(Iota(10)).num_tokens, 0);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(StateGroupTest, SpeculativeBlocksBoundTheRollback) {
  auto m =
      MakeManager(Hybrid({KVCacheGroupSpec::FullAttention(),
                          KVCacheGroupSpec::State(StateCacheMode::kNone, 2)}));
  SeqId s = *m->AddSequence(Iota(12));
  PAGEKV_ASSERT_OK(m->Admit(s, 12).status());
  EXPECT_THAT(*m->BlockTable(s, GroupId(1)), SizeIs(3));
  PAGEKV_ASSERT_OK(m->Truncate(s, 10));  // two draft tokens rejected
  EXPECT_EQ(*m->NumComputedTokens(s), 10);
  EXPECT_THAT(*m->BlockTable(s, GroupId(1)), SizeIs(3));
  const auto before = m->Stats();
  EXPECT_EQ(m->Truncate(s, 7).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*m->NumComputedTokens(s), 10);
  EXPECT_EQ(m->Stats().in_use_blocks, before.in_use_blocks);
  PAGEKV_ASSERT_OK(m->Truncate(s, 0));  // a restart needs no state
  EXPECT_THAT(*m->BlockTable(s, GroupId(1)), SizeIs(0));
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(StateGroupTest, AlignModeMovesTheStateAndKeepsCheckpoints) {
  auto m =
      MakeManager(Hybrid({KVCacheGroupSpec::FullAttention(),
                          KVCacheGroupSpec::State(StateCacheMode::kAlign)}));
  SeqId s = *m->AddSequence(Iota(20));
  PAGEKV_ASSERT_OK(m->Admit(s, 8).status());
  auto t = Table(*m, s, 1);
  ASSERT_THAT(t, ElementsAre(0, ::testing::Ne(0u)));
  const uint32_t checkpoint = t[1];
  EXPECT_EQ(IndexedIn(*m, 1), 1);  // the state after 8 tokens
  EXPECT_TRUE(m->DrainCopies().empty());
  EXPECT_EQ(*m->BlocksToReserve(s, 1, 0), 1 + 1);  // a full block, a state
  PAGEKV_ASSERT_OK(m->Reserve(s, 1));
  t = Table(*m, s, 1);
  ASSERT_THAT(t, SizeIs(3));
  EXPECT_THAT(std::vector<uint32_t>(t.begin(), t.begin() + 2),
              ElementsAre(0, 0));
  // The engine copies the state into its new block before the kernels.
  const std::vector<BlockCopy> copies = m->DrainCopies();
  ASSERT_THAT(copies, SizeIs(1));
  EXPECT_EQ(copies[0].src.value(), checkpoint);
  EXPECT_EQ(copies[0].dst.value(), t[2]);
  EXPECT_EQ(copies[0].group.value(), 1u);
  // The checkpoint went back to the pool but stays cached.
  EXPECT_EQ(m->pool().state(BlockId(checkpoint)), BlockState::kCached);
  // Within the entry the state is written in place.
  EXPECT_EQ(*m->BlocksToReserve(s, 2, 0), 0);
  PAGEKV_ASSERT_OK(m->Reserve(s, 2));
  EXPECT_EQ(Table(*m, s, 1)[2], t[2]);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(StateGroupTest, HitsOnlyAtCheckpointsAStepEndedOn) {
  auto m =
      MakeManager(Hybrid({KVCacheGroupSpec::FullAttention(),
                          KVCacheGroupSpec::State(StateCacheMode::kAlign)}));
  const std::vector<TokenId> prompt = Iota(30);
  // Steps end at 10 and 16: only 16 is aligned to the block size.
  SeqId a = Computed(*m, prompt, {10, 6});
  EXPECT_EQ(IndexedIn(*m, 1), 1);
  // A prompt sharing 12 tokens: full attention holds 3 blocks, but there is
  // no state after 12 (or 8, or 4) tokens to resume from.
  std::vector<TokenId> other(prompt.begin(), prompt.begin() + 12);
  other.push_back(999);
  EXPECT_EQ(m->MatchPrefix(other).num_tokens, 0);
  EXPECT_EQ(m->MatchPrefix(prompt).num_tokens, 16);
  PAGEKV_ASSERT_OK(m->Release(a));
  SeqId b = *m->AddSequence(prompt);
  auto admitted = m->Admit(b, 4);
  PAGEKV_ASSERT_OK(admitted.status());
  EXPECT_EQ(admitted->hit.num_tokens, 16);
  // The hit's state is copied into b's own block.
  EXPECT_THAT(m->DrainCopies(), SizeIs(1));
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(StateGroupTest, ACheckpointCachedThisStepCannotBeHitThisStep) {
  auto m =
      MakeManager(Hybrid({KVCacheGroupSpec::FullAttention(),
                          KVCacheGroupSpec::State(StateCacheMode::kAlign)}));
  const std::vector<TokenId> prompt = Iota(20);
  SeqId a = *m->AddSequence(prompt);
  PAGEKV_ASSERT_OK(m->Admit(a, 16).status());
  // Same step: the state after 16 tokens is what this step computes.
  SeqId b = *m->AddSequence(prompt);
  EXPECT_EQ(m->MatchPrefix(b)->num_tokens, 0);
  EXPECT_EQ(*m->BlocksToAdmit(b, 4), 1 + 1);  // a full block, a new state
  m->DrainCopies();                           // the step is scheduled
  EXPECT_EQ(m->MatchPrefix(b)->num_tokens, 16);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(StateGroupTest, HybridHitIsAMultipleOfTheLcmOfBlockSizes) {
  // Block size 4 for attention, a state checkpoint every 8 tokens.
  auto m = MakeManager(
      Hybrid({KVCacheGroupSpec::FullAttention(),
              KVCacheGroupSpec::State(StateCacheMode::kAlign, 0, 8)}));
  const std::vector<TokenId> prompt = Iota(14);
  SeqId a = Computed(*m, prompt, {4, 4, 4});  // ends at 4, 8, 12
  EXPECT_EQ(IndexedIn(*m, 1), 1);             // only 8 is a checkpoint
  EXPECT_EQ(m->MatchPrefix(prompt).num_tokens, 8);
  const auto t = Table(*m, a, 1);
  EXPECT_THAT(t, ElementsAre(0, ::testing::Ne(0u)));  // entry 1: (8, 16]
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(StateGroupTest, WindowBlocksNoAlignedHitReadsAreNotCached) {
  // Hits are multiples of 8 tokens: a 2-token window reads only the block
  // before each aligned end, so the other half of its blocks is never used.
  auto m = MakeManager(Hybrid(
      {KVCacheGroupSpec::FullAttention(), KVCacheGroupSpec::SlidingWindow(2),
       KVCacheGroupSpec::State(StateCacheMode::kAlign, 0, 8)}));
  const std::vector<TokenId> prompt = Iota(34);
  SeqId a = Computed(*m, prompt, {16, 16});
  EXPECT_EQ(IndexedIn(*m, 0), 8);
  EXPECT_EQ(IndexedIn(*m, 1), 4);  // blocks 1, 3, 5, 7
  EXPECT_EQ(IndexedIn(*m, 2), 2);  // states after 16 and 32
  PAGEKV_ASSERT_OK(m->Release(a));
  EXPECT_EQ(m->MatchPrefix(prompt).num_tokens, 32);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(StateGroupTest, ForkCopiesTheSharedStateOnWrite) {
  auto m =
      MakeManager(Hybrid({KVCacheGroupSpec::FullAttention(),
                          KVCacheGroupSpec::State(StateCacheMode::kNone, 1)}));
  SeqId a = *m->AddSequence(Iota(6));
  PAGEKV_ASSERT_OK(m->Admit(a, 6).status());
  SeqId b = *m->Fork(a);
  PAGEKV_ASSERT_OK(m->AppendTokens(b, {9}));
  // The state block is copied; the speculative block is replaced.
  EXPECT_EQ(*m->BlocksToReserve(b, 1, 0), 2 + 1);
  const ReserveRequest both[] = {{a, 0, 0}, {b, 1, 0}};
  EXPECT_TRUE(*m->CanReserve(both));
  const uint64_t free_before = m->pool().NumAvailable();
  PAGEKV_ASSERT_OK(m->Reserve(b, 1));
  EXPECT_EQ(free_before - m->pool().NumAvailable(), 3u);
  const std::vector<BlockCopy> copies = m->DrainCopies();
  ASSERT_THAT(copies, SizeIs(2));  // the full group's last block and state
  EXPECT_NE(Table(*m, a, 1)[0], Table(*m, b, 1)[0]);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(StateGroupTest, ExhaustionChangesNothing) {
  auto m =
      MakeManager(Hybrid({KVCacheGroupSpec::FullAttention(),
                          KVCacheGroupSpec::State(StateCacheMode::kAlign, 1)},
                         /*num_blocks=*/6));
  SeqId s = *m->AddSequence(Iota(40));
  EXPECT_EQ(*m->BlocksToAdmit(s, 12), 3 + 2);
  EXPECT_EQ(m->Admit(s, 20).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(m->pool().NumAvailable(), 5u);
  PAGEKV_ASSERT_OK(m->Admit(s, 12).status());
  EXPECT_EQ(m->pool().NumAvailable(), 0u);
  const auto table = Table(*m, s, 1);
  EXPECT_EQ(m->Reserve(s, 1).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Table(*m, s, 1), table);
  EXPECT_TRUE(m->DrainCopies().empty());
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(StateGroupTest, ExportsTheStateAndSpeculativeBlocks) {
  auto m =
      MakeManager(Hybrid({KVCacheGroupSpec::FullAttention(),
                          KVCacheGroupSpec::State(StateCacheMode::kAlign, 1)}));
  SeqId s = *m->AddSequence(Iota(12));
  PAGEKV_ASSERT_OK(m->Admit(s, 10).status());
  const auto t = Table(*m, s, 1);  // [null, null, state, speculative]
  ASSERT_THAT(t, SizeIs(4));
  std::vector<int32_t> indptr(2), indices(8), last(1);
  auto n = m->ExportCsr({s}, GroupId(1), absl::MakeSpan(indptr),
                        absl::MakeSpan(indices), absl::MakeSpan(last));
  PAGEKV_ASSERT_OK(n.status());
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(uint32_t(indices[0]), t[2]);
  EXPECT_EQ(uint32_t(indices[1]), t[3]);
  EXPECT_EQ(last[0], 1);
  std::vector<int32_t> rows(4);
  PAGEKV_ASSERT_OK(
      m->ExportBlockTable({s}, GroupId(1), 4, absl::MakeSpan(rows)));
  EXPECT_EQ(uint32_t(rows[2]), t[2]);
  EXPECT_EQ(rows[0], 0);
}

TEST(StateGroupTest, FootprintReadsOneStateWhateverTheContext) {
  auto m = MakeManager(Hybrid(
      {KVCacheGroupSpec::FullAttention(), KVCacheGroupSpec::ChunkedLocal(8),
       KVCacheGroupSpec::State(StateCacheMode::kNone)}));
  SeqId s = *m->AddSequence(Iota(30));
  PAGEKV_ASSERT_OK(m->Admit(s, 29).status());
  PAGEKV_ASSERT_OK(m->Reserve(s, 1));
  StepFootprint fp;
  PAGEKV_ASSERT_OK(m->AddToFootprint(s, 1, &fp));
  ASSERT_THAT(fp.sequences, SizeIs(1));
  const auto& g = fp.sequences[0].groups;
  EXPECT_EQ(g[0].context_tokens, 30);
  EXPECT_EQ(g[0].pages_read, 8);
  EXPECT_EQ(g[1].context_tokens, 6);  // token 29 attends to [24, 29]
  EXPECT_EQ(g[1].pages_read, 2);
  EXPECT_EQ(g[2].context_tokens, 0);
  EXPECT_EQ(g[2].pages_read, 1);
  EXPECT_EQ(g[2].pages_written, 1);
}

}  // namespace
}  // namespace pagekv
