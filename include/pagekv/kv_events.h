// KV events: what a manager reports about its cache content, in the shape
// cluster routers consume (vLLM's BlockStored / BlockRemoved /
// AllBlocksCleared). Buffered by the manager, drained once per step.
//
// Thread-safety: plain value types; const access from many threads is safe.
#ifndef PAGEKV_KV_EVENTS_H_
#define PAGEKV_KV_EVENTS_H_

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "pagekv/types.h"

namespace pagekv {

// Where a block is cached: the GPU pool or the host tier (vLLM's "medium").
enum class Medium : uint8_t { kGpu, kCpu };

// "GPU" or "CPU".
inline const char* MediumName(Medium m) {
  return m == Medium::kCpu ? "CPU" : "GPU";
}

// Consecutive blocks of one chain became cached.
struct BlockStoredEvent {
  std::vector<uint64_t> block_keys;    // in chain order
  std::optional<uint64_t> parent_key;  // key of the block before the first
  std::vector<TokenId> token_ids;      // block_size per key
  int32_t block_size = 0;
  uint64_t lora_id = 0;
  uint64_t cache_salt = 0;
  GroupId group;
  Medium medium = Medium::kGpu;
};

// Blocks were evicted or dropped from the cache.
struct BlockRemovedEvent {
  std::vector<uint64_t> block_keys;
  GroupId group;
  Medium medium = Medium::kGpu;
};

// Every cached block was dropped (Reset).
struct AllBlocksClearedEvent {};

using KVEvent =
    std::variant<BlockStoredEvent, BlockRemovedEvent, AllBlocksClearedEvent>;

}  // namespace pagekv

#endif  // PAGEKV_KV_EVENTS_H_
