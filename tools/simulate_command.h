// `pagekv simulate`: replays a workload through the scheduler for one or all
// allocators and reports latency, throughput, preemptions and the KV memory
// breakdown on the terminal, as JSON, CSV (timeline) and an HTML page.
#ifndef PAGEKV_TOOLS_SIMULATE_COMMAND_H_
#define PAGEKV_TOOLS_SIMULATE_COMMAND_H_

#include <ostream>
#include <string>

#include "CLI/CLI.hpp"
#include "cli_util.h"
#include "cluster_flags.h"
#include "simulate_flags.h"
#include "tier_flags.h"

namespace pagekv::tools {

// The simulate subcommand's inputs as typed; empty means "not given" (a
// default applies). Values stay text: RunSimulate checks them with the
// validators the command line uses (cli_util.h), so a caller filling this
// struct gets the same messages.
struct SimulateArgs {
  std::string workload = "default";  // "default" or a trace file
  std::string format;                // mooncake | azure | jsonl; empty: guess
  std::string model = "llama-3-8b";
  std::string hardware = "h100-sxm";
  std::string kv_memory_gib;  // default: 20 for the default workload, else
                              // what the device leaves after the weights
  std::string block_size = "16";
  std::string policy = "lru";
  std::string prefix_caching = "on";
  std::string allocator;  // paged|max|pow2|oracle|all; default: all for the
                          // default workload, paged for a trace
  std::string max_batch_tokens = "8192";
  std::string max_num_seqs = "256";
  std::string preemption = "last-admitted";
  std::string full_prompt_gate = "off";
  std::string rate_scale = "1";
  std::string max_requests = "0";
  std::string seed = "1";
  std::string timeline_interval;  // seconds; default: automatic
  std::string json;               // file, "-" for `out`, empty for none
  std::string csv;                // file, "-" for `out`, empty for none
  std::string html;               // file, empty for none
  // Simulate this many shifted copies of the (selected) workload that share
  // no block (RepeatWorkload), one after the other.
  std::string repeat = "1";
  // Refuse (exit 2) a run whose estimated memory exceeds this many GiB, as
  // one exceeding the machine's available memory is; empty = no own limit.
  std::string max_memory_gib;
  std::string record_log;  // call log of the paged manager, or empty
  bool progress = false;   // draw a progress bar on `err`
  SimulateFlags fidelity;  // simulate_flags.h
  TierFlags tiers;         // tier_flags.h
  // Publish the paged run's KV events (vLLM's wire format) on this PUB
  // endpoint, with a replay/snapshot ROUTER on kv_events_replay if given;
  // paced to simulated time with kv_events_realtime, else as fast as it runs.
  std::string kv_events;
  std::string kv_events_replay;
  bool kv_events_realtime = false;
  // --instances, --router, --sweep, ... (cluster_flags.h): when any is
  // given, the run goes to RunClusterSimulate (cluster_command.h).
  ClusterFlags cluster;
};

inline constexpr int kSimulateOk = kExitOk;
inline constexpr int kSimulateBadInput = kExitBadInput;
inline constexpr int kSimulateFailed = kExitFailed;

// Runs the simulation. Prints the summary to `out` (unless json or csv is
// "-", which print that instead), writes the requested files. Returns
// kSimulateOk, kSimulateBadInput after a message naming the bad value (or
// file and line) on `err`, or kSimulateFailed on an internal error.
int RunSimulate(const SimulateArgs& args, std::ostream& out, std::ostream& err);

// Registers the `simulate` subcommand on `app`; its exit code goes to
// *exit_code (which must outlive `app`).
void AddSimulateCommand(CLI::App& app, int* exit_code);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_SIMULATE_COMMAND_H_
