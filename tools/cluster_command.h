// The cluster mode of `pagekv simulate` (--instances, --router, --sweep,
// --global-cache): runs the cluster simulator for each router asked for,
// or a rate sweep in parallel over cores, and writes the cluster report.
#ifndef PAGEKV_TOOLS_CLUSTER_COMMAND_H_
#define PAGEKV_TOOLS_CLUSTER_COMMAND_H_

#include <ostream>
#include <string>

#include "cluster_flags.h"
#include "pagekv/sim/report_json.h"
#include "pagekv/sim/simulator.h"
#include "pagekv/sim/workload.h"

namespace pagekv::tools {

// Where the cluster report goes: files or "-" (stdout), empty = none.
struct ClusterOutputs {
  std::string json;
  std::string csv;
  std::string html;
  bool progress = false;  // a progress bar on `err`
};

// Runs the cluster flags' runs over `workload` with instances built from
// `base`. Prints the summary on `out` (unless a report goes to "-"), writes
// the files. Returns kExitOk, kExitBadInput after a message naming the bad
// flag or value on `err`, or kExitFailed on an internal error.
int RunClusterSimulate(const ClusterFlags& flags, const ClusterOutputs& outputs,
                       const RunDescription& run, const Workload& workload,
                       const SimulatorConfig& base, std::ostream& out,
                       std::ostream& err);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_CLUSTER_COMMAND_H_
