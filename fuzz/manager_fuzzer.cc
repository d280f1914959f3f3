// libFuzzer target: drives a KVCacheManager with an operation sequence
// decoded from the input and checks, after every operation, that
//   - Verify() passes (pool states, ref counts == table references, index),
//   - every live sequence reads its own tokens back through its block tables
//     from a shadow KV memory written exactly as an engine would (copies
//     first, then the step's new tokens), so a wrong prefix hit, a missed
//     copy-on-write or a block freed while referenced shows up,
//   - the dry runs (BlocksToReserve, BlocksToAdmit, CanReserve) agree with
//     what Reserve/Admit then do, and
//   - a failed operation changes nothing (tables, ref counts, stats other
//     than allocation_failures, pending copies).
//
// The first bytes choose the configuration (ConsumeConfig, in
// manager_fuzz_state.h with the reference records and snapshots); the
// shadow KV memory is ShadowKv (manager_fuzz_shadow.h). Then each step
// reads a clock advance and an operation number (0..13), and the
// operation's own arguments; Step() dispatches to one function per
// operation. The byte layout is what the checked-in corpora mean: change
// it and they stop exercising what they were kept for.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "manager_fuzz_shadow.h"
#include "manager_fuzz_state.h"
#include "pagekv/clock.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv {
namespace {

class Harness {
 public:
  Harness(FuzzedDataProvider& in) : in_(in) {}

  bool Init() {
    KVCacheConfig c = ConsumeConfig(in_);
    c.clock = &clock_;
    if (trace_) {
      std::fprintf(
          stderr, "block_size %d, %s, %lld blocks, groups:", c.block_size,
          c.eviction_policy.c_str(), static_cast<long long>(c.num_blocks));
      for (const KVCacheGroupSpec& g : c.groups) {
        std::fprintf(stderr, " %d", g.sliding_window);
      }
      std::fprintf(stderr, "\n");
    }
    auto m = KVCacheManager::Create(c);
    FUZZ_CHECK(m.ok(), "%s", std::string(m.status().ToString()).c_str());
    manager_ = *std::move(m);
    bs_ = c.block_size;
    shadow_.Init(c);
    return true;
  }

  void Run() {
    int steps = 0;
    while (in_.remaining_bytes() > 0 && steps++ < 400) {
      Step();
      if (trace_) Dump();
      CheckAll();
    }
    // Tear down: releasing everything must leave no block in use.
    for (const auto& [id, r] : ref_)
      FUZZ_CHECK_OK(manager_->Release(SeqId(id)));
    ref_.clear();
    CheckAll();
    FUZZ_CHECK(manager_->pool().NumInUse() == 0, "%u blocks still in use",
               manager_->pool().NumInUse());
    FUZZ_CHECK_OK(manager_->Reset());
    FUZZ_CHECK(manager_->pool().NumCached() == 0, "cached after reset");
    CheckAll();
  }

 private:
  std::vector<TokenId> Prompt() {
    // Shared prefixes make hits; tokens from a tiny alphabet make equal
    // blocks with different parents.
    static const std::vector<TokenId> kPrefix = [] {
      std::vector<TokenId> v;
      for (int i = 0; i < 64; ++i) v.push_back(1000 + i);
      return v;
    }();
    std::vector<TokenId> p;
    const int prefix_len = in_.ConsumeIntegralInRange<int>(0, 40);
    p.assign(kPrefix.begin(), kPrefix.begin() + prefix_len);
    const int suffix = in_.ConsumeIntegralInRange<int>(0, 24);
    for (int i = 0; i < suffix; ++i) {
      p.push_back(in_.ConsumeIntegralInRange<TokenId>(0, 3));
    }
    return p;
  }

  // Picks a live sequence id, a stale/unknown one now and then.
  SeqId Pick() {
    if (ref_.empty() || in_.ConsumeIntegralInRange<int>(0, 31) == 0) {
      return SeqId(in_.ConsumeIntegral<uint64_t>());
    }
    auto it = ref_.begin();
    std::advance(it, in_.ConsumeIntegralInRange<size_t>(0, ref_.size() - 1));
    return SeqId(it->first);
  }

