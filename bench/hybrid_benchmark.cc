// Hybrid models' bookkeeping against full attention, in one process so the
// ratios hold on a noisy machine (docs/hybrid.md):
//   BM_HybridDecode/<layout>/<caching>  one decode step of 1024 sequences
//   BM_HybridPrefixMatch/<layout>       a 32k-token prompt, fully cached
// Layouts: 0 = one full-attention group (the dense model, the fast path),
// 1 = four full-attention groups (the same layers grouped as a hybrid is),
// 2 = 1 full : 3 state groups (kNone), 3 = 1 full : 3 state groups (kAlign),
// 4 = 1 full : 3 chunked-local groups (chunk 8192).
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv {
namespace {

std::vector<KVCacheGroupSpec> Layout(int64_t layout) {
  std::vector<KVCacheGroupSpec> g = {KVCacheGroupSpec::FullAttention()};
  for (int i = 0; i < 3 && layout > 0; ++i) {
    switch (layout) {
      case 1:
        g.push_back(KVCacheGroupSpec::FullAttention());
        break;
      case 2:
        g.push_back(KVCacheGroupSpec::State(StateCacheMode::kNone));
        break;
      case 3:
        g.push_back(KVCacheGroupSpec::State(StateCacheMode::kAlign));
        break;
      default:
        g.push_back(KVCacheGroupSpec::ChunkedLocal(8192));
        break;
    }
  }
  return g;
}

const char* LayoutName(int64_t layout) {
  static const char* const kNames[] = {"full", "4xfull", "1full+3state_none",
                                       "1full+3state_align", "1full+3chunked"};
  return kNames[layout];
}

// Steps a batch may take before it is rebuilt (its pool is sized for them).
constexpr int kSteps = 8192;

struct Batch {
  std::unique_ptr<KVCacheManager> manager;
  std::vector<SeqId> seqs;
};

// `n` sequences with 1000-token prompts admitted, room for kSteps more
// tokens each in every group.
Batch MakeBatch(int n, int64_t layout, bool caching) {
  KVCacheConfig c;
  c.block_size = 16;
  c.groups = Layout(layout);
  c.num_blocks = int64_t{n} * (1000 + kSteps) / 16 * 4 + 2;
  c.enable_prefix_caching = caching;
  Batch b;
  b.manager = *KVCacheManager::Create(c);
  std::vector<TokenId> prompt(1000);
  for (int i = 0; i < n; ++i) {
    std::iota(prompt.begin(), prompt.end(), i * 1000);
    SeqId s = *b.manager->AddSequence(prompt);
    (void)b.manager->Admit(s, 1000);
    b.seqs.push_back(s);
  }
  b.manager->DrainCopies();
  return b;
}

// One decode step (AppendDecodeTokens, then DrainCopies as an engine does
// before its kernels).
void BM_HybridDecode(benchmark::State& state) {
  constexpr int kSeqs = 1024;
  const int64_t layout = state.range(0);
  const bool caching = state.range(1) != 0;
  Batch b = MakeBatch(kSeqs, layout, caching);
  std::vector<TokenId> tokens(kSeqs, 7);
  int steps = 0;
  for (auto _ : state) {
    absl::Status st = b.manager->AppendDecodeTokens(b.seqs, tokens);
    benchmark::DoNotOptimize(st);
    auto copies = b.manager->DrainCopies();
    benchmark::DoNotOptimize(copies);
    for (TokenId& t : tokens) ++t;
    if (++steps == kSteps - 16) {
      state.PauseTiming();
      b = MakeBatch(kSeqs, layout, caching);
      steps = 0;
      state.ResumeTiming();
    }
  }
  state.SetLabel(LayoutName(layout));
  state.SetItemsProcessed(state.iterations() * kSeqs);
}
BENCHMARK(BM_HybridDecode)
    ->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1}})
    ->Unit(benchmark::kMicrosecond);

std::vector<TokenId> RandomTokens(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<TokenId> t(n);
  for (TokenId& x : t) x = static_cast<TokenId>(rng() % 32000);
  return t;
}

// A 32k-token prompt fully cached (its state checkpoint too: it was
// computed in one step ending on a block boundary), among 128 other cached
// 32k prompts; hashing, the walk of every group and verification included.
void BM_HybridPrefixMatch(benchmark::State& state) {
  constexpr size_t kPrompt = 32768;
  constexpr int kOthers = 128;
  const int64_t layout = state.range(0);
  KVCacheConfig c;
  c.block_size = 16;
  c.groups = Layout(layout);
  c.num_blocks = int64_t{kOthers + 2} * (kPrompt / 16) * 4 + 2;
  auto m = *KVCacheManager::Create(c);
  for (int i = 0; i < kOthers; ++i) {
    SeqId s = *m->AddSequence(RandomTokens(kPrompt + 1, 1000 + i));
    (void)m->Admit(s, kPrompt);
    (void)m->Release(s);
  }
  const auto prompt = RandomTokens(kPrompt + 1, 7);
  SeqId s = *m->AddSequence(prompt);
  (void)m->Admit(s, kPrompt);
  m->DrainCopies();
  if (m->MatchPrefix(prompt).num_tokens != int64_t(kPrompt)) {
    state.SkipWithError("the prompt is not fully cached");
    return;
  }
  for (auto _ : state) {
    PrefixMatch match = m->MatchPrefix(prompt);
    benchmark::DoNotOptimize(match);
  }
  state.SetLabel(LayoutName(layout));
}
// (A kNone state group caches nothing, so layout 2 never hits.)
BENCHMARK(BM_HybridPrefixMatch)
    ->Arg(0)
    ->Arg(1)
    ->Arg(3)
    ->Arg(4)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace pagekv
