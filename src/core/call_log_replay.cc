// Replaying a call log against a fresh manager (see call_log_replay.h).
#include "pagekv/call_log_replay.h"

#include <algorithm>
#include <exception>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_join.h"
#include "core/check.h"
#include "fmt/format.h"
#include "pagekv/clock.h"

namespace pagekv {
namespace {

// Thrown by the replay's check-failure handler and caught around each call,
// so that a failed check is reported as a divergence at that call.
struct CheckFailure {
  std::string message;
};

[[noreturn]] void ThrowOnCheckFailure(const char* file, int line,
                                      const char* condition,
                                      std::string_view message) {
  throw CheckFailure{
      fmt::format("{}:{}: {}: {}", file, line, condition, message)};
}

class ScopedCheckHandler {
 public:
  ScopedCheckHandler()
      : previous_(internal::SetCheckFailureHandler(&ThrowOnCheckFailure)) {}
  ~ScopedCheckHandler() { internal::SetCheckFailureHandler(previous_); }

 private:
  internal::CheckFailureHandler previous_;
};

template <typename T>
CallResult CodeOf(const T& r) {
  CallResult out;
  out.code = r.ok() ? absl::StatusCode::kOk : r.status().code();
  return out;
}
CallResult CodeOf(const absl::Status& st) {
  CallResult out;
  out.code = st.code();
  return out;
}

// The replaying side of a run: the manager, its clock and the id mapping.
class Replayer {
 public:
  Replayer(std::unique_ptr<KVCacheManager> m, ManualClock* clock)
      : m_(std::move(m)), clock_(clock) {}

