// Helpers shared by the manager tests.
#ifndef PAGEKV_TESTS_TEST_UTIL_H_
#define PAGEKV_TESTS_TEST_UTIL_H_

#include <unistd.h>

#include <numeric>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv::testing {

// Tokens first, first + 1, ..., first + n - 1.
inline std::vector<TokenId> Iota(int n, TokenId first = 1) {
  std::vector<TokenId> v(n);
  std::iota(v.begin(), v.end(), first);
  return v;
}

inline std::vector<TokenId> Concat(std::vector<TokenId> a,
                                   const std::vector<TokenId>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline std::unique_ptr<KVCacheManager> MakeManager(KVCacheConfig config) {
  auto m = KVCacheManager::Create(std::move(config));
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *std::move(m) : nullptr;
}

inline KVCacheConfig SmallConfig(int64_t num_blocks, int32_t block_size = 4) {
  KVCacheConfig c;
  c.num_blocks = num_blocks;
  c.block_size = block_size;
  return c;
}

// A path in the test temp dir that no other test process shares: CTest runs
// each test case as its own process, in parallel, so a fixed name races.
inline std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "pagekv_" + std::to_string(::getpid()) + "_" +
         name;
}

inline std::vector<uint32_t> Ids(absl::Span<const BlockId> blocks) {
  std::vector<uint32_t> ids;
  for (BlockId b : blocks) ids.push_back(b.value());
  return ids;
}

}  // namespace pagekv::testing

#define PAGEKV_ASSERT_OK(expr)                \
  do {                                        \
    auto pagekv_st = (expr);                  \
    ASSERT_TRUE(pagekv_st.ok()) << pagekv_st; \
  } while (false)

#endif  // PAGEKV_TESTS_TEST_UTIL_H_
