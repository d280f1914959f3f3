// `pagekv plan`: capacity planning and step-time estimates from the command
// line, built on pagekv/capacity.h and pagekv/bandwidth_model.h.
#ifndef PAGEKV_TOOLS_PLAN_COMMAND_H_
#define PAGEKV_TOOLS_PLAN_COMMAND_H_

#include <ostream>
#include <string>

#include "CLI/CLI.hpp"
#include "cli_util.h"

namespace pagekv::tools {

// The plan subcommand's inputs, as typed on the command line; empty means
// "not given". Values stay text: RunPlan checks them with the validators the
// command line uses (cli_util.h), so a caller filling this struct gets the
// same messages.
struct PlanArgs {
  std::string model;     // preset name or JSON file
  std::string hardware;  // preset name or JSON file
  std::string tp = "1";
  std::string kv_dtype;
  std::string weight_dtype;
  std::string kv_memory_gib;
  std::string gpu_memory_utilization;
  std::string block_size = "16";
  std::string batch;    // default 1
  std::string context;  // default min(4096, model max context)
  std::string json;     // file path, "-" for `out`, empty for none
};

// Exit codes of RunPlan.
inline constexpr int kPlanOk = kExitOk;
inline constexpr int kPlanBadInput = kExitBadInput;

// Runs the plan: prints a table to `out` (unless json == "-", which prints
// JSON to `out` instead) and, with a json path, writes the JSON there.
// Returns kPlanOk, or kPlanBadInput after printing a message naming the bad
// value to `err`.
int RunPlan(const PlanArgs& args, std::ostream& out, std::ostream& err);

// Registers the `plan` subcommand on `app`. When the subcommand runs, its
// exit code is stored in *exit_code (which must outlive `app`).
void AddPlanCommand(CLI::App& app, int* exit_code);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_PLAN_COMMAND_H_
