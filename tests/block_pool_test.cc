#include "pagekv/block_pool.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pagekv {
namespace {

using ::testing::ElementsAre;

class RecordingListener : public EvictionListener {
 public:
  void OnBlockEvicted(BlockId block) override {
    evicted.push_back(block.value());
  }
  std::vector<uint32_t> evicted;
};

std::unique_ptr<BlockPool> MakePool(uint64_t n) {
  auto pool = BlockPool::Create(n, *MakeEvictionPolicy("lru"));
  EXPECT_TRUE(pool.ok()) << pool.status();
  return *std::move(pool);
}

TEST(BlockPoolTest, RejectsBadSizes) {
  EXPECT_EQ(BlockPool::Create(1, *MakeEvictionPolicy("lru")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BlockPool::Create(uint64_t{1} << 32, *MakeEvictionPolicy("lru"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BlockPool::Create(8, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BlockPoolTest, NullBlockNeverHandedOut) {
  auto pool = MakePool(5);
  std::vector<BlockId> out(4);
  ASSERT_TRUE(pool->Allocate(absl::MakeSpan(out)).ok());
  for (BlockId b : out) EXPECT_NE(b, kNullBlock);
  EXPECT_EQ(pool->state(kNullBlock), BlockState::kNull);
  EXPECT_EQ(pool->NumAvailable(), 0u);
  EXPECT_TRUE(pool->Verify().ok());
}

TEST(BlockPoolTest, ExhaustionIsAStatusAndChangesNothing) {
  auto pool = MakePool(4);  // 3 usable
  std::vector<BlockId> two(2), also_two(2);
  ASSERT_TRUE(pool->Allocate(absl::MakeSpan(two)).ok());
  absl::Status s = pool->Allocate(absl::MakeSpan(also_two));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("need 2, 1 free"));
  EXPECT_EQ(also_two[0], kNullBlock);  // untouched
  EXPECT_EQ(pool->NumFree(), 1u);
  EXPECT_EQ(pool->NumInUse(), 2u);
  EXPECT_TRUE(pool->Verify().ok());
}

TEST(BlockPoolTest, ReleaseReturnsBlockToFreeStack) {
  auto pool = MakePool(3);
  std::vector<BlockId> out(1);
  ASSERT_TRUE(pool->Allocate(absl::MakeSpan(out)).ok());
  pool->Acquire(out[0]);
  EXPECT_EQ(pool->ref_count(out[0]), 2u);
  pool->Release(out[0]);
  EXPECT_EQ(pool->state(out[0]), BlockState::kInUse);
  pool->Release(out[0]);
  EXPECT_EQ(pool->state(out[0]), BlockState::kFree);
  EXPECT_EQ(pool->NumFree(), 2u);
  EXPECT_TRUE(pool->Verify().ok());
}

TEST(BlockPoolTest, PrefersEmptyBlocksOverEvictingCached) {
  auto pool = MakePool(4);
  RecordingListener listener;
  pool->set_eviction_listener(&listener);
  std::vector<BlockId> a(1);
  ASSERT_TRUE(pool->Allocate(absl::MakeSpan(a)).ok());
  pool->SetKeepsContent(a[0], true);
  pool->Release(a[0]);
  EXPECT_EQ(pool->state(a[0]), BlockState::kCached);
  std::vector<BlockId> b(2);
  ASSERT_TRUE(pool->Allocate(absl::MakeSpan(b)).ok());
  EXPECT_TRUE(listener.evicted.empty());
  EXPECT_EQ(pool->state(a[0]), BlockState::kCached);
  std::vector<BlockId> c(1);
  ASSERT_TRUE(pool->Allocate(absl::MakeSpan(c)).ok());
  EXPECT_THAT(listener.evicted, ElementsAre(a[0].value()));
  EXPECT_EQ(c[0], a[0]);
  EXPECT_FALSE(pool->KeepsContent(c[0]));
  EXPECT_EQ(pool->num_evictions(), 1u);
  EXPECT_TRUE(pool->Verify().ok());
}

TEST(BlockPoolTest, EvictsLeastRecentlyReleased) {
  auto pool = MakePool(4);
  RecordingListener listener;
  pool->set_eviction_listener(&listener);
  std::vector<BlockId> out(3);
  ASSERT_TRUE(pool->Allocate(absl::MakeSpan(out)).ok());
  for (BlockId b : out) pool->SetKeepsContent(b, true);
  pool->Release(out[2]);
  pool->Release(out[0]);
  pool->Release(out[1]);
  pool->Acquire(out[0]);  // a hit: leaves the evictable set
  EXPECT_EQ(pool->NumCached(), 2u);
  std::vector<BlockId> two(2);
  ASSERT_TRUE(pool->Allocate(absl::MakeSpan(two)).ok());
  EXPECT_THAT(listener.evicted, ElementsAre(out[2].value(), out[1].value()));
  EXPECT_TRUE(pool->Verify().ok());
}

TEST(BlockPoolTest, DropAllCachedFreesOnlyCachedBlocks) {
  auto pool = MakePool(4);
  std::vector<BlockId> out(3);
  ASSERT_TRUE(pool->Allocate(absl::MakeSpan(out)).ok());
  pool->SetKeepsContent(out[0], true);
  pool->SetKeepsContent(out[1], true);
  pool->Release(out[0]);
  pool->DropAllCached();
  EXPECT_EQ(pool->NumFree(), 1u);
  EXPECT_EQ(pool->NumCached(), 0u);
  EXPECT_EQ(pool->NumInUse(), 2u);
  EXPECT_TRUE(pool->Verify().ok());
}

TEST(BlockPoolDeathTest, DoubleReleaseIsCaught) {
  auto pool = MakePool(3);
  std::vector<BlockId> out(1);
  ASSERT_TRUE(pool->Allocate(absl::MakeSpan(out)).ok());
  pool->Release(out[0]);
  EXPECT_DEATH(pool->Release(out[0]), "double free");
}

}  // namespace
}  // namespace pagekv
