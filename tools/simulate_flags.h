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
  std::string preempt_mode;     // recompute | swap
  std::string admission;        // chunked | prefill-first | guaranteed
  std::string chunked_prefill;  // on | off
  std::string concurrency;      // closed-loop clients; 0 or empty = open loop
  // As `pagekv plan`'s flags of the same names (same meaning and limits).
  std::string tp;                      // tensor-parallel degree, default 1
  std::string max_model_len;           // engine's max context; default none
  std::string gpu_memory_utilization;  // (0, 1]; excludes --kv-memory-gib
  std::string kv_dtype;                // e.g. fp8; default the model's
  std::string weight_dtype;            // e.g. int4; default the model's
  std::string requests_csv;            // per-request CSV file, "-" stdout
  std::string window;                  // START:END seconds (END may be empty)
};

// Returns one CSV row per request and allocator: allocator, id, arrival_s,
// first_token_s, finish_s, ttft_s, tpot_s, e2e_s (seconds; empty for a
// rejected request), prompt_tokens, output_tokens, hit_tokens (prefix-cache
// hits over its admissions), preemptions, rejected
// (0/1). Numbers printed with enough digits to round-trip.
std::string RequestsCsv(const std::vector<SimulationReport>& reports);

// Registers the flags on the simulate subcommand.
void AddSimulateFlags(CLI::App* sim, SimulateFlags* flags);

// Applies the flags to *config, whose model and hardware are set.
// `kv_memory_given`: --kv-memory-gib was given (then
// --gpu-memory-utilization is an error; otherwise it derives the KV memory
// from the device). InvalidArgument naming the flag and value when one is
// bad; *config is then unspecified.
absl::Status ApplySimulateFlags(const SimulateFlags& flags,
                                bool kv_memory_given, SimulatorConfig* config);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_SIMULATE_FLAGS_H_
