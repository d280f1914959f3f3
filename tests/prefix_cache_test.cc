// Prefix caching through the manager: shared prefixes, isolation by salt and
// LoRA, verified hits under forced collisions, lazy eviction, events.
#include <variant>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/clock.h"
#include "pagekv/kv_cache_manager.h"
#include "test_util.h"

namespace pagekv {
namespace {

using ::pagekv::testing::Concat;
using ::pagekv::testing::Ids;
using ::pagekv::testing::Iota;
using ::pagekv::testing::MakeManager;
using ::pagekv::testing::SmallConfig;
using ::testing::ElementsAre;
using ::testing::SizeIs;

// Admits `prompt` fully and returns the hit in tokens.
int64_t AdmitAll(KVCacheManager& m, SeqId s) {
  auto a = m.Admit(s, 1 << 30);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.ok() ? a->hit.num_tokens : -1;
}

TEST(PrefixCacheTest, SecondRequestReusesTheSharedPrefix) {
  auto m = MakeManager(SmallConfig(32));
  auto system = Iota(8, 1000);
  SeqId a = *m->AddSequence(Concat(system, Iota(5, 1)));
  EXPECT_EQ(AdmitAll(*m, a), 0);
  SeqId b = *m->AddSequence(Concat(system, Iota(5, 50)));
  auto match = m->MatchPrefix(b);
  ASSERT_TRUE(match.ok());
  EXPECT_EQ(match->num_tokens, 8);
  EXPECT_EQ(match->num_evictable_blocks, 0);  // a still holds them
  EXPECT_EQ(AdmitAll(*m, b), 8);
  auto ta = Ids(*m->BlockTable(a, GroupId(0)));
  auto tb = Ids(*m->BlockTable(b, GroupId(0)));
  EXPECT_EQ(ta[0], tb[0]);
  EXPECT_EQ(ta[1], tb[1]);
  EXPECT_NE(ta[2], tb[2]);
  EXPECT_EQ(m->Stats().prefix.hit_tokens, 8u);
  EXPECT_EQ(m->Stats().prefix.query_tokens, 26u);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(PrefixCacheTest, PromptMatchNeedsNoSequence) {
  auto m = MakeManager(SmallConfig(32));
  SeqId a = *m->AddSequence(Iota(13));
  AdmitAll(*m, a);
  const uint64_t before = m->Stats().num_sequences;
  EXPECT_EQ(m->MatchPrefix(Iota(13)).num_tokens, 12);
  BlockHashExtras lora;
  lora.lora_id = 3;
  EXPECT_EQ(m->MatchPrefix(Iota(13), lora).num_tokens, 0);
  EXPECT_EQ(m->MatchPrefix(Iota(6)).num_tokens, 4);
  EXPECT_EQ(m->MatchPrefix(std::vector<TokenId>{}).num_tokens, 0);
  EXPECT_EQ(m->Stats().num_sequences, before);
  EXPECT_EQ(m->Stats().prefix.queries, 1u);  // probes are not counted
}

TEST(PrefixCacheTest, HitIsCappedBeforeTheLastToken) {
  auto m = MakeManager(SmallConfig(32));
  SeqId a = *m->AddSequence(Iota(8));
  AdmitAll(*m, a);
  SeqId b = *m->AddSequence(Iota(8));  // identical, block-aligned prompt
  EXPECT_EQ(m->MatchPrefix(b)->num_tokens, 4);  // not 8: last token computed
  SeqId c = *m->AddSequence(Iota(9));
  EXPECT_EQ(m->MatchPrefix(c)->num_tokens, 8);
}

TEST(PrefixCacheTest, ReleasedBlocksStayMatchableUntilEvicted) {
  auto m = MakeManager(SmallConfig(5));  // 4 usable blocks of 4
  SeqId a = *m->AddSequence(Iota(9));
  AdmitAll(*m, a);
  PAGEKV_ASSERT_OK(m->Release(a));
  EXPECT_EQ(m->Stats().cached_blocks, 2u);  // the two full blocks
  EXPECT_EQ(m->Stats().free_blocks, 2u);
  SeqId b = *m->AddSequence(Iota(9));
  auto match = m->MatchPrefix(b);
  EXPECT_EQ(match->num_tokens, 8);
  EXPECT_EQ(match->num_evictable_blocks, 2);
  // The dry run counts the evictable hits: 2 claimed + 1 new block.
  EXPECT_EQ(*m->BlocksToAdmit(b, 1), 3);
  EXPECT_EQ(AdmitAll(*m, b), 8);
  EXPECT_EQ(m->Stats().cached_blocks, 0u);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(PrefixCacheTest, EmptyBlocksAreUsedBeforeCachedOnesAreEvicted) {
  KVCacheConfig c = SmallConfig(5);
  c.enable_kv_events = true;
  auto m = MakeManager(c);
  SeqId a = *m->AddSequence(Iota(8));
  AdmitAll(*m, a);
  PAGEKV_ASSERT_OK(m->Release(a));
  m->DrainEvents();
  SeqId b = *m->AddSequence(Iota(8, 100));
  AdmitAll(*m, b);                            // 2 free blocks suffice
  EXPECT_TRUE(m->DrainEvents().size() == 1);  // only b's BlockStored
  EXPECT_EQ(m->Stats().evictions, 0u);
  SeqId c2 = *m->AddSequence(Iota(4, 200));
  AdmitAll(*m, c2);  // now one cached block must go
  EXPECT_EQ(m->Stats().evictions, 1u);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(PrefixCacheTest, ReleaseIsTailFirstSoDeeperBlocksAreEvictedFirst) {
  KVCacheConfig c = SmallConfig(5);
  c.enable_kv_events = true;
  auto m = MakeManager(c);
  SeqId a = *m->AddSequence(Iota(13));
  AdmitAll(*m, a);  // 4 blocks, 3 full
  auto table = Ids(*m->BlockTable(a, GroupId(0)));
  PAGEKV_ASSERT_OK(m->Release(a));
  m->DrainEvents();
  SeqId b = *m->AddSequence(Iota(6, 500));
  AdmitAll(*m, b);  // 1 free block, then evicts one cached block
  auto events = m->DrainEvents();
  std::vector<uint64_t> removed;
  for (const KVEvent& e : events) {
    if (auto* r = std::get_if<BlockRemovedEvent>(&e)) {
      removed.insert(removed.end(), r->block_keys.begin(), r->block_keys.end());
    }
  }
  ASSERT_THAT(removed, SizeIs(1));
  // The prefix of 8 tokens is still matchable: the third block went first.
  SeqId probe = *m->AddSequence(Iota(13));
  EXPECT_EQ(m->MatchPrefix(probe)->num_tokens, 8);
  (void)table;
}

TEST(PrefixCacheTest, SaltsAndLoraIdsIsolate) {
  auto m = MakeManager(SmallConfig(32));
  SequenceOptions tenant_a;
  tenant_a.hash_extras.cache_salt = 1;
  SequenceOptions tenant_b;
  tenant_b.hash_extras.cache_salt = 2;
  SequenceOptions lora;
  lora.hash_extras.cache_salt = 1;
  lora.hash_extras.lora_id = 7;
  SeqId a = *m->AddSequence(Iota(9), tenant_a);
  AdmitAll(*m, a);
  EXPECT_EQ(m->MatchPrefix(*m->AddSequence(Iota(9), tenant_a))->num_tokens, 8);
  EXPECT_EQ(m->MatchPrefix(*m->AddSequence(Iota(9), tenant_b))->num_tokens, 0);
  EXPECT_EQ(m->MatchPrefix(*m->AddSequence(Iota(9), lora))->num_tokens, 0);
  EXPECT_EQ(m->MatchPrefix(*m->AddSequence(Iota(9)))->num_tokens, 0);
}

TEST(PrefixCacheTest, MultimodalItemsChangeKeysOfTheirBlocks) {
  auto m = MakeManager(SmallConfig(32));
  SequenceOptions image_a, image_b;
  image_a.hash_extras.mm_items = {{0xAAAA, 4, 4}};
  image_b.hash_extras.mm_items = {{0xBBBB, 4, 4}};
  SeqId a = *m->AddSequence(Iota(13), image_a);
  AdmitAll(*m, a);
  // Same image: full hit. Other image in block 1: only block 0 is shared.
  EXPECT_EQ(m->MatchPrefix(*m->AddSequence(Iota(13), image_a))->num_tokens, 12);
  EXPECT_EQ(m->MatchPrefix(*m->AddSequence(Iota(13), image_b))->num_tokens, 4);
}

uint64_t CollidingHash(const TokenId*, size_t, uint64_t) { return 42; }

TEST(PrefixCacheTest, ForcedHashCollisionNeverYieldsAWrongHit) {
  KVCacheConfig c = SmallConfig(64);
  c.block_hash_fn = &CollidingHash;  // every block hashes alike
  auto m = MakeManager(c);
  SeqId a = *m->AddSequence(Iota(13));
  AdmitAll(*m, a);
  // Same keys, different tokens: verification rejects the hit.
  SeqId b = *m->AddSequence(Iota(13, 100));
  EXPECT_EQ(m->MatchPrefix(b)->num_tokens, 0);
  EXPECT_EQ(AdmitAll(*m, b), 0);
  // Equal first block, different second block: exactly one block hits.
  SeqId d = *m->AddSequence(Concat(Iota(4), Iota(9, 300)));
  EXPECT_EQ(m->MatchPrefix(d)->num_tokens, 4);
  // The true prefix still hits in full.
  SeqId e = *m->AddSequence(Iota(13));
  EXPECT_EQ(m->MatchPrefix(e)->num_tokens, 12);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(PrefixCacheTest, EvictedParentInvalidatesStaleChildren) {
  // Block ids are reused after eviction; a child indexed under the old
  // parent must not verify against the new content of that id.
  KVCacheConfig c = SmallConfig(4);  // 3 usable blocks
  c.block_hash_fn = &CollidingHash;
  auto m = MakeManager(c);
  SeqId a = *m->AddSequence(Iota(9));
  AdmitAll(*m, a);
  PAGEKV_ASSERT_OK(m->Release(a));
  SeqId b = *m->AddSequence(Iota(12, 400));
  AdmitAll(*m, b);  // evicts a's cached blocks and reuses their ids
  PAGEKV_ASSERT_OK(m->Release(b));
  SeqId probe = *m->AddSequence(Concat(Iota(4, 400), Iota(5, 5)));
  EXPECT_EQ(m->MatchPrefix(probe)->num_tokens, 4);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(PrefixCacheTest, DecodeBlocksAreCachedWhenTheyFill) {
  auto m = MakeManager(SmallConfig(32));
  SeqId a = *m->AddSequence(Iota(3));
  AdmitAll(*m, a);
  for (TokenId t : {4, 5, 6}) {
    PAGEKV_ASSERT_OK(m->AppendTokens(a, {t}));
    PAGEKV_ASSERT_OK(m->Reserve(a, 1));
  }
  // Tokens 1..6 computed: block 0 (1..4) is full and cached.
  SeqId b = *m->AddSequence(Iota(7));
  EXPECT_EQ(m->MatchPrefix(b)->num_tokens, 4);
}

// The keys of every BlockStored event, in order.
std::vector<uint64_t> StoredKeys(const std::vector<KVEvent>& events) {
  std::vector<uint64_t> keys;
  for (const KVEvent& e : events) {
    if (const auto* stored = std::get_if<BlockStoredEvent>(&e)) {
      keys.insert(keys.end(), stored->block_keys.begin(),
                  stored->block_keys.end());
    }
  }
  return keys;
}

TEST(PrefixCacheTest, BatchedDecodeIndexesFilledBlocksInBatchOrder) {
  // b, a and c (a fork of a) fill identical blocks in one step; a and c
  // share theirs, so they take the general path (a copies) between b and d,
  // which take the fast path. The batch must index exactly as one Reserve
  // per sequence in batch order would: b's block is the canonical copy.
  KVCacheConfig config = SmallConfig(32);
  config.enable_kv_events = true;
  auto batched = MakeManager(config);
  auto single = MakeManager(config);
  std::vector<SeqId> in_batched, in_single;
  for (KVCacheManager* m : {batched.get(), single.get()}) {
    SeqId a = *m->AddSequence(Iota(3));
    SeqId b = *m->AddSequence(Iota(3));
    SeqId d = *m->AddSequence(Iota(7, 50));
    for (SeqId s : {a, b, d}) AdmitAll(*m, s);
    SeqId c = *m->Fork(a);
    (m == batched.get() ? in_batched : in_single) = {b, a, c, d};
  }
  const std::vector<TokenId> tokens = {4, 4, 4, 57};
  PAGEKV_ASSERT_OK(batched->AppendDecodeTokens(in_batched, tokens));
  for (size_t i = 0; i < tokens.size(); ++i) {
    PAGEKV_ASSERT_OK(single->AppendTokens(in_single[i], {tokens[i]}));
    PAGEKV_ASSERT_OK(single->Reserve(in_single[i], 1));
  }
  EXPECT_EQ(StoredKeys(batched->DrainEvents()),
            StoredKeys(single->DrainEvents()));
  EXPECT_THAT(batched->DrainCopies(), SizeIs(1));
  for (size_t i = 0; i < tokens.size(); ++i) {
    EXPECT_EQ(Ids(*batched->BlockTable(in_batched[i], GroupId(0))),
              Ids(*single->BlockTable(in_single[i], GroupId(0))));
  }
  // Both decoded blocks are hits now, and the first one is b's.
  SeqId probe = *batched->AddSequence(Iota(5));
  EXPECT_EQ(AdmitAll(*batched, probe), 4);
  EXPECT_EQ(batched->BlockTable(probe, GroupId(0))->front(),
            batched->BlockTable(in_batched[0], GroupId(0))->front());
  EXPECT_EQ(batched->MatchPrefix(Concat(Iota(7, 50), {57, 0}), {}).num_tokens,
            8);
  PAGEKV_ASSERT_OK(batched->Verify());
  PAGEKV_ASSERT_OK(single->Verify());
}

TEST(PrefixCacheTest, DecodeEvictionsSeeTheClockForPriorityDecay) {
  // x's block is cached at priority 90 for 10 us, then y's at the default.
  // At t = 100 x's priority has decayed, so x's block (released first) is
  // the victim when a decode step needs a block, whether the step comes as
  // a batch or as one Reserve.
  for (const bool batched : {true, false}) {
    ManualClock clock(0);
    KVCacheConfig config = SmallConfig(7);  // 6 usable blocks of 4
    config.eviction_policy = "priority";
    config.clock = &clock;
    auto m = MakeManager(config);
    SequenceOptions briefly_kept;
    briefly_kept.retention_priority = 90;
    briefly_kept.retention_duration_us = 10;
    SeqId x = *m->AddSequence(Iota(5), briefly_kept);
    AdmitAll(*m, x);
    PAGEKV_ASSERT_OK(m->Release(x));
    clock.Set(1);
    SeqId y = *m->AddSequence(Iota(5, 50));
    AdmitAll(*m, y);
    PAGEKV_ASSERT_OK(m->Release(y));
    SeqId z = *m->AddSequence(Iota(16, 100));
    AdmitAll(*m, z);  // takes the 4 free blocks
    ASSERT_EQ(m->pool().NumFree(), 0u);
    clock.Set(100);
    if (batched) {
      PAGEKV_ASSERT_OK(m->AppendDecodeTokens({{z}}, {{7}}));
    } else {
      PAGEKV_ASSERT_OK(m->AppendTokens(z, {7}));
      PAGEKV_ASSERT_OK(m->Reserve(z, 1));
    }
    EXPECT_EQ(m->MatchPrefix(Iota(5)).num_tokens, 0) << batched;
    EXPECT_EQ(m->MatchPrefix(Iota(5, 50)).num_tokens, 4) << batched;
    PAGEKV_ASSERT_OK(m->Verify());
  }
}

TEST(PrefixCacheTest, EventsDescribeWhatHappened) {
  KVCacheConfig c = SmallConfig(4);
  c.enable_kv_events = true;
  auto m = MakeManager(c);
  SeqId a = *m->AddSequence(Iota(9));
  AdmitAll(*m, a);
  auto events = m->DrainEvents();
  ASSERT_THAT(events, SizeIs(1));
  const auto& stored = std::get<BlockStoredEvent>(events[0]);
  EXPECT_THAT(stored.block_keys, SizeIs(2));
  EXPECT_FALSE(stored.parent_key.has_value());
  EXPECT_EQ(stored.token_ids, Iota(8));
  EXPECT_EQ(stored.block_size, 4);
  PAGEKV_ASSERT_OK(m->Release(a));
  SeqId b = *m->AddSequence(Iota(12, 100));
  AdmitAll(*m, b);  // 3 blocks: 1 free + evicts both cached
  events = m->DrainEvents();
  int removed = 0;
  for (const KVEvent& e : events) {
    if (auto* r = std::get_if<BlockRemovedEvent>(&e)) {
      removed += static_cast<int>(r->block_keys.size());
    }
  }
  EXPECT_EQ(removed, 2);
  PAGEKV_ASSERT_OK(m->Release(b));
  PAGEKV_ASSERT_OK(m->Reset());
  events = m->DrainEvents();
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(std::holds_alternative<AllBlocksClearedEvent>(events.back()));
  EXPECT_EQ(m->Stats().cached_blocks, 0u);
}

TEST(PrefixCacheTest, ResetRefusesWhileSequencesLive) {
  auto m = MakeManager(SmallConfig(16));
  SeqId a = *m->AddSequence(Iota(9));
  AdmitAll(*m, a);
  EXPECT_EQ(m->Reset().code(), absl::StatusCode::kFailedPrecondition);
  PAGEKV_ASSERT_OK(m->Release(a));
  PAGEKV_ASSERT_OK(m->Reset());
  SeqId b = *m->AddSequence(Iota(9));
  EXPECT_EQ(m->MatchPrefix(b)->num_tokens, 0);
}

TEST(PrefixCacheTest, ResumedRequestsAreCountedApart) {
  auto m = MakeManager(SmallConfig(32));
  SeqId a = *m->AddSequence(Iota(9));
  AdmitAll(*m, a);
  SequenceOptions resumed;
  resumed.resumed_after_preemption = true;
  SeqId b = *m->AddSequence(Iota(9), resumed);
  AdmitAll(*m, b);
  PrefixCacheStats p = m->Stats().prefix;
  EXPECT_EQ(p.queries, 1u);
  EXPECT_EQ(p.hit_tokens, 0u);
  EXPECT_EQ(p.resumed_queries, 1u);
  EXPECT_EQ(p.resumed_hit_tokens, 8u);
}

TEST(PrefixCacheTest, BatchAdmissionClaimsHitsBeforeAllocating) {
  auto m = MakeManager(SmallConfig(5));  // 4 usable
  SeqId a = *m->AddSequence(Iota(9));
  AdmitAll(*m, a);
  PAGEKV_ASSERT_OK(m->Release(a));  // 2 cached + 2 free
  // b reuses a's two blocks and needs one more; c needs one new block. One
  // by one in the wrong order, c's allocation would evict b's hit.
  SeqId c = *m->AddSequence(Iota(2, 900));
  SeqId b = *m->AddSequence(Iota(9));
  std::vector<ReserveRequest> batch = {{c, 2, 0}, {b, 1 << 20, 0}};
  auto admitted = m->AdmitBatch(batch);
  PAGEKV_ASSERT_OK(admitted.status());
  EXPECT_EQ((*admitted)[1].hit.num_tokens, 8);
  EXPECT_EQ(m->Stats().evictions, 0u);
  PAGEKV_ASSERT_OK(m->Verify());
  // A batch that does not fit changes nothing.
  SeqId d = *m->AddSequence(Iota(8, 700));
  std::vector<ReserveRequest> too_big = {{d, 8, 0}};
  EXPECT_EQ(m->AdmitBatch(too_big).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(*m->NumComputedTokens(d), 0);
}

TEST(PrefixCacheTest, TruncateIntoACachedBlockUnpublishesItBeforeRewrite) {
  auto m = MakeManager(SmallConfig(32));
  SeqId a = *m->AddSequence(Iota(9));
  AdmitAll(*m, a);
  PAGEKV_ASSERT_OK(m->Truncate(a, 6));  // block 1 (tokens 5..8) now partial
  PAGEKV_ASSERT_OK(m->AppendTokens(a, {77, 78}));
  PAGEKV_ASSERT_OK(m->Reserve(a, 2));
  // Old content no longer matches; the new content does.
  SeqId old = *m->AddSequence(Iota(9));
  EXPECT_EQ(m->MatchPrefix(old)->num_tokens, 4);
  SeqId fresh = *m->AddSequence(Concat(Iota(6), {77, 78, 79}));
  EXPECT_EQ(m->MatchPrefix(fresh)->num_tokens, 8);
  PAGEKV_ASSERT_OK(m->Verify());
}

TEST(PrefixCacheTest, SlidingWindowHitNeedsOnlyTheWindow) {
  KVCacheConfig c = SmallConfig(64);
  c.groups = {KVCacheGroupSpec::SlidingWindow(5)};
  auto m = MakeManager(c);
  SeqId a = *m->AddSequence(Iota(17));
  AdmitAll(*m, a);
  PAGEKV_ASSERT_OK(m->AppendTokens(a, {500}));
  PAGEKV_ASSERT_OK(m->Reserve(a, 1));  // drops blocks 0..2
  SeqId b = *m->AddSequence(Iota(17));
  // Hit of 16 tokens needs blocks covering [12, 16): block 3 only, but
  // blocks 0..2 were released and stay cached too, so the hit is full.
  EXPECT_EQ(m->MatchPrefix(b)->num_tokens, 16);
  PAGEKV_ASSERT_OK(m->Release(a));
  EXPECT_EQ(AdmitAll(*m, b), 16);
  auto table = Ids(*m->BlockTable(b, GroupId(0)));
  ASSERT_THAT(table, SizeIs(5));
  EXPECT_THAT(std::vector<uint32_t>(table.begin(), table.begin() + 3),
              ElementsAre(0u, 0u, 0u));
  PAGEKV_ASSERT_OK(m->Verify());
}

}  // namespace
}  // namespace pagekv
