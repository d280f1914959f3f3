// LruPolicy: evicts the least recently released block first.
//
// One intrusive list in release order. Every call is O(1) and allocates
// nothing. Because the manager releases a sequence's blocks tail-first, the
// deepest blocks of a chain sit ahead of their ancestors and go first.
#ifndef PAGEKV_CORE_EVICTION_LRU_POLICY_H_
#define PAGEKV_CORE_EVICTION_LRU_POLICY_H_

#include "core/eviction/intrusive_list.h"
#include "pagekv/eviction_policy.h"

namespace pagekv::internal {

class LruPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "lru"; }
  void Init(uint32_t num_blocks) override { list_.Init(num_blocks); }
  void OnEvictable(BlockId block, const EvictionHints&) override {
    list_.PushBack(block.value());
  }
  void OnReused(BlockId block) override { list_.Remove(block.value()); }
  BlockId PickVictim(int64_t) override { return BlockId(list_.PopFront()); }
  uint32_t size() const override { return list_.size(); }
  absl::Status Verify() const override { return list_.Verify(); }
  uint64_t BytesPerBlock() const override { return IntrusiveList::kBytesPerId; }

 private:
  IntrusiveList list_;
};

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_EVICTION_LRU_POLICY_H_
