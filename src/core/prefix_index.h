// PrefixIndex: the prefix-hash tree of one KV-cache group.
//
// Maps block keys to the physical blocks that hold them and remembers, per
// indexed block, its parent block and its tokens, so every hit is verified.
//
// Layout (all flat, sized once for the pool's num_blocks, nothing allocated
// after construction):
//
//   table_    open-addressing hash table of 8-byte {tag, block} slots,
//             capacity a power of two >= 2 * num_blocks (at most 2^32),
//             linear probing, backward-shift deletion (no tombstones, so
//             probe lengths stay short under churn). tag is the top 32 bits
//             of key * kSlotMul; a key's home slot is the tag's top
//             log2(capacity) bits, so deletion recomputes homes from tags
//             alone. Block 0 (the null block) marks an empty slot. A tag
//             match is confirmed against meta_[block].key, which the caller
//             (Matches) reads anyway.
//   meta_[b]  32 bytes, two per cache line: b's key, its parent's key, its
//             parent block and that block's generation when b was indexed,
//             b's own generation (bumped every time b is indexed or
//             erased), and whether b is in table_
//   tokens_[b * block_size ...]         b's token ids, for verification
//
//       key ──hash──► table_ slot ──► block b ──► meta_[b].parent ──► ... root
//
// A lookup of block i of a query is a hit only if the stored block's tokens
// equal the query's and its parent is the block the query matched at i-1
// (same id and same generation: a parent that was evicted and reused for
// other content has a new generation). Hence a hash collision can cost a
// miss but never hands out another prefix's KV. A first block (i == 0) has
// the null block as parent and is checked by tokens and root key.
//
// Costs: at a large index every step is a cache (and TLB) miss, so the
// layout minimises lines touched. Find is one probe sequence (expected < 2
// slots at load <= 0.5, one line) plus the meta_ line; Matches adds the
// parent's meta_ line and the tokens' line(s). Insert and Erase touch the
// table line(s), b's meta_ line (Insert also the parent's) and, for Insert,
// the tokens. Prefetch / PrefetchBlock let a walk or the pool issue those
// misses early. Memory: 16 bytes of table per block (two 8-byte slots),
// 32 bytes of metadata and 4 * block_size bytes of tokens.
#ifndef PAGEKV_CORE_PREFIX_INDEX_H_
#define PAGEKV_CORE_PREFIX_INDEX_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "pagekv/huge_page_allocator.h"
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
  void Prefetch(uint64_t key) const {
    __builtin_prefetch(&table_[TagOf(key) >> tag_shift_]);
  }
  // Starts loading `block`'s metadata (and, with `tokens`, its tokens).
  void PrefetchBlock(BlockId block, bool tokens) const {
    __builtin_prefetch(&meta_[block.value()]);
    if (tokens) {
      __builtin_prefetch(tokens_.data() +
                         static_cast<size_t>(block.value()) * block_size_);
    }
  }
  // The block in `key`'s table slot run whose tag matches, unconfirmed (no
  // metadata load): a prefetch target, or kNullBlock.
  BlockId Peek(uint64_t key) const {
    const uint32_t tag = TagOf(key);
    for (size_t i = tag >> tag_shift_;; i = (i + 1) & mask_) {
      const Slot& slot = table_[i];
      if (slot.block == 0 || slot.tag == tag) return BlockId(slot.block);
    }
  }

  // Indexes `block` under `key`. Returns false (changing nothing) if the key
  // is already indexed: the first block stays the canonical copy.
  // REQUIRES: block is not indexed; tokens.size() == block_size.
  bool Insert(BlockId block, uint64_t key, BlockId parent, uint64_t parent_key,
              absl::Span<const TokenId> tokens);

  // Removes `block` from the index. REQUIRES: contains(block).
  void Erase(BlockId block);

  // Removes every block.
  void Clear();

  bool contains(BlockId block) const {
    return meta_[block.value()].indexed != 0;
  }
  uint64_t key(BlockId block) const { return meta_[block.value()].key; }
  uint64_t parent_key(BlockId block) const {
    return meta_[block.value()].parent_key;
  }
  absl::Span<const TokenId> tokens(BlockId block) const;
  uint32_t size() const { return size_; }
  // Bytes of index memory per pool block (table share + metadata + tokens).
  static uint64_t BytesPerBlock(int32_t block_size);
  // Bytes the constructor allocates for `num_blocks` ids: the probe table
  // (a power of two >= 2 * num_blocks slots), metadata and tokens.
  static uint64_t MemoryBytes(uint32_t num_blocks, int32_t block_size);

  // Every indexed block is found under its key exactly once, the table holds
  // nothing else, and every parent still holding its generation is indexed.
  absl::Status Verify() const;

 private:
  struct Slot {
    uint32_t tag;    // TagOf(key of block)
    uint32_t block;  // 0 = empty
  };
  static_assert(sizeof(Slot) == 8);
  // One block's metadata. parent_gen is meta_[parent].gen when indexed;
  // indexed == 1 iff the block is in table_ (then exactly once).
  struct alignas(32) BlockMeta {
    uint64_t key = 0;
    uint64_t parent_key = 0;
    uint32_t parent = 0;
    uint32_t parent_gen = 0;
    uint32_t gen = 0;
    uint32_t indexed = 0;
  };
  static_assert(sizeof(BlockMeta) == 32);
  static uint32_t TagOf(uint64_t key) {
    return static_cast<uint32_t>((key * kSlotMul) >> 32);
  }
  size_t HomeOf(uint32_t tag) const { return tag >> tag_shift_; }
  static constexpr uint64_t kSlotMul = 0x9E3779B97F4A7C15ULL;

  int32_t block_size_;
  // The three big arrays come from HugePageAllocator (huge pages where the
  // kernel grants them): each probe is a random access into them.
  std::vector<Slot, HugePageAllocator<Slot>> table_;
  uint32_t mask_;
  int tag_shift_;      // 32 - log2(capacity)
  uint32_t size_ = 0;  // number of occupied slots == number of indexed blocks

  std::vector<BlockMeta, HugePageAllocator<BlockMeta>> meta_;
  std::vector<TokenId, HugePageAllocator<TokenId>> tokens_;
};

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_PREFIX_INDEX_H_
