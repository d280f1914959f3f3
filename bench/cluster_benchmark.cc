// The cluster simulator over the whole Mooncake conversation trace: one
// instance through Simulate() (the baseline, same process) and 8 instances
// behind each router. docs/cluster.md quotes the medians.
#include <string>

#include "benchmark/benchmark.h"
#include "pagekv/cluster/cluster_simulator.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"
#include "pagekv/sim/simulator.h"
#include "pagekv/sim/trace_reader.h"

namespace pagekv {
namespace {

const Workload* Read(const char* name) {
  absl::StatusOr<Workload> r = ReadWorkload(
      std::string(PAGEKV_SOURCE_DIR) + "/data/traces/mooncake/" + name,
      "mooncake");
  return r.ok() ? new Workload(*std::move(r)) : nullptr;
}

const Workload* Mooncake() {
  static const Workload* w = Read("conversation_trace.jsonl");
  return w;
}

SimulatorConfig Instance() {
  SimulatorConfig c;
  c.model = *FindModelPreset("llama-3-8b");
  c.hardware = *FindHardwarePreset("h100-sxm");
  return c;
}

void BM_SingleInstance(benchmark::State& state) {
  const Workload* w = Mooncake();
  if (w == nullptr) return state.SkipWithError("cannot read the trace");
  for (auto _ : state) {
    absl::StatusOr<SimulationReport> r = Simulate(*w, Instance());
    if (!r.ok()) return state.SkipWithError("simulation failed");
    benchmark::DoNotOptimize(r->makespan_s);
  }
}
BENCHMARK(BM_SingleInstance)->Unit(benchmark::kSecond)->Iterations(1);

void BM_Cluster8(benchmark::State& state, const char* router) {
  const Workload* w = Mooncake();
  if (w == nullptr) return state.SkipWithError("cannot read the trace");
  cluster::ClusterConfig c;
  c.instances.assign(8, Instance());
  c.router.name = router;
  double hit = 0;
  for (auto _ : state) {
    absl::StatusOr<cluster::ClusterReport> r = cluster::SimulateCluster(*w, c);
    if (!r.ok()) return state.SkipWithError("simulation failed");
    hit = r->prefix_hit_rate;
  }
  state.counters["hit_rate"] = hit;
}
BENCHMARK_CAPTURE(BM_Cluster8, prefix, "prefix")
    ->Unit(benchmark::kSecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_Cluster8, round_robin, "round-robin")
    ->Unit(benchmark::kSecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_Cluster8, approx_prefix, "approx-prefix")
    ->Unit(benchmark::kSecond)
    ->Iterations(1);

// Mooncake's global-vs-local cache experiment (FAST'25, 5.3.2): 10
// instances, outputs cut to one token, a router; local caches, then a global
// one. The paper gives each node 3M tokens of cache and routes by prefix
// match; the counters are the two token hit rates and their ratio (the
// paper: up to 2.36x). Also with a load-only router and with each
// instance's HBM alone (about 426k tokens of llama-3-8b on an H100).
void BM_GlobalVsLocal(benchmark::State& state, const char* trace,
                      const char* router, double cache_tokens) {
  const Workload* read = Read(trace);
  if (read == nullptr) return state.SkipWithError("cannot read the trace");
  Workload w = *read;
  delete read;
  for (Request& r : w.requests) r.output_tokens = 1;
  cluster::ClusterConfig c;
  SimulatorConfig inst = Instance();
  if (cache_tokens > 0) {
    inst.kv_memory_bytes = cache_tokens * inst.model.KvBytesPerToken();
  }
  c.instances.assign(10, inst);
  c.router.name = router;
  double local = 0, global = 0, remote = 0;
  for (auto _ : state) {
    c.global_cache = false;
    absl::StatusOr<cluster::ClusterReport> l = cluster::SimulateCluster(w, c);
    c.global_cache = true;
    absl::StatusOr<cluster::ClusterReport> g = cluster::SimulateCluster(w, c);
    if (!l.ok() || !g.ok()) return state.SkipWithError("simulation failed");
    local = l->prefix_hit_rate;
    global = g->prefix_hit_rate;
    remote = g->remote_hit_share;
  }
  state.counters["local_hit"] = local;
  state.counters["global_hit"] = global;
  state.counters["remote_share"] = remote;
  state.counters["ratio"] = local > 0 ? global / local : 0;
}
constexpr char kConv[] = "conversation_trace.jsonl";
constexpr char kSynth[] = "synthetic_trace.jsonl";
BENCHMARK_CAPTURE(BM_GlobalVsLocal, conv_prefix_3M, kConv, "prefix", 3e6)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_GlobalVsLocal, conv_rr_3M, kConv, "round-robin", 3e6)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_GlobalVsLocal, conv_prefix_hbm, kConv, "prefix", 0.0)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_GlobalVsLocal, conv_rr_hbm, kConv, "round-robin", 0.0)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_GlobalVsLocal, synth_prefix_3M, kSynth, "prefix", 3e6)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_GlobalVsLocal, synth_rr_3M, kSynth, "round-robin", 3e6)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_GlobalVsLocal, synth_prefix_hbm, kSynth, "prefix", 0.0)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_GlobalVsLocal, synth_rr_hbm, kSynth, "round-robin", 0.0)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);

}  // namespace
}  // namespace pagekv
