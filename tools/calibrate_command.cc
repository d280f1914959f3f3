#include "calibrate_command.h"

#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli_util.h"
#include "fmt/format.h"
#include "fmt/ostream.h"
#include "nlohmann/json.hpp"
#include "pagekv/cost/calibration.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"

namespace pagekv::tools {
namespace {

constexpr char kCommand[] = "calibrate";

struct Inputs {
  std::vector<Measurement> rows;
  ModelSpec model;
  HardwareSpec base;
  CalibrationOptions options;
};

absl::StatusOr<Inputs> ReadInputs(const CalibrateArgs& args) {
  for (const auto& [flag, value] :
       {std::pair{"--measurements", &args.measurements},
        {"--hardware", &args.hardware},
        {"--model", &args.model},
        {"-o", &args.output}}) {
    if (value->empty()) {
      return absl::InvalidArgumentError(fmt::format("{} is required", flag));
    }
  }
  Inputs in;
  absl::StatusOr<int32_t> block =
      ParseBlockSizeFlag("--block-size", args.block_size);
  if (!block.ok()) return block.status();
  in.options.block_size = *block;
  if (!args.fit.empty()) in.options.fit = SplitList(args.fit);
  absl::StatusOr<ModelSpec> model = ResolveModelSpec(args.model);
  if (!model.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("--model: {}", std::string(model.status().message())));
  }
  absl::StatusOr<HardwareSpec> base = ResolveHardwareSpec(args.hardware);
  if (!base.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("--hardware: {}", std::string(base.status().message())));
  }
  absl::StatusOr<std::vector<Measurement>> rows =
      LoadMeasurementsCsv(args.measurements);
  if (!rows.ok()) {
    return absl::InvalidArgumentError(std::string(rows.status().message()));
  }
  in.model = *std::move(model);
  in.base = *std::move(base);
  in.rows = *std::move(rows);
  return in;
}

double FieldValue(const HardwareSpec& spec, const std::string& key) {
  const nlohmann::json j = nlohmann::json::parse(HardwareSpecToJson(spec));
  return j.at(key).get<double>();
}

std::string ReportJson(const Inputs& in, const CalibrationResult& fit) {
  nlohmann::ordered_json j;
  j["model"] = in.model.name;
  j["base"] = in.base.name;
  j["hardware"] = fit.hardware.name;
  nlohmann::ordered_json params = nlohmann::ordered_json::object();
  for (const std::string& key : fit.fitted) {
    params[key] = {{"base", FieldValue(in.base, key)},
                   {"fitted", FieldValue(fit.hardware, key)}};
  }
  j["parameters"] = params;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (size_t i = 0; i < in.rows.size(); ++i) {
    const Measurement& m = in.rows[i];
    rows.push_back({{"line", m.line},
                    {"batch", m.batch},
                    {"context", m.context},
                    {"prompt_tokens", m.prompt_tokens},
                    {"tp", m.tensor_parallel},
                    {"kind", m.ttft ? "ttft" : "step"},
                    {"measured_ms", m.seconds * 1e3},
                    {"estimated_ms", fit.estimated_seconds[i] * 1e3},
                    {"relative_error", fit.relative_errors[i]}});
  }
  j["rows"] = rows;
  j["median_abs_error"] = fit.median_abs_error;
  j["max_abs_error"] = fit.max_abs_error;
  return j.dump(2) + "\n";
}

void PrintReport(const Inputs& in, const CalibrationResult& fit,
                 const std::string& output, std::ostream& out) {
  fmt::print(out, "Fitted {} ({} on {}) to {} measurements, wrote {}\n",
             fit.hardware.name, in.model.name, in.base.name, in.rows.size(),
             output);
  fmt::print(out, "  {:<30} {:>14} {:>14}\n", "parameter", "base", "fitted");
  for (const std::string& key : fit.fitted) {
    fmt::print(out, "  {:<30} {:>14.6g} {:>14.6g}\n", key,
               FieldValue(in.base, key), FieldValue(fit.hardware, key));
  }
  fmt::print(out, "  {:>5} {:>6} {:>8} {:>8} {:>3} {:>5} {:>11} {:>11} {:>8}\n",
             "line", "batch", "context", "prompt", "tp", "kind", "measured",
             "fitted", "error");
  for (size_t i = 0; i < in.rows.size(); ++i) {
    const Measurement& m = in.rows[i];
    fmt::print(out,
               "  {:>5} {:>6} {:>8} {:>8} {:>3} {:>5} {:>8.3f} ms {:>8.3f} ms "
               "{:>+7.1f}%\n",
               m.line, m.batch, m.context, m.prompt_tokens, m.tensor_parallel,
               m.ttft ? "ttft" : "step", m.seconds * 1e3,
               fit.estimated_seconds[i] * 1e3, 100 * fit.relative_errors[i]);
  }
  fmt::print(out, "Residuals: median |error| {:.1f}%, max |error| {:.1f}%\n",
             100 * fit.median_abs_error, 100 * fit.max_abs_error);
}

}  // namespace

int RunCalibrate(const CalibrateArgs& args, std::ostream& out,
                 std::ostream& err) {
  absl::StatusOr<Inputs> in = ReadInputs(args);
  if (!in.ok()) return BadInput(err, kCommand, in.status());
  absl::StatusOr<CalibrationResult> fit =
      Calibrate(in->model, in->base, in->rows, in->options);
  if (!fit.ok()) {
    return BadInput(err, kCommand,
                    fmt::format("{}: {}", args.measurements,
                                std::string(fit.status().message())));
  }
  fit->hardware.name = args.name.empty() ? in->base.name + "-fit" : args.name;
  if (absl::Status s = WriteOutput("-o", args.output,
                                   HardwareSpecToJson(fit->hardware), out);
      !s.ok()) {
    return BadInput(err, kCommand, s);
  }
  if (!args.json.empty()) {
    if (absl::Status s =
            WriteOutput("--json", args.json, ReportJson(*in, *fit), out);
        !s.ok()) {
      return BadInput(err, kCommand, s);
    }
  }
  if (args.output != "-" && args.json != "-") {
    PrintReport(*in, *fit, args.output, out);
  }
  return kExitOk;
}

void AddCalibrateCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<CalibrateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate",
      "Fit a hardware spec's efficiencies, overheads and all-reduce latency "
      "to measured step times");
  cmd->add_option("--measurements", args->measurements,
                  "CSV of batch, context, prompt_tokens[, tp] and step_ms or "
                  "ttft_ms")
      ->required();
  cmd->add_option("--hardware", args->hardware,
                  "Base hardware: preset name or JSON spec file")
      ->required();
  cmd->add_option("--model", args->model, "Model preset name or JSON spec file")
      ->required();
  cmd->add_option("-o,--output", args->output,
                  "Hardware JSON file to write (- for stdout)")
      ->required();
  cmd->add_option("--name", args->name,
                  "Name of the fitted spec (default BASE-fit)");
  cmd->add_option("--block-size", args->block_size, "Tokens per page")
      ->capture_default_str()
      ->check(BlockSizeValidator());
  cmd->add_option("--fit", args->fit,
                  "Comma-separated fields to fit (default: every field the "
                  "table identifies)");
  cmd->add_option("--json", args->json,
                  "Write the fit report as JSON to FILE, or - for stdout");
  cmd->callback([args, exit_code] {
    *exit_code = RunCalibrate(*args, std::cout, std::cerr);
  });
}

}  // namespace pagekv::tools