  bool Live(SeqId s) const { return ref_.count(s.value()) != 0; }

  bool Admittable(SeqId s) const {
    return ref_.at(s.value()).computed == 0 &&
           manager_->BlockTable(s, GroupId(0))->empty();
  }

  Snapshot Take() const { return TakeSnapshot(*manager_, ref_); }

  // A failed operation: state unchanged; allocation_failures may count it.
  void ExpectUnchanged(const Snapshot& before, const absl::Status& st) const {
    CheckUnchanged(before, Take(), st);
  }

  // The engine's work for a step: copies first, then the new tokens.
  void WriteStep(SeqId id, int64_t from, int64_t to) {
    shadow_.WriteStep(*manager_, id, ref_.at(id.value()), from, to);
  }

  void CheckAll() {
    FUZZ_CHECK_OK(manager_->Verify());
    // Copies must be drained right after the operation that made them.
    FUZZ_CHECK(manager_->DrainCopies().empty(), "undrained copies");
    manager_->DrainEvents();
    const KVCacheStats stats = manager_->Stats();
    FUZZ_CHECK(stats.num_sequences == ref_.size(), "num_sequences %llu vs %zu",
               static_cast<unsigned long long>(stats.num_sequences),
               ref_.size());
    for (const auto& [id, r] : ref_) {
      const SeqId s(id);
      FUZZ_CHECK(*manager_->NumKnownTokens(s) == int64_t(r.tokens.size()),
                 "known tokens of %llu", static_cast<unsigned long long>(id));
      FUZZ_CHECK(*manager_->NumComputedTokens(s) == r.computed,
                 "computed tokens of %llu",
                 static_cast<unsigned long long>(id));
      shadow_.CheckSequence(*manager_, id, r);
    }
  }

  // With PAGEKV_FUZZ_TRACE set, prints each operation and the tables after
  // it (for minimizing a crash input by hand).
  void Dump() const { PrintTables(*manager_, ref_); }

  // One operation: a clock advance, the operation number, its arguments.
  void Step() {
    clock_.Advance(in_.ConsumeIntegralInRange<int64_t>(0, 1000));
    const int op = in_.ConsumeIntegralInRange<int>(0, 13);
    if (trace_) std::fprintf(stderr, "op %d\n", op);
    const Snapshot before = Take();
    switch (op) {
      case 0:
        OpAdd();
        break;
      case 1:
        OpMatch(before);
        break;
      case 2:
        OpAdmit(before);
        break;
      case 3:
        OpAdmitBatch(before);
        break;
      case 4:
        OpAppend(before);
        break;
      case 5:
        OpReserve(/*decode=*/false);
        break;
      case 6:
        OpReserve(/*decode=*/true);
        break;
      case 7:
        OpFork(before);
        break;
      case 8:
        OpTruncate(before);
        break;
      case 9:
      case 10:
        OpRelease(before);
        break;
      case 11:
        OpReset(before);
        break;
      case 13:
        OpDecodeBatch(before);
        break;
      default:  // 12
        OpDryRuns(before);
        break;
    }
  }

  // --- the operations, each reading its arguments from the input ---

  void OpAdd() {
    auto prompt = Prompt();
    SequenceOptions options;
    options.hash_extras.cache_salt = in_.ConsumeIntegralInRange<int>(0, 5) == 0;
    options.retention_priority = in_.ConsumeIntegralInRange<int32_t>(0, 100);
    options.retention_duration_us =
        in_.ConsumeIntegralInRange<int64_t>(-1, 3000);
    auto s = manager_->AddSequence(prompt, options);
    FUZZ_CHECK(s.ok(), "add");
    FUZZ_CHECK(!Live(*s), "reused a live id");
    ref_[s->value()] = {prompt, 0, options.hash_extras};
  }

