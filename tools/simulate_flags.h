// `pagekv simulate`'s fidelity flags (issue 18): the allocator sets, the
// scheduler's modes, and their parsing into a SimulatorConfig. Kept apart
// from simulate_command.cc so the command's own plumbing and these flags
// change independently.
#ifndef PAGEKV_TOOLS_SIMULATE_FLAGS_H_
#define PAGEKV_TOOLS_SIMULATE_FLAGS_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/sim/sim_allocator.h"
#include "pagekv/sim/simulator.h"

namespace pagekv::tools {

// Returns the allocators `name` stands for: one kind (see
// ParseAllocatorKind), "all" (paged, max, pow2, oracle) or "paper" (paged,
// orca-max, orca-pow2, orca-oracle: the PagedAttention paper's setup).
// InvalidArgument naming the value otherwise.
absl::StatusOr<std::vector<AllocatorKind>> ParseAllocatorList(
    const std::string& name);

// The flags as typed; empty means "not given" (the default applies).
struct SimulateFlags {
  std::string preempt_mode;  // recompute | swap
  std::string admission;     // chunked | prefill-first | guaranteed
  std::string concurrency;   // closed-loop clients; 0 or empty = open loop
};

// Registers the flags on the simulate subcommand.
void AddSimulateFlags(CLI::App* sim, SimulateFlags* flags);

// Applies the flags to *config. InvalidArgument naming the flag and value
// when one is bad; *config is then unspecified.
absl::Status ApplySimulateFlags(const SimulateFlags& flags,
                                SimulatorConfig* config);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_SIMULATE_FLAGS_H_
