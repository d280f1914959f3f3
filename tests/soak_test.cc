// Soak: a long run of a serving-like workload on one KVCacheManager, in
// cycles. Each cycle runs multi-turn conversations over a few shared system
// prompts (prefix sharing), chunked prefill, decode, parallel sampling
// (fork), speculative-decoding rollback (truncate), and a pool smaller than
// the working set (eviction pressure), then releases every sequence.
//
// Checked: Verify() every kVerifyEvery operations and at the end of every
// cycle; every live sequence reads its own tokens back through a shadow KV
// memory (as in manager_stress_test.cc) at the same points; and the heap is
// flat: the bytes this process holds live (counted by the operator new /
// delete below) at the end of a cycle, when the test itself holds nothing,
// must not grow once the warm-up cycles have sized the manager's reusable
// buffers.
//
// By default a short, deterministic run is part of the suite.
// PAGEKV_SOAK_SECONDS=N (scripts/soak.sh) runs cycles until N seconds have
// passed instead and prints the figures.
#include <malloc.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <new>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "pagekv/clock.h"
#include "pagekv/kv_cache_manager.h"
#include "test_util.h"

// --- Live heap bytes of the whole process ----------------------------------

namespace {
std::atomic<int64_t> g_live_bytes{0};
std::atomic<int64_t> g_allocations{0};

void* CountedAlloc(size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  g_live_bytes.fetch_add(static_cast<int64_t>(malloc_usable_size(p)),
                         std::memory_order_relaxed);
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void CountedFree(void* p) {
  if (p == nullptr) return;
  g_live_bytes.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)),
                         std::memory_order_relaxed);
  std::free(p);
}
}  // namespace

void* operator new(size_t n) { return CountedAlloc(n); }
void* operator new[](size_t n) { return CountedAlloc(n); }
void operator delete(void* p) noexcept { CountedFree(p); }
void operator delete[](void* p) noexcept { CountedFree(p); }
void operator delete(void* p, size_t) noexcept { CountedFree(p); }
void operator delete[](void* p, size_t) noexcept { CountedFree(p); }

namespace pagekv {
namespace {

using testing::Iota;

constexpr int kBlockSize = 16;
constexpr int kVerifyEvery = 2000;

struct SoakConfig {
  std::string name;
  std::vector<KVCacheGroupSpec> groups;
  std::string policy;
  int64_t num_blocks;
  friend void PrintTo(const SoakConfig& c, std::ostream* os) { *os << c.name; }
};

struct Conversation {
  SeqId seq;
  std::vector<TokenId> tokens;  // known tokens
  int64_t computed = 0;
  int target_output = 0;  // tokens to decode this turn
  int turns_left = 0;
  int system_prompt = 0;
};

class Soak {
 public:
  explicit Soak(const SoakConfig& cfg) {
    KVCacheConfig c;
    c.num_blocks = cfg.num_blocks;
    c.block_size = kBlockSize;
    c.groups = cfg.groups;
    c.eviction_policy = cfg.policy;
    c.clock = &clock_;
    c.enable_kv_events = true;
    manager_ = testing::MakeManager(c);
    shadow_.assign(static_cast<size_t>(cfg.num_blocks) * kBlockSize, -1);
    for (int i = 0; i < 4; ++i) {
      system_prompts_.push_back(Iota(64 + 48 * i, 100000 * (i + 1)));
    }
  }

  KVCacheManager& manager() { return *manager_; }
  int64_t ops() const { return ops_; }
  int64_t hit_tokens() const { return hit_tokens_; }
  int64_t exhausted() const { return exhausted_; }