  // Read-only: MatchPrefix(seq) agrees with MatchPrefix(prompt, extras).
  void OpMatch(const Snapshot& before) {
    const SeqId s = Pick();
    auto m = manager_->MatchPrefix(s);
    FUZZ_CHECK(SameState(before, Take()), "MatchPrefix changed state");
    if (!Live(s) || !Admittable(s)) {
      FUZZ_CHECK(!m.ok(), "match of an unknown or admitted sequence");
      return;
    }
    FUZZ_CHECK(m.ok(), "match");
    {
      const RefSeq& r = ref_.at(s.value());
      const PrefixMatch by_prompt = manager_->MatchPrefix(r.tokens, r.extras);
      FUZZ_CHECK(by_prompt.num_tokens == m->num_tokens &&
                     by_prompt.num_blocks == m->num_blocks &&
                     by_prompt.num_evictable_blocks == m->num_evictable_blocks,
                 "MatchPrefix(prompt) %lld vs MatchPrefix(seq) %lld",
                 static_cast<long long>(by_prompt.num_tokens),
                 static_cast<long long>(m->num_tokens));
      FUZZ_CHECK(SameState(before, Take()),
                 "MatchPrefix(prompt) changed state");
    }
    const int64_t known = ref_.at(s.value()).tokens.size();
    FUZZ_CHECK(m->num_tokens == int64_t{m->num_blocks} * bs_, "align");
    FUZZ_CHECK(m->num_tokens <= std::max<int64_t>(0, known - 1),
               "hit %lld of %lld tokens", static_cast<long long>(m->num_tokens),
               static_cast<long long>(known));
  }

  void OpAdmit(const Snapshot& before) {
    const SeqId s = Pick();
    const int64_t n = in_.ConsumeIntegralInRange<int64_t>(-1, 40);
    Admit({{s, n, 0}}, before);
  }

  // A batch of one to four, maybe with a duplicate.
  void OpAdmitBatch(const Snapshot& before) {
    std::vector<ReserveRequest> batch;
    const int k = in_.ConsumeIntegralInRange<int>(1, 4);
    for (int i = 0; i < k; ++i) {
      batch.push_back({Pick(), in_.ConsumeIntegralInRange<int64_t>(0, 30),
                       in_.ConsumeIntegralInRange<int64_t>(0, 3)});
    }
    Admit(batch, before);
  }

  void OpAppend(const Snapshot& before) {
    const SeqId s = Pick();
    std::vector<TokenId> t;
    const int k = in_.ConsumeIntegralInRange<int>(0, 5);
    for (int i = 0; i < k; ++i) {
      t.push_back(in_.ConsumeIntegralInRange<TokenId>(0, 3));
    }
    const absl::Status st = manager_->AppendTokens(s, t);
    if (!Live(s)) {
      FUZZ_CHECK(!st.ok(), "append to an unknown sequence");
      ExpectUnchanged(before, st);
      return;
    }
    FUZZ_CHECK_OK(st);
    auto& tokens = ref_.at(s.value()).tokens;
    tokens.insert(tokens.end(), t.begin(), t.end());
  }

  // A prefill chunk, or (decode) one appended token and whatever is left to
  // compute, with lookahead.
  void OpReserve(bool decode) {
    const SeqId s = Pick();
    int64_t n = in_.ConsumeIntegralInRange<int64_t>(-1, 12);
    const int64_t lookahead =
        in_.ConsumeBool() ? 0 : in_.ConsumeIntegralInRange<int64_t>(0, 6);
    if (Live(s) && decode) {  // append then compute what's left
      RefSeq& r = ref_.at(s.value());
      if (r.computed == int64_t(r.tokens.size())) {
        const TokenId t = in_.ConsumeIntegralInRange<TokenId>(0, 3);
        FUZZ_CHECK_OK(manager_->AppendTokens(s, {t}));
        r.tokens.push_back(t);
      }
      n = int64_t(r.tokens.size()) - r.computed;
    }
    Reserve(s, n, lookahead);
  }

  void OpFork(const Snapshot& before) {
    const SeqId s = Pick();
    auto child = manager_->Fork(s);
    if (!Live(s)) {
      FUZZ_CHECK(!child.ok(), "fork of an unknown sequence");
      ExpectUnchanged(before, child.status());
      return;
    }
    FUZZ_CHECK(child.ok(), "fork");
    FUZZ_CHECK(!Live(*child), "fork reused a live id");
    ref_[child->value()] = ref_.at(s.value());
  }

