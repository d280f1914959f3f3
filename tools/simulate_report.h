// The outputs of `pagekv simulate`: terminal summary, JSON, CSV timeline and
// a self-contained HTML page with inline SVG charts.
#ifndef PAGEKV_TOOLS_SIMULATE_REPORT_H_
#define PAGEKV_TOOLS_SIMULATE_REPORT_H_

#include <ostream>
#include <string>
#include <vector>

#include "pagekv/sim/simulator.h"
#include "pagekv/sim/workload.h"

namespace pagekv::tools {

// What was simulated, for the report headers.
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

// The readable summary: the first report in full, then (with more than one)
// the allocator comparison table.
void PrintSummary(const RunDescription& run,
                  const std::vector<SimulationReport>& reports,
                  std::ostream& out);

// Every summary figure, with stable snake_case keys (docs/simulator.md).
std::string ReportJson(const RunDescription& run,
                       const std::vector<SimulationReport>& reports);

// The timelines, one row per sample and allocator.
std::string TimelineCsv(const std::vector<SimulationReport>& reports);

// One self-contained HTML page (inline SVG, no scripts or external files).
std::string ReportHtml(const RunDescription& run,
                       const std::vector<SimulationReport>& reports);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_SIMULATE_REPORT_H_