  // One cycle: up to `steps` scheduling steps, then release everything.
  void Cycle(uint64_t seed, int steps) {
    std::mt19937_64 rng(seed);
    for (int step = 0; step < steps; ++step) {
      clock_.Advance(1 + rng() % 1000);
      if (live_.size() < 24 && rng() % 3 == 0) Start(rng);
      if (!live_.empty()) {
        auto it = live_.begin();
        std::advance(it, rng() % live_.size());
        Advance(it, rng);
      }
      if (ops_ - last_verify_ >= kVerifyEvery) CheckAll();
      if (::testing::Test::HasFatalFailure()) return;
    }
    CheckAll();
    while (!live_.empty()) Finish(live_.begin());
    Op();
    manager_->DrainEvents();
    manager_->DrainCopies();
    CheckAll();
  }

  void CheckAll() {
    last_verify_ = ops_;
    const absl::Status st = manager_->Verify();
    ASSERT_TRUE(st.ok()) << st;
    for (const auto& [id, c] : live_) {
      for (int g = 0; g < manager_->num_groups(); ++g) {
        auto table = *manager_->BlockTable(c.seq, GroupId(g));
        for (int64_t p = 0; p < c.computed; ++p) {
          const BlockId b = table[p / kBlockSize];
          if (b == kNullBlock) continue;
          ASSERT_EQ(shadow_[b.value() * kBlockSize + p % kBlockSize],
                    c.tokens[p])
              << "sequence " << id << " group " << g << " position " << p;
        }
      }
    }
  }

 private:
  void Op() { ++ops_; }

  void Start(std::mt19937_64& rng) {
    Conversation c;
    c.system_prompt = static_cast<int>(rng() % system_prompts_.size());
    c.tokens = system_prompts_[c.system_prompt];
    const int user = 8 + static_cast<int>(rng() % 200);
    for (int i = 0; i < user; ++i) c.tokens.push_back(rng() % 50000);
    c.target_output = 1 + static_cast<int>(rng() % 64);
    c.turns_left = static_cast<int>(rng() % 4);
    Admit(c, rng);
  }

  void Admit(Conversation& c, std::mt19937_64& rng) {
    c.seq = *manager_->AddSequence(c.tokens);
    Op();
    const int64_t chunk = 32 + static_cast<int64_t>(rng() % 512);
    auto a = manager_->Admit(c.seq, chunk);
    Op();
    if (!a.ok()) {
      ++exhausted_;
      PAGEKV_ASSERT_OK(manager_->Release(c.seq));
      Op();
      return;
    }
    hit_tokens_ += a->hit.num_tokens;
    c.computed = a->hit.num_tokens;
    Write(c, c.computed, c.computed + a->num_new_tokens);
    c.computed += a->num_new_tokens;
    live_[c.seq.value()] = std::move(c);
  }

  void Write(const Conversation& c, int64_t from, int64_t to) {
    for (const BlockCopy& copy : manager_->DrainCopies()) {
      for (int i = 0; i < kBlockSize; ++i) {
        shadow_[copy.dst.value() * kBlockSize + i] =
            shadow_[copy.src.value() * kBlockSize + i];
      }
    }
    for (int g = 0; g < manager_->num_groups(); ++g) {
      auto table = *manager_->BlockTable(c.seq, GroupId(g));
      for (int64_t p = from; p < to; ++p) {
        shadow_[table[p / kBlockSize].value() * kBlockSize + p % kBlockSize] =
            c.tokens[p];
      }
    }
  }

