// ManagerState: the data behind a KVCacheManager, and the helpers its
// operations share. Private to the library.
//
// Per sequence, per group, the block table is a vector of block ids:
//
//   table:  [ null null | b7  b3  b9 | b12 (partial) | b15 (lookahead) ]
//             dropped[g]   full, indexed   computed     reserved, empty
//
// `dropped[g]` leading slots of a sliding-window group hold the null block:
// they fell out of the window and went back to the pool. Full-attention
// groups never drop. Each non-null entry holds one reference on its block.
//
// Accounting identities (checked by Verify()):
//   pool ref_count(b) == number of table entries naming b;
//   used_slots == sum of fill[b] over in-use blocks;
//   pool.KeepsContent(b) iff exactly one group's index contains b.
#ifndef PAGEKV_SRC_MANAGER_STATE_H_
#define PAGEKV_SRC_MANAGER_STATE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "pagekv/block_hash.h"
#include "pagekv/block_pool.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/kv_cache_stats.h"
#include "pagekv/kv_events.h"
#include "prefix_index.h"

namespace pagekv::internal {

struct Group {
  KVCacheGroupSpec spec;
  // Null when prefix caching is off.
  std::unique_ptr<PrefixIndex> index;
  bool sliding() const {
    return spec.kind == KVCacheGroupSpec::Kind::kSlidingWindow;
  }
};

// Field order is for the decode step (AppendDecodeTokens), which touches
// every live sequence twice per step: the fields it reads (the first ~90
// bytes) come first, in two adjacent cache lines of a 128-byte aligned
// object; the rest (options, key memo, dropped counts) come after.
struct alignas(128) Sequence {
  uint32_t generation = 0;
  bool live = false;
  // Batch operations stamp the sequences they visit, to find duplicates.
  uint64_t batch_mark = 0;
  int64_t num_computed = 0;     // <= tokens.size(); these have slots
  std::vector<TokenId> tokens;  // known tokens
  absl::InlinedVector<std::vector<BlockId>, 1> tables;  // one per group
  // Leading full computed blocks already offered to the index.
  size_t num_indexed = 0;
  SequenceOptions options;
  // Keys of the leading full blocks of `tokens`, computed once, on demand.
  // A memo, so it may grow inside const lookups.
  mutable std::vector<uint64_t> keys;
  absl::InlinedVector<uint32_t, 1> dropped;  // one per group
};

// The outcome of one walk of the prefix index for a sequence.
struct Walk {
  int64_t num_blocks = 0;  // hit blocks (per group)
  int32_t num_evictable = 0;
  absl::InlinedVector<std::vector<BlockId>, 1> blocks;  // per group
  absl::InlinedVector<uint32_t, 1> dropped;             // per group
};

struct ManagerState final : public EvictionListener {
  ManagerState(KVCacheConfig config, std::unique_ptr<BlockPool> pool);

  // --- sequence slots ---
  absl::StatusOr<Sequence*> Lookup(SeqId seq);
  // Lookup without building a Status: null for an unknown or stale id.
  Sequence* Find(SeqId seq) {
    const uint64_t slot = seq.value() & 0xffffffffu;
    if (slot >= slots.size()) return nullptr;
    Sequence* s = slots[slot].get();
    return s->live && s->generation == (seq.value() >> 32) ? s : nullptr;
  }
  // Starts loading the hot lines of `seq`'s Sequence (any id; no checks).
  void PrefetchSequence(SeqId seq) const {
    const uint64_t slot = seq.value() & 0xffffffffu;
    if (slot >= slots.size()) return;
    const char* p = reinterpret_cast<const char*>(slots[slot].get());
    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
  }
  absl::StatusOr<const Sequence*> Lookup(SeqId seq) const;
  SeqId NewSequence(Sequence** out);
  void FreeSequence(SeqId seq);

  // --- prefix matching ---
  void EnsureKeys(const Sequence& s, size_t num_blocks) const;
  // One walk: the longest verified prefix of `tokens` over every group.
  // `keys` memoizes the block keys of `tokens` (extended as needed).
  void WalkPrefix(absl::Span<const TokenId> tokens,
                  const BlockHashExtras& extras, std::vector<uint64_t>& keys,
                  Walk* walk) const;
  void WalkPrefix(const Sequence& s, Walk* walk) const {
    WalkPrefix(s.tokens, s.options.hash_extras, s.keys, walk);
  }
  void ClaimHit(Sequence& s, const Walk& walk);
  void CountQuery(const Sequence& s, const Walk& walk);

  // --- reserving ---
  int64_t BlocksForReserve(const Sequence& s, int64_t num_new,
                           int64_t num_lookahead) const;
  // REQUIRES: BlocksForReserve(s, ...) <= pool->NumAvailable().
  void DoReserve(Sequence& s, int64_t num_new, int64_t num_lookahead);
  void IndexFullBlocks(Sequence& s);
  // Gives one new token of `s` a slot when no copy, unindexing or window
  // release is involved, and returns true; false means "use DoReserve".
  bool TryReserveOneFast(Sequence& s);
  void ReleaseOutOfWindow(Sequence& s, int64_t first_new);
  void ReleaseTail(Sequence& s, size_t keep_blocks);

  // --- block bookkeeping (keeps used_slots and fill in step) ---
  void AcquireBlock(BlockId block);
  void ReleaseBlock(BlockId block, BlockId parent, const Sequence& s,
                    int64_t now_us);
  void UnindexBlock(size_t group, BlockId block);
  void SetFill(BlockId block, uint32_t fill);
  void OnBlockEvicted(BlockId block) override;
  void PrefetchEvicted(absl::Span<const BlockId> blocks) override;

  absl::Status Verify() const;

  KVCacheConfig config;
  const Clock* clock;
  std::unique_ptr<BlockPool> pool;
  BlockHasher hasher;
  std::vector<Group> groups;

  // Sequences live in slots; a SeqId is (generation << 32 | slot), so a stale
  // id (released, slot reused) fails the generation check in O(1).
  std::vector<std::unique_ptr<Sequence>> slots;
  std::vector<uint32_t> free_slots;
  uint64_t num_sequences = 0;

  // fill[b]: token slots of block b holding computed tokens (<= block_size).
  std::vector<uint16_t> fill;
  uint64_t used_slots = 0;  // == sum of fill over in-use blocks

  std::vector<BlockCopy> copies;
  std::vector<KVEvent> events;
  std::vector<BlockId> scratch;  // reused by allocations
  // The sequences of the decode batch being applied, found once.
  std::vector<Sequence*> batch_seqs;
  // Reused by MatchPrefix(tokens): keys of a prompt that has no sequence.
  mutable std::vector<uint64_t> scratch_keys;
  mutable Walk scratch_walk;

  uint64_t batch_epoch = 0;  // stamp of the current batch operation
  // True when every group is full attention: decode steps take the fast path.
  bool all_full_attention = true;
  // log2(block_size) when it is a power of two, else -1: positions map to
  // blocks by a shift instead of a 64-bit division on the decode path.
  int block_shift = -1;
  int64_t BlockOf(int64_t position) const {
    return block_shift >= 0 ? position >> block_shift
                            : position / config.block_size;
  }

  uint64_t blocks_allocated = 0;
  uint64_t cow_copies = 0;
  uint64_t allocation_failures = 0;
  PrefixCacheStats prefix_stats;
};

}  // namespace pagekv::internal

#endif  // PAGEKV_SRC_MANAGER_STATE_H_
