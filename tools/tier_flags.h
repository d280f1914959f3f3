// `pagekv simulate`'s host-tier flags (issue 17) and the summary section
// they add: hits by tier, bytes moved, TTFT with and without the tier, the
// stores' overhead. Apart from simulate_flags.cc so each flag group changes
// on its own.
#ifndef PAGEKV_TOOLS_TIER_FLAGS_H_
#define PAGEKV_TOOLS_TIER_FLAGS_H_

#include <ostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "pagekv/sim/simulator.h"

namespace pagekv::tools {

// The flags as typed; empty means "not given".
struct TierFlags {
  std::string host_memory_gib;  // host tier size per device; empty = none
  std::string host_policy;      // eviction policy of the host tier
  std::string store_policy;     // write-through | ...-selective | write-back
  std::string store_hit_threshold;    // selective: store on the k-th hit
  std::string admission_min_lookups;  // admission filter, 0 = off
};

// Registers the flags on the simulate subcommand.
void AddTierFlags(CLI::App* sim, TierFlags* flags);

// Applies the flags to *config. InvalidArgument naming the flag and value
// (a policy flag without --host-memory-gib is one).
absl::Status ApplyTierFlags(const TierFlags& flags, SimulatorConfig* config);

// Prints the tier section for the paged `with` run against `without`, the
// same run without the host tier.
void PrintTierSummary(const SimulationReport& with,
                      const SimulationReport& without, std::ostream& out);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_TIER_FLAGS_H_
