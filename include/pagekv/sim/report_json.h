// The JSON documents of the simulator's and the cache replay's results, as
// `pagekv simulate --json` and `pagekv cache --json` write them. They live
// in the library so every front end (the CLI, the Python package) emits the
// same keys and values. docs/simulator.md describes the simulation keys,
// docs/eviction.md the replay's.
//
// Thread-safety: pure functions over plain values.
#ifndef PAGEKV_SIM_REPORT_JSON_H_
#define PAGEKV_SIM_REPORT_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pagekv/sim/cache_replay.h"
#include "pagekv/sim/simulator.h"
#include "pagekv/sim/workload.h"

namespace pagekv {

// What was simulated, for the report's "workload" and "config" objects.
struct RunDescription {
  std::string workload;  // "default" or the trace name
  WorkloadStats workload_stats;
  std::string model;
  std::string hardware;
  double kv_memory_bytes = 0;
  int32_t block_size = 0;
  std::string eviction_policy;
  bool prefix_caching = true;
  int64_t max_batch_tokens = 0;
  int32_t max_num_seqs = 0;
  std::string preemption_policy;
  bool full_prompt_gate = false;
  double rate_scale = 1;
  int64_t max_requests = 0;
  uint64_t seed = 0;
};

// The description of a run of `workload` under `config` with
// `kv_memory_bytes` of KV memory; rate_scale, max_requests and seed say how
// the workload was made.
RunDescription DescribeRun(const Workload& workload,
                           const SimulatorConfig& config,
                           double kv_memory_bytes, double rate_scale,
                           int64_t max_requests, uint64_t seed);

// Returns the simulation report: schema_version, workload, config and one
// "results" entry per report, every summary figure with a stable snake_case
// key. Two-space indent, trailing newline.
std::string SimulationReportJson(const RunDescription& run,
                                 const std::vector<SimulationReport>& reports);

// One replay of a sweep: its policy, capacity and figures.
struct ReplayRun {
  std::string policy;
  int64_t capacity_blocks = 0;
  bool infinite_capacity = false;  // capacity_blocks never evicts
  ReplayResult result;
  int64_t host_blocks = 0;  // host tier size; 0 = none (no host fields)
};

// Returns the replay report of `runs` of trace `trace` at `block_size`: one
// run is an object {trace, block_size, figures...}; several (a sweep) are an
// array of {figures..., block_size}; `copies` > 1 (a --repeat run) adds
// "repeat" after block_size. Two-space indent, trailing newline.
// REQUIRES: !runs.empty().
std::string ReplayReportJson(std::string_view trace, int64_t block_size,
                             const std::vector<ReplayRun>& runs,
                             int64_t copies = 1);

}  // namespace pagekv

#endif  // PAGEKV_SIM_REPORT_JSON_H_
