// The outputs of `pagekv simulate`: terminal summary, JSON, CSV timeline and
// a self-contained HTML page with inline SVG charts.
#ifndef PAGEKV_TOOLS_SIMULATE_REPORT_H_
#define PAGEKV_TOOLS_SIMULATE_REPORT_H_

#include <ostream>
#include <string>
#include <vector>

#include "pagekv/sim/report_json.h"
#include "pagekv/sim/simulator.h"
#include "pagekv/sim/workload.h"

namespace pagekv::tools {

// What was simulated, for the report headers (shared with the JSON
// report of the sim layer).
using RunDescription = ::pagekv::RunDescription;

// The readable summary: the first report in full, then (with more than one)
// the allocator comparison table.
void PrintSummary(const RunDescription& run,
                  const std::vector<SimulationReport>& reports,
                  std::ostream& out);

// Every summary figure, with stable snake_case keys (docs/simulator.md):
// SimulationReportJson().
std::string ReportJson(const RunDescription& run,
                       const std::vector<SimulationReport>& reports);

// The timelines, one row per sample and allocator.
std::string TimelineCsv(const std::vector<SimulationReport>& reports);

// One self-contained HTML page (inline SVG, no scripts or external files).
std::string ReportHtml(const RunDescription& run,
                       const std::vector<SimulationReport>& reports);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_SIMULATE_REPORT_H_
