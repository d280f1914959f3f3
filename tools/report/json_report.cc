// ReportJson: `pagekv simulate --json`, built by the sim layer
// (pagekv/sim/report_json.h) so the Python package writes the same document.
#include <string>
#include <vector>

#include "pagekv/sim/report_json.h"
#include "simulate_report.h"

namespace pagekv::tools {

std::string ReportJson(const RunDescription& run,
                       const std::vector<SimulationReport>& reports) {
  return SimulationReportJson(run, reports);
}

}  // namespace pagekv::tools
