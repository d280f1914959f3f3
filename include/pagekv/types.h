// Strong id types shared by every pagekv component.
//
// Thread-safety: plain values; safe to copy and read from any thread.
#ifndef PAGEKV_TYPES_H_
#define PAGEKV_TYPES_H_

#include <compare>
#include <cstdint>

namespace pagekv {

// A value of type Rep that only compares with ids of the same Tag, so a block
// id can never be passed where a sequence id is expected.
template <typename Tag, typename Rep>
class StrongId {
 public:
  using ValueType = Rep;
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep value) : value_(value) {}
  constexpr Rep value() const { return value_; }
  friend constexpr auto operator<=>(StrongId, StrongId) = default;
  template <typename H>
  friend H AbslHashValue(H h, StrongId id) {
    return H::combine(std::move(h), id.value_);
  }

 private:
  Rep value_ = 0;
};

// Index of a physical KV block (page) in the pool. 32 bits: pools have at
// most 2^32 - 1 blocks.
using BlockId = StrongId<struct BlockIdTag, uint32_t>;

// Block 0 is the null block: it fills table slots that hold nothing (out of
// the sliding window, padding). It is never allocated, freed or cached.
inline constexpr BlockId kNullBlock{0};

// Handle of a live sequence, issued by KVCacheManager. Stale handles (of a
// released sequence) are detected and rejected.
using SeqId = StrongId<struct SeqIdTag, uint64_t>;

// Index of a KV-cache group (full attention, sliding window) in a manager.
using GroupId = StrongId<struct GroupIdTag, uint32_t>;

// A token id as the tokenizer produced it.
using TokenId = int32_t;

}  // namespace pagekv

#endif  // PAGEKV_TYPES_H_
