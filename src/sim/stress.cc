// The stress driver: a random operation mix against a reference model (see
// include/pagekv/sim/stress.h).
#include "pagekv/sim/stress.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <vector>

#include "core/check.h"
#include "fmt/format.h"
#include "pagekv/clock.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv {
namespace {

// A disagreement with the reference: the message says what and where.
absl::Status Wrong(std::string message) {
  return absl::InternalError(std::move(message));
}

#define STRESS_EXPECT(cond, ...)                         \
  do {                                                   \
    if (!(cond)) return Wrong(fmt::format(__VA_ARGS__)); \
  } while (false)
#define STRESS_RETURN_IF_ERROR(expr)                   \
  do {                                                 \
    if (absl::Status s_ = (expr); !s_.ok()) return s_; \
  } while (false)

struct RefSeq {
  std::vector<TokenId> tokens;
  int64_t computed = 0;
};

// A state group's content as the reference sees it: the position the state
// is after and a fingerprint of every token before it. A state resumed from
// the wrong checkpoint, or a move the engine was not asked to copy, shows up
// as a wrong position or fingerprint.
struct RefState {
  int64_t position = -1;  // -1: holds no state
  uint64_t fingerprint = 0;
  bool operator==(const RefState&) const = default;
};

uint64_t Fingerprint(const std::vector<TokenId>& tokens, int64_t end) {
  uint64_t h = 1469598103934665603ull;
  for (int64_t i = 0; i < end; ++i) {
    h = (h ^ static_cast<uint32_t>(tokens[i])) * 1099511628211ull;
  }
  return h;
}

// The table entry that holds a state group's state after `tokens` > 0
// tokens (an engine finds its state there): entry 0 when the state never
// moves, else one entry per state block size.
int64_t StateEntry(const KVCacheGroupSpec& g, int64_t block_size,
                   int64_t tokens) {
  if (g.state_cache_mode == StateCacheMode::kNone) return 0;
  const int64_t sbs = g.state_block_size == 0 ? block_size : g.state_block_size;
  return (tokens + sbs - 1) / sbs - 1;
}

bool IsState(const KVCacheGroupSpec& g) {
  return g.kind == KVCacheGroupSpec::Kind::kState;
}

// What a failed operation must leave unchanged.
struct Snapshot {
  KVCacheStats stats;
  std::map<uint64_t, std::vector<std::vector<BlockId>>> tables;
  bool operator==(const Snapshot& o) const {
    return stats.free_blocks == o.stats.free_blocks &&
           stats.cached_blocks == o.stats.cached_blocks &&
           stats.in_use_blocks == o.stats.in_use_blocks &&
           stats.used_token_slots == o.stats.used_token_slots &&
           stats.evictions == o.stats.evictions && tables == o.tables;
  }
};

class StressRun {
 public:
  StressRun(const StressOptions& o, std::unique_ptr<KVCacheManager> m,
            ManualClock* clock)
      : o_(o),
        m_(std::move(m)),
        clock_(clock),
        bs_(o.manager.block_size),
        rng_(o.seed),
        shadow_(static_cast<size_t>(o.manager.num_blocks) * bs_, -1),
        states_(static_cast<size_t>(o.manager.num_blocks)) {}

  // One random operation; an error is a disagreement with the reference.
  absl::Status Step();
  absl::Status CheckAll();
  StressReport& report() { return report_; }
  std::unique_ptr<KVCacheManager>& manager() { return m_; }

 private:
  absl::Status AddAndAdmit();
  absl::Status ReserveOne(uint64_t pick);
  absl::Status DecodeBatch();
  absl::Status ForkOne(uint64_t pick);
  absl::Status TruncateOne(uint64_t pick);
  absl::Status ReleaseOne(uint64_t pick);
  absl::Status BadCalls(uint64_t pick);
  // A refused operation: ResourceExhausted changes nothing.
  absl::Status Refused(const absl::Status& st, const Snapshot& before);
  absl::Status WriteStep(SeqId id, int64_t from, int64_t to);
  // A state group's step: reads the state at `from` from its block, writes
  // the state at `to`.
  absl::Status WriteState(SeqId id, int32_t g, int64_t from, int64_t to);
  absl::Status CheckState(SeqId id, int32_t g, const RefSeq& r);
  const KVCacheGroupSpec& spec(int32_t g) const {
    return o_.manager.groups[static_cast<size_t>(g)];
  }
  Snapshot Take() const;
  std::vector<TokenId> RandomPrompt();
  uint64_t Rand(uint64_t n) { return rng_() % n; }

