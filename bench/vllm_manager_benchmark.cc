// The C++ side of pagekv.vllm (VllmManager), without Python: what the
// decode step and the admission of a long prompt cost below the binding, so
// bench/python/vllm_bench.py's figures can be split into binding and core.
//   BM_VllmDecodeStep   1024 running requests, one token each
//                       (AppendTokens + AllocateSlots(1)); one new block per
//                       16 steps, as block size 16 gives
//   BM_VllmAdmission    a 32k-token prompt, first half cached: tokens and
//                       vLLM keys appended, FindLongestCacheHit,
//                       AllocateSlots, Free
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "pagekv/vllm/manager.h"

namespace pagekv::vllm {
namespace {

constexpr int32_t kBlockSize = 16;

ManagerConfig Config(int32_t num_blocks) {
  ManagerConfig c;
  c.num_blocks = num_blocks;
  c.groups = {GroupSpec{}};
  c.hash_block_size = kBlockSize;
  c.max_model_len = 1 << 20;
  return c;
}

std::vector<TokenId> RandomTokens(std::mt19937& rng, int64_t n) {
  std::vector<TokenId> t(n);
  for (auto& x : t) x = static_cast<TokenId>(rng() % 32000);
  return t;
}

// A 32-byte vLLM key for block i of a request (content does not matter
// below the binding: pagekv matches by its own keys and tokens).
std::string VllmKey(uint64_t request, int64_t i) {
  std::string k(32, '\0');
  const uint64_t parts[2] = {request, static_cast<uint64_t>(i)};
  k.replace(0, sizeof(parts), reinterpret_cast<const char*>(parts),
            sizeof(parts));
  return k;
}

void AppendKeys(VllmManager& m, ReqHandle h, uint64_t request) {
  for (int64_t i = m.NumVllmKeys(h); i < m.NumTokens(h) / kBlockSize; ++i) {
    m.AppendVllmKey(h, VllmKey(request, i));
  }
}

void BM_VllmDecodeStep(benchmark::State& state) {
  constexpr int kRequests = 1024;
  constexpr int kContext = 1000;
  const int64_t steps_per_block_cycle = kBlockSize;
  VllmManager m(Config(kRequests * (kContext / kBlockSize + 64) + 1));
  std::mt19937 rng(1);
  std::vector<ReqHandle> hs;
  std::vector<std::vector<int32_t>> out;
  for (int i = 0; i < kRequests; ++i) {
    const ReqHandle h = m.AddRequest({});
    m.AppendTokens(h, RandomTokens(rng, kContext));
    AppendKeys(m, h, i);
    AllocateArgs a;
    a.num_tokens = kContext;
    a.num_new_tokens = kContext;
    if (!*m.AllocateSlots(h, a, &out)) state.SkipWithError("pool too small");
    hs.push_back(h);
  }
  int64_t step = 0;
  for (auto _ : state) {
    for (int i = 0; i < kRequests; ++i) {
      const ReqHandle h = hs[i];
      const TokenId t = static_cast<TokenId>(step + i);
      m.AppendTokens(h, absl::MakeConstSpan(&t, 1));
      AppendKeys(m, h, i);
      AllocateArgs a;
      a.num_tokens = m.NumTokens(h);
      a.num_computed_tokens = a.num_tokens - 1;
      a.num_new_tokens = 1;
      benchmark::DoNotOptimize(*m.AllocateSlots(h, a, &out));
    }
    // Keep the contexts bounded: every 16 x 48 steps, start over.
    if (++step % (steps_per_block_cycle * 48) == 0) {
      state.PauseTiming();
      for (int i = 0; i < kRequests; ++i) {
        m.Free(hs[i]);
        hs[i] = m.AddRequest({});
        m.AppendTokens(hs[i], RandomTokens(rng, kContext));
        AppendKeys(m, hs[i], i + step * kRequests);
        AllocateArgs a;
        a.num_tokens = kContext;
        a.num_new_tokens = kContext;
        benchmark::DoNotOptimize(*m.AllocateSlots(hs[i], a, &out));
      }
      state.ResumeTiming();
    }
  }
  state.counters["ns_per_request"] =
      benchmark::Counter(static_cast<double>(kRequests),
                         benchmark::Counter::kIsIterationInvariantRate |
                             benchmark::Counter::kInvert);
}
BENCHMARK(BM_VllmDecodeStep)->Unit(benchmark::kMicrosecond);

void BM_VllmAdmission(benchmark::State& state) {
  constexpr int64_t kPrompt = 32768;
  VllmManager m(Config(4 * kPrompt / kBlockSize + 8));
  std::mt19937 rng(2);
  const std::vector<TokenId> base = RandomTokens(rng, kPrompt);
  std::vector<std::vector<int32_t>> out, hit;
  {
    const ReqHandle warm = m.AddRequest({});
    m.AppendTokens(warm, base);
    AppendKeys(m, warm, 0);
    AllocateArgs a;
    a.num_tokens = kPrompt;
    a.num_new_tokens = kPrompt;
    benchmark::DoNotOptimize(*m.AllocateSlots(warm, a, &out));
  }
  // Prompts made before timing: the first half is `base`, the rest new.
  std::vector<std::vector<TokenId>> prompts(64, base);
  for (auto& p : prompts) {
    for (int64_t i = kPrompt / 2; i < kPrompt; ++i) {
      p[i] = static_cast<TokenId>(rng() % 32000);
    }
  }
  // So are their vLLM keys (vLLM's Request computes them, not the manager).
  std::vector<std::vector<std::string>> keys(prompts.size());
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (int64_t i = 0; i < kPrompt / kBlockSize; ++i) {
      keys[p].push_back(VllmKey(p + 1, i));
    }
  }
  uint64_t serial = 1;
  for (auto _ : state) {
    const ReqHandle h = m.AddRequest({});
    const size_t p = serial % prompts.size();
    m.AppendTokens(h, prompts[p]);
    for (const std::string& k : keys[p]) m.AppendVllmKey(h, k);
    const int64_t n = m.FindLongestCacheHit(h, kPrompt - 1, &hit);
    AllocateArgs a;
    a.num_tokens = kPrompt;
    a.num_new_tokens = kPrompt - n;
    a.num_new_computed_tokens = n;
    a.new_computed = &hit;
    benchmark::DoNotOptimize(*m.AllocateSlots(h, a, &out));
    m.Free(h);
    ++serial;
  }
}
BENCHMARK(BM_VllmAdmission)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace pagekv::vllm
