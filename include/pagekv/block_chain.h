// Block chains: a prompt's block keys together with the verification record
// of every block, as a lower cache tier (host memory, a remote store) needs
// them to name a block and to check a loaded one.
//
// The keys are the ones KVCacheManager computes for the same configuration
// (block_size, hash_seed, block_hash_fn) and the same BlockHashExtras, so a
// block stored under chain.blocks[i].key is the block the manager indexes
// under that key. A key alone is not proof: keys are fast 64-bit hashes, so
// a tier compares the stored record (tokens, parent key, LoRA, salt,
// multimodal items) with the query's before it hands KV back, exactly as the
// prefix index verifies a GPU hit. A collision then costs a miss, never
// wrong KV.
//
// An engine that finds a GPU hit of `hit.num_blocks` blocks (MatchPrefix)
// asks the lower tiers for blocks [hit.num_blocks, MatchableBlocks(...)) of
// the chain: the last prompt token is always computed, so no tier is asked
// for the block that holds it when it ends a block.
#ifndef PAGEKV_BLOCK_CHAIN_H_
#define PAGEKV_BLOCK_CHAIN_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "pagekv/block_hash.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/types.h"

namespace pagekv {

// Everything that identifies one full block of a prompt. The spans point
// into the prompt and the extras the chain was computed from: they must
// outlive the record.
struct BlockRecord {
  uint64_t key = 0;
  // The key before this block's: the chain's root key for block 0 (the root
  // carries the seed, the LoRA id and the cache salt).
  uint64_t parent_key = 0;
  // Position of the block's first token in the prompt (index * block_size).
  int64_t first_token = 0;
  uint64_t lora_id = 0;
  uint64_t cache_salt = 0;
  absl::Span<const TokenId> tokens;  // exactly block_size ids
  // The multimodal items overlapping the block (absolute offsets), in the
  // order of the extras.
  absl::Span<const MultimodalItem> mm_items;
};

struct BlockChain {
  uint64_t root_key = 0;
  std::vector<BlockRecord> blocks;  // one per full block, in prompt order
};

// The chain of `prompt`'s full blocks (a partial last block gets no record),
// keyed as a KVCacheManager created with `config` keys them. At most
// `max_blocks` blocks when max_blocks >= 0.
// REQUIRES: config.block_size > 0; extras.mm_items sorted by offset.
BlockChain ComputeBlockChain(const KVCacheConfig& config,
                             absl::Span<const TokenId> prompt,
                             const BlockHashExtras& extras,
                             int64_t max_blocks = -1);

// Blocks of a `num_tokens`-token prompt that a prefix hit may cover in any
// tier: (num_tokens - 1) / block_size, 0 for an empty prompt.
// REQUIRES: block_size > 0.
int64_t MatchableBlocks(int64_t num_tokens, int32_t block_size);

}  // namespace pagekv

#endif  // PAGEKV_BLOCK_CHAIN_H_
