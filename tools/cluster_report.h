// The outputs of a cluster run of `pagekv simulate` (--instances, --router,
// --sweep): the terminal summary with a side-by-side router table, JSON,
// CSV (per-instance timeline, or per-request routes) and an HTML page with
// inline SVG charts.
#ifndef PAGEKV_TOOLS_CLUSTER_REPORT_H_
#define PAGEKV_TOOLS_CLUSTER_REPORT_H_

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "pagekv/cluster/cluster_simulator.h"
#include "pagekv/sim/report_json.h"

namespace pagekv::tools {

// One point of a rate sweep: a router at a rate multiplier.
struct SweepPoint {
  std::string router;
  double rate_scale = 1;
  double offered_rps = 0;         // requests / arrival span at this rate
  cluster::ClusterReport report;  // requests and timeline dropped
  bool meets_slo = true;
};

struct ClusterResults {
  RunDescription run;  // the workload and the base instance
  std::vector<cluster::ClusterConfig> configs;  // one per router
  std::vector<cluster::ClusterReport> reports;  // one per router (no sweep)
  std::vector<SweepPoint> sweep;                // router-major, rate order
  double slo_ttft_p90 = 0;                      // 0 = none
  double slo_tpot_p90 = 0;
};

// The highest rate multiplier of `router`'s sweep points meeting the SLOs
// such that every lower rate met them too; nullopt when none does.
std::optional<double> MaxRateUnderSlo(const ClusterResults& r,
                                      const std::string& router);

void PrintClusterSummary(const ClusterResults& r, std::ostream& out);
// Stable snake_case keys (docs/cluster.md).
std::string ClusterJson(const ClusterResults& r);
// Timeline: router, time_s, instance, kv_usage, running, queued, hit_rate.
std::string ClusterTimelineCsv(const ClusterResults& r);
// Routes: router, id, instance, arrival_s, ttft_s, tpot_s, hit_tokens,
// rejected.
std::string ClusterRoutesCsv(const ClusterResults& r);
// One self-contained page (inline SVG, no scripts).
std::string ClusterHtml(const ClusterResults& r);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_CLUSTER_REPORT_H_
