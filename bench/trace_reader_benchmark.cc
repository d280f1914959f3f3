// Trace reading and prompt synthesis. Run with the bench preset; the median
// of the repetitions is the figure to quote.
#include <cstdio>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "pagekv/sim/default_workload.h"
#include "pagekv/sim/trace_reader.h"

namespace pagekv {
namespace {

const std::string kMooncakeTrace = std::string(PAGEKV_SOURCE_DIR) +
                                   "/data/traces/mooncake/"
                                   "conversation_trace.jsonl";
const std::string kAzureTrace = std::string(PAGEKV_SOURCE_DIR) +
                                "/data/traces/azure2023/"
                                "AzureLLMInferenceTrace_conv.csv";

void ReadTrace(benchmark::State& state, const std::string& path,
               const char* format) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    state.SkipWithError("trace not found");
    return;
  }
  std::fseek(f, 0, SEEK_END);
  const long bytes = std::ftell(f);
  std::fclose(f);
  size_t requests = 0;
  for (auto _ : state) {
    absl::StatusOr<Workload> w = ReadWorkload(path, format);
    if (!w.ok()) {
      state.SkipWithError("read failed");
      return;
    }
    requests = w->requests.size();
    benchmark::DoNotOptimize(w->requests.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * bytes);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * requests));
}

void BM_ReadMooncakeConversation(benchmark::State& state) {
  ReadTrace(state, kMooncakeTrace, "mooncake");
}
BENCHMARK(BM_ReadMooncakeConversation)
    ->Unit(benchmark::kMillisecond)
    ->Repetitions(9)
    ->ReportAggregatesOnly(true);

void BM_ReadAzureConversation(benchmark::State& state) {
  ReadTrace(state, kAzureTrace, "azure");
}
BENCHMARK(BM_ReadAzureConversation)
    ->Unit(benchmark::kMillisecond)
    ->Repetitions(9)
    ->ReportAggregatesOnly(true);

void BM_MakeDefaultWorkload(benchmark::State& state) {
  for (auto _ : state) {
    absl::StatusOr<Workload> w = MakeDefaultWorkload();
    benchmark::DoNotOptimize(w->requests.data());
  }
}
BENCHMARK(BM_MakeDefaultWorkload)->Unit(benchmark::kMillisecond);

// Materializing a 32k-token prompt of 64 Mooncake-sized segments.
void BM_MaterializePrompt(benchmark::State& state) {
  Request r;
  for (uint64_t i = 0; i < 64; ++i) r.segments.push_back({i, 512});
  std::vector<TokenId> out;
  for (auto _ : state) {
    out.clear();
    r.MaterializePrompt(&out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 32768);
}
BENCHMARK(BM_MaterializePrompt);

}  // namespace
}  // namespace pagekv