  void OpTruncate(const Snapshot& before) {
    const SeqId s = Pick();
    const int64_t known =
        Live(s) ? int64_t(ref_.at(s.value()).tokens.size()) : 0;
    const int64_t n = in_.ConsumeIntegralInRange<int64_t>(-1, known + 1);
    const absl::Status st = manager_->Truncate(s, n);
    if (trace_) {
      std::fprintf(stderr, "truncate %llu to %lld: %s\n",
                   static_cast<unsigned long long>(s.value()),
                   static_cast<long long>(n), st.ToString().c_str());
    }
    if (!Live(s) || n < 0 || n > known) {
      FUZZ_CHECK(st.code() == absl::StatusCode::kInvalidArgument,
                 "truncate to %lld of %lld: %s", static_cast<long long>(n),
                 static_cast<long long>(known),
                 std::string(st.ToString()).c_str());
    }
    if (!st.ok()) {
      FUZZ_CHECK(st.code() == absl::StatusCode::kInvalidArgument ||
                     st.code() == absl::StatusCode::kFailedPrecondition,
                 "truncate: %s", std::string(st.ToString()).c_str());
      ExpectUnchanged(before, st);
      return;
    }
    RefSeq& r = ref_.at(s.value());
    const bool rolled_back = n < r.computed;
    r.tokens.resize(n);
    r.computed = std::min(r.computed, n);
    if (rolled_back) shadow_.RestoreStates(*manager_, s, r);
  }

  void OpRelease(const Snapshot& before) {
    const SeqId s = Pick();
    const absl::Status st = manager_->Release(s);
    if (!Live(s)) {
      FUZZ_CHECK(!st.ok(), "release of an unknown sequence");
      ExpectUnchanged(before, st);
      return;
    }
    FUZZ_CHECK_OK(st);
    ref_.erase(s.value());
  }

  void OpReset(const Snapshot& before) {
    const absl::Status st = manager_->Reset();
    if (!ref_.empty()) {
      FUZZ_CHECK(st.code() == absl::StatusCode::kFailedPrecondition,
                 "reset with live sequences");
      ExpectUnchanged(before, st);
      return;
    }
    FUZZ_CHECK_OK(st);
    FUZZ_CHECK(manager_->pool().NumCached() == 0, "cached after reset");
  }

  // One decode step for a batch of up to six (maybe with a token too many).
  void OpDecodeBatch(const Snapshot& before) {
    std::vector<SeqId> seqs;
    std::vector<TokenId> tokens;
    const int k = in_.ConsumeIntegralInRange<int>(0, 6);
    for (int i = 0; i < k; ++i) {
      seqs.push_back(Pick());
      tokens.push_back(in_.ConsumeIntegralInRange<TokenId>(0, 3));
    }
    if (in_.ConsumeIntegralInRange<int>(0, 15) == 0) tokens.push_back(1);
    DecodeBatch(seqs, tokens, before);
  }

  // Dry runs only: they must not change anything.
  void OpDryRuns(const Snapshot& before) {
    const SeqId s = Pick();
    const int64_t n = in_.ConsumeIntegralInRange<int64_t>(-1, 20);
    (void)manager_->BlocksToReserve(s, n, 1);
    (void)manager_->BlocksToAdmit(s, n);
    const ReserveRequest reqs[] = {{s, n, 0}, {s, 1, 1}};
    (void)manager_->CanReserve(reqs);
    FUZZ_CHECK(SameState(before, Take()), "a dry run changed state");
  }

  // --- the checks shared by several operations ---

