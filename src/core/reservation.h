// The reservation plan: what a Reserve (or a batch of them, or an admission)
// takes from the pool. Private to the library.
//
// One rule decides which blocks a reservation writes and how far a table
// grows (ReserveSpan); ReservationPlan counts a batch's blocks from it, and
// ManagerState::ApplyReserve carries it out. Every dry run (BlocksToReserve,
// CanReserve, BlocksToAdmit) returns a plan's count, and every mutation
// (Reserve, AdmitBatch, AppendDecodeTokens) checks that same count against
// the pool before applying the same spans, so a dry run agrees with the
// operation by construction. The decode fast path (ManagerState::PlanDecode)
// is a specialization for one token; debug builds check it against the plan.
#ifndef PAGEKV_CORE_RESERVATION_H_
#define PAGEKV_CORE_RESERVATION_H_

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "core/group_rules.h"
#include "core/sequence_slots.h"
#include "pagekv/block_math.h"
#include "pagekv/block_pool.h"

namespace pagekv::internal {

// The blocks of one table a reservation of `num_new` computed tokens and
// `num_lookahead` empty slots touches, after `computed` tokens.
struct ReserveSpan {
  int64_t first_write = 0;  // block of the first new token
  int64_t write_end = 0;    // one past the block of the last new token
  int64_t target = 0;       // table length afterwards

  static ReserveSpan Of(int64_t computed, int64_t num_new,
                        int64_t num_lookahead, int64_t block_size) {
    ReserveSpan span;
    span.first_write = computed / block_size;
    span.write_end = num_new == 0 ? span.first_write
                                  : CeilDiv(computed + num_new, block_size);
    span.target = CeilDiv(computed + num_new + num_lookahead, block_size);
    return span;
  }
  // The written blocks a table of `size` already has: [first_write, this).
  // Each must be private before the write (copy-on-write when shared).
  int64_t ExistingWriteEnd(int64_t size) const {
    return std::max(first_write, std::min(size, write_end));
  }
  // Blocks the table must grow by.
  int64_t Growth(int64_t size) const {
    return std::max<int64_t>(0, target - size);
  }
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

// What a reservation of `num_new` tokens after `computed` does to a state
// group's table (see group_rules.h): where the state entry goes, and whether
// the state and speculative entries are written. Lookahead takes nothing:
// draft states live in the speculative entries.
struct StateSpan {
  int64_t target = 0;      // table length afterwards
  int64_t entry = -1;      // the state entry afterwards; -1: none
  int64_t old_entry = -1;  // the state entry before; -1: the table is empty
  bool writes = false;

  static StateSpan Of(const GroupRule& rule, size_t size, uint32_t dropped,
                      int64_t computed, int64_t num_new) {
    StateSpan span;
    span.target = rule.StateTableLength(computed + num_new);
    if (computed + num_new > 0)
      span.entry = rule.StateIndex(computed + num_new);
    if (size > 0) span.old_entry = dropped;
    span.writes = num_new > 0;
    return span;
  }
  // The state moves to a new block (the old one is copied, then released).
  bool moves() const { return old_entry >= 0 && entry > old_entry; }
  // The speculative entries the table has now: [old_entry + 1, size).
  int64_t SpecHeld(size_t size) const {
    return old_entry < 0 ? 0 : static_cast<int64_t>(size) - old_entry - 1;
  }
  // New blocks for entries the table lacks (a moved state block included).
  int64_t Missing(size_t size) const {
    if (target == 0) return 0;
    if (old_entry < 0) return target - entry;
    return (moves() ? 1 : 0) + (target - entry - 1) - SpecHeld(size);
  }
};

// The pool blocks a batch of reservations takes: new table blocks, plus a
// copy of each shared block a reservation writes into, less the copies the
// batch saves.
class ReservationPlan {
 public:
  // Adds Reserve(s, num_new, num_lookahead) to the batch.
  void Add(const Sequence& s, int64_t num_new, int64_t num_lookahead,
           const BlockPool& pool, absl::Span<const Group> groups) {
    const int64_t bs = groups[0].rule.bs;
    const ReserveSpan span =
        ReserveSpan::Of(s.num_computed(), num_new, num_lookahead, bs);
    for (size_t g = 0; g < groups.size(); ++g) {
      const std::vector<BlockId>& table = s.tables[g];
      if (groups[g].is_state()) {
        AddState(s, g, num_new, pool, groups[g].rule);
        continue;
      }
      const int64_t size = static_cast<int64_t>(table.size());
      blocks_ += span.Growth(size);
      for (int64_t j = span.first_write; j < span.ExistingWriteEnd(size); ++j) {
        if (pool.ref_count(table[j]) > 1) {
          ++blocks_;
          writes_.Add(table[j], s.slot);
        }
      }
    }
  }
  // Adds blocks counted elsewhere (the decode fast path's new blocks, an
  // admission's claimed cached hits).
  void AddBlocks(int64_t n) { blocks_ += n; }
  // The batch's blocks.
  int64_t Blocks(const BlockPool& pool) const {
    return blocks_ - writes_.Savings(pool);
  }

 private:
  // A state group: its missing entries, and a private copy of each shared
  // entry the step writes in place (the state block when it stays, the
  // speculative blocks always).
  void AddState(const Sequence& s, size_t g, int64_t num_new,
                const BlockPool& pool, const GroupRule& rule) {
    const std::vector<BlockId>& table = s.tables[g];
    const StateSpan span = StateSpan::Of(rule, table.size(), s.dropped[g],
                                         s.num_computed(), num_new);
    blocks_ += span.Missing(table.size());
    if (!span.writes || span.old_entry < 0) return;
    const size_t first =
        static_cast<size_t>(span.old_entry) + (span.moves() ? 1 : 0);
    for (size_t j = first; j < table.size(); ++j) {
      if (pool.ref_count(table[j]) > 1) {
        ++blocks_;
        writes_.Add(table[j], s.slot);
      }
    }
  }

  int64_t blocks_ = 0;
  SharedWrites writes_;
};

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_RESERVATION_H_
