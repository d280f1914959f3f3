// Randomized stress test of KVCacheManager against a reference model.
//
// The reference is the engine's view of KV memory: a shadow array of token
// ids per physical block, written exactly as an engine would (perform the
// requested copies, then write the step's new tokens into the slots the
// block table names). After every operation, every live sequence must read
// its own tokens back through its block table: a prefix hit that handed out
// the wrong block, a missed copy-on-write, or a block freed while still
// referenced all show up as a wrong token. Beside that, the reference tracks
// known/computed token counts, failed operations must change nothing, and
// Verify() must pass after every step.
#include <iostream>
#include <map>
#include <random>
#include <variant>

#include "gtest/gtest.h"
#include "pagekv/kv_cache_manager.h"
#include "test_util.h"

namespace pagekv {
namespace {

struct RefSeq {
  std::vector<TokenId> tokens;
  int64_t computed = 0;
};

struct StressParam {
  std::string name;
  std::vector<KVCacheGroupSpec> groups;
  bool prefix_caching;
  std::string policy;
  int64_t num_blocks;
};

class ManagerStressTest : public ::testing::TestWithParam<StressParam> {
 protected:
  void SetUp() override {
    const StressParam& p = GetParam();
    KVCacheConfig c;
    c.num_blocks = p.num_blocks;
    c.block_size = 4;
    c.groups = p.groups;
    c.enable_prefix_caching = p.prefix_caching;
    c.eviction_policy = p.policy;
    c.enable_kv_events = true;
    c.clock = &clock_;
    auto m = KVCacheManager::Create(c);
    ASSERT_TRUE(m.ok()) << m.status();
    manager_ = *std::move(m);
    shadow_.assign(static_cast<size_t>(p.num_blocks) * 4, -1);
  }

  // The engine's work for a step: copies first, then the new tokens.
  void WriteStep(SeqId id, int64_t from, int64_t to) {
    for (const BlockCopy& copy : manager_->DrainCopies()) {
      for (int i = 0; i < 4; ++i) {
        shadow_[copy.dst.value() * 4 + i] = shadow_[copy.src.value() * 4 + i];
      }
    }
    const RefSeq& r = ref_[id.value()];
    for (int g = 0; g < manager_->num_groups(); ++g) {
      auto table = *manager_->BlockTable(id, GroupId(g));
      for (int64_t p = from; p < to; ++p) {
        ASSERT_NE(table[p / 4], kNullBlock)
            << "writing into a null slot: group " << g << " position " << p
            << " of " << r.tokens.size() << " tokens, range [" << from << ", "
            << to << "), table of " << table.size();
        shadow_[table[p / 4].value() * 4 + p % 4] = r.tokens[p];
      }
    }
  }

  void CheckAll() {
    ASSERT_TRUE(manager_->Verify().ok()) << manager_->Verify();
    for (const auto& [id, r] : ref_) {
      SeqId s(id);
      ASSERT_EQ(*manager_->NumKnownTokens(s), int64_t(r.tokens.size()));
      ASSERT_EQ(*manager_->NumComputedTokens(s), r.computed);
      for (int g = 0; g < manager_->num_groups(); ++g) {
        auto table = *manager_->BlockTable(s, GroupId(g));
        ASSERT_GE(int64_t(table.size()) * 4, r.computed);
        for (int64_t p = 0; p < r.computed; ++p) {
          BlockId b = table[p / 4];
          if (b == kNullBlock) continue;  // out of the window
          ASSERT_EQ(shadow_[b.value() * 4 + p % 4], r.tokens[p])
              << "sequence " << id << " group " << g << " position " << p
              << " reads the wrong KV from block " << b.value();
        }
      }
    }
  }

  struct Snapshot {
    KVCacheStats stats;
    std::map<uint64_t, std::vector<std::vector<uint32_t>>> tables;
    bool operator==(const Snapshot& o) const {
      return stats.free_blocks == o.stats.free_blocks &&
             stats.cached_blocks == o.stats.cached_blocks &&
             stats.in_use_blocks == o.stats.in_use_blocks &&
             stats.used_token_slots == o.stats.used_token_slots &&
             stats.evictions == o.stats.evictions && tables == o.tables;
    }
  };
  Snapshot Take() {
    Snapshot s;
    s.stats = manager_->Stats();
    for (const auto& [id, r] : ref_) {
      for (int g = 0; g < manager_->num_groups(); ++g) {
        s.tables[id].push_back(
            testing::Ids(*manager_->BlockTable(SeqId(id), GroupId(g))));
      }
    }
    return s;
  }

  std::vector<TokenId> RandomPrompt(std::mt19937_64& rng) {
    // Prompts start with one of a few shared prefixes, so hits happen.
    static const std::vector<std::vector<TokenId>> kPrefixes = {
        testing::Iota(8, 1000),
        testing::Iota(13, 2000),
        testing::Iota(4, 3000),
        {}};
    std::vector<TokenId> p = kPrefixes[rng() % kPrefixes.size()];
    const int suffix = 1 + static_cast<int>(rng() % 14);
    for (int i = 0; i < suffix; ++i)
      p.push_back(static_cast<TokenId>(rng() % 6));
    return p;
  }

