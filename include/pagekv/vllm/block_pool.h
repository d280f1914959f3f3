// VllmBlockPool: a block pool with vLLM v1's BlockPool semantics.
//
// vLLM keeps every free block, cached or not, in one FIFO queue: a fresh pool
// hands out ids 1, 2, 3, ... (block 0 is the null block, never free), freed
// blocks join the tail in the order the caller gives them, and a cached block
// stays in the prefix-cache map while it waits in the queue until it is
// allocated again (then it is evicted) or touched by a hit (then it leaves
// the queue). pagekv's own pool keeps free and cached blocks apart; this one
// reproduces vLLM's order exactly, so block ids match vLLM call for call.
//
// Layout (flat arrays indexed by block id, sized once):
//
//   prev_/next_   the free queue as a doubly linked list over block ids;
//                 index num_blocks is its sentinel (head and tail), -1 = not
//                 in the queue. With reuse_uncached_first a second list,
//                 sentinel num_blocks + 1, holds the free blocks that are
//                 not cached; they are handed out first
//   ref_cnt_      references held by requests (the null block's count is
//                 kept but, as in vLLM, means nothing)
//   meta_         per block, one struct: whether it is cached, its match
//                 key and KV-cache group, the key of the block before it
//                 (for verification) and the next block cached under the
//                 same key
//   tokens_       its block_size token ids, for verification
//   vkey_*        the vLLM key (the request's block_hashes entry) it was
//                 cached under, reported in events and block_hash: up to
//                 32 bytes (a SHA-256) inline, longer ones in vkey_long_
//
// The map goes from (key, group) to the oldest block cached under it; the
// younger ones follow in a chain through meta_ (vLLM does not deduplicate:
// recomputed blocks are cached again). A lookup
// returns the oldest block whose tokens and parent key equal the query's, so
// a 64-bit key collision costs a miss, never another prefix's KV.
//
// Option reuse_uncached_first (off = vLLM exactly): a free block that holds
// no cached content is handed out before any cached one is evicted, as
// pagekv's own pool does. vLLM instead takes the queue's head even when an
// empty block waits further back, so it evicts cached blocks it need not;
// the option keeps the cached blocks in vLLM's LRU order (tail first) and
// gives pagekv's hit rates, at the price of block ids that differ from
// vLLM's.
//
// Thread-safety: none; call from one thread (the scheduler's).
#ifndef PAGEKV_VLLM_BLOCK_POOL_H_
#define PAGEKV_VLLM_BLOCK_POOL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "pagekv/huge_page_allocator.h"
#include "pagekv/types.h"
#include "pagekv/vllm/key_table.h"

namespace pagekv::vllm {

// One KV-cache event, in vLLM's terms (vllm/distributed/kv_events.py).
struct VllmEvent {
  enum class Type { kBlockStored, kBlockRemoved, kAllBlocksCleared };
  Type type = Type::kBlockStored;
  int32_t group = -1;
  // vLLM keys of the stored (non-null) or removed blocks.
  std::vector<std::string> block_hashes;
  // BlockStored only: the key of the block before the first cached one.
  std::optional<std::string> parent_block_hash;
  // BlockStored only: the tokens of blocks [first, end), nulls included.
  std::vector<TokenId> token_ids;
  int32_t block_size = 0;
  // BlockStored only: first token index of each stored block (for the extra
  // keys the Python layer adds).
  std::vector<int64_t> block_starts;
  // BlockStored only: the CacheSource's owner (the request's handle).
  int32_t owner = -1;
};

// A list of byte strings stored end to end (no allocation per entry):
// entry first_kept() + i is bytes[ends[i-1], ends[i]). The entries before
// first_kept() are counted but not stored (a request's keys of blocks it
// found cached, which it never caches again).
class KeyList {
 public:
  size_t size() const { return not_kept_ + ends_.size(); }
  size_t first_kept() const { return not_kept_; }
  // REQUIRES: first_kept() <= i < size().
  absl::string_view operator[](size_t i) const {
    i -= not_kept_;
    const uint32_t begin = i == 0 ? 0 : ends_[i - 1];
    return absl::string_view(bytes_).substr(begin, ends_[i] - begin);
  }
  void Append(absl::string_view key) {
    bytes_.append(key.data(), key.size());
    ends_.push_back(static_cast<uint32_t>(bytes_.size()));
  }
  // Empties the list, then counts `not_kept` entries without storing them.
  void Reset(size_t not_kept = 0) {
    bytes_.clear();
    ends_.clear();
    not_kept_ = not_kept;
  }

