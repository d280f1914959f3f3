// Replay of the whole Mooncake conversation trace (12k requests, ~145M
// prompt tokens) through the simulator: llama-3-8b on one H100 with the KV
// memory the device leaves after the weights, paged at block 16, prefix
// caching on. The trace is read once, outside the timed loop.
#include <string>

#include "benchmark/benchmark.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"
#include "pagekv/sim/simulator.h"
#include "pagekv/sim/trace_reader.h"

namespace pagekv {
namespace {

void BM_MooncakeReplay(benchmark::State& state) {
  const std::string path = std::string(PAGEKV_SOURCE_DIR) +
                           "/data/traces/mooncake/conversation_trace.jsonl";
  absl::StatusOr<Workload> workload = ReadWorkload(path, "mooncake");
  if (!workload.ok()) {
    state.SkipWithError(std::string(workload.status().message()).c_str());
    return;
  }
  SimulatorConfig config;
  config.model = *FindModelPreset("llama-3-8b");
  config.hardware = *FindHardwarePreset("h100-sxm");
  config.block_size = 16;
  config.enable_prefix_caching = true;
  int64_t steps = 0;
  for (auto _ : state) {
    absl::StatusOr<SimulationReport> report = Simulate(*workload, config);
    if (!report.ok()) {
      state.SkipWithError(std::string(report.status().message()).c_str());
      return;
    }
    steps = report->steps;
    benchmark::DoNotOptimize(report->makespan_s);
  }
  state.counters["requests"] = static_cast<double>(workload->requests.size());
  state.counters["steps"] = static_cast<double>(steps);
}
BENCHMARK(BM_MooncakeReplay)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace
}  // namespace pagekv