  // Executes `rec` with its ids mapped; *executed gets the mapped call.
  CallResult Execute(const CallRecord& rec, CallRecord* executed);
  std::unique_ptr<KVCacheManager> Take() { return std::move(m_); }
  KVCacheManager& manager() { return *m_; }
  std::vector<SeqId> Live() const {
    std::vector<SeqId> out(live_.begin(), live_.end());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  SeqId Map(SeqId recorded) const {
    auto it = ids_.find(recorded.value());
    return it == ids_.end() ? recorded : SeqId(it->second);
  }
  // A call recorded as returning `expected` issued `actual`.
  void Issued(const CallResult& expected, SeqId actual) {
    if (expected.code == absl::StatusCode::kOk) {
      ids_[static_cast<uint64_t>(expected.value)] = actual.value();
    }
    live_.insert(actual.value());
  }
  CallResult Run(CallRecord& c);

  std::unique_ptr<KVCacheManager> m_;
  ManualClock* clock_;
  absl::flat_hash_map<uint64_t, uint64_t> ids_;  // recorded -> actual
  absl::flat_hash_set<uint64_t> live_;
};

CallResult Replayer::Execute(const CallRecord& rec, CallRecord* executed) {
  *executed = rec;
  CallRecord& c = *executed;
  c.seq = Map(rec.seq);
  for (SeqId& s : c.seqs) s = Map(s);
  for (ReserveRequest& q : c.requests) q.seq = Map(q.seq);
  if (rec.time_us >= 0) clock_->Set(rec.time_us);
  CallResult actual = Run(c);
  if ((c.op == CallOp::kAddSequence || c.op == CallOp::kFork) &&
      actual.code == absl::StatusCode::kOk) {
    Issued(rec.result, SeqId(static_cast<uint64_t>(actual.value)));
  }
  if (c.op == CallOp::kRelease && actual.code == absl::StatusCode::kOk) {
    live_.erase(c.seq.value());
  }
  c.result = actual;
  return actual;
}

CallResult Replayer::Run(CallRecord& c) {
  KVCacheManager& m = *m_;
  CallResult r;
  switch (c.op) {
    case CallOp::kAddSequence: {
      auto s = m.AddSequence(c.tokens, c.options);
      r = CodeOf(s);
      if (s.ok()) r.value = static_cast<int64_t>(s->value());
      break;
    }
    case CallOp::kAppendTokens:
      return CodeOf(m.AppendTokens(c.seq, c.tokens));
    case CallOp::kMatchPrefixSeq: {
      auto p = m.MatchPrefix(c.seq);
      r = CodeOf(p);
      if (p.ok()) r.match = *p;
      break;
    }
    case CallOp::kMatchPrefixTokens:
      r.match = m.MatchPrefix(c.tokens, c.extras);
      break;
    case CallOp::kAdmit: {
      auto a = m.Admit(c.seq, c.a);
      r = CodeOf(a);
      if (a.ok()) r.admissions = {*a};
      break;
    }
    case CallOp::kAdmitBatch: {
      auto a = m.AdmitBatch(c.requests);
      r = CodeOf(a);
      if (a.ok()) r.admissions = *a;
      break;
    }
    case CallOp::kReserve:
      return CodeOf(m.Reserve(c.seq, c.a, c.b));
    case CallOp::kAppendDecodeTokens:
      return CodeOf(m.AppendDecodeTokens(c.seqs, c.tokens));
    case CallOp::kBlocksToReserve: {
      auto n = m.BlocksToReserve(c.seq, c.a, c.b);
      r = CodeOf(n);
      if (n.ok()) r.value = *n;
      break;
    }
    case CallOp::kBlocksToAdmit: {
      auto n = m.BlocksToAdmit(c.seq, c.a);
      r = CodeOf(n);
      if (n.ok()) r.value = *n;
      break;
    }
    case CallOp::kCanReserve: {
      auto ok = m.CanReserve(c.requests);
      r = CodeOf(ok);
      if (ok.ok()) r.value = *ok ? 1 : 0;
      break;
    }
    case CallOp::kTruncate:
      return CodeOf(m.Truncate(c.seq, c.a));
    case CallOp::kFork: {
      auto s = m.Fork(c.seq);
      r = CodeOf(s);
      if (s.ok()) r.value = static_cast<int64_t>(s->value());
      break;
    }
    case CallOp::kRelease:
      return CodeOf(m.Release(c.seq));
    case CallOp::kReset:
      return CodeOf(m.Reset());
    case CallOp::kDrainCopies:
      r.copies = m.DrainCopies();
      break;
    case CallOp::kDrainEvents:
      r.value = static_cast<int64_t>(m.DrainEvents().size());
      break;
    case CallOp::kVerify:
      return CodeOf(m.Verify());
  }
  return r;
}

std::string VerifyText(const KVCacheManager& m) {
  absl::Status st = m.Verify();
  return st.ok() ? "OK" : std::string(st.message());
}

}  // namespace

std::string_view DivergenceKindName(ReplayDivergence::Kind kind) {
  switch (kind) {
    case ReplayDivergence::Kind::kResult:
      return "result";
    case ReplayDivergence::Kind::kVerify:
      return "verify";
    case ReplayDivergence::Kind::kCheckFailure:
      return "check failure";
  }
  return "?";
}

absl::StatusOr<ReplayOutcome> ReplayCallLog(const CallLog& log,
                                            const ReplayOptions& options) {
  if (log.first_call != 0) {
    return absl::FailedPreconditionError(fmt::format(
        "the log starts at call {} (a ring dump that dropped older calls): "
        "the state before it is unknown, so it cannot be replayed",
        log.first_call));
  }
  if (log.custom_hash) {
    return absl::FailedPreconditionError(
        "the log was recorded with a custom block_hash_fn: its keys cannot "
        "be reproduced");
  }
  ManualClock clock;
  KVCacheConfig config = log.config;
  config.clock = &clock;
  config.call_log = {};
  auto m = KVCacheManager::Create(config);
  if (!m.ok()) return m.status();
  Replayer replayer(*std::move(m), &clock);
  ReplayOutcome out;
  const size_t n =
      options.until < 0
          ? log.records.size()
          : std::min(log.records.size(), static_cast<size_t>(options.until));
  ScopedCheckHandler handler;
  out.executed.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const CallRecord& rec = log.records[i];
    ReplayDivergence d;
    d.record = i;
    try {
      d.actual = replayer.Execute(rec, &out.executed[i]);
      out.calls_replayed = i + 1;
      const bool compare = options.compare_only < 0 ||
                           static_cast<size_t>(options.compare_only) == i;
      const bool last = i + 1 == n;
      const bool verify =
          (options.verify_every > 0 &&
           (i + 1) % static_cast<size_t>(options.verify_every) == 0) ||
          last;
      if (compare && !(d.actual == rec.result)) {
        d.kind = ReplayDivergence::Kind::kResult;
      } else if (verify && !replayer.manager().Verify().ok()) {
        d.kind = ReplayDivergence::Kind::kVerify;
        d.message = VerifyText(replayer.manager());
      } else {
        continue;
      }
      d.verify = VerifyText(replayer.manager());
    } catch (const CheckFailure& f) {
      d.kind = ReplayDivergence::Kind::kCheckFailure;
      d.message = f.message;
      d.verify = "not run (the state after a failed check is not trusted)";
      out.divergence = std::move(d);
      out.executed.resize(i + 1);
      return out;
    }
    out.divergence = std::move(d);
    out.executed.resize(i + 1);
    break;
  }
  out.live = replayer.Live();
  out.manager = replayer.Take();
  return out;
}

std::string DescribeManagerState(const KVCacheManager& m,
                                 const std::vector<SeqId>& live) {
  const KVCacheStats s = m.Stats();
  std::string out = fmt::format(
      "pool: {} blocks: {} free, {} cached, {} in use; {} sequences\n"
      "slots: {} used, {} empty; allocated {}, evicted {}, copies {}, "
      "failures {}\n"
      "prefix cache: {} queries, {} of {} tokens hit\n",
      s.total_blocks, s.free_blocks, s.cached_blocks, s.in_use_blocks,
      s.num_sequences, s.used_token_slots, s.empty_token_slots,
      s.blocks_allocated, s.evictions, s.cow_copies, s.allocation_failures,
      s.prefix.queries, s.prefix.hit_tokens, s.prefix.query_tokens);
  for (SeqId seq : live) {
    auto known = m.NumKnownTokens(seq);
    auto computed = m.NumComputedTokens(seq);
    if (!known.ok() || !computed.ok()) continue;
    out += fmt::format("seq {}: {} known, {} computed", seq.value(), *known,
                       *computed);
    for (int32_t g = 0; g < m.num_groups(); ++g) {
      auto table = m.BlockTable(seq, GroupId(static_cast<uint32_t>(g)));
      if (!table.ok()) continue;
      std::vector<uint32_t> ids;
      for (BlockId b : *table) ids.push_back(b.value());
      out += fmt::format("; group {} [{}]", g, absl::StrJoin(ids, " "));
    }
    out += "\n";
  }
  return out;
}

}  // namespace pagekv
