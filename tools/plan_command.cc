#include "plan_command.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "fmt/format.h"
#include "fmt/ostream.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"
#include "pagekv/cost/plan.h"

namespace pagekv::tools {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// Reports a bad input on `err` and returns the exit code.
int BadInput(std::ostream& err, const std::string& message) {
  err << "pagekv plan: " << message << "\n";
  return kPlanBadInput;
}

bool ParseInt(const std::string& flag, const std::string& text, int64_t min,
              int64_t* out, std::string* error) {
  if (!absl::SimpleAtoi(text, out) || *out < min) {
    *error =
        fmt::format("{} must be an integer >= {}, got '{}'", flag, min, text);
    return false;
  }
  return true;
}

bool ParseDouble(const std::string& flag, const std::string& text, double* out,
                 std::string* error) {
  if (!absl::SimpleAtod(text, out) || !std::isfinite(*out)) {
    *error = fmt::format("{} must be a number, got '{}'", flag, text);
    return false;
  }
  return true;
}

const char* BoundName(Bound bound) {
  return bound == Bound::kMemory ? "memory" : "compute";
}

// Prints the plan as the readable table.
void PrintPlan(const CapacityPlan& p, std::ostream& out) {
  const double tokens_bytes = p.kv_bytes_per_token;
  fmt::print(out, "{} on {} (tp={}, weights {}, KV {}, block {})\n",
             p.model.name, p.hardware.name, p.tensor_parallel,
             DTypeName(p.model.weight_dtype), DTypeName(p.model.kv_dtype),
             p.block_size);
  auto row = [&](const std::string& name, const std::string& value) {
    fmt::print(out, "  {:<34} {}\n", name, value);
  };
  row("KV bytes per token",
      fmt::format("{:.0f} ({:.1f} KiB)", tokens_bytes, tokens_bytes / 1024));
  row("weights per device",
      fmt::format("{:.2f} GiB", p.weight_bytes_per_device / kGiB));
  row("KV memory per device",
      fmt::format("{:.2f} GiB", p.kv_memory_bytes_per_device / kGiB));
  row("max KV tokens", fmt::format("{}", p.max_kv_tokens));
  row(fmt::format("max concurrency at context {}", p.context),
      fmt::format("{}", p.max_concurrency));
  row(fmt::format("max context at batch {}", p.batch),
      p.max_context.has_value() ? fmt::format("{}", *p.max_context)
                                : std::string("none (not one page fits)"));
  row(fmt::format("decode step, batch {} x {}", p.batch, p.context),
      fmt::format("{:.3f} ms ({:.0f} tok/s), {}-bound", p.decode.seconds * 1e3,
                  p.batch / p.decode.seconds, BoundName(p.decode.bound)));
  row("  same, token-granular KV reads",
      fmt::format("{:.3f} ms", p.decode_token_granular.seconds * 1e3));
  row("  arithmetic intensity / ridge",
      fmt::format("{:.1f} / {:.1f} FLOP/byte", p.decode.arithmetic_intensity,
                  p.ridge_point));
  row(fmt::format("prefill of {} tokens", p.context),
      fmt::format("{:.3f} ms, {}-bound", p.prefill.seconds * 1e3,
                  BoundName(p.prefill.bound)));
}

}  // namespace

