// ManagerState::ApplyStateReserve: a reservation in a state group (Mamba,
// linear attention), carrying out the StateSpan that ReservationPlan counted
// (reservation.h). The table is [nulls | state block | speculative blocks].
#include <utility>

#include "core/manager_state.h"
#include "fmt/format.h"

namespace pagekv::internal {
namespace {

// A state block holds a whole state: it counts as full in the fill ledger.
void MarkFull(ManagerState& st, BlockId b) {
  st.fills.Clear(b);
  st.SetFill(b, static_cast<uint32_t>(st.config.block_size));
}

}  // namespace

void ManagerState::ApplyStateReserve(Sequence& s, size_t g, int64_t num_new,
                                     absl::FunctionRef<int64_t()> now) {
  std::vector<BlockId>& table = s.tables[g];
  const StateSpan span = StateSpan::Of(groups[g].rule, table.size(),
                                       s.dropped[g], s.num_computed(), num_new);
  if (span.target == 0) return;
  // The common step: the state stays in its block, and every entry is the
  // sequence's alone and unindexed (written in place).
  if (span.old_entry >= 0 && !span.moves() &&
      static_cast<int64_t>(table.size()) == span.target) {
    bool in_place = true;
    for (size_t j = static_cast<size_t>(span.old_entry);
         j < table.size() && in_place; ++j) {
      in_place = !span.writes || pool->IsPrivate(table[j]);
    }
    if (in_place) return;
  }
  const GroupId group(static_cast<uint32_t>(g));
  const int64_t now_us = now();
  auto allocate = [&] {
    BlockId b;
    absl::Status st = pool->Allocate(absl::MakeSpan(&b, 1), now_us);
    PAGEKV_CHECK(st.ok(), "allocation failed after the capacity check: {}",
                 st.ToString());
    MarkFull(*this, b);
    ++blocks_allocated;
    return b;
  };
  // The speculative blocks held now; each written one must be private. Their
  // content is the engine's scratch (draft states), so a shared one is
  // replaced by a fresh block, not copied.
  std::vector<BlockId>& spec = scratch;
  spec.clear();
  if (span.old_entry >= 0) {
    spec.assign(table.begin() + span.old_entry + 1, table.end());
  }
  for (BlockId& b : spec) {
    if (span.writes && pool->ref_count(b) > 1) {
      const BlockId mine = allocate();
      ReleaseBlock(b, kNullBlock, s, now_us);
      b = mine;
    }
  }
  BlockId state = kNullBlock;
  if (span.old_entry < 0) {
    state = allocate();  // a fresh state (no tokens before)
  } else {
    const BlockId old = table[static_cast<size_t>(span.old_entry)];
    if (span.moves() || (span.writes && pool->ref_count(old) > 1)) {
      // The state goes on in a new block: the engine copies it over before
      // the step's kernels. The old block stays cached if a checkpoint.
      state = allocate();
      copies.push_back({old, state, group});
      ReleaseBlock(old, kNullBlock, s, now_us);
      if (!span.moves()) ++cow_copies;
    } else {
      state = old;
      if (span.writes && pool->KeepsContent(old)) UnindexBlock(g, old);
    }
  }
  // Entries before the new state entry are null (only those from the old
  // state entry on were not already).
  const size_t from = span.old_entry < 0 ? 0 : size_t(span.old_entry);
  for (size_t j = from; j < table.size(); ++j) table[j] = kNullBlock;
  table.resize(static_cast<size_t>(span.entry), kNullBlock);
  table.push_back(state);
  for (BlockId b : spec) table.push_back(b);
  while (static_cast<int64_t>(table.size()) < span.target) {
    table.push_back(allocate());
  }
  s.dropped[g] = static_cast<uint32_t>(span.entry);
}

absl::Status ManagerState::CheckTruncate(const Sequence& s,
                                         int64_t computed) const {
  if (computed >= s.num_computed()) return absl::OkStatus();
  const int64_t bs = config.block_size;
  const uint64_t id =
      (uint64_t{s.hot->generation} << 32) | static_cast<uint64_t>(s.slot);
  for (size_t g = 0; g < groups.size(); ++g) {
    const GroupRule& rule = groups[g].rule;
    if (rule.windowed()) {
      // The next write at `computed` reads back to its window or chunk
      // start; those blocks must still be held.
      if (rule.ReadStartBlock(computed) < s.dropped[g]) {
        return absl::FailedPreconditionError(fmt::format(
            "cannot truncate sequence {} to {} computed tokens: group {} "
            "already released the blocks before token {}",
            id, computed, g, s.dropped[g] * bs));
      }
      continue;
    }
    if (!rule.is_state() || computed == 0) continue;
    // The engine restores the state after token computed - 1 from a
    // speculative block into the state block: the rollback must fit in
    // them, stay in the same entry, and the block must be the sequence's
    // alone and not a cached checkpoint.
    const int64_t back = s.num_computed() - computed;
    const BlockId state = s.tables[g][s.dropped[g]];
    if (back > rule.spec_blocks ||
        rule.StateIndex(computed) != rule.StateIndex(s.num_computed()) ||
        pool->ref_count(state) > 1 || pool->KeepsContent(state)) {
      return absl::FailedPreconditionError(fmt::format(
          "cannot truncate sequence {} from {} to {} computed tokens: state "
          "group {} keeps {} speculative blocks and its state block {} is "
          "{}shared{}",
          id, s.num_computed(), computed, g, rule.spec_blocks, state.value(),
          pool->ref_count(state) > 1 ? "" : "not ",
          pool->KeepsContent(state) ? " and a cached checkpoint" : ""));
    }
  }
  return absl::OkStatus();
}

}  // namespace pagekv::internal
