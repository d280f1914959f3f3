// Helpers shared by the eviction policy tests (eviction_policy_test.cc,
// eviction_reference_test.cc, eviction_behaviour_test.cc): making a policy,
// building hints, draining a policy, recording a pool's evictions, naming a
// parameterized case, and turning a failed check into an exception.
#ifndef PAGEKV_TESTS_EVICTION_TEST_UTIL_H_
#define PAGEKV_TESTS_EVICTION_TEST_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "pagekv/block_pool.h"
#include "pagekv/eviction_policy.h"

namespace pagekv::testing {

// The registered policy `name`, initialized for `num_blocks` blocks.
inline std::unique_ptr<EvictionPolicy> Make(const std::string& name,
                                            uint32_t num_blocks) {
  auto policy = MakeEvictionPolicy(name);
  EXPECT_TRUE(policy.ok()) << policy.status();
  (*policy)->Init(num_blocks);
  return *std::move(policy);
}

inline EvictionHints Hints(uint32_t parent = 0,
                           int32_t priority = kDefaultRetentionPriority,
                           int64_t expiry_us = -1, int64_t now_us = 0) {
  EvictionHints hints;
  hints.parent = BlockId(parent);
  hints.priority = priority;
  hints.priority_expiry_us = expiry_us;
  hints.now_us = now_us;
  return hints;
}

// Picks victims until the policy is empty, checking Verify() after each;
// returns the ids in the order they went.
inline std::vector<uint32_t> EvictAll(EvictionPolicy& policy,
                                      int64_t now_us = 0) {
  std::vector<uint32_t> order;
  while (policy.size() > 0) {
    order.push_back(policy.PickVictim(now_us).value());
    EXPECT_TRUE(policy.Verify().ok()) << policy.Verify();
  }
  return order;
}

// Records every block a BlockPool evicts, in order.
class RecordingListener : public EvictionListener {
 public:
  void OnBlockEvicted(BlockId block) override {
    evicted.push_back(block.value());
  }
  std::vector<uint32_t> evicted;
};

// The case name of a suite parameterized over EvictionPolicyNames(): the
// policy name with '-' made '_' ("leaf-lru" -> "leaf_lru").
inline std::string PolicyCaseName(
    const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

// Thrown by ThrowingHandler, installed with internal::SetCheckFailureHandler
// so a test can EXPECT_THROW a failed PAGEKV_CHECK.
struct CheckFired : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline void ThrowingHandler(const char*, int, const char*,
                            std::string_view message) {
  throw CheckFired(std::string(message));
}

}  // namespace pagekv::testing

#endif  // PAGEKV_TESTS_EVICTION_TEST_UTIL_H_
