#include "replay_log_command.h"

#include <iostream>
#include <memory>

#include "absl/strings/string_view.h"
#include "fmt/format.h"
#include "fmt/ostream.h"
#include "pagekv/call_log.h"
#include "pagekv/call_log_replay.h"

namespace pagekv::tools {
namespace {

int BadLog(std::ostream& err, absl::string_view message) {
  fmt::print(err, "pagekv replay-log: {}\n", std::string(message));
  return kReplayBadLog;
}

void PrintCalls(const CallLog& log, std::ostream& out) {
  for (size_t i = 0; i < log.records.size(); ++i) {
    const CallRecord& r = log.records[i];
    fmt::print(out, "#{} {} -> {}\n", log.first_call + i, DescribeCall(r),
               DescribeResult(r.op, r.result));
  }
}

void PrintDivergence(const CallLog& log, const ReplayDivergence& d,
                     std::ostream& out) {
  const CallRecord& r = log.records[d.record];
  fmt::print(out, "divergence at call {} of {} ({}):\n", d.record,
             log.records.size(), DivergenceKindName(d.kind));
  fmt::print(out, "  call:     {}\n", DescribeCall(r));
  fmt::print(out, "  expected: {}\n", DescribeResult(r.op, r.result));
  if (d.kind == ReplayDivergence::Kind::kResult) {
    fmt::print(out, "  actual:   {}\n", DescribeResult(r.op, d.actual));
  } else {
    fmt::print(out, "  failure:  {}\n", d.message);
  }
  fmt::print(out, "  Verify(): {}\n", d.verify);
}

int Minimize(const ReplayLogArgs& args, const CallLog& log,
             const ReplayDivergence& d, std::ostream& out, std::ostream& err) {
  auto small = MinimizeCallLog(log, d, args.max_replays);
  if (!small.ok()) {
    fmt::print(err, "pagekv replay-log: cannot minimize: {}\n",
               std::string(small.status().message()));
    return kReplayDiverged;
  }
  if (absl::Status st = WriteCallLog(args.minimize, *small); !st.ok()) {
    return BadLog(err, st.message());
  }
  fmt::print(out, "minimized: {} of {} calls reproduce it; written to {}\n",
             small->records.size(), d.record + 1, args.minimize);
  return kReplayDiverged;
}

}  // namespace

int RunReplayLog(const ReplayLogArgs& args, std::ostream& out,
                 std::ostream& err) {
  if (args.verify_every < 0) {
    return BadLog(
        err, fmt::format("--verify-every {}: must be >= 0", args.verify_every));
  }
  absl::StatusOr<CallLog> log = ReadCallLog(args.log);
  if (!log.ok()) return BadLog(err, log.status().message());
  if (args.print) {
    PrintCalls(*log, out);
    return kReplayIdentical;
  }
  ReplayOptions options;
  options.verify_every = args.verify_every;
  options.until = args.until;
  absl::StatusOr<ReplayOutcome> outcome = ReplayCallLog(*log, options);
  if (!outcome.ok()) return BadLog(err, outcome.status().message());
  if (args.dump_state && outcome->manager != nullptr) {
    fmt::print(out, "state after call {}:\n{}", outcome->calls_replayed,
               DescribeManagerState(*outcome->manager, outcome->live));
  }
  if (!outcome->divergence.has_value()) {
    fmt::print(out, "identical: {} calls replayed, Verify() {}\n",
               outcome->calls_replayed,
               args.verify_every > 0
                   ? fmt::format("every {} calls", args.verify_every)
                   : std::string("after the last call"));
    return kReplayIdentical;
  }
  PrintDivergence(*log, *outcome->divergence, out);
  if (!args.minimize.empty()) {
    return Minimize(args, *log, *outcome->divergence, out, err);
  }
  return kReplayDiverged;
}

void AddReplayLogCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ReplayLogArgs>();
  CLI::App* cmd = app.add_subcommand(
      "replay-log",
      "Re-execute a manager call log against a fresh manager under Verify(); "
      "exit 0 identical, 1 divergence, 2 malformed log");
  cmd->add_option("log", args->log, "Call log file")->required();
  cmd->add_option("--verify-every", args->verify_every,
                  "Verify() after every N calls (0 = after the last)")
      ->capture_default_str();
  cmd->add_option("--until", args->until, "Replay only the first N calls");
  cmd->add_flag("--dump-state", args->dump_state,
                "Print the manager's state where the replay stopped");
  cmd->add_flag("--print", args->print,
                "List the calls and recorded results; do not replay");
  cmd->add_option("--minimize", args->minimize,
                  "On divergence, shrink the log to a small reproducer and "
                  "write it to FILE");
  cmd->add_option("--max-replays", args->max_replays,
                  "Candidate replays the minimizer may run")
      ->capture_default_str();
  cmd->callback([args, exit_code] {
    *exit_code = RunReplayLog(*args, std::cout, std::cerr);
  });
}

}  // namespace pagekv::tools