  void Advance(std::map<uint64_t, Conversation>::iterator it,
               std::mt19937_64& rng) {
    Conversation& c = it->second;
    const int64_t known = static_cast<int64_t>(c.tokens.size());
    if (c.computed < known) {  // prefill chunk
      const int64_t n = std::min<int64_t>(
          known - c.computed, 32 + static_cast<int64_t>(rng() % 256));
      const absl::Status st = manager_->Reserve(c.seq, n);
      Op();
      if (!st.ok()) {
        ASSERT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
        ++exhausted_;
        if (rng() % 4 == 0) Finish(it);  // preempt
        return;
      }
      Write(c, c.computed, c.computed + n);
      c.computed += n;
      return;
    }
    if (c.target_output == 0) {  // turn over: next turn or done
      if (c.turns_left-- > 0) {
        Conversation next;
        next.system_prompt = c.system_prompt;
        next.tokens = c.tokens;
        const int user = 8 + static_cast<int>(rng() % 100);
        for (int i = 0; i < user; ++i) next.tokens.push_back(rng() % 50000);
        next.target_output = 1 + static_cast<int>(rng() % 64);
        next.turns_left = c.turns_left;
        Finish(it);
        Admit(next, rng);
      } else {
        Finish(it);
      }
      return;
    }
    const int r = static_cast<int>(rng() % 100);
    if (r < 4 && live_.size() < 32) {  // parallel sampling
      auto child = manager_->Fork(c.seq);
      Op();
      ASSERT_TRUE(child.ok()) << child.status();
      Conversation copy = c;
      copy.seq = *child;
      copy.turns_left = 0;
      live_[child->value()] = std::move(copy);
      return;
    }
    if (r < 14) {  // speculative decoding: 4 drafts, keep some, roll back
      std::vector<TokenId> drafts;
      for (int i = 0; i < 4; ++i) drafts.push_back(rng() % 50000);
      PAGEKV_ASSERT_OK(manager_->AppendTokens(c.seq, drafts));
      Op();
      c.tokens.insert(c.tokens.end(), drafts.begin(), drafts.end());
      const absl::Status st = manager_->Reserve(c.seq, 4);
      Op();
      int keep = 0;
      if (st.ok()) {
        Write(c, c.computed, c.computed + 4);
        c.computed += 4;
        keep = static_cast<int>(rng() % 5);
      } else {
        ++exhausted_;
      }
      const int64_t n = static_cast<int64_t>(c.tokens.size()) - 4 + keep;
      PAGEKV_ASSERT_OK(manager_->Truncate(c.seq, n));
      Op();
      c.tokens.resize(n);
      c.computed = std::min(c.computed, n);
      c.target_output = std::max(0, c.target_output - keep);
      return;
    }
    // Decode one token.
    const TokenId t = static_cast<TokenId>(rng() % 50000);
    PAGEKV_ASSERT_OK(manager_->AppendTokens(c.seq, {t}));
    Op();
    c.tokens.push_back(t);
    const absl::Status st = manager_->Reserve(c.seq, 1, rng() % 8 == 0 ? 3 : 0);
    Op();
    if (!st.ok()) {
      ASSERT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
      ++exhausted_;
      PAGEKV_ASSERT_OK(manager_->Truncate(c.seq, c.computed));
      Op();
      c.tokens.resize(c.computed);
      if (rng() % 2 == 0) Finish(it);  // preempt
      return;
    }
    Write(c, c.computed, c.computed + 1);
    ++c.computed;
    --c.target_output;
  }

  void Finish(std::map<uint64_t, Conversation>::iterator it) {
    PAGEKV_ASSERT_OK(manager_->Release(it->second.seq));
    Op();
    live_.erase(it);
  }

