// The host tier's bookkeeping (issue 17): per block (store, load, lookup),
// a 32k-token prefix walk across GPU + host, and a decode step with a host
// tier configured against one without (ratios in the same process count).
#include <numeric>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/host_tier.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv {
namespace {

constexpr int32_t kBs = 16;

// One block's round trip through the host tier: a store issued and
// completed, the block found and verified by a walk, pinned and loaded, the
// load completed, the orders drained. The tier holds `host` blocks and is
// full, so every store also evicts one.
void BM_HostTierBlockRoundTrip(benchmark::State& state) {
  const uint32_t host = static_cast<uint32_t>(state.range(0));
  HostTierConfig config;
  config.num_blocks = host;
  config.block_bytes = 1 << 20;
  internal::HostTier tier(config, 1024, kBs, *MakeEvictionPolicy("lru"),
                          /*events=*/false);
  std::vector<TokenId> tokens(kBs);
  std::vector<uint64_t> keys(1);
  std::vector<uint32_t> hits;
  uint64_t key = 1;
  for (auto _ : state) {
    std::iota(tokens.begin(), tokens.end(), static_cast<TokenId>(key));
    keys[0] = key * 0x9E3779B97F4A7C15ULL;
    internal::StoreSource src{BlockId(5), keys[0], 77, false, tokens, 0, 0};
    const uint32_t h =
        tier.IssueStore(src, TransferOrder::When::kBeforeKernels);
    (void)tier.CompleteStore(h, true);
    hits.clear();
    tier.ExtendWalk(keys, 77, tokens, 0, 1, &hits);
    // (the walk's parent key for block 0 is the root: 77 here)
    tier.Pin(hits[0]);
    tier.AddLoad(hits[0], BlockId(6));
    (void)tier.CompleteLoad(hits[0]);
    benchmark::DoNotOptimize(tier.DrainOrders());
    ++key;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HostTierBlockRoundTrip)->Arg(1 << 12)->Arg(1 << 18);

std::vector<TokenId> Prompt(int blocks, TokenId base) {
  std::vector<TokenId> p(static_cast<size_t>(blocks) * kBs + 1);
  std::iota(p.begin(), p.end(), base);
  return p;
}

// MatchPrefix of a 32k-token prompt (hashing included): arg 0 = every block
// on the GPU (the baseline), 1 = the first half on the GPU and the second
// half only in the host tier.
void BM_PrefixWalk32k(benchmark::State& state) {
  const int blocks = 32768 / kBs;
  const bool split = state.range(0) != 0;
  KVCacheConfig c;
  c.block_size = kBs;
  c.num_blocks = blocks + 64;
  c.host_tier.num_blocks = blocks + 64;
  c.host_tier.store_policy = StorePolicy::kWriteBack;
  auto m = *KVCacheManager::Create(c);
  const std::vector<TokenId> prompt = Prompt(blocks, 1);
  SeqId s = *m->AddSequence(prompt);
  (void)m->Admit(s, static_cast<int64_t>(prompt.size()));
  (void)m->Release(s);
  if (split) {
    // Evict the tail half (write-back stores it to the host tier).
    SeqId other = *m->AddSequence(Prompt(blocks / 2 + 32, 1 << 24));
    (void)m->Admit(other, (blocks / 2 + 32) * kBs + 1);
    for (const TransferOrder& o : m->DrainTransfers()) {
      (void)m->CompleteStore(o.host_block, true);
    }
  }
  const PrefixMatch check = m->MatchPrefix(prompt);
  if (check.num_blocks != blocks) state.SkipWithError("setup: not a full hit");
  state.counters["host_blocks"] = check.num_host_blocks;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m->MatchPrefix(prompt));
  }
}
BENCHMARK(BM_PrefixWalk32k)->Arg(0)->Arg(1)->ArgName("split");

// A decode step of 1024 sequences with prefix caching: arg 0 without a host
// tier, 1 with a write-through tier (each filled block becomes a store
// order, drained and completed every step as an engine would), 2 with a
// write-back tier (no eviction in the step, so no store: the cost of the
// hooks alone).
void BM_DecodeStepHostTier(benchmark::State& state) {
  const int n = 1024;
  const bool tier = state.range(0) != 0;
  auto make = [&] {
    KVCacheConfig c;
    c.block_size = kBs;
    c.num_blocks = int64_t{n} * (1000 + (1 << 14)) / kBs + 2;
    if (tier) c.host_tier.num_blocks = c.num_blocks;
    if (state.range(0) == 2) {
      c.host_tier.store_policy = StorePolicy::kWriteBack;
    }
    auto m = *KVCacheManager::Create(c);
    std::vector<SeqId> seqs;
    std::vector<TokenId> prompt(1000);
    for (int i = 0; i < n; ++i) {
      std::iota(prompt.begin(), prompt.end(), i * 1000);
      SeqId s = *m->AddSequence(prompt);
      (void)m->Admit(s, 1000);
      seqs.push_back(s);
    }
    for (const TransferOrder& o : m->DrainTransfers()) {
      (void)m->CompleteStore(o.host_block, true);
    }
    return std::make_pair(std::move(m), seqs);
  };
  auto [m, seqs] = make();
  std::vector<TokenId> tokens(n, 7);
  int steps = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m->AppendDecodeTokens(seqs, tokens));
    for (const TransferOrder& o : m->DrainTransfers()) {
      (void)m->CompleteStore(o.host_block, true);
    }
    for (TokenId& t : tokens) ++t;
    if (++steps == (1 << 14) - 16) {
      state.PauseTiming();
      std::tie(m, seqs) = make();
      steps = 0;
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_DecodeStepHostTier)->Arg(0)->Arg(1)->Arg(2)->ArgName("host_tier");

}  // namespace
}  // namespace pagekv
