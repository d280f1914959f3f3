// Helpers shared by the net-layer tests: a small engine that caches and
// evicts prefix blocks and emits KV events, and the manager's true cached set.
#ifndef PAGEKV_TESTS_NET_TEST_UTIL_H_
#define PAGEKV_TESTS_NET_TEST_UTIL_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv::testing {

inline KVCacheConfig EventConfig(int64_t num_blocks, int32_t block_size = 4,
                                 uint64_t seed = 7) {
  KVCacheConfig c;
  c.num_blocks = num_blocks;
  c.block_size = block_size;
  c.hash_seed = seed;
  c.enable_kv_events = true;
  return c;
}

// Runs `n` requests through `m`: prompts drawn from a few shared prefixes
// (so blocks are hit and shared), some salted, some with a LoRA id; each is
// admitted whole and released, so its blocks stay cached until evicted.
inline void RunRequests(KVCacheManager& m, std::mt19937_64& rng, int n) {
  const int bs = m.block_size();
  for (int r = 0; r < n; ++r) {
    const int prefix = static_cast<int>(rng() % 4);
    const int len =
        bs * static_cast<int>(1 + rng() % 6) + static_cast<int>(rng() % bs);
    std::vector<TokenId> prompt(len);
    for (int i = 0; i < len; ++i) {
      prompt[i] =
          i < 2 * bs ? 1000 * prefix + i : static_cast<TokenId>(rng() % 50);
    }
    SequenceOptions opts;
    opts.hash_extras.cache_salt = (r % 5 == 0) ? 42 : 0;
    opts.hash_extras.lora_id = (r % 7 == 0) ? 3 : 0;
    auto seq = m.AddSequence(prompt, opts);
    ASSERT_TRUE(seq.ok()) << seq.status();
    auto admitted = m.Admit(*seq, len);
    if (admitted.ok()) {
      // One sampled token, so the last full block is computed and cached.
      ASSERT_TRUE(m.AppendTokens(*seq, {static_cast<TokenId>(7)}).ok());
      (void)m.Reserve(*seq, 1);  // may not fit: the prompt stays cached
    }
    ASSERT_TRUE(m.Release(*seq).ok());
  }
}

// The keys of group 0's indexed blocks, sorted: what an index must hold.
inline std::vector<uint64_t> TrueKeys(const KVCacheManager& m) {
  std::vector<uint64_t> keys;
  m.ForEachIndexedBlock([&](const IndexedBlock& b) {
    if (b.group.value() == 0) keys.push_back(b.key);
  });
  std::sort(keys.begin(), keys.end());
  return keys;
}

// Calls `step` until it returns true or `timeout` passes; true if it did.
inline bool PumpUntil(
    const std::function<bool()>& step,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (step()) return true;
  }
  return false;
}

}  // namespace pagekv::testing

#endif  // PAGEKV_TESTS_NET_TEST_UTIL_H_
