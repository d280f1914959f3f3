// `pagekv replay-log`: re-executes a call log (pagekv/call_log.h) against a
// fresh manager built from the log's header, verifying after every call (or
// every N), and stops at the first call whose result differs from the
// recorded one. The replay itself is pagekv/call_log_replay.h.
#ifndef PAGEKV_TOOLS_REPLAY_LOG_COMMAND_H_
#define PAGEKV_TOOLS_REPLAY_LOG_COMMAND_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "CLI/CLI.hpp"

namespace pagekv::tools {

struct ReplayLogArgs {
  std::string log;
  int64_t verify_every = 1;    // 0 = only after the last call
  int64_t until = -1;          // replay calls [0, until); -1 = all
  bool dump_state = false;     // print the manager's state where it stopped
  bool print = false;          // list the calls instead of replaying them
  std::string minimize;        // write a shrunk reproducer here on divergence
  int64_t max_replays = 5000;  // the minimizer's budget
};

// Exit codes of RunReplayLog.
inline constexpr int kReplayIdentical = 0;
inline constexpr int kReplayDiverged = 1;
inline constexpr int kReplayBadLog = 2;

// Replays (or prints) the log. Returns kReplayIdentical, kReplayDiverged
// after printing the diverging call, its expected and actual result and a
// Verify() report, or kReplayBadLog after printing why the log cannot be read
// (naming the record number and byte offset) to `err`.
int RunReplayLog(const ReplayLogArgs& args, std::ostream& out,
                 std::ostream& err);

// Registers the `replay-log` subcommand on `app`; its exit code goes to
// *exit_code (which must outlive `app`).
void AddReplayLogCommand(CLI::App& app, int* exit_code);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_REPLAY_LOG_COMMAND_H_
