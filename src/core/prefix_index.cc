#include "core/prefix_index.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/check.h"
#include "fmt/format.h"

namespace pagekv::internal {
namespace {

// Tags are 32 bits, so at most 2^32 slots (still > num_blocks).
uint64_t TableSlots(uint32_t num_blocks) {
  return std::min<uint64_t>(uint64_t{1} << 32, std::bit_ceil(std::max<uint64_t>(
                                                   16, 2ull * num_blocks)));
}

}  // namespace

PrefixIndex::PrefixIndex(uint32_t num_blocks, int32_t block_size)
    : block_size_(block_size),
      meta_(num_blocks),
      tokens_(static_cast<size_t>(num_blocks) * block_size, 0) {
  const uint64_t capacity = TableSlots(num_blocks);
  table_.assign(capacity, Slot{0, 0});
  mask_ = static_cast<uint32_t>(capacity - 1);
  tag_shift_ = 32 - std::countr_zero(capacity);
}

uint64_t PrefixIndex::MemoryBytes(uint32_t num_blocks, int32_t block_size) {
  return TableSlots(num_blocks) * sizeof(Slot) +
         uint64_t{num_blocks} *
             (sizeof(BlockMeta) + sizeof(TokenId) * uint64_t(block_size));
}

uint64_t PrefixIndex::BytesPerBlock(int32_t block_size) {
  return 2 * sizeof(Slot) + sizeof(BlockMeta) +
         sizeof(TokenId) * static_cast<uint64_t>(block_size);
}

BlockId PrefixIndex::Find(uint64_t key) const {
  const uint32_t tag = TagOf(key);
  for (size_t i = HomeOf(tag);; i = (i + 1) & mask_) {
    const Slot& slot = table_[i];
    if (slot.block == 0) return kNullBlock;
    if (slot.tag == tag && meta_[slot.block].key == key) {
      return BlockId(slot.block);
    }
  }
}

absl::Span<const TokenId> PrefixIndex::tokens(BlockId block) const {
  return absl::MakeConstSpan(
      tokens_.data() + static_cast<size_t>(block.value()) * block_size_,
      block_size_);
}

bool PrefixIndex::Matches(BlockId block, BlockId parent, uint64_t parent_key,
                          absl::Span<const TokenId> query) const {
  const BlockMeta& m = meta_[block.value()];
  if (m.parent_key != parent_key) return false;
  if (parent != kNullBlock) {
    const BlockMeta& p = meta_[parent.value()];
    if (m.parent != parent.value() || m.parent_gen != p.gen || !p.indexed) {
      return false;
    }
  }
  return std::memcmp(tokens(block).data(), query.data(),
                     sizeof(TokenId) * block_size_) == 0;
}

bool PrefixIndex::Insert(BlockId block, uint64_t key, BlockId parent,
                         uint64_t parent_key,
                         absl::Span<const TokenId> tokens) {
  const uint32_t b = block.value();
  BlockMeta& m = meta_[b];
  PAGEKV_CHECK(b != 0 && !m.indexed,
               "block {} is the null block or already indexed", b);
  PAGEKV_DCHECK(tokens.size() == static_cast<size_t>(block_size_),
                "indexing {} tokens into a block of {}", tokens.size(),
                block_size_);
  const uint32_t tag = TagOf(key);
  size_t i = HomeOf(tag);
  for (; table_[i].block != 0; i = (i + 1) & mask_) {
    if (table_[i].tag == tag && meta_[table_[i].block].key == key) {
      return false;
    }
  }
  table_[i] = Slot{tag, b};
  ++size_;
  m.key = key;
  m.parent_key = parent_key;
  m.parent = parent.value();
  m.parent_gen = meta_[parent.value()].gen;
  ++m.gen;
  m.indexed = 1;
  std::memcpy(tokens_.data() + static_cast<size_t>(b) * block_size_,
              tokens.data(), sizeof(TokenId) * block_size_);
  return true;
}

void PrefixIndex::Erase(BlockId block) {
  const uint32_t b = block.value();
  BlockMeta& m = meta_[b];
  PAGEKV_CHECK(m.indexed, "erasing block {}, which is not indexed", b);
  size_t i = HomeOf(TagOf(m.key));
  while (table_[i].block != b) i = (i + 1) & mask_;
  // Backward-shift deletion: pull later entries of the probe run into the
  // hole when their home slot is at or before it.
  for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
    if (table_[j].block == 0) break;
    size_t home = HomeOf(table_[j].tag);
    // Distance from home to j versus from home to the hole i (mod capacity).
    if (((j - home) & mask_) >= ((j - i) & mask_)) {
      table_[i] = table_[j];
      i = j;
    }
  }
  table_[i] = Slot{0, 0};
  --size_;
  m.indexed = 0;
  ++m.gen;  // children that name this generation no longer verify
}

void PrefixIndex::Clear() {
  std::fill(table_.begin(), table_.end(), Slot{0, 0});
  for (BlockMeta& m : meta_) {
    if (m.indexed) {
      m.indexed = 0;
      ++m.gen;
    }
  }
  size_ = 0;
}

absl::Status PrefixIndex::Verify() const {
  uint32_t occupied = 0;
  for (size_t i = 0; i < table_.size(); ++i) {
    const Slot& slot = table_[i];
    if (slot.block == 0) continue;
    ++occupied;
    if (slot.block >= meta_.size() || !meta_[slot.block].indexed ||
        TagOf(meta_[slot.block].key) != slot.tag) {
      return absl::InternalError(fmt::format(
          "index slot {} names block {} which is not indexed under tag {:#x}",
          i, slot.block, slot.tag));
    }
  }
  uint32_t indexed = 0;
  for (size_t b = 0; b < meta_.size(); ++b) {
    const BlockMeta& m = meta_[b];
    if (!m.indexed) continue;
    ++indexed;
    if (Find(m.key) != BlockId(static_cast<uint32_t>(b))) {
      return absl::InternalError(fmt::format(
          "indexed block {} is not found under its key {:#x}", b, m.key));
    }
    uint32_t p = m.parent;
    if (p != 0 && m.parent_gen == meta_[p].gen && !meta_[p].indexed) {
      return absl::InternalError(fmt::format(
          "block {} names parent {} at its current generation, but the "
          "parent is not indexed",
          b, p));
    }
  }
  if (occupied != size_ || indexed != size_) {
    return absl::InternalError(
        fmt::format("index size {} but {} slots occupied and {} blocks marked",
                    size_, occupied, indexed));
  }
  return absl::OkStatus();
}

}  // namespace pagekv::internal
