// ClusterIndex: keys computed from events equal the engine's own, duplicate
// stores are counted, a bad batch changes nothing, and Score finds each
// instance's longest cached prefix per medium.
#include "pagekv/net/cluster_index.h"

#include <random>

#include "gtest/gtest.h"
#include "net_test_util.h"

namespace pagekv::net {
namespace {

using pagekv::testing::EventConfig;
using pagekv::testing::RunRequests;
using pagekv::testing::TrueKeys;

// Converts the manager's own events into what a decoder would return.
WireBatch ToWire(const std::vector<KVEvent>& events) {
  std::string payload;
  EncodeBatch(0, events, EncodeOptions{}, &payload);
  return *DecodeBatch(payload);
}

std::unique_ptr<ClusterIndex> MakeIndex(int32_t block_size = 4) {
  ClusterIndexConfig c;
  c.block_size = block_size;
  c.hash_seed = 7;
  return *ClusterIndex::Create(c);
}

WireBlockStored Stored(std::vector<uint64_t> hashes,
                       std::vector<TokenId> tokens,
                       std::optional<uint64_t> parent = std::nullopt) {
  WireBlockStored s;
  s.block_hashes = std::move(hashes);
  s.token_ids = std::move(tokens);
  s.block_size = 4;
  s.parent_block_hash = parent;
  return s;
}

TEST(ClusterIndexTest, KeysEqualTheEngines) {
  auto m = KVCacheManager::Create(EventConfig(48));
  ASSERT_TRUE(m.ok());
  auto index = MakeIndex();
  const InstanceId id = *index->AddInstance("a");
  std::mt19937_64 rng(11);
  for (int step = 0; step < 50; ++step) {
    RunRequests(**m, rng, 2);
    ASSERT_TRUE(index->Apply(id, ToWire((*m)->DrainEvents())).ok());
    ASSERT_EQ(index->Keys(id), TrueKeys(**m)) << "step " << step;
    ASSERT_TRUE(index->Verify().ok()) << index->Verify();
  }
  EXPECT_EQ(index->stats().unresolved_blocks, 0u);
}

TEST(ClusterIndexTest, ScoreIsTheLongestPrefixPerInstanceAndMedium) {
  auto index = MakeIndex();
  const InstanceId a = *index->AddInstance("a");
  const InstanceId b = *index->AddInstance("b");
  const std::vector<TokenId> prompt = {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 9};
  WireBatch on_a;
  on_a.events.push_back(
      Stored({100, 101, 102}, {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}));
  WireBatch on_b;
  on_b.events.push_back(Stored({200}, {1, 1, 1, 1}));
  WireBlockStored cpu = Stored({201}, {2, 2, 2, 2}, 200);
  cpu.medium = "CPU";
  on_b.events.push_back(cpu);
  ASSERT_TRUE(index->Apply(a, on_a).ok());
  ASSERT_TRUE(index->Apply(b, on_b).ok());
  auto scores = index->Score(prompt);
  ASSERT_EQ(scores.size(), 2u);
  ASSERT_EQ(index->media(), (std::vector<std::string>{"GPU", "CPU"}));
  EXPECT_EQ(scores[0].blocks, 3);
  EXPECT_EQ(scores[0].blocks_by_medium[0], 3);
  EXPECT_EQ(scores[0].blocks_by_medium[1], 0);
  EXPECT_EQ(scores[1].blocks, 2);  // GPU block then its CPU child
  EXPECT_EQ(scores[1].blocks_by_medium[0], 1);
  EXPECT_EQ(scores[1].blocks_by_medium[1], 0);  // CPU lacks the first block
  // A salted request shares nothing with the unsalted blocks.
  BlockHashExtras salted;
  salted.cache_salt = 5;
  EXPECT_EQ(index->Score(prompt, salted)[0].blocks, 0);
  // Removing a's middle block cuts its run to one block.
  WireBatch rm;
  rm.events.push_back(WireBlockRemoved{{101}, std::nullopt, std::nullopt});
  ASSERT_TRUE(index->Apply(a, rm).ok());
  EXPECT_EQ(index->Score(prompt)[0].blocks, 1);
  EXPECT_TRUE(index->Verify().ok());
}

TEST(ClusterIndexTest, DuplicateStoresAreReferenceCounted) {
  auto index = MakeIndex();
  const InstanceId a = *index->AddInstance("a");
  WireBatch store;
  store.events.push_back(Stored({1}, {4, 4, 4, 4}));
  ASSERT_TRUE(index->Apply(a, store).ok());
  ASSERT_TRUE(index->Apply(a, store).ok());
  WireBatch rm;
  rm.events.push_back(WireBlockRemoved{{1}, std::nullopt, std::nullopt});
  ASSERT_TRUE(index->Apply(a, rm).ok());
  EXPECT_EQ(index->NumKeys(), 1);
  ASSERT_TRUE(index->Apply(a, rm).ok());
  EXPECT_EQ(index->NumKeys(), 0);
  ASSERT_TRUE(index->Apply(a, rm).ok());
  EXPECT_EQ(index->stats().unknown_removes, 1u);
  EXPECT_TRUE(index->Verify().ok());
}

TEST(ClusterIndexTest, BadBatchChangesNothing) {
  auto index = MakeIndex();
  const InstanceId a = *index->AddInstance("a");
  WireBatch batch;
  batch.events.push_back(Stored({1}, {4, 4, 4, 4}));
  WireBlockStored wrong = Stored({2}, {4, 4});
  wrong.block_size = 2;  // the index keys blocks of 4
  batch.events.push_back(wrong);
  EXPECT_FALSE(index->Apply(a, batch).ok());
  EXPECT_EQ(index->NumKeys(), 0);
  EXPECT_EQ(index->stats().bad_batches, 1u);
  EXPECT_FALSE(index->Apply(7, batch).ok());  // unknown instance
}

TEST(ClusterIndexTest, UnknownParentIsSkippedNotMiskeyed) {
  auto index = MakeIndex();
  const InstanceId a = *index->AddInstance("a");
  WireBatch batch;
  batch.events.push_back(Stored({5}, {4, 4, 4, 4}, /*parent=*/77));
  ASSERT_TRUE(index->Apply(a, batch).ok());
  EXPECT_EQ(index->NumKeys(), 0);
  EXPECT_EQ(index->stats().unresolved_blocks, 1u);
}

TEST(ClusterIndexTest, ClearAndRemoveInstanceDropEntries) {
  auto index = MakeIndex();
  const InstanceId a = *index->AddInstance("a");
  const InstanceId b = *index->AddInstance("b");
  WireBatch store;
  store.events.push_back(Stored({1}, {4, 4, 4, 4}));
  ASSERT_TRUE(index->Apply(a, store).ok());
  ASSERT_TRUE(index->Apply(b, store).ok());
  WireBatch clear;
  clear.events.push_back(WireAllBlocksCleared{});
  ASSERT_TRUE(index->Apply(a, clear).ok());
  EXPECT_EQ(index->NumBlocks(a), 0);
  EXPECT_EQ(index->NumKeys(), 1);
  ASSERT_TRUE(index->RemoveInstance(b).ok());
  EXPECT_EQ(index->NumKeys(), 0);
  EXPECT_EQ(index->instances(), std::vector<InstanceId>{a});
  EXPECT_FALSE(index->AddInstance("a").ok());
  EXPECT_TRUE(index->Verify().ok());
}

}  // namespace
}  // namespace pagekv::net
