// HostTier: the host-memory pool under the GPU pool (see pagekv/host_tier.h
// for the contract). Private to the library; owned by ManagerState, which
// calls it from a few hooks (store triggers, the prefix walk, admission).
//
// Layout (flat arrays over host block ids 1..N, id 0 unused; sized once):
//
//   index_     PrefixIndex over host ids: key -> host block, with the parent
//              key and tokens each block is verified against. Pending and
//              ready blocks are indexed (a pending key is not stored twice);
//              free blocks are not.
//   state_[h]  kFree / kPending / kReady (the state machine of host_tier.h)
//   pins_[h]   loads in flight; > 0 only for ready blocks
//   policy_    eviction order of the ready, unpinned blocks (exactly those)
//   free_      stack of free ids
//   lora_/salt_[h]  extras of the stored block, for the events' payload
//   lookups_   saturating 8-bit lookup counters by key hash (admission
//              filter), 4 per host block rounded up to a power of two
//   gpu_hits_[b]    prefix hits of GPU block b since it was indexed
//                   (write-through-selective), sized for the GPU pool
//
// Costs: a store or load is O(1) array work plus one index insert/erase
// (PrefixIndex costs: one table line, one metadata line, the tokens); the
// walk extension is one Find + Matches per host block, as the GPU walk.
#ifndef PAGEKV_CORE_HOST_TIER_H_
#define PAGEKV_CORE_HOST_TIER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "core/prefix_index.h"
#include "pagekv/block_hash.h"
#include "pagekv/eviction_policy.h"
#include "pagekv/host_tier.h"
#include "pagekv/kv_events.h"

namespace pagekv::internal {

// Where a store's content comes from: a GPU block's identity and tokens.
struct StoreSource {
  BlockId gpu_block;
  uint64_t key = 0;
  uint64_t parent_key = 0;
  bool first = false;  // the chain's first block (events omit the parent)
  absl::Span<const TokenId> tokens;
  uint64_t lora_id = 0;
  uint64_t cache_salt = 0;
};

class HostTier {
 public:
  // With `events`, buffers CPU events for DrainEvents (its own buffer: the
  // manager's may be mid-append when a store evicts a host block).
  HostTier(const HostTierConfig& config, uint32_t gpu_blocks,
           int32_t block_size, std::unique_ptr<EvictionPolicy> policy,
           bool events);

  const HostTierConfig& config() const { return config_; }

  // --- the walk (read-only) ---
  // Appends to *out the host blocks extending a hit of `from` blocks: block
  // i (from <= i < limit) must be ready and match keys[i], its parent key
  // (root for i == 0) and tokens[i * bs, (i + 1) * bs).
  void ExtendWalk(absl::Span<const uint64_t> keys, uint64_t root,
                  absl::Span<const TokenId> tokens, size_t from, size_t limit,
                  std::vector<uint32_t>* out) const;

  // --- admission ---
  // Counts one lookup of each key (admission filter). No-op when the filter
  // is off.
  void CountLookups(absl::Span<const uint64_t> keys);
  void Pin(uint32_t host_block);
  void AddHits(size_t blocks, int32_t block_size) {
    stats_.hit_blocks += blocks;
    stats_.hit_tokens += blocks * static_cast<uint64_t>(block_size);
  }
  bool Contains(uint64_t key) const { return index_.Find(key) != kNullBlock; }
  void CountImport() { ++stats_.imports; }
  // Queues the load of pinned `host_block` into `gpu_block`.
  void AddLoad(uint32_t host_block, BlockId gpu_block);

  // --- store triggers (store policy applied here) ---
  // A GPU block became full and indexed.
  void OnGpuIndexed(const StoreSource& src);
  // GPU blocks of a prefix hit were claimed (`index` is the GPU index).
  void OnGpuHits(absl::Span<const BlockId> blocks, const PrefixIndex& index);
  // The GPU pool evicts `block`, still indexed in `index`.
  void OnGpuEvicted(BlockId block, const PrefixIndex& index);
  // Stores `src` unless present or no host block can be had; `when` as in
  // TransferOrder. Returns the pending host block, or 0.
  uint32_t IssueStore(const StoreSource& src, TransferOrder::When when);

  // --- completions (FailedPrecondition, changing nothing, on misuse) ---
  absl::Status CompleteLoad(uint32_t host_block);
  absl::Status CompleteStore(uint32_t host_block, bool success);

  std::vector<TransferOrder> DrainOrders();
  // Appends the buffered CPU events to *out and clears them.
  void DrainEvents(std::vector<KVEvent>* out) {
    for (KVEvent& e : events_) out->push_back(std::move(e));
    events_.clear();
  }
  bool idle() const { return pending_ == 0 && pinned_ == 0; }
  // Drops every ready block. REQUIRES: idle().
  void Clear();
  HostTierStats Stats() const;
  absl::Status Verify() const;
  // Bytes the constructor allocates for a tier of `host_blocks` over a GPU
  // pool of `gpu_blocks`, with `policy`'s BytesPerBlock.
  static uint64_t MemoryBytes(uint64_t host_blocks, uint64_t gpu_blocks,
                              int32_t block_size, uint64_t policy_bytes);

 private:
  enum class State : uint8_t { kFree, kPending, kReady };
  // A free host block, evicting the policy's victim if none is free; 0 if
  // every block is pending or pinned.
  uint32_t TakeBlock();
  void EmitRemoved(uint32_t h);
  EvictionHints HintsFor(uint32_t h) const;
  bool PassesFilter(uint64_t key) const;
  size_t LookupSlot(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ULL) >> 32) &
           lookup_mask_;
  }

  HostTierConfig config_;
  int32_t block_size_;
  uint32_t num_blocks_;  // host blocks, ids 1..num_blocks_
  PrefixIndex index_;
  std::unique_ptr<EvictionPolicy> policy_;
  std::vector<State> state_;
  std::vector<uint16_t> pins_;  // > 0 only when state_ is kReady
  std::vector<uint32_t> free_;  // ids with state_ kFree
  std::vector<uint64_t> lora_;
  std::vector<uint64_t> salt_;
  std::vector<uint8_t> first_;  // 1 = the chain's first block
  std::vector<uint8_t> lookups_;
  size_t lookup_mask_ = 0;
  std::vector<uint8_t> gpu_hits_;
  std::vector<TransferOrder> orders_;
  bool emit_events_;
  std::vector<KVEvent> events_;
  uint32_t pending_ = 0;  // blocks in kPending
  uint32_t pinned_ = 0;   // blocks with pins_ > 0
  HostTierStats stats_;
};

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_HOST_TIER_H_