  const StressOptions& o_;
  std::unique_ptr<KVCacheManager> m_;
  ManualClock* clock_;
  const int64_t bs_;
  std::mt19937_64 rng_;
  std::map<uint64_t, RefSeq> ref_;
  std::vector<TokenId> shadow_;   // token per (block, slot)
  std::vector<RefState> states_;  // per block, for state groups
  StressReport report_;
};

std::vector<TokenId> StressRun::RandomPrompt() {
  // A few shared prefixes (about 2, 3.25 and 1 blocks, and none), then a
  // short random suffix over a tiny vocabulary, so hits and near-misses
  // happen.
  const int64_t lengths[] = {2 * bs_, (13 * bs_) / 4, bs_, 0};
  const size_t which = Rand(4);
  std::vector<TokenId> p;
  for (int64_t i = 0; i < lengths[which]; ++i) {
    p.push_back(static_cast<TokenId>(1000 * (which + 1) + i));
  }
  const int64_t suffix =
      1 + static_cast<int64_t>(Rand(static_cast<uint64_t>(3 * bs_ + 2)));
  for (int64_t i = 0; i < suffix; ++i)
    p.push_back(static_cast<TokenId>(Rand(6)));
  return p;
}

Snapshot StressRun::Take() const {
  Snapshot s;
  s.stats = m_->Stats();
  for (const auto& [id, r] : ref_) {
    for (int32_t g = 0; g < m_->num_groups(); ++g) {
      auto t = m_->BlockTable(SeqId(id), GroupId(static_cast<uint32_t>(g)));
      s.tables[id].emplace_back(t.ok() ? t->begin() : nullptr,
                                t.ok() ? t->end() : nullptr);
    }
  }
  return s;
}

absl::Status StressRun::WriteStep(SeqId id, int64_t from, int64_t to) {
  for (const BlockCopy& copy : m_->DrainCopies()) {
    for (int64_t i = 0; i < bs_; ++i) {
      shadow_[copy.dst.value() * bs_ + i] = shadow_[copy.src.value() * bs_ + i];
    }
    states_[copy.dst.value()] = states_[copy.src.value()];
  }
  const RefSeq& r = ref_[id.value()];
  for (int32_t g = 0; g < m_->num_groups(); ++g) {
    if (IsState(spec(g))) {
      STRESS_RETURN_IF_ERROR(WriteState(id, g, from, to));
      continue;
    }
    auto table = m_->BlockTable(id, GroupId(static_cast<uint32_t>(g)));
    STRESS_RETURN_IF_ERROR(table.status());
    for (int64_t p = from; p < to; ++p) {
      STRESS_EXPECT(static_cast<size_t>(p / bs_) < table->size() &&
                        (*table)[p / bs_] != kNullBlock,
                    "sequence {} group {}: no block to write position {} "
                    "(table of {})",
                    id.value(), g, p, table->size());
      shadow_[(*table)[p / bs_].value() * bs_ + p % bs_] = r.tokens[p];
    }
  }
  return absl::OkStatus();
}

absl::Status StressRun::WriteState(SeqId id, int32_t g, int64_t from,
                                   int64_t to) {
  if (from == to) return absl::OkStatus();
  const RefSeq& r = ref_[id.value()];
  auto table = m_->BlockTable(id, GroupId(static_cast<uint32_t>(g)));
  STRESS_RETURN_IF_ERROR(table.status());
  const int64_t entry = StateEntry(spec(g), bs_, to);
  STRESS_EXPECT(entry < int64_t(table->size()) && (*table)[entry] != kNullBlock,
                "sequence {} state group {}: no block for the state after {} "
                "tokens (entry {} of {})",
                id.value(), g, to, entry, table->size());
  RefState& state = states_[(*table)[entry].value()];
  if (from > 0) {
    // The kernel resumes from the state in this block (copied in, when the
    // state moved or came from a checkpoint).
    const RefState want{from, Fingerprint(r.tokens, from)};
    STRESS_EXPECT(
        state == want,
        "sequence {} state group {}: block {} holds the state after "
        "{} tokens ({}), the step resumes after {}",
        id.value(), g, (*table)[entry].value(), state.position,
        state.fingerprint == want.fingerprint ? "same tokens" : "other tokens",
        from);
  }
  state = {to, Fingerprint(r.tokens, to)};
  return absl::OkStatus();
}

absl::Status StressRun::CheckState(SeqId id, int32_t g, const RefSeq& r) {
  if (r.computed == 0) return absl::OkStatus();
  auto table = *m_->BlockTable(id, GroupId(static_cast<uint32_t>(g)));
  const int64_t entry = StateEntry(spec(g), bs_, r.computed);
  STRESS_EXPECT(entry < int64_t(table.size()) && table[entry] != kNullBlock,
                "sequence {} state group {}: no state block at entry {}",
                id.value(), g, entry);
  const RefState want{r.computed, Fingerprint(r.tokens, r.computed)};
  STRESS_EXPECT(states_[table[entry].value()] == want,
                "sequence {} state group {}: block {} holds the state after "
                "{} tokens, want {}",
                id.value(), g, table[entry].value(),
                states_[table[entry].value()].position, r.computed);
  return absl::OkStatus();
}

absl::Status StressRun::CheckAll() {
  if (absl::Status v = m_->Verify(); !v.ok()) {
    return Wrong(fmt::format("Verify() failed: {}", v.message()));
  }
  for (const auto& [id, r] : ref_) {
    SeqId s(id);
    auto known = m_->NumKnownTokens(s);
    auto computed = m_->NumComputedTokens(s);
    STRESS_EXPECT(known.ok() && *known == int64_t(r.tokens.size()),
                  "sequence {}: {} known tokens, the reference has {}", id,
                  known.ok() ? *known : -1, r.tokens.size());
    STRESS_EXPECT(computed.ok() && *computed == r.computed,
                  "sequence {}: {} computed tokens, the reference has {}", id,
                  computed.ok() ? *computed : -1, r.computed);
    for (int32_t g = 0; g < m_->num_groups(); ++g) {
      if (IsState(spec(g))) {
        STRESS_RETURN_IF_ERROR(CheckState(s, g, r));
        continue;
      }
      auto table = *m_->BlockTable(s, GroupId(static_cast<uint32_t>(g)));
      STRESS_EXPECT(int64_t(table.size()) * bs_ >= r.computed,
                    "sequence {} group {}: table of {} blocks holds fewer "
                    "than {} computed tokens",
                    id, g, table.size(), r.computed);
      for (int64_t p = 0; p < r.computed; ++p) {
        const BlockId b = table[p / bs_];
        if (b == kNullBlock) continue;  // out of the window
        STRESS_EXPECT(shadow_[b.value() * bs_ + p % bs_] == r.tokens[p],
                      "sequence {} group {} position {} reads the wrong KV "
                      "from block {}",
                      id, g, p, b.value());
      }
    }
  }
  return absl::OkStatus();
}

absl::Status StressRun::Refused(const absl::Status& st,
                                const Snapshot& before) {
  STRESS_EXPECT(st.code() == absl::StatusCode::kResourceExhausted ||
                    st.code() == absl::StatusCode::kFailedPrecondition,
                "an operation failed unexpectedly: {}", st.ToString());
  ++report_.exhausted;
  if (st.code() == absl::StatusCode::kResourceExhausted) {
    STRESS_EXPECT(Take() == before, "a refused operation changed state: {}",
                  st.message());
  }
  return absl::OkStatus();
}

absl::Status StressRun::AddAndAdmit() {
  std::vector<TokenId> prompt = RandomPrompt();
  auto added = m_->AddSequence(prompt);
  STRESS_RETURN_IF_ERROR(added.status());
  const SeqId s = *added;
  const Snapshot before = Take();
  ref_[s.value()] = {prompt, 0};
  auto a = m_->Admit(s, 1 + static_cast<int64_t>(Rand(5 * bs_)));
  if (!a.ok()) {
    ref_.erase(s.value());
    STRESS_RETURN_IF_ERROR(Refused(a.status(), before));
    return m_->Release(s);
  }
  report_.hits += a->hit.num_tokens > 0;
  ref_[s.value()].computed = a->hit.num_tokens + a->num_new_tokens;
  return WriteStep(s, a->hit.num_tokens, ref_[s.value()].computed);
}

absl::Status StressRun::ReserveOne(uint64_t pick) {
  const SeqId s(pick);
  RefSeq& r = ref_[pick];
  if (r.computed == int64_t(r.tokens.size())) {
    const TokenId t = static_cast<TokenId>(Rand(6));
    STRESS_RETURN_IF_ERROR(m_->AppendTokens(s, {t}));
    r.tokens.push_back(t);
  }
  const int64_t n =
      std::min<int64_t>(1 + Rand(6), int64_t(r.tokens.size()) - r.computed);
  const int64_t lookahead =
      Rand(100) < static_cast<uint64_t>(o_.lookahead_percent)
          ? int64_t(Rand(static_cast<uint64_t>(o_.max_lookahead) + 1))
          : 0;
  const Snapshot before = Take();
  absl::Status st = m_->Reserve(s, n, lookahead);
  if (!st.ok()) return Refused(st, before);
  STRESS_RETURN_IF_ERROR(WriteStep(s, r.computed, r.computed + n));
  r.computed += n;
  return absl::OkStatus();
}

absl::Status StressRun::DecodeBatch() {
  std::vector<SeqId> batch;
  std::vector<TokenId> tokens;
  for (const auto& [id, r] : ref_) {
    if (r.computed == int64_t(r.tokens.size()) && Rand(2) == 0) {
      batch.push_back(SeqId(id));
      tokens.push_back(static_cast<TokenId>(Rand(6)));
    }
  }
  const Snapshot before = Take();
  absl::Status st = m_->AppendDecodeTokens(batch, tokens);
  if (!st.ok()) return Refused(st, before);
  ++report_.decode_batches;
  for (size_t i = 0; i < batch.size(); ++i) {
    RefSeq& r = ref_[batch[i].value()];
    r.tokens.push_back(tokens[i]);
    STRESS_RETURN_IF_ERROR(WriteStep(batch[i], r.computed, r.computed + 1));
    r.computed += 1;
  }
  return absl::OkStatus();
}

absl::Status StressRun::ForkOne(uint64_t pick) {
  auto child = m_->Fork(SeqId(pick));
  STRESS_RETURN_IF_ERROR(child.status());
  ref_[child->value()] = ref_[pick];
  ++report_.forks;
  return absl::OkStatus();
}

absl::Status StressRun::TruncateOne(uint64_t pick) {
  RefSeq& r = ref_[pick];
  const int64_t n =
      std::max<int64_t>(0, int64_t(r.tokens.size()) - int64_t(Rand(5)));
  const Snapshot before = Take();
  absl::Status st = m_->Truncate(SeqId(pick), n);
  if (!st.ok()) return Refused(st, before);
  const bool rolled_back = n < r.computed;
  r.tokens.resize(static_cast<size_t>(n));
  r.computed = std::min<int64_t>(r.computed, n);
  // A rollback: the engine restores each state group's state after the
  // kept tokens from its speculative blocks into the state block.
  for (int32_t g = 0; g < m_->num_groups() && rolled_back; ++g) {
    if (!IsState(spec(g)) || r.computed == 0) continue;
    auto table =
        *m_->BlockTable(SeqId(pick), GroupId(static_cast<uint32_t>(g)));
    const int64_t entry = StateEntry(spec(g), bs_, r.computed);
    STRESS_EXPECT(entry < int64_t(table.size()) && table[entry] != kNullBlock,
                  "sequence {} state group {}: truncated to {} without a "
                  "state block",
                  pick, g, r.computed);
    states_[table[entry].value()] = {r.computed,
                                     Fingerprint(r.tokens, r.computed)};
  }
  ++report_.truncates;
  return absl::OkStatus();
}

absl::Status StressRun::ReleaseOne(uint64_t pick) {
  STRESS_RETURN_IF_ERROR(m_->Release(SeqId(pick)));
  ref_.erase(pick);
  ++report_.releases;
  return absl::OkStatus();
}

absl::Status StressRun::BadCalls(uint64_t pick) {
  const Snapshot before = Take();
  STRESS_EXPECT(!m_->Reserve(SeqId(pick), -1).ok(),
                "Reserve(seq {}, -1) succeeded", pick);
  STRESS_EXPECT(!m_->Truncate(SeqId(pick), 1 << 30).ok(),
                "Truncate(seq {}, 2^30) succeeded", pick);
  STRESS_EXPECT(!m_->Release(SeqId(pick + (uint64_t{1} << 40))).ok(),
                "Release of a never-issued sequence succeeded");
  STRESS_EXPECT(Take() == before, "a rejected call changed state");
  return absl::OkStatus();
}

absl::Status StressRun::Step() {
  clock_->Advance(1 + static_cast<int64_t>(Rand(100)));
  std::vector<uint64_t> ids;
  ids.reserve(ref_.size());
  for (const auto& [id, r] : ref_) ids.push_back(id);
  const uint64_t pick = ids.empty() ? 0 : ids[Rand(ids.size())];
  int32_t op = static_cast<int32_t>(Rand(100));
  absl::Status st;
  auto take = [&op](int32_t percent) {
    if (op < percent) return true;
    op -= percent;
    return false;
  };
  if (ids.empty() || take(o_.add_percent)) {
    st = AddAndAdmit();
  } else if (take(o_.decode_batch_percent)) {
    st = DecodeBatch();
  } else if (take(o_.fork_percent)) {
    st = ForkOne(pick);
  } else if (take(o_.truncate_percent)) {
    st = TruncateOne(pick);
  } else if (take(o_.release_percent)) {
    st = ReleaseOne(pick);
  } else if (take(o_.bad_call_percent)) {
    st = BadCalls(pick);
  } else {
    st = ReserveOne(pick);
  }
  if (st.ok() && ref_.empty() && Rand(8) == 0) {
    st = m_->Reset();
    ++report_.resets;
  }
  m_->DrainEvents();
  ++report_.ops;
  return st;
}

}  // namespace

