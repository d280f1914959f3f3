// A user eviction policy plugged in through KVCacheConfig: the manager's pool
// asks it, and only it, for victims.
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/eviction_policy.h"
#include "pagekv/kv_cache_manager.h"
#include "test_util.h"

namespace pagekv {
namespace {

using ::pagekv::testing::Iota;
using ::pagekv::testing::SmallConfig;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// Most recently released first (the opposite of LRU), recording each victim.
class MruPolicy final : public EvictionPolicy {
 public:
  explicit MruPolicy(std::vector<BlockId>* victims) : victims_(victims) {}
  std::string_view name() const override { return "mru"; }
  void Init(uint32_t) override { stack_.clear(); }
  void OnEvictable(BlockId b, const EvictionHints&) override {
    stack_.push_back(b);
  }
  void OnReused(BlockId b) override { std::erase(stack_, b); }
  BlockId PickVictim(int64_t) override {
    BlockId b = stack_.back();
    stack_.pop_back();
    victims_->push_back(b);
    return b;
  }
  uint32_t size() const override {
    return static_cast<uint32_t>(stack_.size());
  }
  absl::Status Verify() const override { return absl::OkStatus(); }

 private:
  std::vector<BlockId> stack_;
  std::vector<BlockId>* victims_;
};

TEST(UserEvictionPolicyTest, ManagerEvictsInTheFactorysPolicyOrder) {
  std::vector<BlockId> victims;
  int made = 0;
  KVCacheConfig config = SmallConfig(/*num_blocks=*/1 + 8);
  config.block_size = 4;
  config.eviction_policy = "not-a-builtin-name";
  config.eviction_policy_factory = [&] {
    ++made;
    return std::make_unique<MruPolicy>(&victims);
  };
  ASSERT_TRUE(config.Validate().ok());
  auto kv = KVCacheManager::Create(config);
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ(made, 1);

  // A 4-block prompt, released tail first: blocks become evictable 4,3,2,1.
  auto a = (*kv)->AddSequence(Iota(17, 100));
  ASSERT_TRUE((*kv)->Admit(*a, 17).ok());
  auto span = (*kv)->BlockTable(*a, GroupId(0));
  ASSERT_TRUE(span.ok());
  const std::vector<BlockId> table(span->begin(), span->end());
  ASSERT_TRUE((*kv)->Release(*a).ok());
  // The partial fifth block went back empty. 8 blocks needed, 4 empty: the
  // 4 cached ones are evicted, the last released (the first block) first.
  auto b = (*kv)->AddSequence(Iota(32, 5000));
  ASSERT_TRUE((*kv)->Admit(*b, 32).ok());
  EXPECT_THAT(victims,
              ElementsAreArray({table[0], table[1], table[2], table[3]}));
  EXPECT_TRUE((*kv)->Verify().ok());
}

TEST(UserEvictionPolicyTest, NullFromTheFactoryIsAnError) {
  KVCacheConfig config = SmallConfig(9);
  config.eviction_policy_factory = [] {
    return std::unique_ptr<EvictionPolicy>();
  };
  auto kv = KVCacheManager::Create(config);
  ASSERT_FALSE(kv.ok());
  EXPECT_THAT(std::string(kv.status().message()),
              HasSubstr("eviction_policy_factory"));
}

}  // namespace
}  // namespace pagekv
