// Failure atomicity: every mutating KVCacheManager operation is made to fail
// at every point we can reach (pool exhausted at each pool size, unknown and
// stale ids, bad counts, truncating past the end, admission batches that do
// not fit, duplicates in a batch, reset with live sequences), and the
// manager must be exactly as it was. Two ways to look:
//
//  1. A snapshot of everything observable: every block table of every live
//     sequence, known/computed counts, every block's ref count and state, the
//     prefix index content (MatchPrefix of probe sequences that were added
//     before the snapshot; MatchPrefix itself is read-only), the stats, and
//     the event/copy buffers (drained before the operation, so they must be
//     empty after it).
//  2. A twin: the same scenario is built twice; the failing operation runs on
//     one only, then an identical continuation (more admissions, eviction
//     pressure, releases) runs on both. Its whole transcript (ids, hits,
//     tables, events, copies, stats) must be equal, which also covers state
//     the snapshot cannot see, such as eviction order and recency.
//
// allocation_failures is the one stat a failed operation changes: it counts
// ResourceExhausted results, so it must grow by exactly one for those and not
// at all otherwise.
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <variant>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "pagekv/clock.h"
#include "pagekv/kv_cache_manager.h"
#include "test_util.h"

namespace pagekv {
namespace {

using testing::Concat;
using testing::Iota;

struct Config {
  std::string name;
  std::vector<KVCacheGroupSpec> groups;
  std::string policy;
  bool prefix_caching = true;
  // A host tier of this many blocks (0 = none) with `store` policy; the
  // scenario completes every transfer it causes.
  int64_t host_blocks = 0;
  StorePolicy store = StorePolicy::kWriteThrough;
  friend void PrintTo(const Config& c, std::ostream* os) { *os << c.name; }
};

// A manager with a little of everything: admitted sequences with uncomputed
// known tokens, a shared prefix, a fork sharing a partial last block (the
// next write copies it), cached blocks of a released sequence, sequences
// added but not admitted, and probes for the index.
struct Scenario {
  std::unique_ptr<ManualClock> clock = std::make_unique<ManualClock>();
  std::unique_ptr<KVCacheManager> m;
  SeqId a, b, c, e, f, g, h, stale;  // g, h: decoding, h a fork of g
  std::vector<SeqId> probes;
  std::vector<SeqId> live;  // a, b, c, e, f, probes
};

std::unique_ptr<Scenario> Build(const Config& cfg, int64_t num_blocks) {
  auto s = std::make_unique<Scenario>();
  KVCacheConfig c;
  c.num_blocks = num_blocks;
  c.block_size = 4;
  c.groups = cfg.groups;
  c.eviction_policy = cfg.policy;
  c.enable_prefix_caching = cfg.prefix_caching;
  c.enable_kv_events = true;
  c.clock = s->clock.get();
  c.host_tier.num_blocks = cfg.host_blocks;
  c.host_tier.store_policy = cfg.store;
  auto m = KVCacheManager::Create(c);
  if (!m.ok()) return nullptr;
  s->m = *std::move(m);
  KVCacheManager& km = *s->m;
  const std::vector<TokenId> shared = Iota(12, 100);
  SequenceOptions low;
  low.retention_priority = 10;
  low.retention_duration_us = 500;

  auto add = [&](const std::vector<TokenId>& p, const SequenceOptions& o = {}) {
    return *km.AddSequence(p, o);
  };
  s->a = add(Concat(shared, {1, 2, 3, 4, 5}));
  if (!km.Admit(s->a, 17).ok()) return nullptr;
  s->clock->Advance(10);
  if (!km.AppendTokens(s->a, {9}).ok() || !km.Reserve(s->a, 1).ok()) {
    return nullptr;
  }
  const SeqId d = add(Concat(shared, Iota(6, 500)), low);
  if (!km.Admit(d, 100).ok()) return nullptr;
  s->clock->Advance(10);
  if (!km.Release(d).ok()) return nullptr;
  s->stale = d;
  const SeqId d2 = add(Iota(9, 800));
  if (!km.Admit(d2, 100).ok()) return nullptr;
  if (!km.Release(d2).ok()) return nullptr;
  s->clock->Advance(10);
  s->b = add(Concat(shared, Iota(7, 300)));
  if (!km.Admit(s->b, 4).ok()) return nullptr;
  s->c = *km.Fork(s->a);
  if (!km.AppendTokens(s->a, Iota(10, 50)).ok() ||
      !km.AppendTokens(s->c, {77, 78}).ok()) {
    return nullptr;
  }
  s->g = add(Iota(14, 600));
  if (!km.Admit(s->g, 14).ok()) return nullptr;
  s->h = *km.Fork(s->g);
  s->e = add(Concat(shared, Iota(9, 700)));
  s->f = add(Iota(30, 900));
  s->probes = {add(Concat(shared, {1, 2, 3, 4, 5, 9, 50, 51})),
               add(Concat(shared, Iota(6, 500))), add(Iota(9, 800)),
               add(Concat(shared, Iota(9, 300)))};
  s->live = {s->a, s->b, s->c, s->e, s->f, s->g, s->h};
  s->live.insert(s->live.end(), s->probes.begin(), s->probes.end());
  s->clock->Advance(10);
  for (const TransferOrder& o : km.DrainTransfers()) {
    absl::Status done = o.kind == TransferOrder::Kind::kStore
                            ? km.CompleteStore(o.host_block, true)
                            : km.CompleteLoad(o.host_block);
    if (!done.ok()) return nullptr;
  }
  km.DrainEvents();
  km.DrainCopies();
  return s;
}

// Everything observable about the manager, as text (so a mismatch prints).
std::string Snapshot(Scenario& s) {
  KVCacheManager& m = *s.m;
  std::string out;
  for (SeqId id : s.live) {
    out += fmt::format("seq {}: known {} computed {}", id.value(),
                       *m.NumKnownTokens(id), *m.NumComputedTokens(id));
    for (int g = 0; g < m.num_groups(); ++g) {
      out += fmt::format(
          " | g{} [{}]", g,
          fmt::join(testing::Ids(*m.BlockTable(id, GroupId(g))), " "));
    }
    out += "\n";
  }
  for (SeqId p : s.probes) {
    auto match = m.MatchPrefix(p);
    out += fmt::format("probe {}: {} tokens {} blocks {} evictable\n",
                       p.value(), match->num_tokens, match->num_blocks,
                       match->num_evictable_blocks);
  }
  const BlockPool& pool = m.pool();
  out += "blocks:";
  for (uint32_t b = 0; b <= pool.num_blocks(); ++b) {
    out += fmt::format(" {}:{}/{}", b, pool.ref_count(BlockId(b)),
                       static_cast<int>(pool.state(BlockId(b))));
  }
  out += fmt::format("\npool: free {} cached {} in_use {} evictions {}\n",
                     pool.NumFree(), pool.NumCached(), pool.NumInUse(),
                     pool.num_evictions());
  const KVCacheStats st = m.Stats();
  out += fmt::format(
      "stats: {} {} {} {} {} | slots {} {} | alloc {} evict {} cow {} | "
      "prefix {} {} {} {} {} {} {} {}\n",
      st.total_blocks, st.free_blocks, st.cached_blocks, st.in_use_blocks,
      st.num_sequences, st.used_token_slots, st.empty_token_slots,
      st.blocks_allocated, st.evictions, st.cow_copies, st.prefix.queries,
      st.prefix.query_tokens, st.prefix.hit_tokens, st.prefix.query_blocks,
      st.prefix.hit_blocks, st.prefix.resumed_queries,
      st.prefix.resumed_query_tokens, st.prefix.resumed_hit_tokens);
  const HostTierStats& h = st.host_tier;
  out += fmt::format(
      "host: hits {} stores {} {} {} {} {} loads {} {} evict {} | pending {} "
      "ready {} pinned {} free {} | orders {}\n",
      h.hit_blocks, h.stores_issued, h.stores_completed, h.stores_failed,
      h.stores_dropped, h.stores_filtered, h.loads_issued, h.loads_completed,
      h.evictions, h.pending_blocks, h.ready_blocks, h.pinned_blocks,
      h.free_blocks, m.DrainTransfers().size());
  return out;
}

std::string EventText(const KVEvent& e) {
  if (const auto* stored = std::get_if<BlockStoredEvent>(&e)) {
    return fmt::format(
        "stored g{} [{}] parent {} tokens {}", stored->group.value(),
        fmt::join(stored->block_keys, " "), stored->parent_key.value_or(0),
        stored->token_ids.size());
  }
  if (const auto* removed = std::get_if<BlockRemovedEvent>(&e)) {
    return fmt::format("removed g{} [{}]", removed->group.value(),
                       fmt::join(removed->block_keys, " "));
  }
  return "cleared";
}

// A fixed continuation, run on both twins; returns its transcript.
std::string Continue(Scenario& s) {
  KVCacheManager& m = *s.m;
  std::string out;
  auto note = [&](std::string_view what, const absl::Status& st) {
    out += fmt::format("{}: {}\n", what, st.ToString());
  };
  auto drain = [&] {
    for (const KVEvent& e : m.DrainEvents()) out += EventText(e) + "\n";
    for (const BlockCopy& c : m.DrainCopies()) {
      out += fmt::format("copy {}->{} g{}\n", c.src.value(), c.dst.value(),
                         c.group.value());
    }
  };
  drain();  // whatever the operation under test left behind
  s.clock->Advance(1000);
  note("reserve a", m.Reserve(s.a, 3, 2));
  note("reserve c", m.Reserve(s.c, 2));
  drain();
  for (int i = 0; i < 6; ++i) {
    std::vector<TokenId> p = Concat(i % 2 == 0 ? Iota(12, 100) : Iota(9, 800),
                                    Iota(3 + i, 4000 * i));
    const SeqId id = *m.AddSequence(p);
    auto a = m.Admit(id, 64);
    out += fmt::format("new {}: {}\n", id.value(),
                       a.ok() ? fmt::format("hit {} new {}", a->hit.num_tokens,
                                            a->num_new_tokens)
                              : a.status().ToString());
    s.live.push_back(id);
    s.clock->Advance(7);
  }
  drain();
  // Release half, then add pressure so the policy picks victims.
  for (size_t i = 0; i < s.live.size(); i += 2)
    note("release", m.Release(s.live[i]));
  for (int i = 0; i < 8; ++i) {
    const SeqId id = *m.AddSequence(Iota(10 + 3 * i, 9000 + 100 * i));
    auto a = m.Admit(id, 64);
    out += fmt::format("pressure {}: {}\n", id.value(),
                       a.ok() ? fmt::format("hit {} new {}", a->hit.num_tokens,
                                            a->num_new_tokens)
                              : a.status().ToString());
    s.clock->Advance(3);
  }
  drain();
  std::vector<SeqId> still;
  for (size_t i = 1; i < s.live.size(); i += 2) still.push_back(s.live[i]);
  s.live = still;
  std::vector<SeqId> probes;
  for (SeqId p : s.probes) {
    if (std::find(still.begin(), still.end(), p) != still.end()) {
      probes.push_back(p);
    }
  }
  s.probes = probes;
  out += Snapshot(s);
  return out;
}

using Op = std::function<absl::Status(Scenario&)>;

struct NamedOp {
  std::string name;
  Op op;
};

template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& st) {
  return st.status();
}

// Operations that always fail, whatever the pool size.
std::vector<NamedOp> InvalidOps() {
  const SeqId never(uint64_t{0xdeadbeef} << 32 | 12345);
  std::vector<NamedOp> ops;
  auto add = [&](std::string name, Op op) {
    ops.push_back({std::move(name), std::move(op)});
  };
  // Unknown and stale ids, for every operation that takes one.
  for (int which = 0; which < 2; ++which) {
    const std::string tag = which == 0 ? "stale" : "never issued";
    auto id = [which, never](Scenario& s) {
      return which == 0 ? s.stale : never;
    };
    add("AppendTokens " + tag, [id](Scenario& s) {
      return s.m->AppendTokens(id(s), {1, 2});
    });
    add("Admit " + tag,
        [id](Scenario& s) { return StatusOf(s.m->Admit(id(s), 4)); });
    add("Reserve " + tag,
        [id](Scenario& s) { return s.m->Reserve(id(s), 0, 1); });
    add("Truncate " + tag,
        [id](Scenario& s) { return s.m->Truncate(id(s), 0); });
    add("Fork " + tag,
        [id](Scenario& s) { return StatusOf(s.m->Fork(id(s))); });
    add("Release " + tag, [id](Scenario& s) { return s.m->Release(id(s)); });
    add("AdmitBatch good then " + tag, [id](Scenario& s) {
      const ReserveRequest r[] = {{s.e, 4, 0}, {id(s), 4, 0}};
      return StatusOf(s.m->AdmitBatch(r));
    });
  }
  // Bad counts.
  add("Reserve negative", [](Scenario& s) { return s.m->Reserve(s.a, -1); });
  add("Reserve negative lookahead",
      [](Scenario& s) { return s.m->Reserve(s.a, 1, -1); });
  add("Reserve past the known tokens",
      [](Scenario& s) { return s.m->Reserve(s.a, 11); });
  // Reserve(s, INT64_MAX) is not here: it overflows the bounds check (see
  // limits_test.cc, DISABLED_ReserveHugeCountIsRejected).
  add("Reserve 2^40",
      [](Scenario& s) { return s.m->Reserve(s.a, int64_t{1} << 40); });
  add("Reserve huge lookahead past the pool",
      [](Scenario& s) { return s.m->Reserve(s.a, 0, int64_t{1} << 40); });
  add("Admit negative",
      [](Scenario& s) { return StatusOf(s.m->Admit(s.e, -1)); });
  add("AdmitBatch negative lookahead", [](Scenario& s) {
    const ReserveRequest r[] = {{s.e, 4, 0}, {s.f, 4, -1}};
    return StatusOf(s.m->AdmitBatch(r));
  });
  add("Admit already admitted",
      [](Scenario& s) { return StatusOf(s.m->Admit(s.a, 4)); });
  add("AdmitBatch second already admitted", [](Scenario& s) {
    const ReserveRequest r[] = {{s.f, 4, 0}, {s.b, 4, 0}};
    return StatusOf(s.m->AdmitBatch(r));
  });
  add("AdmitBatch duplicate", [](Scenario& s) {
    const ReserveRequest r[] = {{s.e, 4, 0}, {s.f, 1, 0}, {s.e, 4, 0}};
    return StatusOf(s.m->AdmitBatch(r));
  });
  // Truncation past the end.
  add("Truncate past the end", [](Scenario& s) {
    return s.m->Truncate(s.a, *s.m->NumKnownTokens(s.a) + 1);
  });
  add("Truncate negative", [](Scenario& s) { return s.m->Truncate(s.b, -1); });
  add("Truncate max", [](Scenario& s) {
    return s.m->Truncate(s.b, std::numeric_limits<int64_t>::max());
  });
  // Too many tokens; the span is never read (the length is checked first).
  add("AppendTokens overflow", [](Scenario& s) {
    static const TokenId one = 1;
    return s.m->AppendTokens(s.a,
                             absl::Span<const TokenId>(&one, size_t{1} << 31));
  });
  add("AddSequence too long", [](Scenario& s) {
    static const TokenId one = 1;
    return StatusOf(
        s.m->AddSequence(absl::Span<const TokenId>(&one, size_t{1} << 31)));
  });
  add("AddSequence bad options", [](Scenario& s) {
    SequenceOptions o;
    o.retention_priority = 101;
    return StatusOf(s.m->AddSequence(Iota(5), o));
  });
  add("AddSequence overlapping multimodal items", [](Scenario& s) {
    SequenceOptions o;
    o.hash_extras.mm_items = {{1, 0, 4}, {2, 2, 4}};
    return StatusOf(s.m->AddSequence(Iota(8), o));
  });
  add("Reset with live sequences", [](Scenario& s) { return s.m->Reset(); });
  // A decode batch with one bad member fails as a whole.
  add("AppendDecodeTokens duplicate", [](Scenario& s) {
    const SeqId seqs[] = {s.g, s.h, s.g};
    const TokenId tokens[] = {1, 2, 3};
    return s.m->AppendDecodeTokens(seqs, tokens);
  });
  add("AppendDecodeTokens size mismatch", [](Scenario& s) {
    const SeqId seqs[] = {s.g, s.h};
    const TokenId tokens[] = {1};
    return s.m->AppendDecodeTokens(seqs, tokens);
  });
  add("AppendDecodeTokens with a stale id", [](Scenario& s) {
    const SeqId seqs[] = {s.g, s.stale};
    const TokenId tokens[] = {1, 2};
    return s.m->AppendDecodeTokens(seqs, tokens);
  });
  add("AppendDecodeTokens with a prefilling sequence", [](Scenario& s) {
    const SeqId seqs[] = {s.g, s.h, s.a};
    const TokenId tokens[] = {1, 2, 3};
    return s.m->AppendDecodeTokens(seqs, tokens);
  });
  return ops;
}

// Operations that fail when the pool is short; tried at every pool size.
std::vector<NamedOp> CapacityOps() {
  std::vector<NamedOp> ops;
  for (int n = 0; n <= 10; ++n) {
    for (int l : {0, 1, 4, 9, 40}) {
      ops.push_back({fmt::format("Reserve a {} +{}", n, l),
                     [n, l](Scenario& s) { return s.m->Reserve(s.a, n, l); }});
    }
  }
  for (int n : {1, 2}) {
    for (int l : {0, 3, 20}) {
      ops.push_back({fmt::format("Reserve c (copy-on-write) {} +{}", n, l),
                     [n, l](Scenario& s) { return s.m->Reserve(s.c, n, l); }});
    }
  }
  for (int l : {5, 30}) {
    ops.push_back({fmt::format("Reserve b lookahead {}", l),
                   [l](Scenario& s) { return s.m->Reserve(s.b, 0, l); }});
  }
  for (int n : {0, 1, 4, 9, 12, 40}) {
    ops.push_back({fmt::format("Admit e {}", n),
                   [n](Scenario& s) { return StatusOf(s.m->Admit(s.e, n)); }});
    ops.push_back({fmt::format("Admit f {}", n),
                   [n](Scenario& s) { return StatusOf(s.m->Admit(s.f, n)); }});
  }
  for (int n1 : {1, 9, 40}) {
    for (int n2 : {1, 12, 40}) {
      for (int l : {0, 8}) {
        ops.push_back(
            {fmt::format("AdmitBatch e {} f {} +{}", n1, n2, l),
             [n1, n2, l](Scenario& s) {
               const ReserveRequest r[] = {{s.e, n1, l}, {s.f, n2, l}};
               return StatusOf(s.m->AdmitBatch(r));
             }});
      }
    }
  }
  // g and its fork h share a partial last block: a decode copies it.
  for (int first : {0, 1}) {
    for (int n : {1, 2}) {
      ops.push_back({fmt::format("AppendDecodeTokens {} from {}", n, first),
                     [first, n](Scenario& s) {
                       const SeqId seqs[] = {s.g, s.h, s.g};
                       const TokenId tokens[] = {7, 8, 9};
                       return s.m->AppendDecodeTokens(
                           absl::MakeConstSpan(seqs + first, n),
                           absl::MakeConstSpan(tokens, n));
                     }});
    }
  }
  ops.push_back({"AdmitBatch every probe", [](Scenario& s) {
                   std::vector<ReserveRequest> r;
                   for (SeqId p : s.probes) r.push_back({p, 64, 0});
                   return StatusOf(s.m->AdmitBatch(r));
                 }});
  return ops;
}

// Runs `op` on one twin; if it fails, checks both views. Returns whether it
// failed.
bool CheckAtomic(const Config& cfg, int64_t num_blocks, const NamedOp& op,
                 bool must_fail) {
  std::unique_ptr<Scenario> s = Build(cfg, num_blocks);
  std::unique_ptr<Scenario> twin = Build(cfg, num_blocks);
  EXPECT_TRUE(s != nullptr && twin != nullptr);
  if (s == nullptr || twin == nullptr) return false;
  const std::string before = Snapshot(*s);
  const uint64_t failures = s->m->Stats().allocation_failures;
  const absl::Status st = op.op(*s);
  if (st.ok()) {
    EXPECT_FALSE(must_fail) << op.name << " succeeded";
    return false;
  }
  const std::string where =
      fmt::format("{} with {} blocks: {}", op.name, num_blocks, st.ToString());
  EXPECT_TRUE(st.code() == absl::StatusCode::kResourceExhausted ||
              st.code() == absl::StatusCode::kInvalidArgument ||
              st.code() == absl::StatusCode::kFailedPrecondition)
      << where;
  EXPECT_NE(st.message(), "") << where;
  EXPECT_EQ(Snapshot(*s), before) << where;
  EXPECT_EQ(s->m->Stats().allocation_failures - failures,
            st.code() == absl::StatusCode::kResourceExhausted ? 1u : 0u)
      << where;
  EXPECT_TRUE(s->m->DrainEvents().empty()) << where;
  EXPECT_TRUE(s->m->DrainCopies().empty()) << where;
  EXPECT_TRUE(s->m->Verify().ok()) << where << ": " << s->m->Verify();
  EXPECT_EQ(Continue(*s), Continue(*twin)) << where;
  EXPECT_TRUE(s->m->Verify().ok()) << where << ": " << s->m->Verify();
  return true;
}

// The smallest pool the scenario fits in.
int64_t MinBlocks(const Config& cfg) {
  for (int64_t n = 2; n < 200; ++n) {
    if (Build(cfg, n) != nullptr) return n;
  }
  return -1;
}

class FailureAtomicityTest : public ::testing::TestWithParam<Config> {};

TEST_P(FailureAtomicityTest, InvalidCallsChangeNothing) {
  const int64_t min_blocks = MinBlocks(GetParam());
  ASSERT_GT(min_blocks, 0);
  for (int64_t n : {min_blocks, min_blocks + 12}) {
    for (const NamedOp& op : InvalidOps()) {
      CheckAtomic(GetParam(), n, op, /*must_fail=*/true);
      if (HasFailure()) return;
    }
  }
}

TEST_P(FailureAtomicityTest, ExhaustionAtEveryPoolSizeChangesNothing) {
  const int64_t min_blocks = MinBlocks(GetParam());
  ASSERT_GT(min_blocks, 0);
  int failed = 0, succeeded = 0;
  // From the smallest pool the scenario fits in up to one where (nearly)
  // everything fits: every operation meets every shortfall on the way.
  for (int64_t n = min_blocks; n <= min_blocks + 20; ++n) {
    for (const NamedOp& op : CapacityOps()) {
      if (CheckAtomic(GetParam(), n, op, /*must_fail=*/false)) {
        ++failed;
      } else {
        ++succeeded;
      }
      if (HasFailure()) return;
    }
  }
  EXPECT_GT(failed, 200);
  EXPECT_GT(succeeded, 200);
  std::printf(
      "[atomicity %s] pools of %lld..%lld blocks: %d failed operations "
      "checked, %d succeeded\n",
      GetParam().name.c_str(), static_cast<long long>(min_blocks),
      static_cast<long long>(min_blocks + 20), failed, succeeded);
}

TEST(FailureAtomicitySlidingWindowTest,
     TruncateIntoReleasedWindowChangesNothing) {
  Config cfg{
      "hybrid",
      {KVCacheGroupSpec::FullAttention(), KVCacheGroupSpec::SlidingWindow(5)},
      "lru"};
  std::unique_ptr<Scenario> s = Build(cfg, 64);
  ASSERT_NE(s, nullptr);
  // a holds 18 computed tokens; with window 5 its first blocks went back.
  ASSERT_EQ((*s->m->BlockTable(s->a, GroupId(1)))[0], kNullBlock);
  NamedOp op{"Truncate a to 10",
             [](Scenario& s) { return s.m->Truncate(s.a, 10); }};
  EXPECT_TRUE(CheckAtomic(cfg, 64, op, /*must_fail=*/true));
}

std::vector<Config> Configs() {
  std::vector<Config> configs;
  for (const std::string& policy : EvictionPolicyNames()) {
    configs.push_back(
        {"full_" + policy, {KVCacheGroupSpec::FullAttention()}, policy});
  }
  configs.push_back(
      {"hybrid_window",
       {KVCacheGroupSpec::FullAttention(), KVCacheGroupSpec::SlidingWindow(7)},
       "lru"});
  configs.push_back(
      {"llama4_chunked",
       {KVCacheGroupSpec::FullAttention(), KVCacheGroupSpec::ChunkedLocal(8)},
       "lru"});
  configs.push_back({"state_align",
                     {KVCacheGroupSpec::FullAttention(),
                      KVCacheGroupSpec::State(StateCacheMode::kAlign, 1)},
                     "lru"});
  configs.push_back({"state_none",
                     {KVCacheGroupSpec::FullAttention(),
                      KVCacheGroupSpec::State(StateCacheMode::kNone, 1)},
                     "lru"});
  configs.push_back(
      {"no_prefix_caching", {KVCacheGroupSpec::FullAttention()}, "lru", false});
  configs.push_back({"host_write_through",
                     {KVCacheGroupSpec::FullAttention()},
                     "lru",
                     true,
                     6,
                     StorePolicy::kWriteThrough});
  configs.push_back({"host_write_back_arc",
                     {KVCacheGroupSpec::FullAttention()},
                     "arc",
                     true,
                     6,
                     StorePolicy::kWriteBack});
  return configs;
}

INSTANTIATE_TEST_SUITE_P(Configs, FailureAtomicityTest,
                         ::testing::ValuesIn(Configs()), [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& c : n) {
                             if (!isalnum(static_cast<unsigned char>(c)))
                               c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace pagekv
