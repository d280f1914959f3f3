// KVCacheManager::MemoryFootprint against what Create really allocates,
// measured with glibc's allocator statistics (mallinfo2: bytes in use in the
// heap plus mmapped chunks) and the huge-page mappings around Create.
#include <malloc.h>

#include <cstdint>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "pagekv/eviction_policy.h"
#include "pagekv/huge_page_allocator.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv {
namespace {

#if defined(__SANITIZE_ADDRESS__)
#define PAGEKV_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PAGEKV_UNDER_ASAN 1
#endif
#endif
#ifndef PAGEKV_UNDER_ASAN
#define PAGEKV_UNDER_ASAN 0
#endif

// malloc's bytes in use plus the arrays HugePageAllocator maps itself.
uint64_t BytesInUse() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd + internal::HugePageBytesMapped();
}

// Tolerance: 1% of the estimate plus 256 KiB for the small fixed parts
// (policy and manager objects, group vectors, allocator rounding).
void ExpectFootprintMatches(const KVCacheConfig& config) {
#if PAGEKV_UNDER_ASAN
  GTEST_SKIP() << "ASan's allocator is invisible to mallinfo2(): the "
                  "footprint is measured by the release run";
#endif
  absl::StatusOr<uint64_t> estimate = KVCacheManager::MemoryFootprint(config);
  ASSERT_TRUE(estimate.ok()) << estimate.status();
  const uint64_t before = BytesInUse();
  absl::StatusOr<std::unique_ptr<KVCacheManager>> m =
      KVCacheManager::Create(config);
  ASSERT_TRUE(m.ok()) << m.status();
  const uint64_t allocated = BytesInUse() - before;
  const double tolerance = 0.01 * static_cast<double>(*estimate) + 256 * 1024;
  EXPECT_NEAR(static_cast<double>(allocated), static_cast<double>(*estimate),
              tolerance)
      << config.eviction_policy << " blocks " << config.num_blocks
      << " block size " << config.block_size << " caching "
      << config.enable_prefix_caching << " groups " << config.groups.size();
}

TEST(MemoryFootprintTest, MatchesWhatCreateAllocatesForEveryPolicy) {
  for (const std::string& policy : EvictionPolicyNames()) {
    KVCacheConfig config;
    config.num_blocks = 300000;
    config.eviction_policy = policy;
    ExpectFootprintMatches(config);
  }
}

TEST(MemoryFootprintTest, MatchesAcrossBlockSizesGroupsAndCaching) {
  KVCacheConfig config;
  config.num_blocks = 200001;
  for (int32_t block_size : {1, 16, 512}) {
    config.block_size = block_size;
    config.enable_prefix_caching = true;
    ExpectFootprintMatches(config);
    config.enable_prefix_caching = false;
    ExpectFootprintMatches(config);
  }
  config.block_size = 16;
  config.enable_prefix_caching = true;
  config.groups = {KVCacheGroupSpec::FullAttention(),
                   KVCacheGroupSpec::SlidingWindow(128)};
  ExpectFootprintMatches(config);
}

TEST(MemoryFootprintTest, GrowsWithThePoolAndRejectsWhatCreateRejects) {
  KVCacheConfig small, large;
  small.num_blocks = 1000;
  large.num_blocks = 100000;
  EXPECT_LT(*KVCacheManager::MemoryFootprint(small),
            *KVCacheManager::MemoryFootprint(large));
  KVCacheConfig bad;
  bad.num_blocks = 1;
  EXPECT_FALSE(KVCacheManager::MemoryFootprint(bad).ok());
  bad.num_blocks = 10;
  bad.block_size = kMaxBlockSize + 1;
  EXPECT_FALSE(KVCacheManager::MemoryFootprint(bad).ok());
}

}  // namespace
}  // namespace pagekv