  void DecodeBatch(const std::vector<SeqId>& seqs,
                   const std::vector<TokenId>& tokens, const Snapshot& before) {
    bool valid = seqs.size() == tokens.size();
    std::vector<uint64_t> seen;
    for (SeqId s : seqs) {
      if (!Live(s) ||
          std::find(seen.begin(), seen.end(), s.value()) != seen.end()) {
        valid = false;
      } else {
        const RefSeq& r = ref_.at(s.value());
        if (r.computed != int64_t(r.tokens.size())) valid = false;
      }
      seen.push_back(s.value());
    }
    const absl::Status st = manager_->AppendDecodeTokens(seqs, tokens);
    if (trace_) {
      std::fprintf(stderr, "decode batch of %zu: %s\n", seqs.size(),
                   st.ToString().c_str());
    }
    if (!valid) {
      FUZZ_CHECK(!st.ok() && st.code() != absl::StatusCode::kResourceExhausted,
                 "invalid decode batch: %s", st.ToString().c_str());
      ExpectUnchanged(before, st);
      return;
    }
    if (!st.ok()) {
      FUZZ_CHECK(st.code() == absl::StatusCode::kResourceExhausted,
                 "decode batch: %s", st.ToString().c_str());
      ExpectUnchanged(before, st);
      return;
    }
    for (size_t i = 0; i < seqs.size(); ++i) {
      RefSeq& r = ref_.at(seqs[i].value());
      r.tokens.push_back(tokens[i]);
      WriteStep(seqs[i], r.computed, r.computed + 1);
      ++r.computed;
    }
  }

  void Reserve(SeqId s, int64_t n, int64_t lookahead) {
    if (trace_) {
      std::fprintf(stderr, "reserve %llu %lld +%lld\n",
                   static_cast<unsigned long long>(s.value()),
                   static_cast<long long>(n),
                   static_cast<long long>(lookahead));
    }
    const Snapshot before = Take();
    auto need = manager_->BlocksToReserve(s, n, lookahead);
    const absl::Status st = manager_->Reserve(s, n, lookahead);
    if (!Live(s) || n < 0) {
      FUZZ_CHECK(st.code() == absl::StatusCode::kInvalidArgument,
                 "bad reserve accepted: %s",
                 std::string(st.ToString()).c_str());
      ExpectUnchanged(before, st);
      return;
    }
    RefSeq& r = ref_.at(s.value());
    if (r.computed + n > int64_t(r.tokens.size())) {
      FUZZ_CHECK(st.code() == absl::StatusCode::kInvalidArgument,
                 "reserve past the known tokens: %s",
                 std::string(st.ToString()).c_str());
      ExpectUnchanged(before, st);
      return;
    }
    FUZZ_CHECK(need.ok(), "dry run failed");
    const bool fits = *need <= static_cast<int64_t>(before.stats.free_blocks +
                                                    before.stats.cached_blocks);
    if (!st.ok()) {
      FUZZ_CHECK(st.code() == absl::StatusCode::kResourceExhausted && !fits,
                 "reserve of %lld (+%lld) needing %lld blocks: %s",
                 static_cast<long long>(n), static_cast<long long>(lookahead),
                 static_cast<long long>(*need),
                 std::string(st.ToString()).c_str());
      ExpectUnchanged(before, st);
      return;
    }
    FUZZ_CHECK(fits, "reserve succeeded though the dry run said %lld blocks",
               static_cast<long long>(*need));
    const uint64_t taken =
        manager_->Stats().blocks_allocated - before.stats.blocks_allocated;
    FUZZ_CHECK(
        int64_t(taken) == *need, "dry run said %lld blocks, reserve took %llu",
        static_cast<long long>(*need), static_cast<unsigned long long>(taken));
    WriteStep(s, r.computed, r.computed + n);
    r.computed += n;
  }

  // Whether AdmitBatch must accept `batch` as well formed: live sequences
  // not yet admitted, no duplicates, no negative token counts.
  bool WellFormed(const std::vector<ReserveRequest>& batch) const {
    bool valid = true;
    std::vector<uint64_t> seen;
    for (const ReserveRequest& q : batch) {
      if (!Live(q.seq) || q.num_new_tokens < 0 || !Admittable(q.seq) ||
          std::find(seen.begin(), seen.end(), q.seq.value()) != seen.end()) {
        valid = false;
      }
      seen.push_back(q.seq.value());
    }
    return valid;
  }

