#include "plan_command.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cli_util.h"
#include "fmt/format.h"
#include "fmt/ostream.h"
#include "pagekv/cost/bandwidth_model.h"
#include "pagekv/cost/capacity.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"
#include "pagekv/cost/plan.h"

namespace pagekv::tools {
namespace {

constexpr char kCommand[] = "plan";
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

const char* BoundName(Bound bound) {
  return bound == Bound::kMemory ? "memory" : "compute";
}

// The validated inputs: specs with the dtype overrides applied, and numbers.
struct PlanSettings {
  ModelSpec model;
  HardwareSpec hardware;
  int64_t tp = 1;
  int64_t batch = 1;
  int64_t context = 0;
  CapacityOptions capacity;
};

absl::Status ApplyDtype(const std::string& flag, const std::string& text,
                        DType* dtype) {
  if (text.empty()) return absl::OkStatus();
  absl::StatusOr<DType> parsed = ParseDType(text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: {}", flag, std::string(parsed.status().message())));
  }
  *dtype = *parsed;
  return absl::OkStatus();
}

absl::Status ParseSpecs(const PlanArgs& args, PlanSettings* s) {
  if (args.model.empty()) {
    return absl::InvalidArgumentError("--model is required");
  }
  if (args.hardware.empty()) {
    return absl::InvalidArgumentError("--hardware is required");
  }
  absl::StatusOr<ModelSpec> model = ResolveModelSpec(args.model);
  if (!model.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("--model: {}", std::string(model.status().message())));
  }
  absl::StatusOr<HardwareSpec> hardware = ResolveHardwareSpec(args.hardware);
  if (!hardware.ok()) {
    return absl::InvalidArgumentError(fmt::format(
        "--hardware: {}", std::string(hardware.status().message())));
  }
  s->model = *std::move(model);
  s->hardware = *std::move(hardware);
  DType kv = s->model.kv_dtype;
  if (absl::Status st = ApplyDtype("--kv-dtype", args.kv_dtype, &kv);
      !st.ok()) {
    return st;
  }
  if (!args.kv_dtype.empty()) s->model = WithKvDtype(std::move(s->model), kv);
  return ApplyDtype("--weight-dtype", args.weight_dtype,
                    &s->model.weight_dtype);
}

absl::Status ParseNumbers(const PlanArgs& args, PlanSettings* s) {
  absl::StatusOr<int64_t> tp = ParseIntFlag("--tp", args.tp, 1);
  if (!tp.ok()) return tp.status();
  absl::StatusOr<int32_t> block_size =
      ParseBlockSizeFlag("--block-size", args.block_size);
  if (!block_size.ok()) return block_size.status();
  if (!args.batch.empty()) {
    absl::StatusOr<int64_t> batch = ParseIntFlag("--batch", args.batch, 1);
    if (!batch.ok()) return batch.status();
    s->batch = *batch;
  }
  s->tp = *tp;
  if (s->tp > s->hardware.num_devices) {
    return absl::InvalidArgumentError(
        fmt::format("--tp {} exceeds the {} devices of '{}'", s->tp,
                    s->hardware.num_devices, s->hardware.name));
  }
  s->context = s->model.max_context > 0
                   ? std::min<int64_t>(4096, s->model.max_context)
                   : 4096;
  if (!args.context.empty()) {
    absl::StatusOr<int64_t> context =
        ParseIntFlag("--context", args.context, 1);
    if (!context.ok()) return context.status();
    s->context = *context;
  }
  s->capacity.tensor_parallel = static_cast<int32_t>(s->tp);
  s->capacity.block_size = *block_size;
  return absl::OkStatus();
}

absl::Status ParseMemory(const PlanArgs& args, CapacityOptions* capacity) {
  if (!args.kv_memory_gib.empty() && !args.gpu_memory_utilization.empty()) {
    return absl::InvalidArgumentError(
        "--kv-memory-gib and --gpu-memory-utilization are mutually exclusive");
  }
  if (!args.kv_memory_gib.empty()) {
    absl::StatusOr<double> gib =
        ParsePositiveFlag("--kv-memory-gib", args.kv_memory_gib);
    if (!gib.ok()) return gib.status();
    capacity->kv_memory_bytes = *gib * kGiB;
  }
  if (!args.gpu_memory_utilization.empty()) {
    absl::StatusOr<double> util = ParseFractionFlag(
        "--gpu-memory-utilization", args.gpu_memory_utilization);
    if (!util.ok()) return util.status();
    capacity->gpu_memory_utilization = *util;
  }
  return absl::OkStatus();
}

absl::StatusOr<PlanSettings> ParseSettings(const PlanArgs& args) {
  PlanSettings s;
  if (absl::Status st = ParseSpecs(args, &s); !st.ok()) return st;
  if (absl::Status st = ParseNumbers(args, &s); !st.ok()) return st;
  if (absl::Status st = ParseMemory(args, &s.capacity); !st.ok()) return st;
  return s;
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
  if (p.state_bytes_per_sequence_per_device > 0) {
    row("state per sequence per device",
        fmt::format("{:.2f} MiB (any context)",
                    p.state_bytes_per_sequence_per_device / (1024 * 1024)));
  }
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
  absl::StatusOr<PlanSettings> settings = ParseSettings(args);
  if (!settings.ok()) return BadInput(err, kCommand, settings.status());
  PlanOptions options;
  options.tensor_parallel = static_cast<int32_t>(settings->tp);
  options.block_size = settings->capacity.block_size;
  options.batch = settings->batch;
  options.context = settings->context;
  options.kv_memory_bytes = settings->capacity.kv_memory_bytes;
  options.gpu_memory_utilization = settings->capacity.gpu_memory_utilization;
  absl::StatusOr<CapacityPlan> plan = MakeCapacityPlan(
      std::move(settings->model), std::move(settings->hardware), options);
  if (!plan.ok()) return BadInput(err, kCommand, plan.status());
  if (!args.json.empty()) {
    absl::Status st =
        WriteOutput("--json", args.json, CapacityPlanJson(*plan), out);
    if (!st.ok()) return BadInput(err, kCommand, st);
    if (args.json == "-") return kPlanOk;
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
      ->capture_default_str()
      ->check(IntInRange(1));
  plan->add_option("--kv-dtype", args->kv_dtype,
                   "KV cache dtype: fp16, bf16, fp8, int8, int4");
  plan->add_option("--weight-dtype", args->weight_dtype,
                   "Weight dtype: fp16, bf16, fp8, int8, int4");
  plan->add_option("--kv-memory-gib", args->kv_memory_gib,
                   "KV memory per device, GiB (instead of utilization)")
      ->check(PositiveNumber());
  plan->add_option("--gpu-memory-utilization", args->gpu_memory_utilization,
                   "Fraction of device memory for weights + KV (default 0.9)")
      ->check(Fraction());
  plan->add_option("--block-size", args->block_size, "Tokens per page")
      ->capture_default_str()
      ->check(BlockSizeValidator());
  plan->add_option("--batch", args->batch, "Decode batch size (default 1)")
      ->check(IntInRange(1));
  plan->add_option("--context", args->context,
                   "Context length (default min(4096, model max))")
      ->check(IntInRange(1));
  plan->add_option("--json", args->json, "Write JSON to FILE, or - for stdout");
  plan->callback(
      [args, exit_code] { *exit_code = RunPlan(*args, std::cout, std::cerr); });
}

}  // namespace pagekv::tools
