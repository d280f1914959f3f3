// The contract every registered eviction policy keeps: the common behaviour
// over every name, the registry, eviction through a BlockPool, and misuse
// caught by a check. Reference-model comparisons are in
// eviction_reference_test.cc, policy-specific behaviour in
// eviction_behaviour_test.cc.
#include "pagekv/eviction_policy.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/check.h"
#include "eviction_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/block_pool.h"

namespace pagekv {
namespace {

using ::pagekv::testing::CheckFired;
using ::pagekv::testing::EvictAll;
using ::pagekv::testing::Hints;
using ::pagekv::testing::Make;
using ::pagekv::testing::PolicyCaseName;
using ::pagekv::testing::RecordingListener;
using ::pagekv::testing::ThrowingHandler;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

// ---------------------------------------------------------------------------
// Common contract, over every registered name.

class EvictionPolicyContractTest
    : public ::testing::TestWithParam<std::string> {};

TEST_P(EvictionPolicyContractTest, InitEmptiesThePolicy) {
  auto policy = Make(GetParam(), 16);
  EXPECT_EQ(policy->size(), 0u);
  EXPECT_EQ(policy->name(), GetParam());
  policy->OnEvictable(BlockId(3), Hints());
  policy->OnEvictable(BlockId(5), Hints());
  EXPECT_EQ(policy->size(), 2u);
  policy->Init(16);
  EXPECT_EQ(policy->size(), 0u);
  EXPECT_TRUE(policy->Verify().ok()) << policy->Verify();
  policy->OnEvictable(BlockId(3), Hints());  // no longer "already evictable"
  EXPECT_EQ(policy->size(), 1u);
}

TEST_P(EvictionPolicyContractTest, IndependentBlocksGoInReleaseOrder) {
  auto policy = Make(GetParam(), 32);
  std::vector<uint32_t> released = {7, 3, 12, 1, 30, 9};
  for (uint32_t id : released) policy->OnEvictable(BlockId(id), Hints());
  EXPECT_THAT(EvictAll(*policy), ElementsAreArray(released));
}

TEST_P(EvictionPolicyContractTest, ReusedBlockIsNeverPicked) {
  auto policy = Make(GetParam(), 32);
  for (uint32_t id = 1; id <= 10; ++id) {
    policy->OnEvictable(BlockId(id), Hints());
  }
  policy->OnReused(BlockId(4));
  policy->OnReused(BlockId(1));
  EXPECT_EQ(policy->size(), 8u);
  EXPECT_TRUE(policy->Verify().ok()) << policy->Verify();
  std::vector<uint32_t> order = EvictAll(*policy);
  EXPECT_EQ(order.size(), 8u);
  EXPECT_THAT(order, ::testing::Not(::testing::Contains(4u)));
  EXPECT_THAT(order, ::testing::Not(::testing::Contains(1u)));
}

TEST_P(EvictionPolicyContractTest, EvictsEveryBlockExactlyOnce) {
  const uint32_t n = 500;
  auto policy = Make(GetParam(), n + 1);
  std::mt19937 rng(7);
  std::vector<uint32_t> ids(n);
  for (uint32_t i = 0; i < n; ++i) ids[i] = i + 1;
  std::shuffle(ids.begin(), ids.end(), rng);
  for (uint32_t i = 0; i < n; ++i) {
    // Chains of 8, released tail-first, with assorted priorities.
    bool chain_head = i % 8 == 7 || i + 1 == n;
    uint32_t parent = chain_head ? 0 : ids[i + 1];
    policy->OnEvictable(BlockId(ids[i]),
                        Hints(parent, static_cast<int32_t>(ids[i] % 101)));
  }
  std::vector<uint32_t> order = EvictAll(*policy);
  std::sort(order.begin(), order.end());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(order, ids);
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, EvictionPolicyContractTest,
                         ::testing::ValuesIn(EvictionPolicyNames()),
                         PolicyCaseName);

TEST(EvictionPolicyRegistryTest, KnowsEveryPolicy) {
  EXPECT_THAT(EvictionPolicyNames(),
              ElementsAre("lru", "leaf-lru", "s3fifo", "priority", "arc"));
}

TEST(EvictionPolicyRegistryTest, UnknownNameIsAnErrorNamingTheKnownOnes) {
  auto policy = MakeEvictionPolicy("mru");
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(policy.status().message(), ::testing::HasSubstr("\"mru\""));
  EXPECT_THAT(policy.status().message(), ::testing::HasSubstr("s3fifo"));
}

// ---------------------------------------------------------------------------
// Through a BlockPool: the pool evicts via the policy and tells a listener.

class EvictionThroughPoolTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EvictionThroughPoolTest, PoolEvictsInTheOrderThePolicyPicks) {
  auto pool = BlockPool::Create(9, *MakeEvictionPolicy(GetParam()));
  ASSERT_TRUE(pool.ok()) << pool.status();
  RecordingListener listener;
  (*pool)->set_eviction_listener(&listener);
  std::vector<BlockId> blocks(8);
  ASSERT_TRUE((*pool)->Allocate(absl::MakeSpan(blocks)).ok());
  // Independent blocks, released in a scrambled order.
  const int order[] = {5, 0, 7, 2, 6, 1, 3, 4};
  std::vector<uint32_t> released;
  for (int i : order) {
    (*pool)->SetKeepsContent(blocks[i], true);
    (*pool)->Release(blocks[i]);
    released.push_back(blocks[i].value());
  }
  std::vector<BlockId> fresh(8);
  ASSERT_TRUE((*pool)->Allocate(absl::MakeSpan(fresh)).ok());
  EXPECT_THAT(listener.evicted, ElementsAreArray(released));
  EXPECT_EQ((*pool)->num_evictions(), 8u);
  EXPECT_TRUE((*pool)->Verify().ok()) << (*pool)->Verify();
}

TEST_P(EvictionThroughPoolTest, ChainReleasedTailFirstIsTrimmedFromTheTail) {
  auto pool = BlockPool::Create(6, *MakeEvictionPolicy(GetParam()));
  ASSERT_TRUE(pool.ok()) << pool.status();
  RecordingListener listener;
  (*pool)->set_eviction_listener(&listener);
  std::vector<BlockId> chain(5);
  ASSERT_TRUE((*pool)->Allocate(absl::MakeSpan(chain)).ok());
  for (BlockId b : chain) (*pool)->SetKeepsContent(b, true);
  for (int i = 4; i >= 0; --i) {
    (*pool)->Release(chain[i], Hints(i == 0 ? 0 : chain[i - 1].value()));
  }
  std::vector<BlockId> fresh(5);
  ASSERT_TRUE((*pool)->Allocate(absl::MakeSpan(fresh)).ok());
  EXPECT_THAT(listener.evicted,
              ElementsAre(chain[4].value(), chain[3].value(), chain[2].value(),
                          chain[1].value(), chain[0].value()));
  EXPECT_TRUE((*pool)->Verify().ok()) << (*pool)->Verify();
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, EvictionThroughPoolTest,
                         ::testing::ValuesIn(EvictionPolicyNames()),
                         PolicyCaseName);

// ---------------------------------------------------------------------------
// Misuse fires a check.

class EvictionPolicyMisuseTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    previous_ = internal::SetCheckFailureHandler(&ThrowingHandler);
  }
  void TearDown() override { internal::SetCheckFailureHandler(previous_); }
  internal::CheckFailureHandler previous_ = nullptr;
};

TEST_P(EvictionPolicyMisuseTest, DoubleOnEvictableAndBadCallsAreCaught) {
  if (GetParam() == "lru") GTEST_SKIP() << "lru checks only in debug tier";
  auto policy = Make(GetParam(), 8);
  EXPECT_THROW(policy->PickVictim(0), CheckFired);
  policy->OnEvictable(BlockId(1), Hints());
  EXPECT_THROW(policy->OnEvictable(BlockId(1), Hints()), CheckFired);
  EXPECT_THROW(policy->OnReused(BlockId(2)), CheckFired);
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, EvictionPolicyMisuseTest,
                         ::testing::ValuesIn(EvictionPolicyNames()),
                         PolicyCaseName);

}  // namespace
}  // namespace pagekv