  void Admit(const std::vector<ReserveRequest>& batch, const Snapshot& before) {
    const bool valid = WellFormed(batch);
    int64_t single_need = -1;
    if (valid && batch.size() == 1 && batch[0].num_lookahead_tokens == 0) {
      single_need =
          *manager_->BlocksToAdmit(batch[0].seq, batch[0].num_new_tokens);
    }
    auto admitted = manager_->AdmitBatch(batch);
    if (trace_) {
      for (const ReserveRequest& q : batch) {
        std::fprintf(stderr, "admit %llu %lld +%lld\n",
                     static_cast<unsigned long long>(q.seq.value()),
                     static_cast<long long>(q.num_new_tokens),
                     static_cast<long long>(q.num_lookahead_tokens));
      }
      std::fprintf(stderr, "  -> %s\n", admitted.status().ToString().c_str());
    }
    if (!valid) {
      FUZZ_CHECK(!admitted.ok() && admitted.status().code() !=
                                       absl::StatusCode::kResourceExhausted,
                 "invalid admission batch accepted or reported as capacity");
      ExpectUnchanged(before, admitted.status());
      return;
    }
    const int64_t available =
        int64_t(before.stats.free_blocks + before.stats.cached_blocks);
    if (!admitted.ok()) {
      FUZZ_CHECK(
          admitted.status().code() == absl::StatusCode::kResourceExhausted,
          "admit: %s", std::string(admitted.status().ToString()).c_str());
      FUZZ_CHECK(single_need < 0 || single_need > available,
                 "admit failed though the dry run said %lld of %lld",
                 static_cast<long long>(single_need),
                 static_cast<long long>(available));
      ExpectUnchanged(before, admitted.status());
      return;
    }
    FUZZ_CHECK(single_need < 0 || single_need <= available,
               "admit succeeded though the dry run said %lld of %lld",
               static_cast<long long>(single_need),
               static_cast<long long>(available));
    FUZZ_CHECK(admitted->size() == batch.size(), "admission count");
    // Copies (none expected) are drained by the first WriteStep.
    for (size_t i = 0; i < batch.size(); ++i) {
      Admitted(batch[i], (*admitted)[i], single_need, before);
    }
  }

  // One admission of a successful batch: a block-aligned hit shorter than
  // the prompt, no more new tokens than asked for, the dry run's block count
  // (for a single request); then the engine computes the new tokens.
  void Admitted(const ReserveRequest& q, const Admission& a,
                int64_t single_need, const Snapshot& before) {
    RefSeq& r = ref_.at(q.seq.value());
    const int64_t known = r.tokens.size();
    FUZZ_CHECK(a.hit.num_tokens == int64_t{a.hit.num_blocks} * bs_ &&
                   a.hit.num_tokens <= std::max<int64_t>(0, known - 1),
               "hit of %lld tokens for a %lld-token prompt",
               static_cast<long long>(a.hit.num_tokens),
               static_cast<long long>(known));
    FUZZ_CHECK(a.num_new_tokens >= 0 && a.num_new_tokens <= q.num_new_tokens &&
                   a.hit.num_tokens + a.num_new_tokens <= known,
               "admitted %lld new tokens",
               static_cast<long long>(a.num_new_tokens));
    if (single_need >= 0) {
      const uint64_t taken =
          manager_->Stats().blocks_allocated - before.stats.blocks_allocated;
      FUZZ_CHECK(int64_t(taken) == single_need - a.hit.num_evictable_blocks,
                 "dry run said %lld blocks (%d evictable hits), admit took "
                 "%llu",
                 static_cast<long long>(single_need),
                 a.hit.num_evictable_blocks,
                 static_cast<unsigned long long>(taken));
    }
    r.computed = a.hit.num_tokens;
    WriteStep(q.seq, a.hit.num_tokens, a.hit.num_tokens + a.num_new_tokens);
    r.computed = a.hit.num_tokens + a.num_new_tokens;
  }

  FuzzedDataProvider& in_;
  const bool trace_ = std::getenv("PAGEKV_FUZZ_TRACE") != nullptr;
  ManualClock clock_;
  std::unique_ptr<KVCacheManager> manager_;
  int bs_ = 1;
  std::map<uint64_t, RefSeq> ref_;
  ShadowKv shadow_;
};

}  // namespace
}  // namespace pagekv

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  pagekv::Harness h(in);
  if (!h.Init()) return 0;
  h.Run();
  return 0;
}