absl::Status StressOptions::Validate() const {
  if (max_ops <= 0 && max_seconds <= 0) {
    return absl::InvalidArgumentError(
        "max_ops and max_seconds: at least one must be > 0");
  }
  const int32_t percents[] = {
      add_percent,     decode_batch_percent, fork_percent,     truncate_percent,
      release_percent, bad_call_percent,     lookahead_percent};
  int32_t sum = 0;
  for (int32_t p : percents) {
    if (p < 0 || p > 100) {
      return absl::InvalidArgumentError(
          fmt::format("operation percent {}: must be in [0, 100]", p));
    }
  }
  for (size_t i = 0; i + 1 < std::size(percents); ++i) sum += percents[i];
  if (sum > 100) {
    return absl::InvalidArgumentError(fmt::format(
        "operation percents add up to {}: at most 100 (the rest reserve)",
        sum));
  }
  if (max_lookahead < 0 || verify_every < 1) {
    return absl::InvalidArgumentError(fmt::format(
        "max_lookahead = {} must be >= 0 and verify_every = {} >= 1",
        max_lookahead, verify_every));
  }
  return manager.Validate();
}

absl::StatusOr<StressReport> RunStress(const StressOptions& options) {
  if (absl::Status st = options.Validate(); !st.ok()) return st;
  ManualClock clock;
  KVCacheConfig config = options.manager;
  config.clock = &clock;
  config.enable_kv_events = true;
  config.call_log = {};
  if (!options.log_path.empty()) {
    config.call_log.mode = CallLogOptions::Mode::kFile;
    config.call_log.path = options.log_path;
  }
  auto m = KVCacheManager::Create(config);
  if (!m.ok()) return m.status();
  StressRun run(options, *std::move(m), &clock);
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         start)
        .count();
  };
  StressReport& report = run.report();
  while ((options.max_ops <= 0 || report.ops < options.max_ops) &&
         (options.max_seconds <= 0 || report.ops % 64 != 0 ||
          elapsed() < options.max_seconds)) {
    absl::Status st = run.Step();
    if (st.ok() && report.ops % options.verify_every == 0) st = run.CheckAll();
    if (st.ok() && report.ops == options.planted_failure_op) {
      st = Wrong("planted failure (StressOptions::planted_failure_op)");
    }
    if (!st.ok()) {
      report.failure =
          fmt::format("operation {}: {}", report.ops, st.message());
      break;
    }
    if (options.progress && report.ops % 1000 == 0)
      options.progress(report.ops);
  }
  report.seconds = elapsed();
  run.manager().reset();  // closes the log
  if (!options.log_path.empty()) {
    if (report.failure.has_value() || options.keep_log) {
      report.log_path = options.log_path;
    } else {
      std::remove(options.log_path.c_str());
    }
  }
  return report;
}

}  // namespace pagekv
