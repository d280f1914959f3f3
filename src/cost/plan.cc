#include "pagekv/cost/plan.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "pagekv/cost/bandwidth_model.h"
#include "pagekv/cost/capacity.h"

namespace pagekv {
namespace {

const char* BoundName(Bound bound) {
  return bound == Bound::kMemory ? "memory" : "compute";
}

}  // namespace

absl::Status PlanOptions::Validate() const {
  auto bad = [](std::string_view field, auto value) {
    return absl::InvalidArgumentError(
        fmt::format("plan option {} is out of range: {}", field, value));
  };
  if (tensor_parallel < 1) return bad("tensor_parallel", tensor_parallel);
  if (!(kv_memory_bytes >= 0) || !std::isfinite(kv_memory_bytes)) {
    return bad("kv_memory_bytes", kv_memory_bytes);
  }
  if (!(gpu_memory_utilization > 0 && gpu_memory_utilization <= 1)) {
    return bad("gpu_memory_utilization", gpu_memory_utilization);
  }
  if (block_size < 1) return bad("block_size", block_size);
  if (batch < 1 || batch > (int64_t{1} << 31) - 1) return bad("batch", batch);
  if (context < 0) return bad("context", context);
  return absl::OkStatus();
}

absl::StatusOr<CapacityPlan> MakeCapacityPlan(ModelSpec model,
                                              HardwareSpec hardware,
                                              const PlanOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  if (options.kv_dtype)
    model = WithKvDtype(std::move(model), *options.kv_dtype);
  if (options.weight_dtype) model.weight_dtype = *options.weight_dtype;
  if (absl::Status s = model.Validate(); !s.ok()) return s;
  if (absl::Status s = hardware.Validate(); !s.ok()) return s;
  if (options.tensor_parallel > hardware.num_devices) {
    return absl::InvalidArgumentError(fmt::format(
        "tensor_parallel {} exceeds the {} devices of '{}'",
        options.tensor_parallel, hardware.num_devices, hardware.name));
  }
  CapacityPlan plan;
  plan.tensor_parallel = options.tensor_parallel;
  plan.block_size = options.block_size;
  plan.batch = options.batch;
  plan.context = options.context > 0 ? options.context
                 : model.max_context > 0
                     ? std::min<int64_t>(4096, model.max_context)
                     : 4096;

  CapacityOptions capacity;
  capacity.tensor_parallel = options.tensor_parallel;
  capacity.block_size = options.block_size;
  capacity.kv_memory_bytes = options.kv_memory_bytes;
  capacity.gpu_memory_utilization = options.gpu_memory_utilization;
  absl::StatusOr<double> budget = KvMemoryBudget(model, hardware, capacity);
  if (!budget.ok()) return budget.status();
  absl::StatusOr<int64_t> max_tokens = MaxKvTokens(model, hardware, capacity);
  if (!max_tokens.ok()) return max_tokens.status();
  absl::StatusOr<int64_t> concurrency =
      MaxConcurrency(model, hardware, capacity, plan.context);
  if (!concurrency.ok()) return concurrency.status();
  if (absl::StatusOr<int64_t> c =
          MaxContext(model, hardware, capacity, plan.batch);
      c.ok()) {
    plan.max_context = *c;
  }

  BandwidthModelOptions bw;
  bw.tensor_parallel = options.tensor_parallel;
  absl::StatusOr<BandwidthModel> page_model =
      BandwidthModel::Create(model, hardware, bw);
  if (!page_model.ok()) return page_model.status();
  bw.granularity = Granularity::kToken;
  absl::StatusOr<BandwidthModel> token_model =
      BandwidthModel::Create(model, hardware, bw);
  if (!token_model.ok()) return token_model.status();
  const StepFootprint decode_fp =
      UniformDecodeFootprint(model, static_cast<int32_t>(plan.batch),
                             plan.context - 1, plan.block_size);
  plan.decode = page_model->Estimate(decode_fp);
  plan.decode_token_granular = token_model->Estimate(decode_fp);
  plan.prefill = page_model->Estimate(
      PrefillFootprint(model, plan.context, 0, plan.block_size));
  plan.ridge_point = page_model->RidgePoint();

  plan.kv_bytes_per_token = model.KvBytesPerToken(1);
  plan.kv_bytes_per_token_per_device =
      model.KvBytesPerToken(options.tensor_parallel);
  plan.state_bytes_per_sequence_per_device =
      model.StateBytesPerSequence(options.tensor_parallel);
  plan.weight_bytes_per_device = model.WeightBytes() / options.tensor_parallel;
  plan.kv_memory_bytes_per_device = *budget;
  plan.max_kv_tokens = *max_tokens;
  plan.max_concurrency = *concurrency;
  plan.model = std::move(model);
  plan.hardware = std::move(hardware);
  return plan;
}

std::string CapacityPlanJson(const CapacityPlan& plan) {
  // Integer fields are written as 64-bit integers, as the CLI always has.
  const auto tp = static_cast<int64_t>(plan.tensor_parallel);
  nlohmann::ordered_json j;
  j["model"] = plan.model.name;
  j["hardware"] = plan.hardware.name;
  j["tensor_parallel"] = tp;
  j["weight_dtype"] = std::string(DTypeName(plan.model.weight_dtype));
  j["kv_dtype"] = std::string(DTypeName(plan.model.kv_dtype));
  j["block_size"] = static_cast<int64_t>(plan.block_size);
  j["kv_bytes_per_token"] = plan.kv_bytes_per_token;
  j["kv_bytes_per_token_per_device"] = plan.kv_bytes_per_token_per_device;
  j["state_bytes_per_sequence_per_device"] =
      plan.state_bytes_per_sequence_per_device;
  j["weight_bytes_per_device"] = plan.weight_bytes_per_device;
  j["kv_memory_bytes_per_device"] = plan.kv_memory_bytes_per_device;
  j["max_kv_tokens"] = plan.max_kv_tokens;
  j["context"] = plan.context;
  j["max_concurrency"] = plan.max_concurrency;
  j["batch"] = plan.batch;
  if (plan.max_context) {
    j["max_context"] = *plan.max_context;
  } else {
    j["max_context"] = nullptr;
  }
  j["decode_step_ms"] = plan.decode.seconds * 1e3;
  j["decode_step_ms_token_granular"] = plan.decode_token_granular.seconds * 1e3;
  j["decode_tokens_per_s"] = plan.batch / plan.decode.seconds;
  j["prefill_ms"] = plan.prefill.seconds * 1e3;
  j["prefill_bound"] = BoundName(plan.prefill.bound);
  j["bound"] = BoundName(plan.decode.bound);
  j["arithmetic_intensity"] = plan.decode.arithmetic_intensity;
  j["ridge_point"] = plan.ridge_point;
  return j.dump(2) + "\n";
}

}  // namespace pagekv
