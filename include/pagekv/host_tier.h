// The host tier: a second pool of KV blocks in host memory under the GPU
// pool, managed by the KVCacheManager when KVCacheConfig::host_tier is on.
//
// The host tier holds full, indexed blocks: for each host block its key, its
// parent's key and its tokens, so a host hit is verified like a GPU hit (the
// stored tokens and parent key must equal the query's). Blocks move by
// *transfer orders* the engine carries out, drained like copy-on-write copies
// (KVCacheManager::DrainTransfers):
//
//   kStore  GPU block -> host block. The host block is *pending* (indexed but
//           not loadable) until CompleteStore(host_block, success); a failed
//           store leaves no trace (no event, the host block is free again).
//   kLoad   host block -> GPU block, issued by Admit for the host-hit part of
//           a prefix: the walk continues from the GPU hits into ready host
//           blocks, and admission allocates GPU blocks for them. The host
//           block is pinned (never evicted) until CompleteLoad(host_block).
//
// clang-format off
//   host block states        free ──store──► pending ──complete(ok)──► ready ◄──► ready+pinned (loads)
//                              ▲                 │                       │
//                              └──complete(fail)─┘◄──────evicted─────────┘
// clang-format on
//
// Store policies (when a GPU block gets a store order):
//   write-through            when a block becomes full and indexed on the GPU;
//   write-through-selective  on the store_hit_threshold-th prefix hit of a
//                            GPU block (default 2);
//   write-back               when the GPU pool evicts the block (the host is
//                            then no superset of HBM).
// and an admission filter on top: store only keys looked up at least
// admission_min_lookups times (counted per prefix query; 0 or 1 = off).
//
// Lower tiers. A tier below the host (e.g. a remote store) plugs in through
// KVCacheManager::ImportHostBlock (a verified block from below becomes a
// ready host block) and the CPU BlockRemoved events (what the host tier
// drops, a lower tier may keep).
//
// Thread-safety: plain value types.
#ifndef PAGEKV_HOST_TIER_H_
#define PAGEKV_HOST_TIER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/types.h"

namespace pagekv {

enum class StorePolicy : uint8_t {
  kWriteThrough,
  kWriteThroughSelective,
  kWriteBack,
};

// "write-through", "write-through-selective", "write-back".
std::string_view StorePolicyName(StorePolicy policy);
// The policy named `name`; InvalidArgument naming it and the known names.
absl::StatusOr<StorePolicy> ParseStorePolicy(std::string_view name);

struct HostTierConfig {
  // Size of the tier: num_blocks host blocks when > 0, else
  // capacity_bytes / block_bytes. Both 0 = no host tier (the default).
  int64_t num_blocks = 0;
  uint64_t capacity_bytes = 0;
  // KV bytes of one block (all layers, K and V): converts capacity_bytes to
  // blocks and counts the bytes transfers move. 0 = bytes not counted.
  uint64_t block_bytes = 0;
  // One of EvictionPolicyNames() ("lru", "arc", ...), over host blocks.
  std::string eviction_policy = "lru";
  StorePolicy store_policy = StorePolicy::kWriteThrough;
  // write-through-selective: store a GPU block on its k-th prefix hit.
  int32_t store_hit_threshold = 2;
  // Admission filter: store only keys looked up at least this many times.
  int32_t admission_min_lookups = 0;

  // Whether a host tier is configured.
  bool enabled() const { return num_blocks > 0 || capacity_bytes > 0; }
  // The tier's host blocks (0 when off). REQUIRES: Validate() is OK.
  int64_t Blocks() const {
    if (num_blocks > 0) return num_blocks;
    return block_bytes == 0
               ? 0
               : static_cast<int64_t>(capacity_bytes / block_bytes);
  }
  // OK, or InvalidArgument naming the bad field (prefixed "host_tier.").
  absl::Status Validate() const;
};

// A block move the engine performs (see the header comment).
struct TransferOrder {
  enum class Kind : uint8_t { kLoad, kStore };
  // When the engine runs it relative to the step's kernels. Loads and stores
  // of blocks computed in earlier steps run before them (a store's GPU block
  // may be reused by this step's kernels); a write-through store of a block
  // this step computes runs after them (before the next step's kernels).
  enum class When : uint8_t { kBeforeKernels, kAfterKernels };
  Kind kind = Kind::kLoad;
  When when = When::kBeforeKernels;
  BlockId gpu_block;
  uint32_t host_block = 0;  // 1-based id in the host tier
  GroupId group;
  uint64_t key = 0;
};

// Counters of the host tier since creation, and its current occupancy.
struct HostTierStats {
  uint64_t capacity_blocks = 0;
  uint64_t block_bytes = 0;
  // Prefix queries' blocks found in the host tier (after the GPU hits) and
  // their tokens; requests resumed after preemption are not counted.
  uint64_t hit_blocks = 0;
  uint64_t hit_tokens = 0;
  uint64_t stores_issued = 0;
  uint64_t stores_completed = 0;
  uint64_t stores_failed = 0;
  // Stores not issued: no free or evictable host block, or refused by the
  // admission filter.
  uint64_t stores_dropped = 0;
  uint64_t stores_filtered = 0;
  uint64_t loads_issued = 0;
  uint64_t loads_completed = 0;
  uint64_t imports = 0;
  // Bytes moved by completed transfers (block_bytes each).
  uint64_t bytes_stored = 0;
  uint64_t bytes_loaded = 0;
  uint64_t evictions = 0;
  // Now: pending stores, ready blocks, of which pinned by loads, free.
  uint64_t pending_blocks = 0;
  uint64_t ready_blocks = 0;
  uint64_t pinned_blocks = 0;
  uint64_t free_blocks = 0;
};

}  // namespace pagekv

#endif  // PAGEKV_HOST_TIER_H_
