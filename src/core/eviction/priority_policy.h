// PriorityPolicy ("priority"): lower retention priority is evicted first,
// least recently released first within a priority; a priority with an expiry
// decays to kDefaultRetentionPriority once now_us reaches the expiry
// (TensorRT-LLM's retention semantics).
//
// Layout (all arrays sized once in Init):
//
//   prev_/next_   101 doubly linked lists sharing two arrays: slots
//                 [0, num_blocks) are blocks, slot num_blocks + p is the
//                 sentinel of priority p. Each list is in release order.
//   nonempty_     a 128-bit mask, bit p set iff list p is non-empty, so the
//                 lowest non-empty priority is one count-trailing-zeros.
//   expiring_     min-heap of listed blocks with a priority other than the
//                 default and an expiry, keyed by expiry.
//   decayed_      min-heap keyed by release sequence of blocks whose expiry
//                 passed: they now count as default priority. A heap, not
//                 the default list's tail, so a decayed block keeps its
//                 release-order position among default blocks.
//
//   prio_[id]     the list `id` is on, kDecayed if in decayed_, or kAbsent.
//
// PickVictim(now_us) first moves every expiring_ block with expiry <= now_us
// to decayed_, then takes the front of the lowest non-empty list; at the
// default priority it takes the older of the default list's front and
// decayed_'s top. Decay is sticky: once decayed a block stays at the default
// even if a later call passes an earlier now_us (callers pass a clock that
// does not go back).
//
// Cost: OnEvictable/OnReused O(1), or O(log e) for a block with an expiry
// (e blocks waiting to decay); PickVictim O(1) + O(log e) per block that
// decays (each decays once) + O(log d) for a decayed victim. No allocation.
#ifndef PAGEKV_CORE_EVICTION_PRIORITY_POLICY_H_
#define PAGEKV_CORE_EVICTION_PRIORITY_POLICY_H_

#include <cstdint>
#include <vector>

#include "core/eviction/indexed_heap.h"
#include "pagekv/eviction_policy.h"

namespace pagekv::internal {

class PriorityPolicy final : public EvictionPolicy {
 public:
  static constexpr uint32_t kNumPriorities = kMaxRetentionPriority + 1;
  static constexpr uint8_t kDecayed = 254;
  static constexpr uint8_t kAbsent = 255;

  std::string_view name() const override { return "priority"; }
  void Init(uint32_t num_blocks) override;
  void OnEvictable(BlockId block, const EvictionHints& hints) override;
  void OnReused(BlockId block) override;
  BlockId PickVictim(int64_t now_us) override;
  uint32_t size() const override { return size_; }
  absl::Status Verify() const override;
  uint64_t BytesPerBlock() const override {
    return 2 * sizeof(uint32_t) + sizeof(uint8_t) + sizeof(int64_t) +
           2 * IndexedMinHeap::BytesPerId();
  }

 private:
  uint32_t sentinel(uint32_t priority) const { return num_blocks_ + priority; }
  void PushBack(uint32_t id, uint32_t priority);
  void Unlink(uint32_t id);  // from its list; REQUIRES: prio_[id] < 101
  // Removes `id` from wherever it is.
  void Remove(uint32_t id);
  // Moves every block whose expiry <= now_us to decayed_.
  void Decay(int64_t now_us);

  uint32_t num_blocks_ = 0;
  std::vector<uint32_t> prev_;  // size num_blocks_ + kNumPriorities
  std::vector<uint32_t> next_;
  std::vector<uint8_t> prio_;            // list of id, kDecayed or kAbsent
  std::vector<int64_t> seq_;             // release sequence, while evictable
  uint32_t count_[kNumPriorities] = {};  // blocks on each list
  uint64_t nonempty_[2] = {};            // bit p iff count_[p] > 0
  IndexedMinHeap expiring_;  // ids with prio_ < 101, != default, by expiry
  IndexedMinHeap decayed_;   // ids with prio_ == kDecayed, by seq_
  int64_t next_seq_ = 0;
  uint32_t size_ = 0;  // == sum(count_) + decayed_.size()
};

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_EVICTION_PRIORITY_POLICY_H_
