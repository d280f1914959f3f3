// `pagekv stress`: the randomized operation mix of pagekv's own stress test
// (pagekv/sim/stress.h), with its reference model and Verify() on, run on a
// configuration the user gives, for a number of operations or seconds. When
// the manager disagrees with the reference, the run's call log is kept for
// `pagekv replay-log`.
#ifndef PAGEKV_TOOLS_STRESS_COMMAND_H_
#define PAGEKV_TOOLS_STRESS_COMMAND_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "CLI/CLI.hpp"

namespace pagekv::tools {

struct StressArgs {
  // Comma list of groups: "full", "window:N" (sliding window of N tokens),
  // "chunk:N" (chunked local attention), "state:none[:SPEC]" or
  // "state:align[:SPEC[:BLOCK]]" (a Mamba-style state group with SPEC
  // speculative blocks and checkpoints every BLOCK tokens).
  std::string groups = "full";
  int64_t block_size = 16;
  int64_t num_blocks = 256;
  std::string policy = "lru";
  std::string prefix_caching = "on";
  int64_t ops = 0;     // 0 = no limit (then --seconds)
  double seconds = 0;  // 0 = no limit (then --ops)
  uint64_t seed = 1;
  int64_t verify_every = 1;
  int32_t fork_percent = 7;
  int32_t truncate_percent = 8;
  int32_t release_percent = 15;
  int32_t add_percent = 14;
  int32_t decode_batch_percent = 6;
  int32_t bad_call_percent = 14;
  int32_t lookahead_percent = 25;
  int32_t max_lookahead = 5;
  std::string log = "pagekv-stress.pkvlog";  // kept on failure
  bool keep_log = false;
  // Print a progress line to `err` ("auto": only when it is a terminal).
  std::string progress = "auto";
};

// Exit codes of RunStressCommand.
inline constexpr int kStressPassed = 0;
inline constexpr int kStressFailed = 1;
inline constexpr int kStressBadInput = 2;

// Runs the stress and prints a summary to `out`. kStressFailed after
// printing the failure and the kept log's path; kStressBadInput after
// printing a message naming the bad flag to `err`.
int RunStressCommand(const StressArgs& args, std::ostream& out,
                     std::ostream& err);

// Registers the `stress` subcommand on `app`; its exit code goes to
// *exit_code (which must outlive `app`).
void AddStressCommand(CLI::App& app, int* exit_code);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_STRESS_COMMAND_H_
