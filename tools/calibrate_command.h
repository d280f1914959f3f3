// `pagekv calibrate`: fits a hardware spec's efficiency, overhead and
// all-reduce parameters to a table of step times measured on a real engine
// (pagekv/cost/calibration.h) and writes the fitted spec as a hardware JSON
// file that `simulate --hardware` and `plan --hardware` accept.
#ifndef PAGEKV_TOOLS_CALIBRATE_COMMAND_H_
#define PAGEKV_TOOLS_CALIBRATE_COMMAND_H_

#include <ostream>
#include <string>

#include "CLI/CLI.hpp"
#include "cli_util.h"

namespace pagekv::tools {

// The calibrate subcommand's inputs as typed; empty means "not given".
struct CalibrateArgs {
  std::string measurements;  // CSV file (calibration.h describes it)
  std::string hardware;      // base: preset name or JSON file
  std::string model;         // preset name or JSON file
  std::string output;        // the hardware JSON to write; "-" for `out`
  std::string name;          // the fitted spec's name (default BASE-fit)
  std::string block_size = "16";
  std::string fit;   // comma-separated JSON keys; empty = what the table shows
  std::string json;  // the fit report as JSON: file, "-" for `out`, or none
};

// Runs the fit, writes the spec to args.output and prints the residuals
// table to `out` (unless output or json is "-", which print JSON instead).
// Returns kExitOk, or kExitBadInput after printing a message naming the bad
// file, line, field or value to `err`; nothing is written on bad input.
int RunCalibrate(const CalibrateArgs& args, std::ostream& out,
                 std::ostream& err);

// Registers the `calibrate` subcommand on `app`; its exit code goes to
// *exit_code (which must outlive `app`).
void AddCalibrateCommand(CLI::App& app, int* exit_code);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_CALIBRATE_COMMAND_H_
