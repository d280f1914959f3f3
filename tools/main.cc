// The `pagekv` command-line program: one subcommand per job.
#include <iostream>

#include "CLI/CLI.hpp"
#include "cache_command.h"
#include "calibrate_command.h"
#include "index_command.h"
#include "plan_command.h"
#include "remote_bench_command.h"
#include "replay_log_command.h"
#include "simulate_command.h"
#include "stress_command.h"

int main(int argc, char** argv) {
  CLI::App app{
      "pagekv: a paged KV-cache manager, its simulator and planning tools"};
  app.require_subcommand(1);
  int exit_code = 0;
  pagekv::tools::AddPlanCommand(app, &exit_code);
  pagekv::tools::AddSimulateCommand(app, &exit_code);
  pagekv::tools::AddCalibrateCommand(app, &exit_code);
  pagekv::tools::AddCacheCommand(app, &exit_code);
  pagekv::tools::AddReplayLogCommand(app, &exit_code);
  pagekv::tools::AddStressCommand(app, &exit_code);
  pagekv::tools::AddIndexCommand(app, &exit_code);
  pagekv::tools::AddRemoteBenchCommand(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    // Usage errors exit 2, like every other bad input.
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}
