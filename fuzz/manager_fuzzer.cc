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
// manager_fuzz_state.h with the reference records and snapshots).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

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
    shadow_.assign(static_cast<size_t>(c.num_blocks) * bs_, -1);
    states_.assign(static_cast<size_t>(c.num_blocks), {-1, 0});
    groups_ = c.groups;
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
  void ExpectUnchanged(const Snapshot& before, const absl::Status& st) {
    const Snapshot after = Take();
    FUZZ_CHECK(SameState(before, after), "failed operation changed state: %s",
               std::string(st.ToString()).c_str());
    const uint64_t failures =
        after.stats.allocation_failures - before.stats.allocation_failures;
    FUZZ_CHECK(
        failures ==
            (st.code() == absl::StatusCode::kResourceExhausted ? 1u : 0u),
        "allocation_failures moved by %llu for %s",
        static_cast<unsigned long long>(failures),
        std::string(st.ToString()).c_str());
  }

  // The engine's work for a step: copies first, then the new tokens.
  void WriteStep(SeqId id, int64_t from, int64_t to) {
    for (const BlockCopy& copy : manager_->DrainCopies()) {
      FUZZ_CHECK(copy.src != kNullBlock && copy.dst != kNullBlock,
                 "copy names the null block");
      FUZZ_CHECK(copy.src != copy.dst, "copy onto itself");
      for (int i = 0; i < bs_; ++i) {
        shadow_[copy.dst.value() * bs_ + i] =
            shadow_[copy.src.value() * bs_ + i];
      }
      states_[copy.dst.value()] = states_[copy.src.value()];
    }
    const RefSeq& r = ref_.at(id.value());
    for (int g = 0; g < manager_->num_groups(); ++g) {
      auto table = *manager_->BlockTable(id, GroupId(g));
      if (IsState(g)) {
        WriteState(id, g, table, from, to);
        continue;
      }
      for (int64_t p = from; p < to; ++p) {
        const BlockId b = table[p / bs_];
        FUZZ_CHECK(b != kNullBlock,
                   "seq %llu group %d: new token %lld lands in a null slot",
                   static_cast<unsigned long long>(id.value()), g,
                   static_cast<long long>(p));
        FUZZ_CHECK(manager_->pool().ref_count(b) == 1,
                   "writing token %lld into block %u shared by %u holders",
                   static_cast<long long>(p), b.value(),
                   manager_->pool().ref_count(b));
        shadow_[b.value() * bs_ + p % bs_] = r.tokens[p];
      }
    }
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
      for (int g = 0; g < manager_->num_groups(); ++g) {
        auto table = *manager_->BlockTable(s, GroupId(g));
        if (IsState(g)) {
          CheckState(id, g, table, r);
          continue;
        }
        FUZZ_CHECK(int64_t(table.size()) * bs_ >= r.computed,
                   "table too short");
        // The next token attends to the last window - 1 computed tokens, or
        // its chunk's (all of them for full attention): their blocks must be
        // held.
        const KVCacheGroupSpec& spec = manager_->config().groups[g];
        int64_t window_start = 0;
        if (spec.kind == KVCacheGroupSpec::Kind::kSlidingWindow) {
          window_start =
              std::max<int64_t>(0, r.computed - (spec.sliding_window - 1));
        } else if (spec.kind == KVCacheGroupSpec::Kind::kChunkedLocal) {
          window_start = r.computed - r.computed % spec.attention_chunk_size;
        }
        for (int64_t p = window_start; p < r.computed; ++p) {
          FUZZ_CHECK(table[p / bs_] != kNullBlock,
                     "seq %llu group %d: token %lld of %lld computed is in the "
                     "window but its slot is null",
                     static_cast<unsigned long long>(id), g,
                     static_cast<long long>(p),
                     static_cast<long long>(r.computed));
        }
        for (int64_t p = 0; p < r.computed; ++p) {
          const BlockId b = table[p / bs_];
          if (b == kNullBlock) continue;  // out of the window
          FUZZ_CHECK(shadow_[b.value() * bs_ + p % bs_] == r.tokens[p],
                     "seq %llu group %d position %lld reads the wrong KV from "
                     "block %u",
                     static_cast<unsigned long long>(id), g,
                     static_cast<long long>(p), b.value());
        }
      }
    }
  }

  // --- state groups: each block's state is (position, fingerprint) ---
  bool IsState(int g) const {
    return groups_[g].kind == KVCacheGroupSpec::Kind::kState;
  }
  int64_t StateEntry(int g, int64_t tokens) const {
    const KVCacheGroupSpec& spec = groups_[g];
    if (spec.state_cache_mode == StateCacheMode::kNone) return 0;
    const int64_t sbs =
        spec.state_block_size == 0 ? bs_ : spec.state_block_size;
    return (tokens + sbs - 1) / sbs - 1;
  }
  static uint64_t Fingerprint(const std::vector<TokenId>& t, int64_t end) {
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = 0; i < end; ++i) {
      h = (h ^ static_cast<uint32_t>(t[i])) * 1099511628211ull;
    }
    return h;
  }
  BlockId StateBlock(SeqId id, int g, absl::Span<const BlockId> table,
                     int64_t tokens) const {
    const int64_t entry = StateEntry(g, tokens);
    FUZZ_CHECK(entry < int64_t(table.size()) && table[entry] != kNullBlock,
               "seq %llu state group %d: no state block for %lld tokens",
               static_cast<unsigned long long>(id.value()), g,
               static_cast<long long>(tokens));
    return table[entry];
  }
  // The kernel resumes from the state at `from` in the state block, and
  // leaves the state at `to` there.
  void WriteState(SeqId id, int g, absl::Span<const BlockId> table,
                  int64_t from, int64_t to) {
    if (from == to) return;
    const RefSeq& r = ref_.at(id.value());
    const BlockId b = StateBlock(id, g, table, to);
    FUZZ_CHECK(manager_->pool().ref_count(b) == 1,
               "writing a state into block %u shared by %u holders", b.value(),
               manager_->pool().ref_count(b));
    if (from > 0) {
      const std::pair<int64_t, uint64_t> want{from,
                                              Fingerprint(r.tokens, from)};
      FUZZ_CHECK(states_[b.value()] == want,
                 "seq %llu state group %d: block %u holds the state after "
                 "%lld tokens, the step resumes after %lld",
                 static_cast<unsigned long long>(id.value()), g, b.value(),
                 static_cast<long long>(states_[b.value()].first),
                 static_cast<long long>(from));
    }
    states_[b.value()] = {to, Fingerprint(r.tokens, to)};
  }
  void CheckState(uint64_t id, int g, absl::Span<const BlockId> table,
                  const RefSeq& r) const {
    if (r.computed == 0) {
      FUZZ_CHECK(table.empty(), "state table without computed tokens");
      return;
    }
    const BlockId b = StateBlock(SeqId(id), g, table, r.computed);
    const std::pair<int64_t, uint64_t> want{r.computed,
                                            Fingerprint(r.tokens, r.computed)};
    FUZZ_CHECK(states_[b.value()] == want,
               "seq %llu state group %d: block %u holds the state after %lld "
               "tokens, not %lld",
               static_cast<unsigned long long>(id), g, b.value(),
               static_cast<long long>(states_[b.value()].first),
               static_cast<long long>(r.computed));
  }
  // After a rollback the engine restores each state from its speculative
  // blocks into the state block.
  void RestoreStates(SeqId id, const RefSeq& r) {
    if (r.computed == 0) return;
    for (int g = 0; g < manager_->num_groups(); ++g) {
      if (!IsState(g)) continue;
      const auto table = *manager_->BlockTable(id, GroupId(g));
      const BlockId b = StateBlock(id, g, table, r.computed);
      states_[b.value()] = {r.computed, Fingerprint(r.tokens, r.computed)};
    }
  }

  // With PAGEKV_FUZZ_TRACE set, prints each operation and the tables after
  // it (for minimizing a crash input by hand).
  void Dump() const {
    for (const auto& [id, r] : ref_) {
      std::fprintf(stderr, "  seq %llu: known %zu computed %lld",
                   static_cast<unsigned long long>(id), r.tokens.size(),
                   static_cast<long long>(r.computed));
      for (int g = 0; g < manager_->num_groups(); ++g) {
        std::fprintf(stderr, " | g%d:", g);
        const auto table = *manager_->BlockTable(SeqId(id), GroupId(g));
        for (BlockId b : table) {
          std::fprintf(stderr, " %u", b.value());
        }
      }
      std::fprintf(stderr, "\n");
    }
  }

  void Step() {
    clock_.Advance(in_.ConsumeIntegralInRange<int64_t>(0, 1000));
    const int op = in_.ConsumeIntegralInRange<int>(0, 13);
    if (trace_) std::fprintf(stderr, "op %d\n", op);
    const Snapshot before = Take();
    switch (op) {
      case 0: {  // add
        auto prompt = Prompt();
        SequenceOptions options;
        options.hash_extras.cache_salt =
            in_.ConsumeIntegralInRange<int>(0, 5) == 0;
        options.retention_priority =
            in_.ConsumeIntegralInRange<int32_t>(0, 100);
        options.retention_duration_us =
            in_.ConsumeIntegralInRange<int64_t>(-1, 3000);
        auto s = manager_->AddSequence(prompt, options);
        FUZZ_CHECK(s.ok(), "add");
        FUZZ_CHECK(!Live(*s), "reused a live id");
        ref_[s->value()] = {prompt, 0, options.hash_extras};
        break;
      }
      case 1: {  // match (read-only)
        const SeqId s = Pick();
        auto m = manager_->MatchPrefix(s);
        FUZZ_CHECK(SameState(before, Take()), "MatchPrefix changed state");
        if (!Live(s) || !Admittable(s)) {
          FUZZ_CHECK(!m.ok(), "match of an unknown or admitted sequence");
          break;
        }
        FUZZ_CHECK(m.ok(), "match");
        {
          const RefSeq& r = ref_.at(s.value());
          const PrefixMatch by_prompt =
              manager_->MatchPrefix(r.tokens, r.extras);
          FUZZ_CHECK(
              by_prompt.num_tokens == m->num_tokens &&
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
                   "hit %lld of %lld tokens",
                   static_cast<long long>(m->num_tokens),
                   static_cast<long long>(known));
        break;
      }
      case 2: {  // admit
        const SeqId s = Pick();
        const int64_t n = in_.ConsumeIntegralInRange<int64_t>(-1, 40);
        Admit({{s, n, 0}}, before);
        break;
      }
      case 3: {  // admit a batch (maybe with a duplicate)
        std::vector<ReserveRequest> batch;
        const int k = in_.ConsumeIntegralInRange<int>(1, 4);
        for (int i = 0; i < k; ++i) {
          batch.push_back({Pick(), in_.ConsumeIntegralInRange<int64_t>(0, 30),
                           in_.ConsumeIntegralInRange<int64_t>(0, 3)});
        }
        Admit(batch, before);
        break;
      }
      case 4: {  // append
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
          break;
        }
        FUZZ_CHECK_OK(st);
        auto& tokens = ref_.at(s.value()).tokens;
        tokens.insert(tokens.end(), t.begin(), t.end());
        break;
      }
      case 5:
      case 6: {  // reserve (prefill chunk or decode) with lookahead
        const SeqId s = Pick();
        int64_t n = in_.ConsumeIntegralInRange<int64_t>(-1, 12);
        const int64_t lookahead =
            in_.ConsumeBool() ? 0 : in_.ConsumeIntegralInRange<int64_t>(0, 6);
        if (Live(s) && op == 6) {  // decode: append then compute what's left
          RefSeq& r = ref_.at(s.value());
          if (r.computed == int64_t(r.tokens.size())) {
            const TokenId t = in_.ConsumeIntegralInRange<TokenId>(0, 3);
            FUZZ_CHECK_OK(manager_->AppendTokens(s, {t}));
            r.tokens.push_back(t);
          }
          n = int64_t(r.tokens.size()) - r.computed;
        }
        Reserve(s, n, lookahead);
        break;
      }
      case 7: {  // fork
        const SeqId s = Pick();
        auto child = manager_->Fork(s);
        if (!Live(s)) {
          FUZZ_CHECK(!child.ok(), "fork of an unknown sequence");
          ExpectUnchanged(before, child.status());
          break;
        }
        FUZZ_CHECK(child.ok(), "fork");
        FUZZ_CHECK(!Live(*child), "fork reused a live id");
        ref_[child->value()] = ref_.at(s.value());
        break;
      }
      case 8: {  // truncate
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
          break;
        }
        RefSeq& r = ref_.at(s.value());
        const bool rolled_back = n < r.computed;
        r.tokens.resize(n);
        r.computed = std::min(r.computed, n);
        if (rolled_back) RestoreStates(s, r);
        break;
      }
      case 9:
      case 10: {  // release
        const SeqId s = Pick();
        const absl::Status st = manager_->Release(s);
        if (!Live(s)) {
          FUZZ_CHECK(!st.ok(), "release of an unknown sequence");
          ExpectUnchanged(before, st);
          break;
        }
        FUZZ_CHECK_OK(st);
        ref_.erase(s.value());
        break;
      }
      case 11: {  // reset
        const absl::Status st = manager_->Reset();
        if (!ref_.empty()) {
          FUZZ_CHECK(st.code() == absl::StatusCode::kFailedPrecondition,
                     "reset with live sequences");
          ExpectUnchanged(before, st);
          break;
        }
        FUZZ_CHECK_OK(st);
        FUZZ_CHECK(manager_->pool().NumCached() == 0, "cached after reset");
        break;
      }
      case 13: {  // one decode step for a batch
        std::vector<SeqId> seqs;
        std::vector<TokenId> tokens;
        const int k = in_.ConsumeIntegralInRange<int>(0, 6);
        for (int i = 0; i < k; ++i) {
          seqs.push_back(Pick());
          tokens.push_back(in_.ConsumeIntegralInRange<TokenId>(0, 3));
        }
        if (in_.ConsumeIntegralInRange<int>(0, 15) == 0) tokens.push_back(1);
        DecodeBatch(seqs, tokens, before);
        break;
      }
      default: {  // dry runs only: must not change anything
        const SeqId s = Pick();
        const int64_t n = in_.ConsumeIntegralInRange<int64_t>(-1, 20);
        (void)manager_->BlocksToReserve(s, n, 1);
        (void)manager_->BlocksToAdmit(s, n);
        const ReserveRequest reqs[] = {{s, n, 0}, {s, 1, 1}};
        (void)manager_->CanReserve(reqs);
        FUZZ_CHECK(SameState(before, Take()), "a dry run changed state");
        break;
      }
    }
  }

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

  void Admit(const std::vector<ReserveRequest>& batch, const Snapshot& before) {
    bool valid = true;
    std::vector<uint64_t> seen;
    for (const ReserveRequest& q : batch) {
      if (!Live(q.seq) || q.num_new_tokens < 0 || !Admittable(q.seq) ||
          std::find(seen.begin(), seen.end(), q.seq.value()) != seen.end()) {
        valid = false;
      }
      seen.push_back(q.seq.value());
    }
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
      const Admission& a = (*admitted)[i];
      RefSeq& r = ref_.at(batch[i].seq.value());
      const int64_t known = r.tokens.size();
      FUZZ_CHECK(a.hit.num_tokens == int64_t{a.hit.num_blocks} * bs_ &&
                     a.hit.num_tokens <= std::max<int64_t>(0, known - 1),
                 "hit of %lld tokens for a %lld-token prompt",
                 static_cast<long long>(a.hit.num_tokens),
                 static_cast<long long>(known));
      FUZZ_CHECK(a.num_new_tokens >= 0 &&
                     a.num_new_tokens <= batch[i].num_new_tokens &&
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
      WriteStep(batch[i].seq, a.hit.num_tokens,
                a.hit.num_tokens + a.num_new_tokens);
      r.computed = a.hit.num_tokens + a.num_new_tokens;
    }
  }

  FuzzedDataProvider& in_;
  const bool trace_ = std::getenv("PAGEKV_FUZZ_TRACE") != nullptr;
  ManualClock clock_;
  std::unique_ptr<KVCacheManager> manager_;
  int bs_ = 1;
  std::map<uint64_t, RefSeq> ref_;
  std::vector<TokenId> shadow_;
  // Per block, for state groups: the position its state is after (-1: none)
  // and a fingerprint of the tokens before it.
  std::vector<std::pair<int64_t, uint64_t>> states_;
  std::vector<KVCacheGroupSpec> groups_;
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
