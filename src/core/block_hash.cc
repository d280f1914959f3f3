#include "pagekv/block_hash.h"

#define XXH_INLINE_ALL
#include "core/check.h"
#include "xxhash.h"

namespace pagekv {
namespace {

// The 64-bit finalizer of MurmurHash3: a bijection with full avalanche.
inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Hash of the multimodal items overlapping block [begin, end): each item's
// content hash with its offset relative to the block, so the same image at
// another position gives another key.
uint64_t MixItems(const std::vector<MultimodalItem>& items, int64_t begin,
                  int64_t end) {
  uint64_t h = 0;
  for (const MultimodalItem& item : items) {
    if (item.offset >= end) break;
    if (item.offset + item.length <= begin) continue;
    h = Mix64(h ^ item.hash) + static_cast<uint64_t>(item.offset - begin);
  }
  return h == 0 ? 0 : Mix64(h);
}

}  // namespace

uint64_t Xxh3BlockHash(const TokenId* tokens, size_t n, uint64_t seed) {
  return XXH3_64bits_withSeed(tokens, n * sizeof(TokenId), seed);
}

uint64_t CombineBlockKey(uint64_t parent, uint64_t block_hash) {
  // Asymmetric in its arguments (the parent is multiplied first), and Mix64
  // is a bijection, so distinct (parent, hash) pairs collide only when the
  // pre-mix words do: probability 2^-64 for independent inputs.
  return Mix64(parent * 0x9E3779B97F4A7C15ULL + block_hash);
}

BlockHasher::BlockHasher(int32_t block_size, uint64_t seed, BlockHashFn hash_fn)
    : block_size_(block_size), seed_(seed), hash_fn_(hash_fn) {
  PAGEKV_CHECK(block_size > 0, "block_size must be positive, got {}",
               block_size);
  PAGEKV_CHECK(hash_fn != nullptr, "a BlockHasher needs a hash function");
}

uint64_t BlockHasher::RootKey(const BlockHashExtras& extras) const {
  return Mix64(Mix64(seed_ ^ 0x7061676b76ULL) ^ Mix64(extras.lora_id + 1) ^
               (Mix64(extras.cache_salt + 2) << 1));
}

void BlockHasher::ExtendKeys(absl::Span<const TokenId> tokens,
                             const BlockHashExtras& extras,
                             std::vector<uint64_t>* keys) const {
  const size_t first = keys->size();
  const size_t full = tokens.size() / static_cast<size_t>(block_size_);
  if (first >= full) return;
  uint64_t parent = first == 0 ? RootKey(extras) : keys->back();
  // The default hash inlined (XXH_INLINE_ALL), not called through a pointer.
  const bool xxh3 = hash_fn_ == &Xxh3BlockHash;
  const size_t bytes = static_cast<size_t>(block_size_) * sizeof(TokenId);
  for (size_t i = first; i < full; ++i) {
    const int64_t begin = static_cast<int64_t>(i) * block_size_;
    uint64_t h = xxh3
                     ? XXH3_64bits_withSeed(tokens.data() + begin, bytes, seed_)
                     : hash_fn_(tokens.data() + begin, block_size_, seed_);
    if (!extras.mm_items.empty()) {
      h ^= MixItems(extras.mm_items, begin, begin + block_size_);
    }
    parent = CombineBlockKey(parent, h);
    keys->push_back(parent);
  }
}

}  // namespace pagekv
