// The manager fuzzer's state model: its check macros, the reference
// record of a sequence, the snapshot a failed operation must leave
// untouched (and its check and trace print), and the decoding of a
// configuration from the input.
#ifndef PAGEKV_FUZZ_MANAGER_FUZZ_STATE_H_
#define PAGEKV_FUZZ_MANAGER_FUZZ_STATE_H_

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "pagekv/eviction_policy.h"
#include "pagekv/kv_cache_manager.h"

// Aborts with the condition and a printf-style message (libFuzzer reports
// the abort as a crash, with the input that caused it).
#define FUZZ_CHECK(cond, ...)                                             \
  do {                                                                    \
    if (!(cond)) {                                                        \
      std::fprintf(stderr, "manager_fuzzer: %s:%d: check failed: %s\n  ", \
                   __FILE__, __LINE__, #cond);                            \
      std::fprintf(stderr, __VA_ARGS__);                                  \
      std::fprintf(stderr, "\n");                                         \
      std::abort();                                                       \
    }                                                                     \
  } while (false)

#define FUZZ_CHECK_OK(expr)                                                  \
  do {                                                                       \
    const absl::Status fuzz_st = (expr);                                     \
    FUZZ_CHECK(fuzz_st.ok(), "%s", std::string(fuzz_st.ToString()).c_str()); \
  } while (false)

namespace pagekv {

struct RefSeq {
  std::vector<TokenId> tokens;  // known tokens
  int64_t computed = 0;
  BlockHashExtras extras;
};

// What a failed operation must leave untouched.
struct Snapshot {
  KVCacheStats stats;
  std::map<uint64_t, std::vector<std::vector<uint32_t>>> tables;
  std::vector<uint32_t> ref_counts;
  std::vector<BlockState> states;
};

inline bool SameState(const Snapshot& a, const Snapshot& b) {
  const KVCacheStats& x = a.stats;
  const KVCacheStats& y = b.stats;
  return x.free_blocks == y.free_blocks && x.cached_blocks == y.cached_blocks &&
         x.in_use_blocks == y.in_use_blocks &&
         x.num_sequences == y.num_sequences &&
         x.used_token_slots == y.used_token_slots &&
         x.empty_token_slots == y.empty_token_slots &&
         x.blocks_allocated == y.blocks_allocated &&
         x.evictions == y.evictions && x.cow_copies == y.cow_copies &&
         x.prefix.queries == y.prefix.queries &&
         x.prefix.hit_tokens == y.prefix.hit_tokens &&
         x.prefix.query_tokens == y.prefix.query_tokens &&
         a.tables == b.tables && a.ref_counts == b.ref_counts &&
         a.states == b.states;
}

// The state of the manager that matters to a snapshot, for the sequences in
// `seqs`.
inline Snapshot TakeSnapshot(const KVCacheManager& m,
                             const std::map<uint64_t, RefSeq>& seqs) {
  Snapshot s;
  s.stats = m.Stats();
  for (const auto& [id, r] : seqs) {
    for (int g = 0; g < m.num_groups(); ++g) {
      auto table = *m.BlockTable(SeqId(id), GroupId(g));
      std::vector<uint32_t> ids;
      for (BlockId b : table) ids.push_back(b.value());
      s.tables[id].push_back(std::move(ids));
    }
  }
  const BlockPool& pool = m.pool();
  for (uint32_t b = 0; b <= pool.num_blocks(); ++b) {
    s.ref_counts.push_back(pool.ref_count(BlockId(b)));
    s.states.push_back(pool.state(BlockId(b)));
  }
  return s;
}

// Aborts unless the failed operation that returned `st` left `after` the
// same as `before`, allocation_failures aside: that moves by one exactly
// when `st` is ResourceExhausted.
inline void CheckUnchanged(const Snapshot& before, const Snapshot& after,
                           const absl::Status& st) {
  FUZZ_CHECK(SameState(before, after), "failed operation changed state: %s",
             std::string(st.ToString()).c_str());
  const uint64_t failures =
      after.stats.allocation_failures - before.stats.allocation_failures;
  FUZZ_CHECK(
      failures == (st.code() == absl::StatusCode::kResourceExhausted ? 1u : 0u),
      "allocation_failures moved by %llu for %s",
      static_cast<unsigned long long>(failures),
      std::string(st.ToString()).c_str());
}

// Prints each sequence of `seqs` to stderr: its token counts and its block
// table in every group (the harness's trace, PAGEKV_FUZZ_TRACE).
inline void PrintTables(const KVCacheManager& m,
                        const std::map<uint64_t, RefSeq>& seqs) {
  for (const auto& [id, r] : seqs) {
    std::fprintf(stderr, "  seq %llu: known %zu computed %lld",
                 static_cast<unsigned long long>(id), r.tokens.size(),
                 static_cast<long long>(r.computed));
    for (int g = 0; g < m.num_groups(); ++g) {
      std::fprintf(stderr, " | g%d:", g);
      const auto table = *m.BlockTable(SeqId(id), GroupId(g));
      for (BlockId b : table) {
        std::fprintf(stderr, " %u", b.value());
      }
    }
    std::fprintf(stderr, "\n");
  }
}

// A configuration from the first bytes: block size, groups (full attention,
// sliding window, hybrid, two full groups, chunked local, state groups in
// both cache modes, every kind at once), eviction policy, pool size (tiny
// pools make exhaustion common), prefix caching and events on or off.
inline KVCacheConfig ConsumeConfig(FuzzedDataProvider& in) {
  KVCacheConfig c;
  static constexpr int32_t kBlockSizes[] = {1, 2, 3, 4, 8, 16};
  c.block_size = in.PickValueInArray(kBlockSizes);
  switch (in.ConsumeIntegralInRange<int>(0, 8)) {
    case 0:
      c.groups = {KVCacheGroupSpec::FullAttention()};
      break;
    case 1:
      c.groups = {KVCacheGroupSpec::FullAttention(),
                  KVCacheGroupSpec::SlidingWindow(
                      in.ConsumeIntegralInRange<int32_t>(1, 20))};
      break;
    case 2:
      c.groups = {KVCacheGroupSpec::SlidingWindow(
          in.ConsumeIntegralInRange<int32_t>(1, 20))};
      break;
    case 3:
      c.groups = {KVCacheGroupSpec::FullAttention(),
                  KVCacheGroupSpec::FullAttention()};
      break;
    case 4:
      c.groups = {KVCacheGroupSpec::SlidingWindow(
                      in.ConsumeIntegralInRange<int32_t>(1, 9)),
                  KVCacheGroupSpec::FullAttention(),
                  KVCacheGroupSpec::SlidingWindow(
                      in.ConsumeIntegralInRange<int32_t>(1, 40))};
      break;
    case 5:  // Llama 4: global and chunked local attention
      c.groups = {KVCacheGroupSpec::FullAttention(),
                  KVCacheGroupSpec::ChunkedLocal(
                      in.ConsumeIntegralInRange<int32_t>(1, 20))};
      break;
    case 6:  // Jamba / Qwen3-Next: attention and checkpointed state
      c.groups = {
          KVCacheGroupSpec::FullAttention(),
          KVCacheGroupSpec::State(
              StateCacheMode::kAlign, in.ConsumeIntegralInRange<int32_t>(0, 2),
              c.block_size * in.ConsumeIntegralInRange<int32_t>(1, 3))};
      break;
    case 7:  // a state that is never cached
      c.groups = {
          KVCacheGroupSpec::FullAttention(),
          KVCacheGroupSpec::State(StateCacheMode::kNone,
                                  in.ConsumeIntegralInRange<int32_t>(0, 2))};
      break;
    default:  // every kind at once
      c.groups = {
          KVCacheGroupSpec::ChunkedLocal(
              in.ConsumeIntegralInRange<int32_t>(1, 12)),
          KVCacheGroupSpec::SlidingWindow(
              in.ConsumeIntegralInRange<int32_t>(1, 9)),
          KVCacheGroupSpec::State(StateCacheMode::kAlign, 1, 2 * c.block_size),
          KVCacheGroupSpec::FullAttention()};
      break;
  }
  const std::vector<std::string> policies = EvictionPolicyNames();
  c.eviction_policy =
      policies[in.ConsumeIntegralInRange<size_t>(0, policies.size() - 1)];
  c.num_blocks = in.ConsumeIntegralInRange<int64_t>(2, 80);
  c.enable_prefix_caching = in.ConsumeIntegralInRange<int>(0, 7) != 0;
  c.enable_kv_events = in.ConsumeBool();
  return c;
}

}  // namespace pagekv

#endif  // PAGEKV_FUZZ_MANAGER_FUZZ_STATE_H_