int RunPlan(const PlanArgs& args, std::ostream& out, std::ostream& err) {
  std::string error;
  if (args.model.empty()) return BadInput(err, "--model is required");
  if (args.hardware.empty()) return BadInput(err, "--hardware is required");
  absl::StatusOr<ModelSpec> model = ResolveModelSpec(args.model);
  if (!model.ok()) {
    return BadInput(
        err, fmt::format("--model: {}", std::string(model.status().message())));
  }
  absl::StatusOr<HardwareSpec> hardware = ResolveHardwareSpec(args.hardware);
  if (!hardware.ok()) {
    return BadInput(err, fmt::format("--hardware: {}",
                                     std::string(hardware.status().message())));
  }
  if (!args.kv_dtype.empty()) {
    absl::StatusOr<DType> dtype = ParseDType(args.kv_dtype);
    if (!dtype.ok()) {
      return BadInput(err, fmt::format("--kv-dtype: {}",
                                       std::string(dtype.status().message())));
    }
    *model = WithKvDtype(*std::move(model), *dtype);
  }
  if (!args.weight_dtype.empty()) {
    absl::StatusOr<DType> dtype = ParseDType(args.weight_dtype);
    if (!dtype.ok()) {
      return BadInput(err, fmt::format("--weight-dtype: {}",
                                       std::string(dtype.status().message())));
    }
    model->weight_dtype = *dtype;
  }

  int64_t tp = 1, block_size = 16, batch = 1;
  if (!ParseInt("--tp", args.tp, 1, &tp, &error) ||
      !ParseInt("--block-size", args.block_size, 1, &block_size, &error) ||
      (!args.batch.empty() &&
       !ParseInt("--batch", args.batch, 1, &batch, &error))) {
    return BadInput(err, error);
  }
  if (tp > hardware->num_devices) {
    return BadInput(err,
                    fmt::format("--tp {} exceeds the {} devices of '{}'", tp,
                                hardware->num_devices, hardware->name));
  }
  PlanOptions options;
  options.tensor_parallel = static_cast<int32_t>(tp);
  options.block_size = static_cast<int32_t>(block_size);
  options.batch = batch;
  if (!args.context.empty() &&
      !ParseInt("--context", args.context, 1, &options.context, &error)) {
    return BadInput(err, error);
  }
  if (!args.kv_memory_gib.empty() && !args.gpu_memory_utilization.empty()) {
    return BadInput(err,
                    "--kv-memory-gib and --gpu-memory-utilization are "
                    "mutually exclusive");
  }
  if (!args.kv_memory_gib.empty()) {
    double gib = 0;
    if (!ParseDouble("--kv-memory-gib", args.kv_memory_gib, &gib, &error)) {
      return BadInput(err, error);
    }
    if (!(gib > 0)) {
      return BadInput(err, fmt::format("--kv-memory-gib must be > 0, got '{}'",
                                       args.kv_memory_gib));
    }
    options.kv_memory_bytes = gib * kGiB;
  }
  if (!args.gpu_memory_utilization.empty()) {
    double util = 0;
    if (!ParseDouble("--gpu-memory-utilization", args.gpu_memory_utilization,
                     &util, &error)) {
      return BadInput(err, error);
    }
    if (!(util > 0 && util <= 1)) {
      return BadInput(err,
                      fmt::format("--gpu-memory-utilization must be in (0, 1], "
                                  "got '{}'",
                                  args.gpu_memory_utilization));
    }
    options.gpu_memory_utilization = util;
  }

  absl::StatusOr<CapacityPlan> plan =
      MakeCapacityPlan(*std::move(model), *std::move(hardware), options);
  if (!plan.ok()) return BadInput(err, std::string(plan.status().message()));
  const std::string json = CapacityPlanJson(*plan);
  if (args.json == "-") {
    out << json;
    return kPlanOk;
  }
  if (!args.json.empty()) {
    std::ofstream file(args.json);
    if (!file || !(file << json)) {
      return BadInput(err, fmt::format("--json: cannot write '{}'", args.json));
    }
  }
  PrintPlan(*plan, out);
  return kPlanOk;
}

void AddPlanCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<PlanArgs>();
  CLI::App* plan = app.add_subcommand(
      "plan",
      "Capacity planning and step-time estimates for a model on hardware");
  plan->add_option("--model", args->model,
                   "Model preset name or JSON spec file")
      ->required();
  plan->add_option("--hardware", args->hardware,
                   "Hardware preset name or JSON spec file")
      ->required();
  plan->add_option("--tp", args->tp, "Tensor-parallel degree")
      ->capture_default_str();
  plan->add_option("--kv-dtype", args->kv_dtype,
                   "KV cache dtype: fp16, bf16, fp8, int8, int4");
  plan->add_option("--weight-dtype", args->weight_dtype,
                   "Weight dtype: fp16, bf16, fp8, int8, int4");
  plan->add_option("--kv-memory-gib", args->kv_memory_gib,
                   "KV memory per device, GiB (instead of utilization)");
  plan->add_option("--gpu-memory-utilization", args->gpu_memory_utilization,
                   "Fraction of device memory for weights + KV (default 0.9)");
  plan->add_option("--block-size", args->block_size, "Tokens per page")
      ->capture_default_str();
  plan->add_option("--batch", args->batch, "Decode batch size (default 1)");
  plan->add_option("--context", args->context,
                   "Context length (default min(4096, model max))");
  plan->add_option("--json", args->json, "Write JSON to FILE, or - for stdout");
  plan->callback(
      [args, exit_code] { *exit_code = RunPlan(*args, std::cout, std::cerr); });
}

}  // namespace pagekv::tools
