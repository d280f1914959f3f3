// How the infinite-capacity replay scales with the trace: the Mooncake
// conversation trace and K shifted copies of it that share nothing
// (RepeatWorkload, `pagekv cache --repeat K`), block 16, capacity "inf"
// (InfiniteCapacityBlocks: the distinct full blocks + 1). Each iteration
// replays both sizes in the same process, one after the other, so the ratio
// is taken on the same machine state. Counters:
//
//   ns_per_block_1, ns_per_block_K   CPU time of one replay (manager
//                                    creation to last release) per prompt
//                                    block, for 1 and K copies
//   time_ratio                       ns_per_block_K / ns_per_block_1
//                                    (1.0 = cost linear in the trace)
//   bytes_per_cached_block_1, _K     MemoryFootprint of the replay's manager
//                                    per block cached at the end
//   bytes_ratio                      the same ratio for memory
//
// Run with the bench preset:
//   scaled_replay_benchmark --benchmark_repetitions=5
//     --benchmark_report_aggregates_only=true
#include <time.h>

#include <cstdint>
#include <string>

#include "benchmark/benchmark.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/sim/cache_replay.h"
#include "pagekv/sim/trace_reader.h"
#include "pagekv/sim/workload.h"

namespace pagekv {
namespace {

constexpr int32_t kBlockSize = 16;

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

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) +
         1e-9 * static_cast<double>(ts.tv_nsec);
}

// One size: the workload, its inf capacity and what one replay measured.
struct Size {
  const Workload* workload = nullptr;
  int64_t capacity = 0;
  int64_t prompt_blocks = 0;
  uint64_t footprint = 0;
  double seconds = 0;  // CPU, summed over iterations
  int64_t cached = 0;

  bool Replay() {
    const double start = CpuSeconds();
    absl::StatusOr<ReplayResult> r =
        ReplayWorkload(*workload, {kBlockSize, capacity, "lru"});
    seconds += CpuSeconds() - start;
    if (!r.ok()) return false;
    cached = r->cached_blocks;
    benchmark::DoNotOptimize(*r);
    return true;
  }
};

Size MakeSize(const Workload* w) {
  Size s;
  s.workload = w;
  s.capacity = InfiniteCapacityBlocks(*w, kBlockSize);
  for (const Request& r : w->requests) {
    s.prompt_blocks += (r.PromptTokens() + kBlockSize - 1) / kBlockSize;
  }
  s.footprint = *KVCacheManager::MemoryFootprint(
      ReplayManagerConfig({kBlockSize, s.capacity, "lru"}));
  return s;
}

// Arg: K, the number of copies of the larger size.
void BM_ScaledReplay(benchmark::State& state) {
  const Workload* base = Conversation();
  if (base == nullptr) {
    state.SkipWithError("trace not found");
    return;
  }
  const auto copies = static_cast<int32_t>(state.range(0));
  const Workload repeated = *RepeatWorkload(*base, copies);
  Size one = MakeSize(base);
  Size many = MakeSize(&repeated);
  for (auto _ : state) {
    if (!one.Replay() || !many.Replay()) {
      state.SkipWithError("replay failed");
      return;
    }
  }
  const double n = static_cast<double>(state.iterations());
  const double per_block_1 = one.seconds / n / one.prompt_blocks * 1e9;
  const double per_block_k = many.seconds / n / many.prompt_blocks * 1e9;
  const double bytes_1 = static_cast<double>(one.footprint) / one.cached;
  const double bytes_k = static_cast<double>(many.footprint) / many.cached;
  state.counters["ns_per_block_1"] = per_block_1;
  state.counters["ns_per_block_K"] = per_block_k;
  state.counters["time_ratio"] = per_block_k / per_block_1;
  state.counters["bytes_per_cached_block_1"] = bytes_1;
  state.counters["bytes_per_cached_block_K"] = bytes_k;
  state.counters["bytes_ratio"] = bytes_k / bytes_1;
}

BENCHMARK(BM_ScaledReplay)
    ->Arg(4)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

}  // namespace
}  // namespace pagekv
