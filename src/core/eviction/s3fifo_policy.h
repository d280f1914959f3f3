// S3FifoPolicy ("s3fifo"): S3-FIFO (Yang et al., SOSP'23) adapted to a pool
// that only tells the policy about block ids.
//
//   small_   FIFO of blocks admitted once (new content), about 10% of the
//            evictable set;
//   main_    FIFO of blocks that proved useful (reused while cached, or a
//            ghost hit); a victim with frequency > 0 is reinserted at the
//            tail with frequency - 1 (lazy promotion, second chances);
//   ghost_   FIFO of *parent* ids of blocks recently evicted from small_
//            without reuse, at most ghost_capacity_ (90% of num_blocks).
//   freq_    2-bit frequency per block, bumped by OnReused (a prefix hit).
//   home_    the queue a block belongs to; kept while the block is in use, so
//            a reused block returns to its queue when released again.
//
// Pool model. "Reuse" takes a block out of the evictable set (it is in use
// and cannot be evicted), so a hit cannot leave the block in place as in the
// paper: OnReused bumps freq_ and removes the block; its next OnEvictable
// puts it back at the tail of home_ with freq_ kept. New content (an id
// whose home_ was cleared by eviction or never set) enters small_ with
// freq 0. PickVictim evicts from small_ while small_ holds at least 10% of
// the evictable set (or main_ is empty): its head goes to main_ if freq > 0,
// else it is the victim; otherwise main_'s head is the victim if freq == 0,
// else it is reinserted with freq - 1.
//
// Ghost. The paper's ghost remembers evicted *objects* so a quick re-request
// is admitted straight to main. A block id does not identify content here:
// after eviction the id is reused for unrelated content, and the recomputed
// content comes back under another id. What survives a block's eviction is
// its parent: when the same prefix is requested again, the parent is hit and
// the evicted child is recomputed as a new block with that same parent. So
// the ghost is keyed by the parent id of blocks evicted from small_, and a
// new block whose parent is in the ghost goes to main_ (and the entry is
// consumed). A ghost entry is dropped when the parent's own id is evicted.
// This is a proxy: it also fires for a *different* child of the same parent
// (a sibling branch), and first blocks (no parent) never hit the ghost.
//
// Cost: OnEvictable and OnReused are O(1). PickVictim is amortized O(1):
// every move small -> main is paid by the OnEvictable that admitted the
// block, every reinsertion in main by the OnReused that raised freq_. No
// call allocates (all queues are intrusive lists sized in Init).
#ifndef PAGEKV_CORE_EVICTION_S3FIFO_POLICY_H_
#define PAGEKV_CORE_EVICTION_S3FIFO_POLICY_H_

#include <cstdint>
#include <vector>

#include "core/eviction/intrusive_list.h"
#include "pagekv/eviction_policy.h"

namespace pagekv::internal {

class S3FifoPolicy final : public EvictionPolicy {
 public:
  static constexpr uint8_t kMaxFreq = 3;  // 2 bits
  // small_ is kept at >= 1/kSmallRatio of the evictable set.
  static constexpr uint32_t kSmallRatio = 10;

  std::string_view name() const override { return "s3fifo"; }
  void Init(uint32_t num_blocks) override;
  void OnEvictable(BlockId block, const EvictionHints& hints) override;
  void OnReused(BlockId block) override;
  BlockId PickVictim(int64_t now_us) override;
  uint32_t size() const override { return small_.size() + main_.size(); }
  absl::Status Verify() const override;
  uint64_t BytesPerBlock() const override {
    return 3 * IntrusiveList::kBytesPerId + 2 * sizeof(uint8_t) +
           sizeof(uint32_t);
  }

 private:
  enum class Home : uint8_t { kNone, kSmall, kMain };

  // Forgets `id` (it is evicted) and records its parent in the ghost if it
  // left from small_.
  void Evict(uint32_t id, bool from_small);

  IntrusiveList small_;
  IntrusiveList main_;
  IntrusiveList ghost_;           // size <= ghost_capacity_
  std::vector<uint8_t> freq_;     // <= kMaxFreq; 0 when home_ == kNone
  std::vector<Home> home_;        // kSmall/kMain for every queued id
  std::vector<uint32_t> parent_;  // valid while queued
  uint32_t ghost_capacity_ = 0;
};

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_EVICTION_S3FIFO_POLICY_H_
