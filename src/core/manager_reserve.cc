// The reserving side of ManagerState: admission plans, reservations with
// copy-on-write, sliding-window and tail releases, and the block reference
// bookkeeping they share. The counts come from reservation.h; the code here
// applies the same spans.
#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "core/manager_state.h"
#include "core/status_macros.h"
#include "fmt/format.h"
#include "pagekv/block_math.h"

namespace pagekv::internal {

absl::Status ManagerState::PlanAdmission(
    absl::Span<const ReserveRequest> requests, AdmissionPlan* plan) const {
  const int64_t bs = config.block_size;
  plan->seqs.clear();
  for (const ReserveRequest& r : requests) {
    PAGEKV_ASSIGN_OR_RETURN(const Sequence* s, Lookup(r.seq));
    PAGEKV_RETURN_IF_ERROR(
        CheckTokenCounts(r.num_new_tokens, r.num_lookahead_tokens));
    if (s->num_computed() != 0 || s->hot->num_blocks != 0) {
      return absl::FailedPreconditionError(
          fmt::format("sequence {} is already admitted", r.seq.value()));
    }
    Sequence* seq = const_cast<Sequence*>(s);
    if (std::find(plan->seqs.begin(), plan->seqs.end(), seq) !=
        plan->seqs.end()) {
      return absl::InvalidArgumentError(fmt::format(
          "sequence {} appears twice in one admission batch", r.seq.value()));
    }
    plan->seqs.push_back(seq);
  }
  // One walk per request. Cached hit blocks leave the evictable set when
  // claimed: count each once across the batch (a single walk's blocks are
  // distinct, so one request needs no set).
  plan->walks.resize(requests.size());
  plan->admissions.assign(requests.size(), Admission{});
  plan->host_hits.resize(host != nullptr ? requests.size() : 0);
  plan->blocks = 0;
  absl::flat_hash_set<uint32_t> evictable_hits;
  for (size_t r = 0; r < requests.size(); ++r) {
    const Sequence& s = *plan->seqs[r];
    Walk& walk = plan->walks[r];
    WalkPrefix(s, &walk);
    size_t num_host = 0;
    if (host != nullptr) {
      plan->host_hits[r].clear();
      ExtendToHost(s.tokens, s.keys, s.options.hash_extras, walk,
                   &plan->host_hits[r]);
      num_host = plan->host_hits[r].size();
    }
    // Host hits get new GPU blocks: they count below with the new tokens.
    const int64_t hit = (walk.num_blocks + static_cast<int64_t>(num_host)) * bs;
    const int64_t num_new =
        std::min(requests[r].num_new_tokens, s.num_known() - hit);
    plan->admissions[r].hit = {
        .num_tokens = hit,
        .num_blocks = static_cast<int32_t>(hit / bs),
        .num_evictable_blocks = walk.num_evictable,
        .num_host_blocks = static_cast<int32_t>(num_host)};
    plan->admissions[r].num_new_tokens = num_new;
    plan->blocks +=
        AdmissionGrowth(walk, hit, num_new, requests[r].num_lookahead_tokens);
    if (requests.size() == 1) {
      plan->blocks += walk.num_evictable;
      continue;
    }
    for (const auto& blocks : walk.blocks) {
      for (BlockId b : blocks) {
        if (b != kNullBlock && pool->state(b) == BlockState::kCached) {
          evictable_hits.insert(b.value());
        }
      }
    }
  }
  plan->blocks += static_cast<int64_t>(evictable_hits.size());
  return absl::OkStatus();
}

int64_t ManagerState::AdmissionGrowth(const Walk& walk, int64_t hit,
                                      int64_t num_new,
                                      int64_t num_lookahead) const {
  // The tables right after the claim are the walk's: the plan of the
  // reservation that follows, from them. Nothing in them is written (the hit
  // ends on a block boundary, and a state checkpoint is copied, not
  // written), so only growth counts.
  const int64_t bs = config.block_size;
  const ReserveSpan span = ReserveSpan::Of(hit, num_new, num_lookahead, bs);
  int64_t blocks = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    const size_t size = walk.blocks[g].size();
    if (groups[g].is_state()) {
      blocks +=
          StateSpan::Of(groups[g].rule, size, walk.dropped[g], hit, num_new)
              .Missing(size);
    } else {
      blocks += span.Growth(static_cast<int64_t>(size));
    }
  }
  return blocks;
}

void ManagerState::ApplyAdmission(const AdmissionPlan& plan,
                                  absl::Span<const ReserveRequest> requests) {
  // Claim every hit before allocating anything, or one admission could evict
  // a block another planned to reuse.
  for (size_t r = 0; r < plan.seqs.size(); ++r) {
    CountQuery(*plan.seqs[r], plan.walks[r]);
    ClaimHit(*plan.seqs[r], plan.walks[r]);
  }
  // Host hits are pinned before any allocation too: an eviction's store
  // (write-back) may evict host blocks.
  for (const auto& hits : plan.host_hits) {
    for (uint32_t h : hits) host->Pin(h);
  }
  for (size_t r = 0; r < plan.seqs.size(); ++r) {
    if (host != nullptr) {
      CountHostQuery(*plan.seqs[r], plan.host_hits[r].size());
      LoadHostHits(*plan.seqs[r], plan.host_hits[r]);
    }
    ApplyReserve(*plan.seqs[r], plan.admissions[r].num_new_tokens,
                 requests[r].num_lookahead_tokens);
  }
}

