// ComputeBlockChain names blocks exactly as the manager indexes them, and its
// records carry what a lower tier must verify.
#include "pagekv/block_chain.h"

#include <map>

#include "gtest/gtest.h"
#include "pagekv/kv_cache_manager.h"
#include "test_util.h"

namespace pagekv {
namespace {

using testing::Iota;
using testing::SmallConfig;

TEST(BlockChainTest, KeysAndParentsEqualTheManagersIndexedBlocks) {
  KVCacheConfig config = SmallConfig(64, 4);
  config.hash_seed = 99;
  auto manager = testing::MakeManager(config);
  SequenceOptions options;
  options.hash_extras.lora_id = 3;
  options.hash_extras.cache_salt = 17;
  options.hash_extras.mm_items = {{0xabc, 5, 3}};
  const std::vector<TokenId> prompt = Iota(18);
  SeqId seq = *manager->AddSequence(prompt, options);
  ASSERT_TRUE(manager->Admit(seq, 18).ok());
  std::map<uint64_t, uint64_t> indexed;  // key -> parent key
  manager->ForEachIndexedBlock(
      [&](const IndexedBlock& b) { indexed[b.key] = b.parent_key; });

  const BlockChain chain =
      ComputeBlockChain(config, prompt, options.hash_extras);
  ASSERT_EQ(chain.blocks.size(), 4u);  // 18 tokens: 4 full blocks
  ASSERT_EQ(indexed.size(), 4u);
  for (size_t i = 0; i < chain.blocks.size(); ++i) {
    const BlockRecord& r = chain.blocks[i];
    ASSERT_TRUE(indexed.contains(r.key)) << "block " << i;
    EXPECT_EQ(indexed[r.key], r.parent_key) << "block " << i;
    EXPECT_EQ(r.parent_key, i == 0 ? chain.root_key : chain.blocks[i - 1].key);
    EXPECT_EQ(r.first_token, static_cast<int64_t>(i) * 4);
    EXPECT_EQ(std::vector<TokenId>(r.tokens.begin(), r.tokens.end()),
              std::vector<TokenId>(prompt.begin() + i * 4,
                                   prompt.begin() + i * 4 + 4));
    EXPECT_EQ(r.lora_id, 3u);
    EXPECT_EQ(r.cache_salt, 17u);
  }
  // The image at [5, 8) lies in block 1 only.
  EXPECT_TRUE(chain.blocks[0].mm_items.empty());
  ASSERT_EQ(chain.blocks[1].mm_items.size(), 1u);
  EXPECT_EQ(chain.blocks[1].mm_items[0].hash, 0xabcu);
  EXPECT_TRUE(chain.blocks[2].mm_items.empty());
}

TEST(BlockChainTest, SaltChangesEveryKeyAndMaxBlocksCapsTheChain) {
  const KVCacheConfig config = SmallConfig(8, 4);
  const std::vector<TokenId> prompt = Iota(16);
  BlockHashExtras a;
  BlockHashExtras b;
  b.cache_salt = 1;
  const BlockChain ca = ComputeBlockChain(config, prompt, a);
  const BlockChain cb = ComputeBlockChain(config, prompt, b);
  ASSERT_EQ(ca.blocks.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NE(ca.blocks[i].key, cb.blocks[i].key);
  }
  EXPECT_EQ(ComputeBlockChain(config, prompt, a, 2).blocks.size(), 2u);
  EXPECT_EQ(ComputeBlockChain(config, prompt, a, 2).blocks[1].key,
            ca.blocks[1].key);
}

TEST(BlockChainTest, MatchableBlocksLeavesTheLastTokenToCompute) {
  EXPECT_EQ(MatchableBlocks(0, 4), 0);
  EXPECT_EQ(MatchableBlocks(4, 4), 0);
  EXPECT_EQ(MatchableBlocks(5, 4), 1);
  EXPECT_EQ(MatchableBlocks(16, 4), 3);
  EXPECT_EQ(MatchableBlocks(17, 4), 4);
}

}  // namespace
}  // namespace pagekv
