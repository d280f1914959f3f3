// Prefix caching hot paths: hashing a prompt's blocks, matching a long prompt
// against a large index, and admit/release with shared prefixes.
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "pagekv/block_hash.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv {
namespace {

std::vector<TokenId> RandomTokens(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<TokenId> t(n);
  for (TokenId& x : t) x = static_cast<TokenId>(rng() % 128000);
  return t;
}

void BM_HashBlocks(benchmark::State& state) {
  const auto tokens = RandomTokens(state.range(0), 1);
  BlockHasher hasher(16, 0);
  std::vector<uint64_t> keys;
  keys.reserve(tokens.size() / 16);
  for (auto _ : state) {
    keys.clear();
    hasher.ExtendKeys(tokens, {}, &keys);
    benchmark::DoNotOptimize(keys.data());
  }
  state.SetBytesProcessed(state.iterations() * tokens.size() * sizeof(TokenId));
}
BENCHMARK(BM_HashBlocks)->Arg(32768);

// A 32k-token prompt, fully cached, matched against an index holding ~1M
// blocks (the prompt's own 2048 plus ~1M from other prompts): hashing, the
// index walk and the verification of every hit included.
void BM_PrefixMatch(benchmark::State& state) {
  const size_t prompt_tokens = state.range(0);
  constexpr int64_t kIndexBlocks = 1 << 20;
  KVCacheConfig c;
  c.block_size = 16;
  c.num_blocks = kIndexBlocks + 2 * 2048 + 2;
  auto m = *KVCacheManager::Create(c);
  // Fill the index with 512 cached prompts of 32k tokens.
  for (int i = 0; i < kIndexBlocks / 2048; ++i) {
    SeqId s = *m->AddSequence(RandomTokens(prompt_tokens + 1, 1000 + i));
    (void)m->Admit(s, 1 << 30);
    (void)m->Release(s);
  }
  const auto prompt = RandomTokens(prompt_tokens + 1, 7);
  SeqId s = *m->AddSequence(prompt);
  (void)m->Admit(s, 1 << 30);
  if (m->MatchPrefix(prompt).num_tokens != int64_t(prompt_tokens)) {
    state.SkipWithError("the prompt is not fully cached");
    return;
  }
  for (auto _ : state) {
    PrefixMatch match = m->MatchPrefix(prompt);
    benchmark::DoNotOptimize(match);
  }
  state.counters["index_blocks"] =
      double(m->Stats().cached_blocks + m->Stats().in_use_blocks);
}
BENCHMARK(BM_PrefixMatch)->Arg(32768)->Unit(benchmark::kMicrosecond);

// Admit a 2048-token prompt whose first half is a shared system prompt and
// whose second half is new, then release it: the steady state of a
// prefix-cached server, with the pool full so every admission evicts.
void BM_AdmitRelease(benchmark::State& state) {
  KVCacheConfig c;
  c.block_size = 16;
  c.num_blocks = 1 << 14;
  auto m = *KVCacheManager::Create(c);
  std::vector<TokenId> prompt = RandomTokens(1024, 3);
  const auto tail = RandomTokens(1024, 4);
  prompt.insert(prompt.end(), tail.begin(), tail.end());
  TokenId unique = 0;
  for (auto _ : state) {
    prompt[1024] = ++unique;  // a new tail: its keys differ from every other
    SeqId s = *m->AddSequence(prompt);
    auto a = m->Admit(s, 1 << 30);
    benchmark::DoNotOptimize(a);
    (void)m->Release(s);
  }
  state.counters["hit_rate"] = m->Stats().prefix.TokenHitRate();
  state.counters["evictions"] = double(m->Stats().evictions);
}
BENCHMARK(BM_AdmitRelease)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace pagekv
