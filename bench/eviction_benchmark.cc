// Eviction policy benchmarks, one instance per registered policy (lru is the
// baseline for ratios):
//
//   BM_Evict/<policy>/10000         evict 10k cached blocks (only the
//                                   PickVictim calls are timed);
//   BM_VictimSelection/<policy>/10000   steady state: one PickVictim plus one
//                                   OnEvictable per iteration, 10k evictable.
//
// The cached set is chains of 16 blocks released tail-first (as the manager
// releases a sequence), every 8th block reused once and released again (so
// s3fifo has frequencies to act on), and a quarter of the chains at priority
// 80 decaying at t = 5 µs, a quarter at 20 (so priority has work to do).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "pagekv/eviction_policy.h"

namespace pagekv {
namespace {

constexpr uint32_t kChain = 16;

EvictionHints HintsFor(uint32_t id) {
  EvictionHints hints;
  uint32_t pos = (id - 1) % kChain;
  hints.parent = BlockId(pos == 0 ? 0 : id - 1);
  switch ((id - 1) / kChain % 4) {
    case 1:
      hints.priority = 20;
      break;
    case 2:
      hints.priority = 80;
      hints.priority_expiry_us = 5;
      break;
    default:
      break;
  }
  return hints;
}

// Makes blocks 1..n evictable: each chain released tail-first, then every
// 8th block hit and released again.
void Fill(EvictionPolicy& policy, uint32_t n) {
  policy.Init(n + 1);
  for (uint32_t start = 1; start <= n; start += kChain) {
    uint32_t end = std::min(n, start + kChain - 1);
    for (uint32_t id = end; id >= start; --id) {
      policy.OnEvictable(BlockId(id), HintsFor(id));
    }
  }
  for (uint32_t id = n; id >= 1; --id) {
    if (id % 8 != 0) continue;
    policy.OnReused(BlockId(id));
    policy.OnEvictable(BlockId(id), HintsFor(id));
  }
}

void BM_Evict(benchmark::State& state, std::string name) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  std::unique_ptr<EvictionPolicy> policy = *MakeEvictionPolicy(name);
  for (auto _ : state) {
    state.PauseTiming();
    Fill(*policy, n);
    state.ResumeTiming();
    for (uint32_t i = 0; i < n; ++i) {
      benchmark::DoNotOptimize(policy->PickVictim(/*now_us=*/10));
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_VictimSelection(benchmark::State& state, std::string name) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  std::unique_ptr<EvictionPolicy> policy = *MakeEvictionPolicy(name);
  Fill(*policy, n);
  EvictionHints hints;  // re-released victims: independent, default priority
  int64_t now_us = 10;
  for (auto _ : state) {
    BlockId victim = policy->PickVictim(now_us);
    hints.now_us = ++now_us;
    policy->OnEvictable(victim, hints);
  }
  state.SetItemsProcessed(state.iterations());
}

const bool kRegistered = [] {
  for (const std::string& name : EvictionPolicyNames()) {
    benchmark::RegisterBenchmark(("BM_Evict/" + name).c_str(), BM_Evict, name)
        ->Arg(10000)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("BM_VictimSelection/" + name).c_str(),
                                 BM_VictimSelection, name)
        ->Arg(10000);
  }
  return true;
}();

}  // namespace
}  // namespace pagekv
