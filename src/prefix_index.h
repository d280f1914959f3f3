// PrefixIndex: the prefix-hash tree of one KV-cache group.
//
// Maps block keys to the physical blocks that hold them and remembers, per
// indexed block, its parent block and its tokens, so every hit is verified.
//
// Layout (all flat, sized once for the pool's num_blocks, nothing allocated
// after construction):
//
//   table_    open-addressing hash table of {key, block} slots, capacity a
//             power of two >= 2 * num_blocks, linear probing, backward-shift
//             deletion (no tombstones, so probe lengths stay short under
//             churn). Block 0 (the null block) marks an empty slot.
//   key_[b], parent_key_[b]             b's key and its parent's key
//   parent_[b], parent_gen_[b]          b's parent block and that block's
//                                       generation when b was indexed
//   gen_[b]                             bumped every time b is (re)indexed
//   tokens_[b * block_size ...]         b's token ids, for verification
//   indexed_[b]                         1 iff b is in table_
//
//       key ──hash──► table_ slot ──► block b ──► parent_[b] ──► ... ──► root
//
// A lookup of block i of a query is a hit only if the stored block's tokens
// equal the query's and its parent is the block the query matched at i-1
// (same id and same generation: a parent that was evicted and reused for
// other content has a new generation). Hence a hash collision can cost a
// miss but never hands out another prefix's KV. A first block (i == 0) has
// the null block as parent and is checked by tokens and root key.
//
// Costs: Find is one probe sequence (expected < 2 slots at load <= 0.5) plus
// a block_size-token compare; Prefetch lets a walk issue the next probes'
// cache misses early. Memory: 16 bytes per table slot (2 per block) plus
// 4 * block_size + 40 bytes of metadata per block.
#ifndef PAGEKV_SRC_PREFIX_INDEX_H_
#define PAGEKV_SRC_PREFIX_INDEX_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "pagekv/types.h"

namespace pagekv::internal {

class PrefixIndex {
 public:
  PrefixIndex(uint32_t num_blocks, int32_t block_size);

  // The indexed block with `key`, or kNullBlock.
  BlockId Find(uint64_t key) const;

  // Whether `block`, found for a query block, matches it: same tokens, same
  // parent key, and (when `parent` is not null) same parent block and
  // generation. With `parent` null and parent_key of a non-first block, only
  // tokens and parent key are checked (sliding-window matching, whose
  // earlier blocks may be gone).
  bool Matches(BlockId block, BlockId parent, uint64_t parent_key,
               absl::Span<const TokenId> tokens) const;

  // Starts loading the table slot for `key` into cache.
  void Prefetch(uint64_t key) const;

  // Indexes `block` under `key`. Returns false (changing nothing) if the key
  // is already indexed: the first block stays the canonical copy.
  // REQUIRES: block is not indexed; tokens.size() == block_size.
  bool Insert(BlockId block, uint64_t key, BlockId parent, uint64_t parent_key,
              absl::Span<const TokenId> tokens);

  // Removes `block` from the index. REQUIRES: contains(block).
  void Erase(BlockId block);

  // Removes every block.
  void Clear();

  bool contains(BlockId block) const { return indexed_[block.value()] != 0; }
  uint64_t key(BlockId block) const { return key_[block.value()]; }
  uint64_t parent_key(BlockId block) const {
    return parent_key_[block.value()];
  }
  absl::Span<const TokenId> tokens(BlockId block) const;
  uint32_t size() const { return size_; }
  // Bytes of index memory per pool block (table share + metadata + tokens).
  static uint64_t BytesPerBlock(int32_t block_size);

  // Every indexed block is found under its key exactly once, the table holds
  // nothing else, and every parent still holding its generation is indexed.
  absl::Status Verify() const;

 private:
  struct Slot {
    uint64_t key;
    uint32_t block;  // 0 = empty
  };
  size_t SlotOf(uint64_t key) const { return (key * kSlotMul) >> shift_; }
  static constexpr uint64_t kSlotMul = 0x9E3779B97F4A7C15ULL;

  int32_t block_size_;
  std::vector<Slot> table_;
  uint32_t mask_;
  int shift_;          // 64 - log2(capacity)
  uint32_t size_ = 0;  // number of occupied slots == number of indexed blocks

  std::vector<uint64_t> key_;
  std::vector<uint64_t> parent_key_;
  std::vector<uint32_t> parent_;
  std::vector<uint32_t> parent_gen_;
  std::vector<uint32_t> gen_;
  std::vector<uint8_t> indexed_;
  std::vector<TokenId> tokens_;
};

}  // namespace pagekv::internal

#endif  // PAGEKV_SRC_PREFIX_INDEX_H_
