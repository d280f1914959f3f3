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

// The pool blocks a batch of reservations takes: new table blocks, plus a
// copy of each shared block a reservation writes into, less the copies the
// batch saves.
class ReservationPlan {
 public:
  // Adds Reserve(s, num_new, num_lookahead) to the batch.
  void Add(const Sequence& s, int64_t num_new, int64_t num_lookahead,
           const BlockPool& pool, int64_t block_size) {
    const ReserveSpan span =
        ReserveSpan::Of(s.num_computed(), num_new, num_lookahead, block_size);
    for (const std::vector<BlockId>& table : s.tables) {
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
  int64_t blocks_ = 0;
  SharedWrites writes_;
};

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_RESERVATION_H_
