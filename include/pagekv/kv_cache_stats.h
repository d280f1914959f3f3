// Statistics of a KVCacheManager: memory use at block and token level, and
// counters since creation.
//
// Thread-safety: plain value types; const access from many threads is safe.
#ifndef PAGEKV_KV_CACHE_STATS_H_
#define PAGEKV_KV_CACHE_STATS_H_

#include <cstdint>

#include "pagekv/host_tier.h"

namespace pagekv {

struct PrefixCacheStats {
  // Admissions that looked up the index, the prompt tokens and full blocks
  // they asked for, and what hit. Requests resumed after preemption are
  // counted in the resumed_* fields only.
  uint64_t queries = 0;
  uint64_t query_tokens = 0;
  uint64_t hit_tokens = 0;
  uint64_t query_blocks = 0;
  uint64_t hit_blocks = 0;
  uint64_t resumed_queries = 0;
  uint64_t resumed_query_tokens = 0;
  uint64_t resumed_hit_tokens = 0;

  double TokenHitRate() const {
    return query_tokens == 0 ? 0.0 : double(hit_tokens) / double(query_tokens);
  }
  double BlockHitRate() const {
    return query_blocks == 0 ? 0.0 : double(hit_blocks) / double(query_blocks);
  }
};

struct KVCacheStats {
  int32_t block_size = 0;
  // Blocks, excluding the null block: total == free + cached + in_use.
  uint64_t total_blocks = 0;
  uint64_t free_blocks = 0;
  uint64_t cached_blocks = 0;  // reusable content, evictable
  uint64_t in_use_blocks = 0;
  uint64_t num_sequences = 0;

  // Token slots of in-use blocks that hold computed tokens (a shared block
  // counts once), and the slots of in-use blocks that are empty: the
  // internal fragmentation of paging (last partial blocks, lookahead).
  uint64_t used_token_slots = 0;
  uint64_t empty_token_slots = 0;

  // Counters since creation.
  uint64_t blocks_allocated = 0;
  uint64_t evictions = 0;
  uint64_t cow_copies = 0;
  uint64_t allocation_failures = 0;
  PrefixCacheStats prefix;
  // The host tier's counters (all zero without one). prefix counts GPU hits
  // only; host_tier.hit_tokens the host hits after them.
  HostTierStats host_tier;
  // Index memory per pool block (keys, links, stored tokens).
  uint64_t index_bytes_per_block = 0;

  // Share of the pool's blocks in use.
  double BlockUsage() const {
    return total_blocks == 0 ? 0.0 : double(in_use_blocks) / total_blocks;
  }
  // Share of all token slots holding real tokens.
  double TokenUsage() const {
    return total_blocks == 0
               ? 0.0
               : double(used_token_slots) / double(total_blocks * block_size);
  }
};

}  // namespace pagekv

#endif  // PAGEKV_KV_CACHE_STATS_H_
