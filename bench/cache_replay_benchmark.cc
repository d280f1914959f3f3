// Replay throughput of the whole Mooncake conversation trace through the
// prefix cache (`pagekv cache`): 12,031 requests, 144.8M prompt tokens. One
// iteration is one whole replay, from creating the manager to the last
// release (prompt synthesis included, trace parsing not). Run with the bench
// preset; the median of the repetitions is the figure to quote.
//
//   BM_ReplayConversation/<policy>/16/1132583  block 16, capacity 20% of the
//                                              5,662,916 distinct full blocks
//                                              (forces ~4.7M evictions)
//   BM_ReplayConversation/<policy>/512/0       block 512, infinite capacity
#include <cstdint>
#include <string>

#include "benchmark/benchmark.h"
#include "pagekv/eviction_policy.h"
#include "pagekv/sim/cache_replay.h"
#include "pagekv/sim/trace_reader.h"

namespace pagekv {
namespace {

const std::string kMooncakeTrace =
    std::string(PAGEKV_SOURCE_DIR) +
    "/data/traces/mooncake/conversation_trace.jsonl";

const Workload* Conversation() {
  static const Workload* workload = [] {
    absl::StatusOr<Workload> w = ReadWorkload(kMooncakeTrace, "mooncake");
    return w.ok() ? new Workload(*std::move(w)) : nullptr;
  }();
  return workload;
}

// Args: block size, capacity in blocks (0 = infinite).
void BM_ReplayConversation(benchmark::State& state, const std::string& policy) {
  const Workload* w = Conversation();
  if (w == nullptr) {
    state.SkipWithError("trace not found");
    return;
  }
  const auto block_size = static_cast<int32_t>(state.range(0));
  const int64_t capacity = state.range(1) == 0
                               ? InfiniteCapacityBlocks(*w, block_size)
                               : state.range(1);
  ReplayResult last;
  for (auto _ : state) {
    absl::StatusOr<ReplayResult> r =
        ReplayWorkload(*w, {block_size, capacity, policy});
    if (!r.ok()) {
      state.SkipWithError("replay failed");
      return;
    }
    last = *r;
    benchmark::DoNotOptimize(last);
  }
  state.SetItemsProcessed(state.iterations() * last.prompt_tokens);
  state.counters["hit_rate_tokens"] = last.HitRateTokens();
  state.counters["evictions"] = static_cast<double>(last.evictions);
}

const bool kRegistered = [] {
  for (const std::string& policy : EvictionPolicyNames()) {
    benchmark::RegisterBenchmark(("BM_ReplayConversation/" + policy).c_str(),
                                 BM_ReplayConversation, policy)
        ->Args({16, 1132583})
        ->Args({512, 0})
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MeasureProcessCPUTime();
  }
  // The infinite-capacity case at block 16, for the allocation-free cost.
  benchmark::RegisterBenchmark("BM_ReplayConversation/lru",
                               BM_ReplayConversation, std::string("lru"))
      ->Args({16, 0})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MeasureProcessCPUTime();
  return true;
}();

}  // namespace
}  // namespace pagekv