void ManagerState::ApplyReserve(Sequence& s, int64_t num_new,
                                int64_t num_lookahead) {
  const int64_t bs = config.block_size;
  const int64_t c = s.num_computed();
  const ReserveSpan span = ReserveSpan::Of(c, num_new, num_lookahead, bs);
  int64_t now_us = -1;
  auto now = [&] {
    if (now_us < 0) now_us = clock->NowMicros();
    return now_us;
  };

  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].is_state()) {
      ApplyStateReserve(s, g, num_new, now);
      continue;
    }
    std::vector<BlockId>& table = s.tables[g];
    // Copy-on-write: a block about to be written must be private and must
    // not be published in the index (its content is about to change).
    {
      const int64_t last = span.ExistingWriteEnd(table.size());
      for (int64_t j = span.first_write; j < last; ++j) {
        BlockId b = table[j];
        if (pool->ref_count(b) > 1) {
          BlockId copy;
          absl::Status st = pool->Allocate(absl::MakeSpan(&copy, 1), now());
          PAGEKV_CHECK(st.ok(),
                       "copy-on-write allocation failed after the "
                       "capacity check passed: {}",
                       st.ToString());
          fills.Clear(copy);
          SetFill(copy, fills.fill(b));
          copies.push_back({b, copy, GroupId(static_cast<uint32_t>(g))});
          ReleaseBlock(b, kNullBlock, s, now());
          table[j] = copy;
          ++cow_copies;
          ++blocks_allocated;
        } else if (pool->KeepsContent(b)) {
          UnindexBlock(g, b);
        }
      }
    }
    if (const int64_t grow = span.Growth(table.size()); grow > 0) {
      scratch.resize(static_cast<size_t>(grow));
      absl::Status st = pool->Allocate(absl::MakeSpan(scratch), now());
      PAGEKV_CHECK(st.ok(),
                   "allocation failed after the capacity check "
                   "passed: {}",
                   st.ToString());
      for (BlockId b : scratch) {
        fills.Clear(b);
        table.push_back(b);
      }
      blocks_allocated += scratch.size();
    }
    for (int64_t j = span.first_write; j < span.write_end; ++j) {
      SetFill(table[j],
              static_cast<uint32_t>(std::min(bs, c + num_new - j * bs)));
    }
  }
  s.hot->num_computed = static_cast<int32_t>(c + num_new);
  IndexFullBlocks(s);
  ReleaseOutOfWindow(s, c);
  s.SyncTableMirror();
  if (any_state) SyncStateSharing(s);
}

void ManagerState::AppendNewBlock(Sequence& s) {
  PAGEKV_DCHECK(s.tables.size() == 1 || fixed_state_groups,
                "the decode fast path grows group 0 only");
  BlockId b;
  absl::Status st = pool->Allocate(absl::MakeSpan(&b, 1), EvictionNow(1));
  PAGEKV_CHECK(st.ok(), "allocation failed after the capacity check passed: {}",
               st.ToString());
  fills.Clear(b);
  s.tables[0].push_back(b);
  ++blocks_allocated;
  ++s.hot->num_blocks;
  s.hot->last_block = b;
}

void ManagerState::ReleaseOutOfWindow(Sequence& s, int64_t first_new) {
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!groups[g].windowed()) continue;
    // The step's first new token attends from its window's or chunk's
    // start: blocks wholly before that are no longer read in this step.
    const uint32_t drop_to =
        static_cast<uint32_t>(groups[g].rule.ReadStartBlock(first_new));
    if (drop_to <= s.dropped[g]) continue;
    std::vector<BlockId>& table = s.tables[g];
    const int64_t now_us = clock->NowMicros();
    for (uint32_t j = drop_to; j-- > s.dropped[g];) {
      BlockId parent = j > 0 ? table[j - 1] : kNullBlock;
      ReleaseBlock(table[j], parent, s, now_us);
      table[j] = kNullBlock;
    }
    s.dropped[g] = drop_to;
  }
}

void ManagerState::ReleaseTail(Sequence& s, size_t keep_blocks) {
  const int64_t now_us = clock->NowMicros();
  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<BlockId>& table = s.tables[g];
    // A state group keeps what its computed tokens need (its table is not
    // one entry per block).
    const size_t keep =
        groups[g].is_state() && keep_blocks > 0
            ? std::min(table.size(),
                       static_cast<size_t>(
                           groups[g].rule.StateTableLength(s.num_computed())))
            : keep_blocks;
    while (table.size() > keep) {
      BlockId b = table.back();
      table.pop_back();
      if (b == kNullBlock) continue;
      ReleaseBlock(b, table.empty() ? kNullBlock : table.back(), s, now_us);
    }
    s.dropped[g] = std::min<uint32_t>(s.dropped[g], table.size());
  }
  s.SyncTableMirror();
}

void ManagerState::AcquireBlock(BlockId block) {
  if (pool->state(block) == BlockState::kCached) fills.OnReuse(block);
  pool->Acquire(block);
}

void ManagerState::ReleaseBlock(BlockId block, BlockId parent,
                                const Sequence& s, int64_t now_us) {
  EvictionHints hints;
  hints.parent = parent;
  hints.priority = s.options.retention_priority;
  hints.priority_expiry_us = s.options.retention_duration_us < 0
                                 ? -1
                                 : now_us + s.options.retention_duration_us;
  hints.now_us = now_us;
  pool->Release(block, hints);
  if (pool->state(block) != BlockState::kInUse) fills.OnLastRelease(block);
}

}  // namespace pagekv::internal
