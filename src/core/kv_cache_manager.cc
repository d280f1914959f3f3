// The KVCacheManager operations: argument checks, capacity checks, then the
// mutation. Every check comes before the first change, so a failed call
// leaves the manager exactly as it was.
#include "pagekv/kv_cache_manager.h"

#include <limits>

#include "absl/container/flat_hash_set.h"
#include "core/call_recorder.h"
#include "core/check.h"
#include "core/manager_state.h"
#include "core/status_macros.h"
#include "fmt/format.h"
#include "pagekv/block_math.h"

namespace pagekv {

using internal::ManagerState;
using internal::SeqHot;
using internal::Sequence;
using internal::Walk;

namespace {

absl::Status OutOfBlocks(int64_t need, const BlockPool& pool,
                         std::string_view what) {
  return absl::ResourceExhaustedError(fmt::format(
      "out of KV blocks: {} needs {} blocks, {} free and {} cached of {}", what,
      need, pool.NumFree(), pool.NumCached(), pool.num_blocks()));
}

// Reserve's precondition, written so that no sum can overflow.
absl::Status CheckReservable(SeqId seq, const SeqHot& h, int64_t num_new) {
  if (num_new > h.num_known - h.num_computed) {
    return absl::InvalidArgumentError(fmt::format(
        "sequence {} has {} known tokens, {} computed: cannot compute {} "
        "more; append the tokens first",
        seq.value(), h.num_known, h.num_computed, num_new));
  }
  return absl::OkStatus();
}

// Checks `requests` as Reserve would, and adds each to `plan` in order.
absl::Status PlanReserve(const ManagerState& st,
                         absl::Span<const ReserveRequest> requests,
                         internal::ReservationPlan& plan) {
  for (const ReserveRequest& r : requests) {
    PAGEKV_ASSIGN_OR_RETURN(const Sequence* s, st.Lookup(r.seq));
    PAGEKV_RETURN_IF_ERROR(
        internal::CheckTokenCounts(r.num_new_tokens, r.num_lookahead_tokens));
    PAGEKV_RETURN_IF_ERROR(CheckReservable(r.seq, *s->hot, r.num_new_tokens));
    plan.Add(*s, r.num_new_tokens, r.num_lookahead_tokens, *st.pool, st.groups);
  }
  return absl::OkStatus();
}

// Why `seq` cannot take a token in the decode batch stamped `epoch`: the
// checks of AppendDecodeTokens' first pass, spelled out for the message.
[[gnu::cold]] absl::Status RefuseDecode(ManagerState& st, SeqId seq,
                                        uint64_t epoch) {
  const SeqHot* h = st.seqs.FindHot(seq);
  if (h == nullptr) return st.Lookup(seq).status();
  if (h->batch_mark == epoch) {
    return absl::InvalidArgumentError(fmt::format(
        "sequence {} appears twice in one decode batch", seq.value()));
  }
  if (h->num_computed != h->num_known) {
    return absl::FailedPreconditionError(fmt::format(
        "sequence {} has {} known tokens but {} computed: finish its prefill "
        "before decoding",
        seq.value(), h->num_known, h->num_computed));
  }
  return absl::InvalidArgumentError(
      fmt::format("sequence {} is at the 2^31 - 1 token limit", seq.value()));
}

// Adds the general-path members of a decode batch (the fast path's are
// counted inline) to `plan`.
[[gnu::noinline]] void PlanGeneralDecodes(
    const ManagerState& st, absl::Span<const ManagerState::DecodePlan> batch,
    internal::ReservationPlan& plan) {
  for (const ManagerState::DecodePlan& d : batch) {
    if (d.kind != ManagerState::DecodeSlot::kGeneral) continue;
    plan.Add(st.seqs.at(d.slot), 1, 0, *st.pool, st.groups);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<KVCacheManager>> KVCacheManager::Create(
    KVCacheConfig config) {
  if (config.call_log.mode != CallLogOptions::Mode::kOff) [[unlikely]] {
    return internal::CallRecorder::CreateManager(std::move(config));
  }
  PAGEKV_RETURN_IF_ERROR(config.Validate());
  PAGEKV_ASSIGN_OR_RETURN(std::unique_ptr<EvictionPolicy> policy,
                          config.MakeEvictionPolicy());
  PAGEKV_ASSIGN_OR_RETURN(
      std::unique_ptr<BlockPool> pool,
      BlockPool::Create(static_cast<uint64_t>(config.num_blocks),
                        std::move(policy)));
  return std::unique_ptr<KVCacheManager>(new KVCacheManager(
      std::make_unique<ManagerState>(std::move(config), std::move(pool))));
}

KVCacheManager::KVCacheManager(std::unique_ptr<ManagerState> state)
    : state_(std::move(state)) {}

KVCacheManager::~KVCacheManager() = default;

const KVCacheConfig& KVCacheManager::config() const { return state_->config; }
const BlockPool& KVCacheManager::pool() const { return *state_->pool; }

absl::StatusOr<SeqId> KVCacheManager::AddSequence(
    absl::Span<const TokenId> prompt, const SequenceOptions& options) {
  PAGEKV_RECORD_CALL(AddSequence, prompt, options);
  PAGEKV_RETURN_IF_ERROR(options.Validate());
  if (prompt.size() > size_t{std::numeric_limits<int32_t>::max()}) {
    return absl::InvalidArgumentError(
        fmt::format("prompt of {} tokens: at most 2^31 - 1 tokens per sequence",
                    prompt.size()));
  }
  Sequence* s = nullptr;
  SeqId id = state_->seqs.Add(&s);
  s->options = options;
  s->hot->num_known = static_cast<int32_t>(prompt.size());
  if (state_->config.enable_prefix_caching) {
    s->tokens.assign(prompt.begin(), prompt.end());
  }
  return id;
}

absl::Status KVCacheManager::AppendTokens(SeqId seq,
                                          absl::Span<const TokenId> tokens) {
  PAGEKV_RECORD_CALL(AppendTokens, seq, tokens);
  ManagerState& st = *state_;
  SeqHot* h = st.seqs.FindHot(seq);
  if (h == nullptr) return st.Lookup(seq).status();
  if (tokens.size() > size_t{kMaxSequenceTokens} - size_t(h->num_known)) {
    return absl::InvalidArgumentError(
        fmt::format("sequence {}: {} + {} tokens exceeds 2^31 - 1", seq.value(),
                    h->num_known, tokens.size()));
  }
  h->num_known += static_cast<int32_t>(tokens.size());
  if (st.config.enable_prefix_caching) {
    std::vector<TokenId>& kept = st.seqs.at(seq).tokens;
    kept.insert(kept.end(), tokens.begin(), tokens.end());
  }
  return absl::OkStatus();
}

absl::StatusOr<PrefixMatch> KVCacheManager::MatchPrefix(SeqId seq) const {
  PAGEKV_RECORD_CALL(MatchPrefix, seq);
  PAGEKV_ASSIGN_OR_RETURN(const Sequence* s, state_->Lookup(seq));
  if (s->num_computed() != 0 || s->hot->num_blocks != 0) {
    return absl::FailedPreconditionError(fmt::format(
        "sequence {} already holds blocks; match before admitting it",
        seq.value()));
  }
  Walk walk;
  state_->WalkPrefix(*s, &walk);
  return state_->MatchOf(s->tokens, s->keys, s->options.hash_extras, walk);
}

PrefixMatch KVCacheManager::MatchPrefix(absl::Span<const TokenId> prompt,
                                        const BlockHashExtras& extras) const {
  PAGEKV_RECORD_CALL(MatchPrefix, prompt, extras);
  // Per-thread scratch, not members, so concurrent const calls are safe;
  // kept across calls so a probe allocates nothing.
  thread_local std::vector<uint64_t> keys;
  thread_local Walk walk;
  keys.clear();
  state_->WalkPrefix(prompt, extras, keys, &walk);
  return state_->MatchOf(prompt, keys, extras, walk);
}

absl::StatusOr<Admission> KVCacheManager::Admit(SeqId seq,
                                                int64_t max_new_tokens) {
  PAGEKV_RECORD_CALL(Admit, seq, max_new_tokens);
  ReserveRequest request{seq, max_new_tokens, 0};
  auto admitted = AdmitBatch(absl::MakeConstSpan(&request, 1));
  if (!admitted.ok()) return admitted.status();
  return (*admitted)[0];
}

absl::StatusOr<std::vector<Admission>> KVCacheManager::AdmitBatch(
    absl::Span<const ReserveRequest> requests) {
  PAGEKV_RECORD_CALL(AdmitBatch, requests);
  ManagerState& st = *state_;
  internal::AdmissionPlan plan;
  PAGEKV_RETURN_IF_ERROR(st.PlanAdmission(requests, &plan));
  if (plan.blocks > st.pool->NumAvailable()) {
    ++st.allocation_failures;
    return OutOfBlocks(plan.blocks, *st.pool, "admission");
  }
  PAGEKV_EXPENSIVE_VERIFY(st);
  st.ApplyAdmission(plan, requests);
  PAGEKV_EXPENSIVE_VERIFY(st);
  return std::move(plan.admissions);
}

absl::Status KVCacheManager::Reserve(SeqId seq, int64_t num_new_tokens,
                                     int64_t num_lookahead_tokens) {
  PAGEKV_RECORD_CALL(Reserve, seq, num_new_tokens, num_lookahead_tokens);
  ManagerState& st = *state_;
  SeqHot* h = st.seqs.FindHot(seq);
  if (h == nullptr) return st.Lookup(seq).status();
  PAGEKV_RETURN_IF_ERROR(
      internal::CheckTokenCounts(num_new_tokens, num_lookahead_tokens));
  PAGEKV_RETURN_IF_ERROR(CheckReservable(seq, *h, num_new_tokens));
  // One token with no lookahead (a decode step) is planned from the hot
  // record alone; the Sequence is read only on the general path.
  using Kind = ManagerState::DecodeSlot;
  const uint32_t slot = static_cast<uint32_t>(seq.value());
  const ManagerState::DecodePlan plan =
      num_new_tokens == 1 && num_lookahead_tokens == 0
          ? st.PlanDecode(*h, slot)
          : ManagerState::DecodePlan{h, slot, Kind::kGeneral, 0};
  int64_t need = plan.kind == Kind::kNewBlock ? 1 : 0;
  if (plan.kind == Kind::kGeneral) {
    need = st.BlocksForReserve(st.seqs.at(seq), num_new_tokens,
                               num_lookahead_tokens);
  }
  if (need > st.pool->NumAvailable()) {
    ++st.allocation_failures;
    return OutOfBlocks(need, *st.pool, fmt::format("sequence {}", seq.value()));
  }
  PAGEKV_EXPENSIVE_VERIFY(st);
  if (plan.kind != Kind::kGeneral) {
    if (st.WriteDecodeToken(plan)) st.IndexFullBlocks(st.seqs.at(slot));
  } else {
    st.ApplyReserve(st.seqs.at(slot), num_new_tokens, num_lookahead_tokens);
  }
  PAGEKV_EXPENSIVE_VERIFY(st);
  return absl::OkStatus();
}

absl::Status KVCacheManager::AppendDecodeTokens(
    absl::Span<const SeqId> seqs, absl::Span<const TokenId> tokens) {
  PAGEKV_RECORD_CALL(AppendDecodeTokens, seqs, tokens);
  ManagerState& st = *state_;
  if (seqs.size() != tokens.size()) {
    return absl::InvalidArgumentError(
        fmt::format("{} sequences but {} tokens", seqs.size(), tokens.size()));
  }
  // Pass 1: validate, plan and count, changing nothing. It reads only the
  // batch's hot records (32 bytes each, see SeqHot) and the pool records of
  // their last blocks; its error messages are built out of line.
  using Kind = ManagerState::DecodeSlot;
  const uint64_t epoch = ++st.batch_epoch;
  st.batch.resize(seqs.size());
  ManagerState::DecodePlan* const batch = st.batch.data();
  int64_t new_blocks = 0;  // fast-path sequences starting a block
  bool any_general = false;
  for (size_t i = 0; i < seqs.size(); ++i) {
    SeqHot* h = st.seqs.FindHot(seqs[i]);
    if (h == nullptr || h->batch_mark == epoch ||
        h->num_computed != h->num_known || h->num_known >= kMaxSequenceTokens)
        [[unlikely]] {
      return RefuseDecode(st, seqs[i], epoch);
    }
    h->batch_mark = epoch;
    const uint32_t slot = static_cast<uint32_t>(seqs[i].value());
    batch[i] = st.PlanDecode(*h, slot);
    const Kind kind = batch[i].kind;
    if (kind == Kind::kNewBlock) {
      ++new_blocks;
      // Pass 2 pushes onto its table: start loading the Sequence now.
      __builtin_prefetch(&st.seqs.at(slot));
    }
    any_general = any_general || kind == Kind::kGeneral;
  }
  int64_t need = new_blocks;
  if (any_general) [[unlikely]] {
    internal::ReservationPlan plan;
    plan.AddBlocks(new_blocks);
    PlanGeneralDecodes(st, st.batch, plan);
    need = plan.Blocks(*st.pool);
  }
  if (need > st.pool->NumAvailable()) {
    ++st.allocation_failures;
    return OutOfBlocks(need, *st.pool, "decode step");
  }
  PAGEKV_EXPENSIVE_VERIFY(st);
  // Pass 2: apply. A fast-path plan from pass 1 still holds: applying one
  // sequence's step cannot make another's last block shared or indexed, or
  // change where its table ends or how full its last block is. Blocks that fill
  // up are indexed together (before any general-path sequence, so the order of
  // insertions is the batch order).
  const bool keep_tokens = st.config.enable_prefix_caching;
  st.filled.clear();
  for (size_t i = 0; i < seqs.size(); ++i) {
    // The table ends of new blocks a few sequences ahead: a scattered line
    // each, found through the Sequence prefetched in pass 1.
    constexpr size_t kAhead = 8;
    if (i + kAhead < seqs.size() && batch[i + kAhead].kind == Kind::kNewBlock) {
      const std::vector<BlockId>& table =
          st.seqs.at(batch[i + kAhead].slot).tables[0];
      __builtin_prefetch(table.data() + table.size(), 1);
    }
    const ManagerState::DecodePlan& plan = batch[i];
    ++plan.hot->num_known;
    if (keep_tokens) st.seqs.at(plan.slot).tokens.push_back(tokens[i]);
    if (plan.kind != Kind::kGeneral) {
      if (st.WriteDecodeToken(plan)) st.filled.push_back(plan.slot);
    } else {
      st.IndexFilled(st.filled);
      st.filled.clear();
      st.ApplyReserve(st.seqs.at(plan.slot), 1, 0);
    }
  }
  st.IndexFilled(st.filled);
  PAGEKV_EXPENSIVE_VERIFY(st);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> KVCacheManager::BlocksToReserve(
    SeqId seq, int64_t num_new_tokens, int64_t num_lookahead_tokens) const {
  PAGEKV_RECORD_CALL(BlocksToReserve, seq, num_new_tokens,
                     num_lookahead_tokens);
  ReserveRequest request{seq, num_new_tokens, num_lookahead_tokens};
  internal::ReservationPlan plan;
  PAGEKV_RETURN_IF_ERROR(
      PlanReserve(*state_, absl::MakeConstSpan(&request, 1), plan));
  return plan.Blocks(*state_->pool);
}

absl::StatusOr<int64_t> KVCacheManager::BlocksToAdmit(
    SeqId seq, int64_t max_new_tokens) const {
  PAGEKV_RECORD_CALL(BlocksToAdmit, seq, max_new_tokens);
  ReserveRequest request{seq, max_new_tokens, 0};
  internal::AdmissionPlan plan;
  PAGEKV_RETURN_IF_ERROR(
      state_->PlanAdmission(absl::MakeConstSpan(&request, 1), &plan));
  return plan.blocks;
}

absl::StatusOr<bool> KVCacheManager::CanReserve(
    absl::Span<const ReserveRequest> requests) const {
  PAGEKV_RECORD_CALL(CanReserve, requests);
  internal::ReservationPlan plan;
  PAGEKV_RETURN_IF_ERROR(PlanReserve(*state_, requests, plan));
  return plan.Blocks(*state_->pool) <= state_->pool->NumAvailable();
}

absl::Status KVCacheManager::Truncate(SeqId seq, int64_t num_tokens) {
  PAGEKV_RECORD_CALL(Truncate, seq, num_tokens);
  ManagerState& st = *state_;
  auto s = st.Lookup(seq);
  if (!s.ok()) return s.status();
  Sequence& sq = **s;
  if (num_tokens < 0 || num_tokens > sq.num_known()) {
    return absl::InvalidArgumentError(
        fmt::format("cannot truncate sequence {} of {} tokens to {} tokens",
                    seq.value(), sq.num_known(), num_tokens));
  }
  const int64_t bs = block_size();
  const int64_t computed = std::min(sq.num_computed(), num_tokens);
  PAGEKV_RETURN_IF_ERROR(st.CheckTruncate(sq, computed));
  PAGEKV_EXPENSIVE_VERIFY(st);
  if (st.config.enable_prefix_caching) {
    sq.tokens.resize(static_cast<size_t>(num_tokens));
  }
  sq.keys.resize(
      std::min(sq.keys.size(), static_cast<size_t>(num_tokens / bs)));
  sq.hot->num_known = static_cast<int32_t>(num_tokens);
  sq.hot->num_computed = static_cast<int32_t>(computed);
  sq.num_indexed = std::min(sq.num_indexed, static_cast<size_t>(computed / bs));
  const size_t keep = static_cast<size_t>(BlocksForTokens(num_tokens, bs));
  st.ReleaseTail(sq, keep);
  // A privately held partial last block now holds fewer tokens.
  if (computed % bs != 0) {
    for (size_t g = 0; g < st.groups.size(); ++g) {
      if (st.groups[g].is_state()) continue;
      BlockId last = sq.tables[g][computed / bs];
      if (st.pool->ref_count(last) == 1) {
        st.SetFill(last, static_cast<uint32_t>(computed % bs));
      }
    }
  }
  PAGEKV_EXPENSIVE_VERIFY(st);
  return absl::OkStatus();
}

absl::StatusOr<SeqId> KVCacheManager::Fork(SeqId seq) {
  PAGEKV_RECORD_CALL(Fork, seq);
  ManagerState& st = *state_;
  auto s = st.Lookup(seq);
  if (!s.ok()) return s.status();
  const Sequence& parent = **s;
  Sequence* child = nullptr;
  SeqId id = st.seqs.Add(&child);
  // Add may have grown the slots; parent is stable (owned by pointer).
  child->options = parent.options;
  child->tokens = parent.tokens;
  child->keys = parent.keys;
  child->hot->num_known = parent.hot->num_known;
  child->hot->num_computed = parent.hot->num_computed;
  child->num_indexed = parent.num_indexed;
  child->tables = parent.tables;
  child->dropped = parent.dropped;
  child->SyncTableMirror();
  for (const auto& table : child->tables) {
    for (BlockId b : table) {
      if (b != kNullBlock) st.AcquireBlock(b);
    }
  }
  if (st.any_state) {
    st.SyncStateSharing(*child);
    st.SyncStateSharing(*st.seqs.Lookup(seq).value());
  }
  PAGEKV_EXPENSIVE_VERIFY(st);
  return id;
}

absl::Status KVCacheManager::Release(SeqId seq) {
  PAGEKV_RECORD_CALL(Release, seq);
  ManagerState& st = *state_;
  auto s = st.Lookup(seq);
  if (!s.ok()) return s.status();
  st.ReleaseTail(**s, 0);
  st.seqs.Free(seq);
  PAGEKV_EXPENSIVE_VERIFY(st);
  return absl::OkStatus();
}

absl::Status KVCacheManager::Reset() {
  PAGEKV_RECORD_CALL(Reset);
  ManagerState& st = *state_;
  if (st.seqs.num_live() > 0) {
    return absl::FailedPreconditionError(
        fmt::format("cannot reset the cache while {} sequences are live",
                    st.seqs.num_live()));
  }
  if (st.host != nullptr && !st.host->idle()) {
    return absl::FailedPreconditionError(
        "cannot reset the cache while host-tier transfers are in flight");
  }
  if (st.host != nullptr) st.host->Clear();
  st.pool->DropAllCached();
  for (auto& group : st.groups) {
    if (group.index != nullptr) group.index->Clear();
  }
  if (st.config.enable_kv_events)
    st.events.emplace_back(AllBlocksClearedEvent{});
  PAGEKV_EXPENSIVE_VERIFY(st);
  return absl::OkStatus();
}

std::vector<BlockCopy> KVCacheManager::DrainCopies() {
  PAGEKV_RECORD_CALL(DrainCopies);
  std::vector<BlockCopy> out;
  out.swap(state_->copies);
  // The step's scheduling is over: the state checkpoints it cached are
  // computed by its kernels, so the next step may hit them.
  state_->EndStep();
  return out;
}

std::vector<KVEvent> KVCacheManager::DrainEvents() {
  PAGEKV_RECORD_CALL(DrainEvents);
  std::vector<KVEvent> out;
  out.swap(state_->events);
  if (state_->host != nullptr) state_->host->DrainEvents(&out);
  return out;
}

absl::Status KVCacheManager::Verify() const {
  PAGEKV_RECORD_CALL(Verify);
  return state_->Verify();
}

}  // namespace pagekv
