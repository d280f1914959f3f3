#include "prefix_index.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "check.h"
#include "fmt/format.h"

namespace pagekv::internal {

PrefixIndex::PrefixIndex(uint32_t num_blocks, int32_t block_size)
    : block_size_(block_size),
      key_(num_blocks, 0),
      parent_key_(num_blocks, 0),
      parent_(num_blocks, 0),
      parent_gen_(num_blocks, 0),
      gen_(num_blocks, 0),
      indexed_(num_blocks, 0),
      tokens_(static_cast<size_t>(num_blocks) * block_size, 0) {
  uint64_t capacity = std::bit_ceil(std::max<uint64_t>(16, 2ull * num_blocks));
  table_.assign(capacity, Slot{0, 0});
  mask_ = static_cast<uint32_t>(capacity - 1);
  shift_ = 64 - std::countr_zero(capacity);
}

uint64_t PrefixIndex::BytesPerBlock(int32_t block_size) {
  return 2 * sizeof(Slot) + 2 * sizeof(uint64_t) + 3 * sizeof(uint32_t) + 1 +
         sizeof(TokenId) * static_cast<uint64_t>(block_size);
}

BlockId PrefixIndex::Find(uint64_t key) const {
  for (size_t i = SlotOf(key);; i = (i + 1) & mask_) {
    const Slot& slot = table_[i];
    if (slot.block == 0) return kNullBlock;
    if (slot.key == key) return BlockId(slot.block);
  }
}

void PrefixIndex::Prefetch(uint64_t key) const {
  __builtin_prefetch(&table_[SlotOf(key)]);
}

absl::Span<const TokenId> PrefixIndex::tokens(BlockId block) const {
  return absl::MakeConstSpan(
      tokens_.data() + static_cast<size_t>(block.value()) * block_size_,
      block_size_);
}

bool PrefixIndex::Matches(BlockId block, BlockId parent, uint64_t parent_key,
                          absl::Span<const TokenId> query) const {
  const uint32_t b = block.value();
  if (parent_key_[b] != parent_key) return false;
  if (parent != kNullBlock &&
      (parent_[b] != parent.value() || parent_gen_[b] != gen_[parent.value()] ||
       !indexed_[parent.value()])) {
    return false;
  }
  return std::memcmp(tokens(block).data(), query.data(),
                     sizeof(TokenId) * block_size_) == 0;
}

bool PrefixIndex::Insert(BlockId block, uint64_t key, BlockId parent,
                         uint64_t parent_key,
                         absl::Span<const TokenId> tokens) {
  const uint32_t b = block.value();
  PAGEKV_CHECK(b != 0 && !indexed_[b],
               "block {} is the null block or already indexed", b);
  PAGEKV_DCHECK(tokens.size() == static_cast<size_t>(block_size_),
                "indexing {} tokens into a block of {}", tokens.size(),
                block_size_);
  size_t i = SlotOf(key);
  for (; table_[i].block != 0; i = (i + 1) & mask_) {
    if (table_[i].key == key) return false;
  }
  table_[i] = Slot{key, b};
  ++size_;
  key_[b] = key;
  parent_key_[b] = parent_key;
  parent_[b] = parent.value();
  parent_gen_[b] = gen_[parent.value()];
  ++gen_[b];
  indexed_[b] = 1;
  std::memcpy(tokens_.data() + static_cast<size_t>(b) * block_size_,
              tokens.data(), sizeof(TokenId) * block_size_);
  return true;
}

void PrefixIndex::Erase(BlockId block) {
  const uint32_t b = block.value();
  PAGEKV_CHECK(indexed_[b], "erasing block {}, which is not indexed", b);
  size_t i = SlotOf(key_[b]);
  while (table_[i].block != b) i = (i + 1) & mask_;
  // Backward-shift deletion: pull later entries of the probe run into the
  // hole when their home slot is at or before it.
  for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
    if (table_[j].block == 0) break;
    size_t home = SlotOf(table_[j].key);
    // Distance from home to j versus from home to the hole i (mod capacity).
    if (((j - home) & mask_) >= ((j - i) & mask_)) {
      table_[i] = table_[j];
      i = j;
    }
  }
  table_[i] = Slot{0, 0};
  --size_;
  indexed_[b] = 0;
  ++gen_[b];  // children that name this generation no longer verify
}

void PrefixIndex::Clear() {
  std::fill(table_.begin(), table_.end(), Slot{0, 0});
  for (size_t b = 0; b < indexed_.size(); ++b) {
    if (indexed_[b]) {
      indexed_[b] = 0;
      ++gen_[b];
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
    if (slot.block >= indexed_.size() || !indexed_[slot.block] ||
        key_[slot.block] != slot.key) {
      return absl::InternalError(fmt::format(
          "index slot {} names block {} which is not indexed under key {:#x}",
          i, slot.block, slot.key));
    }
  }
  uint32_t indexed = 0;
  for (size_t b = 0; b < indexed_.size(); ++b) {
    if (!indexed_[b]) continue;
    ++indexed;
    if (Find(key_[b]) != BlockId(static_cast<uint32_t>(b))) {
      return absl::InternalError(fmt::format(
          "indexed block {} is not found under its key {:#x}", b, key_[b]));
    }
    uint32_t p = parent_[b];
    if (p != 0 && parent_gen_[b] == gen_[p] && !indexed_[p]) {
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
