// ManagerState: the data behind a KVCacheManager and the steps its
// operations share. Private to the library.
//
// clang-format off
//   part                        home                          invariant checked by Verify()
//   sequences, hot records      SequenceSlots  (sequence_slots.h)  slot <-> record pairing, live count
//   token fill of each block    FillLedger     (fill_ledger.h)     used_slots == sum over in-use blocks
//   what a reservation takes    ReservationPlan (reservation.h)    (derived, nothing stored)
//   prefix walk, indexing       manager_prefix.cc                  keeps_content(b) iff one group indexes b
//   reserving, CoW, releasing   manager_reserve.cc                 ref_count(b) == table entries naming b
//   the decode fast path        PlanDecode / WriteDecodeToken (below)
// clang-format on
//
// The table mirrors in SeqHot (length, last block) are refreshed by
// Sequence::SyncTableMirror wherever a table changes, and Verify() compares
// them with the tables.
#ifndef PAGEKV_CORE_MANAGER_STATE_H_
#define PAGEKV_CORE_MANAGER_STATE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/functional/function_ref.h"
#include "core/check.h"
#include "core/fill_ledger.h"
#include "core/group_rules.h"
#include "core/host_tier.h"
#include "core/prefix_index.h"
#include "core/reservation.h"
#include "core/sequence_slots.h"
#include "pagekv/block_hash.h"
#include "pagekv/block_pool.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/kv_cache_stats.h"
#include "pagekv/kv_events.h"

namespace pagekv::internal {

// The outcome of one walk of the prefix index for a sequence.
struct Walk {
  int64_t num_blocks = 0;  // hit length in blocks of config.block_size
  int32_t num_evictable = 0;
  // Per group, the hit's table: num_blocks entries for attention kinds,
  // GroupRule::StateTableLength-style entries (nulls, then the checkpoint)
  // for a state group.
  absl::InlinedVector<std::vector<BlockId>, 1> blocks;
  absl::InlinedVector<uint32_t, 1> dropped;  // per group
};

// InvalidArgument unless 0 <= num_new and 0 <= num_lookahead <= 2^31 - 1.
absl::Status CheckTokenCounts(int64_t num_new, int64_t num_lookahead);

// One admission batch, planned: a walk and the tokens to compute per
// request, and the blocks the batch takes (new blocks in every group, plus
// cached hit blocks, each counted once, which leave the evictable set).
struct AdmissionPlan {
  std::vector<Sequence*> seqs;
  std::vector<Walk> walks;
  std::vector<Admission> admissions;
  // Per request, the host blocks after its GPU hit (empty without a tier).
  std::vector<std::vector<uint32_t>> host_hits;
  int64_t blocks = 0;
};

struct ManagerState final : public EvictionListener {
  ManagerState(KVCacheConfig config, std::unique_ptr<BlockPool> pool);

  absl::StatusOr<Sequence*> Lookup(SeqId seq) { return seqs.Lookup(seq); }
  absl::StatusOr<const Sequence*> Lookup(SeqId seq) const {
    return seqs.Lookup(seq);
  }

  // --- prefix matching (manager_prefix.cc) ---
  void EnsureKeys(const Sequence& s, size_t num_blocks) const;
  // One walk: the longest verified prefix of `tokens` over every group.
  // `keys` memoizes the block keys of `tokens` (extended as needed).
  void WalkPrefix(absl::Span<const TokenId> tokens,
                  const BlockHashExtras& extras, std::vector<uint64_t>& keys,
                  Walk* walk) const;
  // Writes the memo s.keys (see Sequence::keys).
  void WalkPrefix(const Sequence& s, Walk* walk) const {
    WalkPrefix(s.tokens, s.options.hash_extras, s.keys, walk);
  }
  // The walk's tables for its final length `limit` (blocks).
  void FinishWalk(size_t limit, Walk* walk) const;
  void ClaimHit(Sequence& s, const Walk& walk);
  void CountQuery(const Sequence& s, const Walk& walk);
  void IndexFullBlocks(Sequence& s);
  // Indexes the full blocks of the sequences in `filled` (slots), in order:
  // hashes them and prefetches their index slots first, then inserts.
  void IndexFilled(absl::Span<const uint32_t> filled);
  void UnindexBlock(size_t group, BlockId block);
  void OnBlockEvicted(BlockId block) override;
  void PrefetchEvicted(absl::Span<const BlockId> blocks) override;

