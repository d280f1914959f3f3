// Shared set-up of the VllmManager tests (vllm_manager_test.cc,
// vllm_group_kinds_test.cc): block size 4, group specs, and requests with
// counting tokens and made-up vLLM keys.
#ifndef PAGEKV_TESTS_VLLM_TEST_UTIL_H_
#define PAGEKV_TESTS_VLLM_TEST_UTIL_H_

#include <cstdint>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "pagekv/vllm/manager.h"

namespace pagekv::vllm {

inline constexpr int32_t kBs = 4;

inline ManagerConfig Config(int32_t num_blocks, std::vector<GroupSpec> groups,
                            bool events = false) {
  ManagerConfig c;
  c.num_blocks = num_blocks;
  c.groups = std::move(groups);
  c.hash_block_size = kBs;
  c.max_model_len = 1024;
  c.enable_kv_cache_events = events;
  return c;
}

inline GroupSpec Full() {
  GroupSpec g;
  g.block_size = kBs;
  return g;
}

// A request with `n` tokens first, first + 1, ..., its vLLM keys made up
// ("k<first>.<block>").
inline ReqHandle Add(VllmManager& m, int32_t first, int32_t n) {
  const ReqHandle h = m.AddRequest({});
  std::vector<TokenId> t(n);
  std::iota(t.begin(), t.end(), first);
  m.AppendTokens(h, t);
  for (int32_t i = 0; i < n / kBs; ++i) {
    m.AppendVllmKey(h, "k" + std::to_string(first) + "." + std::to_string(i));
  }
  return h;
}

}  // namespace pagekv::vllm

#endif  // PAGEKV_TESTS_VLLM_TEST_UTIL_H_
