// Block keys: how a full block of tokens is named in the prefix cache.
//
// A block's key chains its parent's, so equal keys mean equal prefixes:
//
// clang-format off
//   root    = Mix(seed, lora_id, cache_salt)
//   h_i     = hash_fn(tokens of block i, seed) ^ MixItems(multimodal items in block i)
//   key_i   = Combine(key_{i-1}, h_i),   key_{-1} = root
// clang-format on
//
// The expensive part, h_i, depends only on block i, so the blocks of a prompt
// hash independently (in parallel on a superscalar core); the chain is one
// cheap Combine per block. The LoRA id and the per-tenant cache salt enter the
// root, so every key of the chain carries them: requests with different
// salts never share a block.
//
// Keys are 64-bit and fast (XXH3), not cryptographic: the prefix index
// verifies every hit against the stored tokens and parent, so a collision
// costs a miss, never wrong KV. Keys are reproducible across processes for a
// given seed, which is what cluster routers consuming KV events rely on.
#ifndef PAGEKV_BLOCK_HASH_H_
#define PAGEKV_BLOCK_HASH_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "pagekv/types.h"

namespace pagekv {

// A multimodal input (image, audio clip) occupying prompt positions
// [offset, offset + length), identified by a hash of its content.
struct MultimodalItem {
  uint64_t hash = 0;
  int64_t offset = 0;
  int64_t length = 0;
};

// Everything besides the tokens that decides whether two blocks hold the
// same KV.
struct BlockHashExtras {
  uint64_t lora_id = 0;     // 0 = base model
  uint64_t cache_salt = 0;  // 0 = no salt
  // Sorted by offset.
  std::vector<MultimodalItem> mm_items;
};

// Hashes `n` token ids with `seed`. Replaceable for tests (e.g. a hasher that
// collides on purpose).
using BlockHashFn = uint64_t (*)(const TokenId* tokens, size_t n,
                                 uint64_t seed);

// The default block hash: XXH3-64 of the token ids' bytes.
uint64_t Xxh3BlockHash(const TokenId* tokens, size_t n, uint64_t seed);

// The cheap chaining step: key of a block with parent key `parent` and
// content hash `block_hash`.
uint64_t CombineBlockKey(uint64_t parent, uint64_t block_hash);

// Computes chained block keys for token sequences.
// Thread-safety: const methods are safe to call concurrently.
class BlockHasher {
 public:
  // REQUIRES: block_size > 0.
  BlockHasher(int32_t block_size, uint64_t seed,
              BlockHashFn hash_fn = &Xxh3BlockHash);

  // The key before the first block for `extras` (the chain's root).
  uint64_t RootKey(const BlockHashExtras& extras) const;

  // Appends to *keys the keys of the full blocks of `tokens` beyond the
  // keys->size() already there. `tokens` is the whole sequence from its
  // first token; a partial last block gets no key.
  void ExtendKeys(absl::Span<const TokenId> tokens,
                  const BlockHashExtras& extras,
                  std::vector<uint64_t>* keys) const;

  int32_t block_size() const { return block_size_; }

 private:
  int32_t block_size_;
  uint64_t seed_;
  BlockHashFn hash_fn_;
};

}  // namespace pagekv

#endif  // PAGEKV_BLOCK_HASH_H_