  // --- the host tier (manager_tiers.cc; host is null without one) ---
  // Appends to *out the host blocks extending `walk` for `tokens` (whose
  // keys WalkPrefix memoized). Read-only.
  void ExtendToHost(absl::Span<const TokenId> tokens,
                    absl::Span<const uint64_t> keys,
                    const BlockHashExtras& extras, const Walk& walk,
                    std::vector<uint32_t>* out) const;
  // The PrefixMatch of `walk`, extended into the host tier. Read-only.
  PrefixMatch MatchOf(absl::Span<const TokenId> tokens,
                      absl::Span<const uint64_t> keys,
                      const BlockHashExtras& extras, const Walk& walk) const;
  // Counts a query's host hits and key lookups (CountQuery's host side).
  void CountHostQuery(const Sequence& s, size_t host_hits);
  // Allocates GPU blocks for pinned `host_hits` at the end of the table of
  // `s` (right after its GPU hit) and queues their loads.
  // REQUIRES: the blocks are available (the admission plan counted them).
  void LoadHostHits(Sequence& s, absl::Span<const uint32_t> host_hits);

  // --- admitting and reserving (manager_reserve.cc) ---
  // Checks `requests` and plans their admission (one walk each), changing
  // nothing but key memos. The plan's blocks are what AdmitBatch takes.
  absl::Status PlanAdmission(absl::Span<const ReserveRequest> requests,
                             AdmissionPlan* plan) const;
  // Blocks the reservation after a claimed `walk` of `hit` tokens takes.
  int64_t AdmissionGrowth(const Walk& walk, int64_t hit, int64_t num_new,
                          int64_t num_lookahead) const;
  // REQUIRES: plan.blocks <= pool->NumAvailable(); the plan is current.
  void ApplyAdmission(const AdmissionPlan& plan,
                      absl::Span<const ReserveRequest> requests);
  // Blocks Reserve(s, num_new, num_lookahead) takes (a one-entry plan).
  int64_t BlocksForReserve(const Sequence& s, int64_t num_new,
                           int64_t num_lookahead) const {
    ReservationPlan plan;
    plan.Add(s, num_new, num_lookahead, *pool, groups);
    return plan.Blocks(*pool);
  }
  // Carries out the reservation ReservationPlan::Add counted.
  // REQUIRES: the plan's blocks are available.
  void ApplyReserve(Sequence& s, int64_t num_new, int64_t num_lookahead);
  void ReleaseOutOfWindow(Sequence& s, int64_t first_new);
  // OK if `s` can be truncated to `computed` computed tokens: windowed
  // groups still hold the blocks the next token reads, and state groups can
  // restore the state from their speculative blocks. FailedPrecondition
  // otherwise.
  absl::Status CheckTruncate(const Sequence& s, int64_t computed) const;
  // ApplyReserve for state group `g`: the state entry moves or is written
  // in place, speculative entries are kept private (state_reserve.cc).
  // `now` reads the clock (only when the state changes blocks).
  void ApplyStateReserve(Sequence& s, size_t g, int64_t num_new,
                         absl::FunctionRef<int64_t()> now);
  // Indexes the checkpoint of each aligned state group when the computed
  // tokens end on a hit-aligned position.
  void IndexStateCheckpoints(Sequence& s);
  // Forgets that the state blocks cached since the last call are fresh
  // (called by DrainCopies: the step's scheduling is over).
  void EndStep();
  void ReleaseTail(Sequence& s, size_t keep_blocks);
  void AcquireBlock(BlockId block);
  void ReleaseBlock(BlockId block, BlockId parent, const Sequence& s,
                    int64_t now_us);
  // Sets the fill of `block`, keeping the ledger's in-use sum.
  void SetFill(BlockId block, uint32_t n) {
    fills.Set(block, n, pool->state(block) == BlockState::kInUse);
  }
  // The time to pass to an allocation of `n` blocks: the clock's when the
  // allocation evicts (the policy may decay priorities by it); otherwise it
  // is not used, and the clock is not read.
  int64_t EvictionNow(size_t n) const {
    return pool->NumFree() >= n ? 0 : clock->NowMicros();
  }

