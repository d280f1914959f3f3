// The charts of the HTML report, each one complete <svg class="chart">
// element (or "" when there is nothing to draw), marked up as html_svg.h
// describes. Private to tools/report/.
#ifndef PAGEKV_TOOLS_REPORT_HTML_CHARTS_H_
#define PAGEKV_TOOLS_REPORT_HTML_CHARTS_H_

#include <functional>
#include <string>
#include <vector>

#include "pagekv/sim/simulator.h"

namespace pagekv::tools::report {

// The time axis every time chart of one page shares, so the allocators'
// charts line up: from min(0, first sample) to the last sample or rejected
// arrival of any run.
struct TimeRange {
  double t0, t1;  // seconds, t0 <= t1
};
TimeRange SharedTimeRange(const std::vector<SimulationReport>& reports);

// Stacked area of the memory shares of one run over `range`, with its
// preemptions (ticks from the top, legend "preemption") and rejected
// arrivals (crosses on the axis, legend "rejection") marked.
std::string MemoryChart(const SimulationReport& r, const TimeRange& range);

// Lines of a per-step quantity over `range`, one per allocator; `ylabel`
// names the quantity's unit.
std::string LinesChart(const std::vector<SimulationReport>& reports,
                       const TimeRange& range, const std::string& title,
                       const std::string& ylabel,
                       const std::function<double(const TimelinePoint&)>& get);

// Empirical CDFs of a per-request latency, one line per allocator, titled
// "<name> (CDF)" with the latency in ms or s, whichever fits; `get` returns
// seconds, or < 0 for a request that has no such latency.
std::string CdfChart(const std::vector<SimulationReport>& reports,
                     const std::string& name,
                     const std::function<double(const RequestResult&)>& get);

// Horizontal stacked bars of the mean memory shares, one per allocator.
std::string ComparisonBars(const std::vector<SimulationReport>& reports);

// Vertical bars of one figure per allocator, `ylabel` its unit.
std::string FigureBars(
    const std::vector<SimulationReport>& reports, const std::string& title,
    const std::string& ylabel,
    const std::function<double(const SimulationReport&)>& get);

}  // namespace pagekv::tools::report

#endif  // PAGEKV_TOOLS_REPORT_HTML_CHARTS_H_
