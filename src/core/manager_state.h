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
// The fields a decode step reads (counts, generation, the table's length and
// last block) live apart from the Sequence, in a flat array of 32-byte SeqHot
// records indexed by slot; see SeqHot.
//
// Accounting identities (checked by Verify()):
//   pool ref_count(b) == number of table entries naming b;
//   used_slots == sum of fill[b] over in-use blocks;
//   pool.KeepsContent(b) iff exactly one group's index contains b.
#ifndef PAGEKV_CORE_MANAGER_STATE_H_
#define PAGEKV_CORE_MANAGER_STATE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "core/check.h"
#include "core/prefix_index.h"
#include "pagekv/block_hash.h"
#include "pagekv/block_pool.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/kv_cache_stats.h"
#include "pagekv/kv_events.h"

namespace pagekv::internal {

struct Group {
  KVCacheGroupSpec spec;
  // Null when prefix caching is off.
  std::unique_ptr<PrefixIndex> index;
  bool sliding() const {
    return spec.kind == KVCacheGroupSpec::Kind::kSlidingWindow;
  }
};

// The fields of a sequence a decode step reads, in one 32-byte record per
// slot. Records sit in fixed-size chunks of a flat array (their addresses
// never change), two to a cache line: the checking pass of a 1024-sequence
// step reads 32 KiB of records, which stay in L1 from step to step, instead
// of one scattered Sequence object and its table per token. Where a field
// below also has a home in Sequence, it is a mirror that Verify() compares
// with the original.
struct SeqHot {
  uint32_t generation = 0;  // bumped when the slot is freed
  // Mirror: the last entry of group 0's table, or the null block.
  BlockId last_block;
  // Batch operations stamp the sequences they visit, to find duplicates.
  uint64_t batch_mark = 0;
  int32_t num_known = 0;     // known tokens
  int32_t num_computed = 0;  // <= num_known; these have slots
  // Mirror: the length of every group's table (all groups have the same).
  uint32_t num_blocks = 0;
  bool live = false;
};
static_assert(sizeof(SeqHot) == 32, "two hot records per cache line");

// The rest of a sequence, read by the slower operations.
struct Sequence {
  SeqHot* hot = nullptr;  // this slot's record; stable for the slot's life
  uint32_t slot = 0;
  // The known tokens, kept only when prefix caching needs them for hashing
  // (then tokens.size() == num_known()); empty otherwise.
  std::vector<TokenId> tokens;
  absl::InlinedVector<std::vector<BlockId>, 1> tables;  // one per group
  // Leading full computed blocks already offered to the index (0 when prefix
  // caching is off).
  size_t num_indexed = 0;
  SequenceOptions options;
  // Keys of the leading full blocks of `tokens`, computed once, on demand.
  // A memo, so it may grow inside const lookups.
  mutable std::vector<uint64_t> keys;
  absl::InlinedVector<uint32_t, 1> dropped;  // one per group

  int64_t num_known() const { return hot->num_known; }
  int64_t num_computed() const { return hot->num_computed; }
};

// The copies a batch of reservations saves. Each holder of a shared block
// copies it before writing into it, except the last writer when the batch's
// sequences hold every reference: by then the block is its alone. A
// per-sequence count misses that, so a batch subtracts Savings() from it.
class SharedWrites {
 public:
  // Sequence `slot` writes into shared `block`.
  void Add(BlockId block, uint32_t slot) {
    if (seen_.insert({block.value(), slot}).second) ++writers_[block.value()];
  }
  int64_t Savings(const BlockPool& pool) const {
    int64_t saved = 0;
    for (const auto& [block, writers] : writers_) {
      if (writers == pool.ref_count(BlockId(block))) ++saved;
    }
    return saved;
  }