  // --- the decode fast path ---
  // How the next token of a sequence gets its slot in a decode step. The
  // first two are the fast path, for a single full-attention group, or one
  // beside state groups that never move (kNone) and are the sequence's
  // alone (the state is written in place): the one-token specializations of
  // the reservation plan (1 block and 0 blocks).
  enum class DecodeSlot : uint8_t {
    kLastBlock,  // in its last block, which it holds alone and is unindexed
    kNewBlock,   // in a new block: the table ends where the token goes
    kGeneral,    // ApplyReserve: a copy, an unindex, lookahead, or groups
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
    // (A sequence with no computed tokens has no state block yet.)
    if (!single_full_group &&
        !(fixed_state_groups && !h.state_shared && h.num_computed > 0 &&
          (state_move_bs == 0 || h.num_computed % state_move_bs != 0))) {
      return plan;
    }
    const int64_t c = h.num_computed;
    const int64_t j = BlockOf(c);
    if (j == h.num_blocks) {
      plan.kind = DecodeSlot::kNewBlock;
      plan.fill = 1;
    } else if (j + 1 == h.num_blocks && pool->IsPrivate(h.last_block)) {
      plan.kind = DecodeSlot::kLastBlock;
      plan.fill = static_cast<uint16_t>(c - j * config.block_size + 1);
    }
    PAGEKV_DCHECK(plan.kind == DecodeSlot::kGeneral ||
                      BlocksForReserve(seqs.at(slot), 1, 0) ==
                          (plan.kind == DecodeSlot::kNewBlock ? 1 : 0),
                  "slot {}: the decode fast path disagrees with the "
                  "reservation plan",
                  slot);
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
    if (plan.kind == DecodeSlot::kNewBlock) AppendNewBlock(seqs.at(plan.slot));
    // Assign rather than increment: a block shared before a truncation may
    // still count the tokens its other holder wrote.
    fills.SetInUse(h.last_block, plan.fill);
    ++h.num_computed;
    return plan.fill == config.block_size && config.enable_prefix_caching;
  }
  // Allocates an empty block at the end of the table of `s` (one group).
  // REQUIRES: a block is available.
  void AppendNewBlock(Sequence& s);

  absl::Status Verify() const;
  absl::Status VerifySequence(const Sequence& s,
                              std::vector<uint32_t>& refs) const;
  absl::Status VerifyStateTable(const Sequence& s, size_t g) const;

  KVCacheConfig config;
  const Clock* clock;
  std::unique_ptr<BlockPool> pool;
  BlockHasher hasher;
  std::vector<Group> groups;
  std::unique_ptr<HostTier> host;  // null without a host tier
  // Hit alignment in tokens (lcm of the groups' granularities), or 0 when no
  // hit is possible (prefix caching off, or a state group that caches
  // nothing): then nothing is indexed.
  int64_t hit_align = 0;
  bool any_state = false;
  // State checkpoints cached since the last DrainCopies: a walk treats them
  // as misses, since their state is computed by the step being scheduled.
  // fresh[b] != 0 iff b is in fresh_list. Sized only with an aligned state
  // group and prefix caching; empty otherwise.
  std::vector<uint8_t> fresh;
  std::vector<BlockId> fresh_list;
  SequenceSlots seqs;
  FillLedger fills;

  // Orders and events for the engine, drained by DrainCopies / DrainEvents.
  std::vector<BlockCopy> copies;
  std::vector<KVEvent> events;

  // Scratch reused across operations (no allocation per step).
  std::vector<BlockId> scratch;   // allocations
  std::vector<DecodePlan> batch;  // plans of the decode batch
  std::vector<uint32_t> filled;   // its slots whose block filled up
  uint64_t batch_epoch = 0;       // stamp of the current batch

  // One full-attention group (dense models): decode steps take the fast path.
  bool single_full_group = false;
  // Group 0 is full attention and every other group is a state group whose
  // kAlign members share one checkpoint interval, state_move_bs (0: all are
  // kNone): a decode token from c leaves the state tables as they are
  // unless c % state_move_bs == 0 (the state moves on).
  bool fixed_state_groups = false;
  int64_t state_move_bs = 0;
  // Sets s.hot->state_shared from the state groups' tables.
  void SyncStateSharing(Sequence& s) const;
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