 private:
  size_t not_kept_ = 0;
  std::string bytes_;
  std::vector<uint32_t> ends_;
};

// What a caller caches a run of blocks under: the request's tokens, its
// match keys (one per full block), the root key (parent of block 0) and the
// vLLM keys (the request's block_hashes).
struct CacheSource {
  absl::Span<const TokenId> tokens;
  absl::Span<const uint64_t> keys;
  uint64_t root_key = 0;
  const KeyList* vllm_keys = nullptr;
  int32_t owner = -1;  // copied into the BlockStored event
};

class VllmBlockPool {
 public:
  // REQUIRES: num_blocks >= 1, block_size >= 1.
  VllmBlockPool(int32_t num_blocks, int32_t block_size, bool enable_caching,
                bool enable_events, bool reuse_uncached_first = false);

  // The bytes a pool of these dimensions allocates up front (its events
  // and long vLLM keys grow with use and are not counted).
  static uint64_t MemoryFootprint(int32_t num_blocks, int32_t block_size,
                                  bool enable_caching);

  int32_t num_blocks() const { return num_blocks_; }
  int32_t block_size() const { return block_size_; }
  // Blocks in the free queue (the null block never is).
  int32_t NumFreeBlocks() const { return num_free_; }
  // 1 - free / (num_blocks - 1), 0 for a pool of only the null block.
  double Usage() const;

  int32_t RefCnt(int32_t block) const { return ref_cnt_[block]; }
  bool IsCached(int32_t block) const { return meta_[block].cached != 0; }
  // The vLLM key and group of a cached block. REQUIRES: IsCached(block).
  std::string VllmKey(int32_t block) const;
  int32_t CachedGroup(int32_t block) const { return meta_[block].group; }
  // The free blocks in the order they will be handed out.
  std::vector<int32_t> FreeQueue() const;

  // Pops `n` blocks from the front, evicting cached ones, each with ref 1.
  // Returns InvalidArgument (and changes nothing) if fewer are free.
  absl::Status GetNewBlocks(int32_t n, std::vector<int32_t>* out);
  // Adds a reference to each block, taking free ones out of the queue.
  void Touch(absl::Span<const int32_t> blocks);
  // Drops a reference from each block; those reaching 0 (not the null
  // block) join the queue's tail in the given order.
  void FreeBlocks(absl::Span<const int32_t> blocks);
  // Same, for blocks given last first (a request's list, tail first).
  void FreeBlocksReversed(absl::Span<const int32_t> blocks);

  // The oldest block cached under (key, group) whose tokens and parent key
  // equal `tokens` / `parent_key`, or -1.
  int32_t FindCached(uint64_t key, int32_t group, uint64_t parent_key,
                     const TokenId* tokens) const;
  // Start loading what FindCached(key, group, ...) reads: the map slot;
  // and, once that is in, the metadata and tokens of the block stored
  // there. Called ahead of a walk's lookups.
  void PrefetchSlot(uint64_t key, int32_t group) const;
  void PrefetchBlock(uint64_t key, int32_t group) const;
  // The oldest block cached in `group` under the vLLM key `vllm_key`, or -1.
  // O(num_blocks): for connectors and tests, not the hot path.
  int32_t FindByVllmKey(const std::string& vllm_key, int32_t group) const;

  // Caches blocks[num_cached, num_full) (null blocks and, with a mask,
  // masked-out ones skipped) in `group`, as vLLM's cache_full_blocks.
  // REQUIRES: every such block is uncached; src covers num_full blocks.
  void CacheFullBlocks(const CacheSource& src, absl::Span<const int32_t> blocks,
                       int32_t num_cached, int32_t num_full, int32_t group);
  // Evicts each listed block from the prefix cache if it is cached (its
  // references and queue position stay). InvalidArgument, and nothing
  // changed, if an id is out of range.
  absl::Status EvictBlocks(absl::Span<const int32_t> blocks);
  // Drops every cached key if no block but the null one is in use; returns
  // whether it did.
  bool ResetPrefixCache();

