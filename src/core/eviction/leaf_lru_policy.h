// LeafLruPolicy ("leaf-lru"): least recently released first, but only among
// *leaves* of the evictable set, so a cached chain is trimmed from its tail
// and the prefix tree never gets a hole (a cached block whose parent is gone).
//
// A block is a candidate when it is evictable and none of its children (by
// EvictionHints::parent) is evictable. Every evictable block is in exactly
// one of three places:
//
//   list_      candidates that were leaves when they were released, in
//              release order (appended only by OnEvictable, so it is sorted
//              by release sequence number);
//   promoted_  candidates that became leaves later, when their last evictable
//              child left; a min-heap keyed by their *original* release
//              sequence number, so they keep their LRU position;
//   parked     evictable but with evictable children: not a candidate (only a
//              state flag, no container).
//
// PickVictim takes whichever of list_.front() and promoted_.Top() was
// released first, so victims come out in exact release order among leaves.
//
//   children_[id]  evictable children of `id`, whatever `id`'s own state (a
//                  parent in use still counts its evictable children).
//
// Cost: OnEvictable/OnReused/PickVictim are O(1) plus O(log p) heap work,
// where p is the number of promoted candidates (parents whose children were
// all evicted: under tail-first release that is about one per cached chain).
// No call allocates.
//
// Under full attention a block in use holds its whole prefix, so whenever a
// parent is evictable its children are evictable or gone. Following evictable
// children from any parked block therefore ends at a leaf: a victim exists
// whenever size() > 0 (PickVictim checks it).
// If a parent's id is reused for new content while its old children are
// still cached (the caller dropped a parent but not its subtree), counts
// stay consistent per id but the new content waits behind the old children.
#ifndef PAGEKV_CORE_EVICTION_LEAF_LRU_POLICY_H_
#define PAGEKV_CORE_EVICTION_LEAF_LRU_POLICY_H_

#include <cstdint>
#include <vector>

#include "core/eviction/indexed_heap.h"
#include "core/eviction/intrusive_list.h"
#include "pagekv/eviction_policy.h"

namespace pagekv::internal {

class LeafLruPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "leaf-lru"; }
  void Init(uint32_t num_blocks) override;
  void OnEvictable(BlockId block, const EvictionHints& hints) override;
  void OnReused(BlockId block) override;
  BlockId PickVictim(int64_t now_us) override;
  uint32_t size() const override { return size_; }
  absl::Status Verify() const override;
  uint64_t BytesPerBlock() const override {
    return sizeof(uint8_t) + 2 * sizeof(uint32_t) + sizeof(int64_t) +
           IntrusiveList::kBytesPerId + IndexedMinHeap::BytesPerId();
  }

 private:
  enum class Where : uint8_t { kAbsent, kParked, kListed, kPromoted };

  // Takes `id` out of the evictable set and updates its parent's count,
  // promoting the parent if it was parked and this was its last child.
  void Leave(uint32_t id);
  // Takes a candidate out of list_/promoted_ (it stays evictable).
  void Unlink(uint32_t id);

  std::vector<Where> where_;        // kAbsent iff not evictable
  std::vector<uint32_t> parent_;    // valid while where_ != kAbsent
  std::vector<uint32_t> children_;  // == #evictable ids with parent_ == id
  std::vector<int64_t> seq_;        // release sequence number, while evictable
  IntrusiveList list_;              // kListed ids, ascending seq_
  IndexedMinHeap promoted_;         // kPromoted ids, keyed by seq_
  int64_t next_seq_ = 0;
  uint32_t size_ = 0;  // == #ids with where_ != kAbsent
};

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_EVICTION_LEAF_LRU_POLICY_H_