 private:
  absl::flat_hash_set<std::pair<uint32_t, uint32_t>> seen_;  // block, slot
  absl::flat_hash_map<uint32_t, uint32_t> writers_;          // block -> writers
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
  // The hot record of a live `seq`, without building a Status: null for an
  // unknown or stale id.
  SeqHot* FindHot(SeqId seq) {
    const uint64_t slot = seq.value() & 0xffffffffu;
    if (slot >= slots.size()) return nullptr;
    SeqHot& h = Hot(static_cast<uint32_t>(slot));
    return h.live && h.generation == (seq.value() >> 32) ? &h : nullptr;
  }
  // The Sequence of a live `seq` (checked by FindHot or Lookup first).
  Sequence& SequenceAt(SeqId seq) {
    return *slots[static_cast<uint32_t>(seq.value())];
  }
  SeqHot& Hot(uint32_t slot) {
    return hot_chunks[slot >> kHotChunkBits][slot & (kHotChunk - 1)];
  }
  const SeqHot& Hot(uint32_t slot) const {
    return hot_chunks[slot >> kHotChunkBits][slot & (kHotChunk - 1)];
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
  // Blocks Reserve(s, num_new, num_lookahead) takes from the pool: new
  // blocks, and a copy of each shared block it writes into.
  int64_t BlocksForReserve(const Sequence& s, int64_t num_new,
                           int64_t num_lookahead) const;
  // Adds the shared blocks Reserve(s, num_new, ...) writes into to `writes`.
  void AddSharedWrites(const Sequence& s, int64_t num_new,
                       SharedWrites& writes) const;
  // REQUIRES: BlocksForReserve(s, ...) <= pool->NumAvailable().
  void DoReserve(Sequence& s, int64_t num_new, int64_t num_lookahead);
  void IndexFullBlocks(Sequence& s);
  // How the next token of a sequence gets its slot in a decode step. The
  // first two are the decode fast path, for a single full-attention group.
  enum class DecodeSlot : uint8_t {
    kLastBlock,  // in its last block, which it holds alone and is unindexed
    kNewBlock,   // in a new block: the table ends where the token goes
    kGeneral,    // DoReserve: a copy, an unindex, lookahead slots, or groups
  };
  // Where the next token of a sequence goes, worked out from its hot record
  // (and, for kLastBlock, one pool record) by PlanDecode.
  struct DecodePlan {
    SeqHot* hot;
    uint32_t slot;
    DecodeSlot kind;
    uint16_t fill;  // the block's token count after the token (fast path)
  };
  DecodePlan PlanDecode(SeqHot& h, uint32_t slot) const {
    DecodePlan plan{&h, slot, DecodeSlot::kGeneral, 0};
    if (!single_full_group) return plan;
    const int64_t c = h.num_computed;
    const int64_t j = BlockOf(c);
    if (j == h.num_blocks) {
      plan.kind = DecodeSlot::kNewBlock;
      plan.fill = 1;
    } else if (j + 1 == h.num_blocks && pool->IsPrivate(h.last_block)) {
      plan.kind = DecodeSlot::kLastBlock;
      plan.fill = static_cast<uint16_t>(c - j * config.block_size + 1);
    }
    return plan;
  }
  // Gives the next known token of a sequence its slot as planned (kLastBlock
  // or kNewBlock; the plan must still hold). Returns true when the token
  // filled a block that prefix caching must index: the caller calls
  // IndexFilled() for it (a batch indexes all of a step's full blocks
  // together, so their index misses overlap). Cost: the hot record and one
  // fill entry; the Sequence only every block_size tokens (a free-stack pop
  // and a table push).
  [[nodiscard]] bool WriteDecodeToken(const DecodePlan& plan) {
    SeqHot& h = *plan.hot;
    PAGEKV_DCHECK(plan.kind != DecodeSlot::kGeneral &&
                      PlanDecode(h, plan.slot).kind == plan.kind &&
                      PlanDecode(h, plan.slot).fill == plan.fill,
                  "slot {}: a decode plan ({}) no longer holds", plan.slot,
                  static_cast<int>(plan.kind));
    if (plan.kind == DecodeSlot::kNewBlock) AppendNewBlock(*slots[plan.slot]);
    const uint32_t b = h.last_block.value();
    // Assign rather than increment: a block shared before a truncation may
    // still count the tokens its other holder wrote.
    used_slots = used_slots + plan.fill - fill[b];
    fill[b] = plan.fill;
    ++h.num_computed;
    return plan.fill == config.block_size && config.enable_prefix_caching;
  }
  // Indexes the full blocks of the sequences in `filled` (slots), in order:
  // hashes them and prefetches their index slots first, then inserts.
  void IndexFilled(absl::Span<const uint32_t> filled);
  // Allocates an empty block at the end of the table of `s` (one group).
  // REQUIRES: a block is available.
  void AppendNewBlock(Sequence& s);
  // The time to pass to an allocation of `n` blocks: the clock's when the
  // allocation evicts (the policy may decay priorities by it); otherwise it
  // is not used, and the clock is not read.
  int64_t EvictionNow(size_t n) const {
    return pool->NumFree() >= n ? 0 : clock->NowMicros();
  }
  void ReleaseOutOfWindow(Sequence& s, int64_t first_new);
  void ReleaseTail(Sequence& s, size_t keep_blocks);
  // Refreshes the table mirrors of s.hot after its tables changed.
  void SyncTableMirror(Sequence& s);

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
  static constexpr uint32_t kHotChunkBits = 10;
  static constexpr uint32_t kHotChunk = 1u << kHotChunkBits;
  std::vector<std::unique_ptr<SeqHot[]>> hot_chunks;  // SeqHot of each slot
  std::vector<uint32_t> free_slots;
  uint64_t num_sequences = 0;

  // fill[b]: token slots of block b holding computed tokens (<= block_size).
  std::vector<uint16_t> fill;
  uint64_t used_slots = 0;  // == sum of fill over in-use blocks

  std::vector<BlockCopy> copies;
  std::vector<KVEvent> events;
  std::vector<BlockId> scratch;  // reused by allocations
  // The plans of the decode batch being applied, made by the checking pass.
  std::vector<DecodePlan> batch;
  std::vector<uint32_t> filled;  // its slots whose last block filled up
  // Reused by MatchPrefix(tokens): keys of a prompt that has no sequence.
  mutable std::vector<uint64_t> scratch_keys;
  mutable Walk scratch_walk;

  uint64_t batch_epoch = 0;  // stamp of the current batch operation
  // One full-attention group (dense models): decode steps take the fast path.
  bool single_full_group = false;
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

#endif  // PAGEKV_CORE_MANAGER_STATE_H_
