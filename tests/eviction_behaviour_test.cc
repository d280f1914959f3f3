// Behaviour particular to one eviction policy, each test named for what it
// pins down: leaf-lru's child-before-parent order, priority's levels and
// expiry, scan resistance and ghost hits of s3fifo and arc.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/eviction/arc_policy.h"
#include "eviction_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/block_pool.h"
#include "pagekv/eviction_policy.h"

namespace pagekv {
namespace {

using ::pagekv::testing::CheckFired;
using ::pagekv::testing::EvictAll;
using ::pagekv::testing::Hints;
using ::pagekv::testing::Make;
using ::pagekv::testing::RecordingListener;
using ::pagekv::testing::ThrowingHandler;
using ::testing::ElementsAre;

// ---------------------------------------------------------------------------
// leaf-lru and priority.

TEST(LeafLruTest, LeafLruNeverEvictsAParentBeforeItsChildren) {
  auto policy = Make("leaf-lru", 16);
  // A tree released root-first (the worst order for plain LRU):
  //   1 -> 2 -> 3,   1 -> 4
  policy->OnEvictable(BlockId(1), Hints(0));
  policy->OnEvictable(BlockId(2), Hints(1));
  policy->OnEvictable(BlockId(4), Hints(1));
  policy->OnEvictable(BlockId(3), Hints(2));
  EXPECT_THAT(EvictAll(*policy), ElementsAre(4u, 3u, 2u, 1u));
}

TEST(LeafLruTest, PromotedParentKeepsItsReleasePosition) {
  auto policy = Make("leaf-lru", 16);
  // Chains 1 -> 2 and 3 -> 4, parents released first: 1, 3, 2, 4.
  policy->OnEvictable(BlockId(1), Hints(0));
  policy->OnEvictable(BlockId(3), Hints(0));
  policy->OnEvictable(BlockId(2), Hints(1));
  policy->OnEvictable(BlockId(4), Hints(3));
  // After 2 goes, 1 (released first of all) is older than the leaf 4.
  EXPECT_THAT(EvictAll(*policy), ElementsAre(2u, 1u, 4u, 3u));
}

TEST(LeafLruTest, ParentInUseStillCountsItsEvictableChildren) {
  auto policy = Make("leaf-lru", 16);
  policy->OnEvictable(BlockId(2), Hints(1));  // 1 is in use
  policy->OnEvictable(BlockId(1), Hints(0));  // 1 released after its child
  policy->OnReused(BlockId(1));               // and hit again
  EXPECT_TRUE(policy->Verify().ok()) << policy->Verify();
  EXPECT_EQ(policy->PickVictim(0), BlockId(2));
  policy->OnEvictable(BlockId(1), Hints(0));
  EXPECT_EQ(policy->PickVictim(0), BlockId(1));
}

TEST(PriorityTest, PriorityEvictsLowerPriorityFirst) {
  auto policy = Make("priority", 16);
  policy->OnEvictable(BlockId(1), Hints(0, 80));
  policy->OnEvictable(BlockId(2), Hints(0, 10));
  policy->OnEvictable(BlockId(3), Hints(0, kDefaultRetentionPriority));
  policy->OnEvictable(BlockId(4), Hints(0, 10));
  policy->OnEvictable(BlockId(5), Hints(0, 0));
  policy->OnEvictable(BlockId(6), Hints(0, 100));
  EXPECT_THAT(EvictAll(*policy), ElementsAre(5u, 2u, 4u, 3u, 1u, 6u));
}

TEST(PriorityTest, PriorityDecaysAfterExpiry) {
  auto fill = [](EvictionPolicy& policy) {
    policy.OnEvictable(BlockId(1), Hints(0, 90, /*expiry_us=*/100, 0));
    policy.OnEvictable(BlockId(2), Hints(0, kDefaultRetentionPriority, -1, 1));
    policy.OnEvictable(BlockId(3), Hints(0, 10, /*expiry_us=*/50, 2));
  };
  auto before = Make("priority", 16);
  fill(*before);
  EXPECT_THAT(EvictAll(*before, /*now_us=*/49), ElementsAre(3u, 2u, 1u));
  // At 100 both decayed to the default: plain release order.
  auto after = Make("priority", 16);
  fill(*after);
  EXPECT_THAT(EvictAll(*after, /*now_us=*/100), ElementsAre(1u, 2u, 3u));
  // At 50 only block 3 has decayed.
  auto between = Make("priority", 16);
  fill(*between);
  EXPECT_THAT(EvictAll(*between, /*now_us=*/50), ElementsAre(2u, 3u, 1u));
}

TEST(PriorityTest, ExpiryAlreadyPastAtReleaseMeansDefault) {
  auto policy = Make("priority", 16);
  policy->OnEvictable(BlockId(1), Hints(0, kDefaultRetentionPriority));
  policy->OnEvictable(BlockId(2), Hints(0, 0, /*expiry_us=*/5, /*now_us=*/9));
  EXPECT_THAT(EvictAll(*policy, 9), ElementsAre(1u, 2u));
}

TEST(PriorityTest, OutOfRangePriorityIsCaught) {
  auto previous = internal::SetCheckFailureHandler(&ThrowingHandler);
  auto policy = Make("priority", 8);
  EXPECT_THROW(policy->OnEvictable(BlockId(1), Hints(0, 101)), CheckFired);
  EXPECT_THROW(policy->OnEvictable(BlockId(1), Hints(0, -1)), CheckFired);
  internal::SetCheckFailureHandler(previous);
}

// ---------------------------------------------------------------------------
// Scans and ghost hits (s3fifo, arc).

// A working set reused several times, then a one-time scan of many blocks
// through a small pool: returns how many working-set blocks are still cached.
uint32_t WorkingSetLeftAfterScan(const std::string& policy_name) {
  auto created = BlockPool::Create(51, *MakeEvictionPolicy(policy_name));
  EXPECT_TRUE(created.ok()) << created.status();
  BlockPool& pool = **created;
  RecordingListener listener;
  pool.set_eviction_listener(&listener);
  std::vector<BlockId> working(20);
  EXPECT_TRUE(pool.Allocate(absl::MakeSpan(working)).ok());
  for (BlockId b : working) pool.SetKeepsContent(b, true);
  for (BlockId b : working) pool.Release(b);
  for (int round = 0; round < 3; ++round) {
    for (BlockId b : working) pool.Acquire(b);  // prefix hits
    for (BlockId b : working) pool.Release(b);
  }
  for (int i = 0; i < 200; ++i) {  // the scan: each block used once
    BlockId b;
    EXPECT_TRUE(pool.Allocate(absl::MakeSpan(&b, 1)).ok());
    pool.SetKeepsContent(b, true);
    pool.Release(b);
  }
  EXPECT_TRUE(pool.Verify().ok()) << pool.Verify();
  uint32_t left = 0;
  // An evicted id is reused by the scan, so ask the listener, not the state.
  for (BlockId b : working) {
    left += std::find(listener.evicted.begin(), listener.evicted.end(),
                      b.value()) == listener.evicted.end();
  }
  return left;
}

TEST(S3FifoTest, S3FifoResistsAScan) {
  EXPECT_EQ(WorkingSetLeftAfterScan("s3fifo"), 20u);
  EXPECT_EQ(WorkingSetLeftAfterScan("lru"), 0u);  // flushed by the scan
}

TEST(ArcTest, ArcResistsAScan) {
  // The reused working set lives in t2; the scan only churns t1.
  EXPECT_EQ(WorkingSetLeftAfterScan("arc"), 20u);
}

TEST(ArcTest, GhostHitsMoveTheTargetTowardTheListThatLostTheBlock) {
  auto created = MakeEvictionPolicy("arc");
  ASSERT_TRUE(created.ok());
  auto* arc = static_cast<internal::ArcPolicy*>(created->get());
  arc->Init(64);
  // Block 2 (parent 1, in use) is evicted from t1 unused: its parent goes to
  // b1. The prefix comes back: the recomputed child 3 raises the target and
  // is admitted to t2.
  arc->OnEvictable(BlockId(2), Hints(1));
  EXPECT_EQ(arc->PickVictim(0), BlockId(2));
  EXPECT_EQ(arc->target_t1(), 0u);
  arc->OnEvictable(BlockId(3), Hints(1));
  EXPECT_EQ(arc->target_t1(), 1u);
  // 3 is in t2 now: new t1 blocks beyond the target go first.
  arc->OnEvictable(BlockId(10), Hints());
  arc->OnEvictable(BlockId(11), Hints());
  EXPECT_EQ(arc->PickVictim(0), BlockId(10));
  // With t1 at the target (1 block), t2's block 3 goes next; its parent
  // lands in b2, and a ghost hit there lowers the target again.
  EXPECT_EQ(arc->PickVictim(0), BlockId(3));
  arc->OnEvictable(BlockId(4), Hints(1));
  EXPECT_EQ(arc->target_t1(), 0u);
  EXPECT_TRUE(arc->Verify().ok()) << arc->Verify();
}

TEST(S3FifoTest, GhostHitOnParentAdmitsTheRecomputedChildToMain) {
  auto policy = Make("s3fifo", 64);
  // 1 is the parent (in use); 2 is its child, evicted from small unused.
  policy->OnEvictable(BlockId(2), Hints(1));
  EXPECT_EQ(policy->PickVictim(0), BlockId(2));
  // The same prefix comes back: a new block 3 under parent 1 goes to main,
  // so a run of new small blocks is evicted before it.
  policy->OnEvictable(BlockId(3), Hints(1));
  for (uint32_t id = 10; id < 20; ++id) {
    policy->OnEvictable(BlockId(id), Hints());
  }
  EXPECT_EQ(policy->PickVictim(0), BlockId(10));
  EXPECT_TRUE(policy->Verify().ok()) << policy->Verify();
}

}  // namespace
}  // namespace pagekv