  ManualClock clock_;
  std::unique_ptr<KVCacheManager> manager_;
  std::map<uint64_t, RefSeq> ref_;
  std::vector<TokenId> shadow_;
};

TEST_P(ManagerStressTest, RandomOperationsMatchTheReference) {
  std::mt19937_64 rng(20261125);
  int exhausted = 0, hits = 0, forks = 0, truncates = 0;
  constexpr int kSteps = 60000;
  for (int step = 0; step < kSteps; ++step) {
    clock_.Advance(1 + rng() % 100);
    std::vector<uint64_t> ids;
    for (const auto& [id, r] : ref_) ids.push_back(id);
    const uint64_t pick = ids.empty() ? 0 : ids[rng() % ids.size()];
    const int op = static_cast<int>(rng() % 100);
    const Snapshot before = Take();
    absl::Status st;
    if (ids.empty() || op < 14) {  // add + admit a first chunk
      auto prompt = RandomPrompt(rng);
      SeqId s = *manager_->AddSequence(prompt);
      ref_[s.value()] = {prompt, 0};
      auto a = manager_->Admit(s, 1 + rng() % 20);
      if (a.ok()) {
        hits += a->hit.num_tokens > 0;
        ref_[s.value()].computed = a->hit.num_tokens + a->num_new_tokens;
        WriteStep(s, a->hit.num_tokens, ref_[s.value()].computed);
      } else {
        st = a.status();
        ASSERT_TRUE(Take().stats.in_use_blocks == before.stats.in_use_blocks);
        ASSERT_EQ(manager_->Release(s), absl::OkStatus());
        ref_.erase(s.value());
      }
    } else if (op < 50) {  // decode or prefill chunk
      SeqId s(pick);
      RefSeq& r = ref_[pick];
      if (r.computed == int64_t(r.tokens.size())) {
        TokenId t = static_cast<TokenId>(rng() % 6);
        ASSERT_TRUE(manager_->AppendTokens(s, {t}).ok());
        r.tokens.push_back(t);
      }
      const int64_t n = std::min<int64_t>(
          1 + rng() % 6, int64_t(r.tokens.size()) - r.computed);
      const int64_t lookahead = rng() % 4 == 0 ? int64_t(rng() % 6) : 0;
      st = manager_->Reserve(s, n, lookahead);
      if (st.ok()) {
        WriteStep(s, r.computed, r.computed + n);
        r.computed += n;
      }
    } else if (op < 56) {  // batched decode over every caught-up sequence
      std::vector<SeqId> batch;
      std::vector<TokenId> tokens;
      for (const auto& [id, r] : ref_) {
        if (r.computed == int64_t(r.tokens.size()) && rng() % 2 == 0) {
          batch.push_back(SeqId(id));
          tokens.push_back(static_cast<TokenId>(rng() % 6));
        }
      }
      st = manager_->AppendDecodeTokens(batch, tokens);
      if (st.ok()) {
        for (size_t i = 0; i < batch.size(); ++i) {
          RefSeq& r = ref_[batch[i].value()];
          r.tokens.push_back(tokens[i]);
          WriteStep(batch[i], r.computed, r.computed + 1);
          r.computed += 1;
        }
      }
    } else if (op < 63) {  // fork
      auto child = manager_->Fork(SeqId(pick));
      ASSERT_TRUE(child.ok());
      ref_[child->value()] = ref_[pick];
      ++forks;
    } else if (op < 71) {  // truncate (rollback)
      RefSeq& r = ref_[pick];
      const int64_t n = int64_t(r.tokens.size()) - int64_t(rng() % 5);
      st = manager_->Truncate(SeqId(pick), std::max<int64_t>(0, n));
      if (st.ok()) {
        r.tokens.resize(std::max<int64_t>(0, n));
        r.computed = std::min<int64_t>(r.computed, int64_t(r.tokens.size()));
        ++truncates;
      }
    } else if (op < 86) {  // release
      ASSERT_TRUE(manager_->Release(SeqId(pick)).ok());
      ref_.erase(pick);
    } else if (op < 87 && ref_.empty()) {
      ASSERT_TRUE(manager_->Reset().ok());
    } else {  // bad calls: must fail and change nothing
      EXPECT_FALSE(manager_->Reserve(SeqId(pick), -1).ok());
      EXPECT_FALSE(manager_->Truncate(SeqId(pick), 1 << 30).ok());
      EXPECT_FALSE(manager_->Release(SeqId(pick + (uint64_t{1} << 40))).ok());
      ASSERT_TRUE(Take() == before);
    }
    if (!st.ok()) {
      ASSERT_TRUE(st.code() == absl::StatusCode::kResourceExhausted ||
                  st.code() == absl::StatusCode::kFailedPrecondition)
          << st;
      ++exhausted;
      if (st.code() == absl::StatusCode::kResourceExhausted &&
          !(ids.empty() || op < 14)) {
        ASSERT_TRUE(Take() == before) << "a failed operation changed state";
      }
    }
    manager_->DrainEvents();
    CheckAll();
    if (HasFatalFailure()) return;
  }
  // The run must have exercised what it claims to.
  EXPECT_GT(exhausted, 100);
  std::cout << "exhausted " << exhausted << " hits " << hits << " forks "
            << forks << " truncates " << truncates << "\n";
  EXPECT_GT(forks, 100);
  EXPECT_GT(truncates, 100);
  if (GetParam().prefix_caching) {
    EXPECT_GT(hits, 100);
  }
}

std::vector<StressParam> Params() {
  std::vector<StressParam> params;
  for (const std::string& policy : EvictionPolicyNames()) {
    params.push_back({"full_" + policy,
                      {KVCacheGroupSpec::FullAttention()},
                      true,
                      policy,
                      48});
  }
  params.push_back(
      {"hybrid_window",
       {KVCacheGroupSpec::FullAttention(), KVCacheGroupSpec::SlidingWindow(7)},
       true,
       "lru",
       96});
  params.push_back({"no_prefix_caching",
                    {KVCacheGroupSpec::FullAttention()},
                    false,
                    "lru",
                    40});
  return params;
}

INSTANTIATE_TEST_SUITE_P(Configs, ManagerStressTest,
                         ::testing::ValuesIn(Params()), [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& c : n) {
                             if (!isalnum(static_cast<unsigned char>(c)))
                               c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace pagekv