  // Moves out the queued events (none unless events are enabled).
  std::vector<VllmEvent> TakeEvents();
  size_t NumPendingEvents() const { return events_.size(); }

  // The calls vLLM's block pool makes on a KVCacheMetricsCollector, in its
  // order: allocated (each block handed out, after evicted when caching is
  // on), evicted (each block handed out or named to EvictBlocks, cached or
  // not), accessed (each block touched, the null block included) and reset
  // (a ResetPrefixCache that dropped the cache). Recorded only once
  // EnableMetrics() was called.
  struct MetricEvent {
    enum class Kind : uint8_t { kAllocated, kEvicted, kAccessed, kReset };
    Kind kind;
    int32_t block;  // -1 for kReset
  };
  void EnableMetrics() { metrics_on_ = true; }
  std::vector<MetricEvent> TakeMetricEvents() {
    return std::exchange(metric_events_, {});
  }
  // Blocks cached now, and cached blocks evicted so far (by allocation or
  // EvictBlocks; ResetPrefixCache drops without counting).
  int64_t NumCachedBlocks() const { return num_cached_; }
  int64_t NumEvictions() const { return num_evictions_; }

  // Checks the queue links, the free count, the map against cached_, and
  // that queued blocks have ref 0. Returns Internal naming the first fault.
  absl::Status Verify() const;

 private:
  void QueueRemove(int32_t b);
  void QueueAppend(int32_t b);
  void AppendTo(int32_t sentinel, int32_t b);
  int32_t Front() const;
  void MaybeEvict(int32_t b);
  // Loops over many blocks fetch the map entry this far ahead.
  static constexpr int32_t kPrefetch = 32;

  int32_t num_blocks_;
  int32_t block_size_;
  bool enable_caching_;
  bool enable_events_;
  bool metrics_on_ = false;
  std::vector<MetricEvent> metric_events_;
  void Metric(MetricEvent::Kind kind, int32_t block) {
    metric_events_.push_back({kind, block});
  }
  bool uncached_first_;
  int32_t num_free_ = 0;  // == number of blocks linked in the queue
  int64_t num_cached_ = 0;
  int64_t num_evictions_ = 0;
  std::vector<int32_t> prev_;     // size num_blocks + 2 (sentinels last)
  std::vector<int32_t> next_;     // -1 on a block not in the queue
  std::vector<int32_t> ref_cnt_;  // > 0 on every block not in the queue
  // What a block is cached under, in one place so that caching, matching
  // and evicting a block touch one cache line.
  struct Meta {
    uint64_t key = 0;
    uint64_t parent_key = 0;
    int32_t group = -1;
    // The next younger block cached under the same key and group, or -1.
    int32_t dup_next = -1;
    uint8_t cached = 0;    // 1 iff the block is in map_'s chains
    uint8_t vkey_len = 0;  // <= kInlineKey, or 255: in vkey_long_
  };
  // The pool's big arrays come from HugePageAllocator (huge pages where the
  // kernel gives them), as the key table's: a decode step touches them at
  // random.
  std::vector<Meta, internal::HugePageAllocator<Meta>> meta_;
  std::vector<TokenId, internal::HugePageAllocator<TokenId>>
      tokens_;  // num_blocks * block_size
  static constexpr size_t kInlineKey = 32;
  void SetVllmKey(int32_t b, absl::string_view key);
  void Link(int32_t b);            // appends b to its key's chain
  void Unlink(int32_t b);          // takes b out of its key's chain
  std::vector<char> vkey_inline_;  // num_blocks * kInlineKey
  absl::flat_hash_map<int32_t, std::string> vkey_long_;
  // The oldest block cached under each (key, group); younger ones follow
  // through Meta::dup_next (vLLM does not deduplicate, so a key can name
  // several blocks).
  KeyTable map_;
  std::vector<VllmEvent> events_;
};

}  // namespace pagekv::vllm

#endif  // PAGEKV_VLLM_BLOCK_POOL_H_