  ManualClock clock_;
  std::unique_ptr<KVCacheManager> manager_;
  std::vector<std::vector<TokenId>> system_prompts_;
  std::map<uint64_t, Conversation> live_;
  std::vector<TokenId> shadow_;
  int64_t ops_ = 0;
  int64_t last_verify_ = 0;
  int64_t hit_tokens_ = 0;
  int64_t exhausted_ = 0;
};

class SoakTest : public ::testing::TestWithParam<SoakConfig> {};

TEST_P(SoakTest, InvariantsHoldAndHeapStaysFlat) {
  const char* env = std::getenv("PAGEKV_SOAK_SECONDS");
  const double seconds = env != nullptr ? std::atof(env) : 0;
  // Deterministic by default: a fixed number of cycles.
  const int kWarmup = 4;
  const int cycles = seconds > 0 ? std::numeric_limits<int>::max() : 8;
  const int steps = seconds > 0 ? 5000 : 500;
  const auto start = std::chrono::steady_clock::now();

  Soak soak(GetParam());
  int64_t baseline = 0, max_after = 0, last = 0;
  // (cycle, bytes) of each new high after warm-up. Reserved up front so the
  // test's own bookkeeping does not show up in the count.
  std::vector<std::pair<int, int64_t>> highs;
  highs.reserve(1 << 16);
  int cycle = 0;
  for (; cycle < cycles; ++cycle) {
    soak.Cycle(0x50a4 + cycle, steps);
    if (HasFatalFailure()) return;
    last = g_live_bytes.load();
    if (cycle + 1 == kWarmup) baseline = last;
    if (cycle >= kWarmup && last > max_after && highs.size() < (1 << 16)) {
      max_after = last;
      highs.push_back({cycle, last});
    }
    if (seconds > 0 && cycle >= 2 * kWarmup &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                .count() >= seconds) {
      ++cycle;
      break;
    }
  }
  const KVCacheStats stats = soak.manager().Stats();
  EXPECT_EQ(stats.in_use_blocks, 0u);
  EXPECT_EQ(stats.num_sequences, 0u);
  EXPECT_GT(soak.hit_tokens(), 0);
  EXPECT_GT(soak.exhausted(), 0);
  EXPECT_GT(stats.evictions, 0u);
  // Flat. The manager keeps reusable buffers (a released sequence's slot
  // keeps its vectors' capacity), so the live heap at a cycle's end is a
  // high-water mark: it may rise when a slot first meets a longer sequence,
  // ever more rarely. A leak instead rises with the number of cycles. So: in
  // the second half of the run, new highs are rare (at most 1% of its
  // cycles, or 2) and add at most 64 KiB; in the short run, nothing grows by
  // more than 64 KiB after warm-up.
  const int half = std::max(kWarmup, cycle / 2);
  int64_t high_at_half = baseline;
  int highs_in_second_half = 0;
  for (const auto& [c, bytes] : highs) {
    if (c < half) {
      high_at_half = bytes;
    } else {
      ++highs_in_second_half;
    }
  }
  if (seconds > 0) {
    EXPECT_LE(highs_in_second_half, std::max(2, (cycle - half) / 100))
        << "the live heap keeps reaching new highs: a leak?";
    EXPECT_LE(max_after, high_at_half + 64 * 1024)
        << "heap grew from " << high_at_half << " to " << max_after
        << " bytes in the second half";
  } else {
    EXPECT_LE(max_after, baseline + 64 * 1024)
        << "heap grew from " << baseline << " to " << max_after << " bytes";
  }
  std::string trail;
  for (size_t i = highs.size() > 8 ? highs.size() - 8 : 0; i < highs.size();
       ++i) {
    trail += " " + std::to_string(highs[i].first) + ":" +
             std::to_string(highs[i].second);
  }
  std::printf(
      "[soak %s] %zu new heap highs after warm-up (cycle:bytes, last "
      "8):%s\n",
      GetParam().name.c_str(), highs.size(), trail.c_str());
  std::printf(
      "[soak %s] %d cycles, %lld operations, %llu evictions, %lld hit tokens, "
      "%lld exhausted, live heap after warm-up %lld B, max after %lld B, "
      "last %lld B, %.1f s\n",
      GetParam().name.c_str(), cycle, static_cast<long long>(soak.ops()),
      static_cast<unsigned long long>(stats.evictions),
      static_cast<long long>(soak.hit_tokens()),
      static_cast<long long>(soak.exhausted()),
      static_cast<long long>(baseline), static_cast<long long>(max_after),
      static_cast<long long>(last),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count());
}

INSTANTIATE_TEST_SUITE_P(
    Configs, SoakTest,
    ::testing::Values(
        SoakConfig{"full_lru", {KVCacheGroupSpec::FullAttention()}, "lru", 160},
        SoakConfig{
            "full_s3fifo", {KVCacheGroupSpec::FullAttention()}, "s3fifo", 160},
        SoakConfig{"hybrid_priority",
                   {KVCacheGroupSpec::FullAttention(),
                    KVCacheGroupSpec::SlidingWindow(128)},
                   "priority",
                   280}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace pagekv
