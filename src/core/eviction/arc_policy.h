// ArcPolicy ("arc"): Adaptive Replacement Cache (Megiddo & Modha, FAST'03)
// adapted to a pool that only tells the policy about block ids. vLLM's CPU
// offloading tier uses ARC; pagekv offers it for both the GPU pool and the
// host tier.
//
//   t1_   LRU list of blocks admitted once (new content, never reused);
//   t2_   LRU list of blocks that proved useful (reused while cached, or a
//         ghost hit on admission);
//   b1_   ghost FIFO of *parent* ids of blocks evicted from t1_;
//   b2_   ghost FIFO of parent ids of blocks evicted from t2_;
//   p_    the adaptive target size of t1_, in [0, num_blocks];
//   home_ the list a block belongs to, kept while the block is in use, so a
//         reused block returns to t2_ when released again.
//
// Pool model. A hit takes the block out of the evictable set, so it cannot
// move to the MRU end of t2_ in place: OnReused removes it and marks its home
// t2_; its next OnEvictable appends it to t2_. New content (home cleared by
// eviction or never set) goes to t1_, unless its parent is in a ghost list:
// the same prefix came back after one of its blocks was evicted, so (as ARC
// does on a ghost hit) p_ moves toward the list that lost it —
// p += max(1, |b2|/|b1|) on a b1 hit, p -= max(1, |b1|/|b2|) on a b2 hit —
// the ghost entry is consumed and the block goes to t2_. PickVictim evicts
// t1_'s LRU block when t1_ holds more than p_ evictable blocks (or t2_ is
// empty), else t2_'s.
//
// Ghost keys. As in s3fifo_policy.h, an evicted id is reused for unrelated
// content, so ghosts are keyed by the evicted block's parent (what survives
// the eviction and is hit again when the prefix returns). A ghost entry is
// dropped when the parent's own id is evicted, and each ghost list holds at
// most max(1, num_blocks / 2) entries (oldest dropped first), so the ghosts
// together remember about as many evictions as the pool has blocks.
//
// Cost: every call is O(1) (intrusive-list pushes and pops, one division on
// a ghost hit) and allocates nothing.
#ifndef PAGEKV_CORE_EVICTION_ARC_POLICY_H_
#define PAGEKV_CORE_EVICTION_ARC_POLICY_H_

#include <cstdint>
#include <vector>

#include "core/eviction/intrusive_list.h"
#include "pagekv/eviction_policy.h"

namespace pagekv::internal {

class ArcPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "arc"; }
  void Init(uint32_t num_blocks) override;
  void OnEvictable(BlockId block, const EvictionHints& hints) override;
  void OnReused(BlockId block) override;
  BlockId PickVictim(int64_t now_us) override;
  uint32_t size() const override { return t1_.size() + t2_.size(); }
  absl::Status Verify() const override;
  uint64_t BytesPerBlock() const override {
    return 4 * IntrusiveList::kBytesPerId + sizeof(uint8_t) + sizeof(uint32_t);
  }

  // The adaptive target size of t1 (for tests and reports).
  uint32_t target_t1() const { return p_; }

 private:
  enum class Home : uint8_t { kNone, kT1, kT2 };

  // Forgets `id` (it is evicted) and remembers its parent in b1 (from t1) or
  // b2 (from t2).
  void Evict(uint32_t id, bool from_t1);
  // Appends `parent` to `ghost`, dropping it from the other ghost list and
  // the oldest entry when over capacity.
  void Remember(IntrusiveList& ghost, IntrusiveList& other, uint32_t parent);

  IntrusiveList t1_;
  IntrusiveList t2_;
  IntrusiveList b1_;              // size <= ghost_capacity_
  IntrusiveList b2_;              // size <= ghost_capacity_; disjoint from b1_
  std::vector<Home> home_;        // kT1/kT2 for every listed id
  std::vector<uint32_t> parent_;  // valid while listed
  uint32_t p_ = 0;                // <= capacity_
  uint32_t capacity_ = 0;
  uint32_t ghost_capacity_ = 0;
};

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_EVICTION_ARC_POLICY_H_
