#include "pagekv/sim/cache_replay.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "fmt/format.h"
#include "pagekv/block_hash.h"
#include "pagekv/clock.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/vllm/block_pool.h"
#include "sim/cache_replay_vllm.h"

namespace pagekv {

std::vector<std::string> ReplayPolicyNames() {
  std::vector<std::string> names = EvictionPolicyNames();
  names.push_back(kVllmOrderPolicy);
  return names;
}

int64_t DistinctFullBlocks(const Workload& workload, int32_t block_size) {
  const BlockHasher hasher(block_size, /*seed=*/0);
  absl::flat_hash_set<uint64_t> keys;
  std::vector<TokenId> prompt;
  std::vector<uint64_t> prompt_keys;
  BlockHashExtras extras;
  for (const Request& request : workload.requests) {
    prompt.clear();
    prompt_keys.clear();
    request.MaterializePrompt(&prompt);
    extras.cache_salt = request.cache_salt;
    hasher.ExtendKeys(prompt, extras, &prompt_keys);
    keys.insert(prompt_keys.begin(), prompt_keys.end());
  }
  return static_cast<int64_t>(keys.size());
}

int64_t InfiniteCapacityBlocks(const Workload& workload, int32_t block_size,
                               int32_t copies) {
  return DistinctFullBlocks(workload, block_size) * copies + 1;
}

KVCacheConfig ReplayManagerConfig(const ReplayOptions& options) {
  KVCacheConfig config;
  config.num_blocks = options.capacity_blocks + 1;  // + the null block
  config.block_size = options.block_size;
  config.eviction_policy = options.policy;
  config.host_tier = options.host_tier;
  return config;
}

absl::StatusOr<uint64_t> ReplayMemoryFootprint(const ReplayOptions& options) {
  if (options.policy == kVllmOrderPolicy) {
    if (options.block_size < 1 || options.capacity_blocks < 1 ||
        options.capacity_blocks >= (int64_t{1} << 31) - 1) {
      return absl::InvalidArgumentError(fmt::format(
          "policy 'vllm' needs block_size >= 1 and 1 <= capacity_blocks < "
          "2^31 - 1, got {} and {}",
          options.block_size, options.capacity_blocks));
    }
    return vllm::VllmBlockPool::MemoryFootprint(
        static_cast<int32_t>(options.capacity_blocks + 1), options.block_size,
        /*enable_caching=*/true);
  }
  return KVCacheManager::MemoryFootprint(ReplayManagerConfig(options));
}

absl::StatusOr<ReplayResult> ReplayWorkload(const Workload& workload,
                                            const ReplayOptions& options) {
  if (options.block_size < 1) {
    return absl::InvalidArgumentError(
        fmt::format("block_size must be >= 1, got {}", options.block_size));
  }
  if (options.capacity_blocks < 1) {
    return absl::InvalidArgumentError(fmt::format(
        "capacity_blocks must be >= 1, got {}", options.capacity_blocks));
  }
  if (options.policy == kVllmOrderPolicy) {
    return ReplayWorkloadVllmOrder(workload, options);
  }
  ManualClock clock;
  KVCacheConfig config = ReplayManagerConfig(options);
  config.clock = &clock;
  absl::StatusOr<std::unique_ptr<KVCacheManager>> manager =
      KVCacheManager::Create(config);
  if (!manager.ok()) return manager.status();
  KVCacheManager& m = **manager;

  ReplayResult result;
  std::vector<TokenId> prompt;
  const auto start = std::chrono::steady_clock::now();
  for (const Request& request : workload.requests) {
    clock.Set(static_cast<int64_t>(std::llround(request.arrival_s * 1e6)));
    prompt.clear();
    request.MaterializePrompt(&prompt);
    const int64_t num_tokens = static_cast<int64_t>(prompt.size());
    // A prompt that needs more blocks than the whole cache can never be
    // admitted, however much is evicted: skip it rather than retry.
    if ((num_tokens + options.block_size - 1) / options.block_size >
        options.capacity_blocks) {
      ++result.skipped_requests;
      result.skipped_prompt_tokens += num_tokens;
      continue;
    }
    SequenceOptions seq_options;
    seq_options.hash_extras.cache_salt = request.cache_salt;
    seq_options.retention_priority = request.priority;
    absl::StatusOr<SeqId> seq = m.AddSequence(prompt, seq_options);
    if (!seq.ok()) return seq.status();
    absl::StatusOr<Admission> admitted = m.Admit(*seq, num_tokens);
    if (!admitted.ok()) {
      // Nothing is in use between requests, so a prompt that fits the
      // capacity always fits the pool; anything else is a manager bug.
      return absl::InternalError(
          fmt::format("request {}: admission of {} tokens failed: {}",
                      request.id, num_tokens, admitted.status().ToString()));
    }
    if (absl::Status st = m.Release(*seq); !st.ok()) return st;
    // The engine: every transfer done at once.
    for (const TransferOrder& o : m.DrainTransfers()) {
      absl::Status st = o.kind == TransferOrder::Kind::kStore
                            ? m.CompleteStore(o.host_block, true)
                            : m.CompleteLoad(o.host_block);
      if (!st.ok()) return st;
    }
    ++result.requests;
  }
  const auto end = std::chrono::steady_clock::now();
  result.seconds = std::chrono::duration<double>(end - start).count();

  const KVCacheStats stats = m.Stats();
  result.prompt_tokens = static_cast<int64_t>(stats.prefix.query_tokens);
  result.hit_tokens = static_cast<int64_t>(stats.prefix.hit_tokens);
  result.query_blocks = static_cast<int64_t>(stats.prefix.query_blocks);
  result.hit_blocks = static_cast<int64_t>(stats.prefix.hit_blocks);
  result.evictions = static_cast<int64_t>(stats.evictions);
  result.cached_blocks = static_cast<int64_t>(stats.cached_blocks);
  result.host_hit_tokens = static_cast<int64_t>(stats.host_tier.hit_tokens);
  result.host_hit_blocks = static_cast<int64_t>(stats.host_tier.hit_blocks);
  result.host_stores = static_cast<int64_t>(stats.host_tier.stores_completed);
  result.host_evictions = static_cast<int64_t>(stats.host_tier.evictions);
  return result;
}

}  // namespace pagekv
