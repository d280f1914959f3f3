// `pagekv simulate`'s cluster flags (issue 16): --instances, --router and
// their knobs, --global-cache, the rate sweep with its SLOs, and the
// shared-prefix workload's shape. Kept in their own group so the simulate
// command's other flag groups change independently; simulate_command.cc
// only registers them and hands a run to RunClusterSimulate (when
// ClusterRequested) once the workload and base config are ready.
#ifndef PAGEKV_TOOLS_CLUSTER_FLAGS_H_
#define PAGEKV_TOOLS_CLUSTER_FLAGS_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/cluster/cluster_simulator.h"
#include "pagekv/sim/shared_prefix_workload.h"
#include "pagekv/sim/simulator.h"

namespace pagekv::tools {

// The flags as typed; empty means "not given" (the default applies).
struct ClusterFlags {
  std::string instances;        // N >= 1; default 1 (or the spec file's)
  std::string instance_specs;   // JSON file of per-instance overrides
  std::string router;           // a name, a comma list, or "all"
  std::string scorer;           // prefix: llm-d (default) or cost
  std::string w_prefix;         // default 3
  std::string w_load;           // default 2
  std::string prefill_scale;    // cost scorer, default 1
  std::string router_seed;      // random, default 1
  std::string event_delay;      // seconds, default 0
  std::string affinity_blocks;  // 0 = off
  std::string load_bound;       // 0 = off, else >= 1
  bool global_cache = false;
  std::string transfer_gbps;  // GB/s; default the hardware interconnect
  std::string routes_csv;     // per-request routing CSV, "-" for stdout
  // --sweep rate=1,2,4: arrival-rate multipliers; SLOs in seconds.
  std::string sweep;
  std::string slo_ttft_p90;
  std::string slo_tpot_p90;
  std::string jobs;  // sweep threads; default the machine's cores
  // --workload shared-prefix.
  std::string sp_groups = "8";
  std::string sp_prefix_tokens = "2048";
  std::string sp_users = "16";
  std::string sp_questions = "4";
  std::string sp_question_tokens = "128";
  std::string sp_output_tokens = "256";
  std::string sp_rate = "8";
  std::string sp_ramp_from;  // req/s at the start of a ramp; empty = none
};

// A parsed cluster run: the configs to simulate (one per router) and the
// sweep, if any.
struct ClusterSetup {
  std::vector<cluster::ClusterConfig> runs;  // one per router, same cluster
  std::vector<double> sweep_rates;           // empty: no sweep
  double slo_ttft_p90 = 0;                   // 0 = none
  double slo_tpot_p90 = 0;                   // 0 = none
  int32_t jobs = 1;
};

// Whether any flag asks for a cluster run or a sweep.
bool ClusterRequested(const ClusterFlags& flags);

// Registers the flags on the simulate subcommand.
void AddClusterFlags(CLI::App* sim, ClusterFlags* flags);

// The shared-prefix workload's options from the sp-* flags and `seed`.
// InvalidArgument naming the flag otherwise.
absl::StatusOr<SharedPrefixOptions> ParseSharedPrefixFlags(
    const ClusterFlags& flags, uint64_t seed);

// The runs for `flags` over instances built from `base` (the single-instance
// config, validated) and the spec file. InvalidArgument naming the flag,
// file or field otherwise.
absl::StatusOr<ClusterSetup> ParseClusterFlags(const ClusterFlags& flags,
                                               const SimulatorConfig& base);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_CLUSTER_FLAGS_H_
