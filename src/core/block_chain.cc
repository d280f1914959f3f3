// ComputeBlockChain: keys from BlockHasher, records as views into the prompt
// (see pagekv/block_chain.h).
#include "pagekv/block_chain.h"

#include <algorithm>

#include "core/check.h"

namespace pagekv {

BlockChain ComputeBlockChain(const KVCacheConfig& config,
                             absl::Span<const TokenId> prompt,
                             const BlockHashExtras& extras,
                             int64_t max_blocks) {
  const int32_t bs = config.block_size;
  PAGEKV_CHECK(bs > 0, "ComputeBlockChain needs block_size > 0, got {}", bs);
  int64_t n = static_cast<int64_t>(prompt.size()) / bs;
  if (max_blocks >= 0) n = std::min(n, max_blocks);
  const BlockHasher hasher(bs, config.hash_seed, config.block_hash_fn);
  BlockChain chain;
  chain.root_key = hasher.RootKey(extras);
  std::vector<uint64_t> keys;
  keys.reserve(static_cast<size_t>(n));
  hasher.ExtendKeys(prompt.subspan(0, static_cast<size_t>(n * bs)), extras,
                    &keys);
  chain.blocks.resize(keys.size());
  const absl::Span<const MultimodalItem> items(extras.mm_items);
  size_t item = 0;  // first item that may overlap the current block
  for (size_t i = 0; i < keys.size(); ++i) {
    BlockRecord& r = chain.blocks[i];
    r.key = keys[i];
    r.parent_key = i == 0 ? chain.root_key : keys[i - 1];
    r.first_token = static_cast<int64_t>(i) * bs;
    r.lora_id = extras.lora_id;
    r.cache_salt = extras.cache_salt;
    r.tokens = prompt.subspan(static_cast<size_t>(r.first_token), bs);
    const int64_t end = r.first_token + bs;
    while (item < items.size() &&
           items[item].offset + items[item].length <= r.first_token) {
      ++item;
    }
    size_t last = item;
    while (last < items.size() && items[last].offset < end) ++last;
    r.mm_items = items.subspan(item, last - item);
  }
  return chain;
}

int64_t MatchableBlocks(int64_t num_tokens, int32_t block_size) {
  PAGEKV_CHECK(block_size > 0, "MatchableBlocks needs block_size > 0, got {}",
               block_size);
  return num_tokens <= 0 ? 0 : (num_tokens - 1) / block_size;
}

}  // namespace pagekv
