// EvictionPolicy: decides which cached block the pool gives up when it runs
// out of empty blocks.
//
// The pool owns block states; a policy only orders the *evictable* set: blocks
// whose reference count is zero but whose content is still cached (indexed by
// the prefix index). The pool tells the policy when a block joins that set
// (OnEvictable), when it leaves it without being evicted (OnReused: a prefix
// hit, or a reset), and asks for a victim when it needs a block
// (PickVictim). Each evictable block comes with its parent in the prefix
// tree, which leaf-first policies use to trim chains from the tail.
//
// Contract for implementations: state in flat arrays indexed by block id,
// sized once in Init(); no heap allocation per call; O(1) or O(log n) per
// call. Time comes from the `now_us` the caller passes, never from a clock of
// the policy's own, so tests are deterministic.
//
// Thread-safety: none; a policy is owned and called by one BlockPool.
#ifndef PAGEKV_EVICTION_POLICY_H_
#define PAGEKV_EVICTION_POLICY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/types.h"

namespace pagekv {

// Retention priority of cached blocks, 0..100 (TensorRT-LLM's convention):
// lower priority is evicted first.
inline constexpr int32_t kMinRetentionPriority = 0;
inline constexpr int32_t kMaxRetentionPriority = 100;
inline constexpr int32_t kDefaultRetentionPriority = 35;

// What a policy may know about a block that became evictable.
struct EvictionHints {
  // The block's parent in the prefix tree, or kNullBlock for a first block.
  BlockId parent = kNullBlock;
  // Retention priority and the time (µs) at which it decays back to
  // kDefaultRetentionPriority; a negative expiry means it never decays.
  int32_t priority = kDefaultRetentionPriority;
  int64_t priority_expiry_us = -1;
  // The time of the release.
  int64_t now_us = 0;
};

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;

  // The name the policy is selected by in KVCacheConfig::eviction_policy.
  virtual std::string_view name() const = 0;

  // Sizes the policy's arrays for block ids in [0, num_blocks) and empties
  // it. Called once by the pool before any other call, and again by Clear().
  virtual void Init(uint32_t num_blocks) = 0;

  // `block` has no references left and keeps cached content: it may be
  // evicted from now on.
  // REQUIRES: block is not in the evictable set.
  virtual void OnEvictable(BlockId block, const EvictionHints& hints) = 0;

  // `block` leaves the evictable set without being evicted (a prefix hit
  // took a reference, or its content was dropped).
  // REQUIRES: block is in the evictable set.
  virtual void OnReused(BlockId block) = 0;

  // Removes the block to evict next from the evictable set and returns it.
  // REQUIRES: size() > 0.
  virtual BlockId PickVictim(int64_t now_us) = 0;

  // Number of blocks in the evictable set.
  virtual uint32_t size() const = 0;

  // Checks the policy's internal invariants (expensive).
  virtual absl::Status Verify() const = 0;

  // Bytes Init(n) allocates per block id, for KVCacheManager::MemoryFootprint
  // (which multiplies by the pool's size). 0 = unknown (not counted).
  virtual uint64_t BytesPerBlock() const { return 0; }
};

// Creates the policy called `name`; InvalidArgument naming it and the known
// names if there is none.
absl::StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(
    std::string_view name);

// The names MakeEvictionPolicy() accepts.
std::vector<std::string> EvictionPolicyNames();

}  // namespace pagekv

#endif  // PAGEKV_EVICTION_POLICY_H_
