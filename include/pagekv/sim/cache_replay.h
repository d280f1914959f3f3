// Prefix-cache replay: a workload's prompts through a KVCacheManager with no
// timing, for hit rates at a given capacity and eviction policy.
//
// Replay: requests in arrival order; each one's prompt is added as a
// sequence, admitted whole (the longest cached prefix is claimed, the rest is
// allocated and its full blocks become cached), and released at once, so its
// blocks stay cached and evictable. Output tokens are ignored: only prompts
// are looked up and inserted. The manager's clock is the request's arrival
// time, so a run is deterministic.
#ifndef PAGEKV_SIM_CACHE_REPLAY_H_
#define PAGEKV_SIM_CACHE_REPLAY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/sim/workload.h"

namespace pagekv {

// The replay policy that is not an eviction policy: the cache is
// pagekv::vllm::VllmManager, with vLLM v1's block order (one FIFO queue of
// free blocks, cached or not, evicting from its front). vLLM evicts cached
// blocks while uncached free ones wait further back, so at a capacity that
// evicts its hit rate is below "lru", which uses uncached blocks first.
inline constexpr char kVllmOrderPolicy[] = "vllm";

// EvictionPolicyNames() and kVllmOrderPolicy.
std::vector<std::string> ReplayPolicyNames();

// One replay's setting.
struct ReplayOptions {
  int32_t block_size = 16;
  // Cache size in blocks, the null block excluded (the pool has one more).
  // REQUIRES: >= 1.
  int64_t capacity_blocks = 1;
  // One of ReplayPolicyNames().
  std::string policy = "lru";
  // A host tier under the cache (off by default): misses on the GPU go on
  // into it, and the replay carries out every transfer at once.
  HostTierConfig host_tier = {};
};

// One replay's figures. Hit counts come from the manager's prefix stats, so
// a hit is whole blocks and at most prompt - 1 tokens (the last prompt token
// is always computed); the block denominator is the prompt's *full* blocks.
struct ReplayResult {
  int64_t requests = 0;          // replayed (not skipped)
  int64_t skipped_requests = 0;  // prompt alone needs more than the capacity
  int64_t skipped_prompt_tokens = 0;
  int64_t prompt_tokens = 0;  // of the replayed requests
  int64_t hit_tokens = 0;
  int64_t query_blocks = 0;  // full prompt blocks of the replayed requests
  int64_t hit_blocks = 0;
  int64_t evictions = 0;
  // Host tier (zero without one): hits after the GPU hits, blocks stored,
  // host evictions.
  int64_t host_hit_tokens = 0;
  int64_t host_hit_blocks = 0;
  int64_t host_stores = 0;
  int64_t host_evictions = 0;
  // Blocks still cached at the end (with infinite capacity: the number of
  // distinct full blocks in the trace).
  int64_t cached_blocks = 0;
  double seconds = 0;  // wall time of the replay loop

  double HitRateTokens() const {
    return prompt_tokens == 0 ? 0.0 : double(hit_tokens) / prompt_tokens;
  }
  double HitRateBlocks() const {
    return query_blocks == 0 ? 0.0 : double(hit_blocks) / query_blocks;
  }
  double HostHitRateTokens() const {
    return prompt_tokens == 0 ? 0.0 : double(host_hit_tokens) / prompt_tokens;
  }
};

// The number of distinct full prompt blocks of `workload` at `block_size`:
// the blocks a replay with no eviction ends up caching. One pass that hashes
// every prompt with the manager's default hasher (seed 0, the request's cache
// salt) and counts distinct keys. Cost: about the hashing part of a replay;
// memory ~16 bytes per distinct block, freed on return.
// REQUIRES: block_size >= 1.
int64_t DistinctFullBlocks(const Workload& workload, int32_t block_size);

// The capacity at which a replay of `copies` non-sharing copies of
// `workload` (RepeatWorkload) never evicts: every distinct full block
// (copies * DistinctFullBlocks) plus one block for the request being
// admitted (its partial last block, or a full block recomputed because a hit
// stops one token short of the prompt). Memory follows the distinct blocks,
// not the prompt blocks.
// REQUIRES: block_size >= 1, copies >= 1.
int64_t InfiniteCapacityBlocks(const Workload& workload, int32_t block_size,
                               int32_t copies = 1);

// The configuration of the manager a replay with `options` creates (its
// clock aside), for every policy but kVllmOrderPolicy.
KVCacheConfig ReplayManagerConfig(const ReplayOptions& options);

// The pool and index bytes a replay with `options` allocates, known before
// running it: KVCacheManager::MemoryFootprint of ReplayManagerConfig, or
// for kVllmOrderPolicy that of vLLM's block pool. The error of an invalid
// configuration.
absl::StatusOr<uint64_t> ReplayMemoryFootprint(const ReplayOptions& options);

// Replays `workload` (see the file comment). InvalidArgument naming the field
// for a bad block size, capacity or policy; a request whose prompt alone
// needs more blocks than the capacity is skipped and counted, never retried.
absl::StatusOr<ReplayResult> ReplayWorkload(const Workload& workload,
                                            const ReplayOptions& options);

}  // namespace pagekv

#endif  // PAGEKV_SIM_CACHE_REPLAY_H_
