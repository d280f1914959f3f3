// Capacity plan: what `pagekv plan` reports for a model on a device, as one
// value (capacity figures from capacity.h, step times from the bandwidth
// model) and as the JSON document the CLI prints, so the CLI and the Python
// package produce the same figures from one function.
//
// Thread-safety: pure functions over plain values.
#ifndef PAGEKV_COST_PLAN_H_
#define PAGEKV_COST_PLAN_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"
#include "pagekv/cost_hook.h"

namespace pagekv {

struct PlanOptions {
  int32_t tensor_parallel = 1;  // 1..hardware.num_devices
  // Replace the model's KV dtype (with its default scales, WithKvDtype) or
  // weight dtype when set.
  std::optional<DType> kv_dtype;
  std::optional<DType> weight_dtype;
  // KV memory per device: > 0 uses exactly this budget; 0 derives it from
  // gpu_memory_utilization (see CapacityOptions).
  double kv_memory_bytes = 0;           // >= 0
  double gpu_memory_utilization = 0.9;  // in (0, 1]
  int32_t block_size = 16;              // >= 1
  int64_t batch = 1;                    // >= 1, decode batch
  // Context of the decode step and prefill estimates; 0 = min(4096, the
  // model's max_context), or 4096 when the model gives none.
  int64_t context = 0;  // >= 0

  // Returns OK, or InvalidArgument naming the bad field and value.
  absl::Status Validate() const;
};

struct CapacityPlan {
  ModelSpec model;  // with the options' dtypes applied
  HardwareSpec hardware;
  int32_t tensor_parallel = 1;
  int32_t block_size = 16;
  int64_t batch = 1;
  int64_t context = 0;                       // resolved (never 0)
  double kv_bytes_per_token = 0;             // all layers, one device of tp=1
  double kv_bytes_per_token_per_device = 0;  // on one device of tp
  // State layers (Mamba, linear attention): one sequence's states on one
  // device of tp, whatever its context. 0 for attention-only models.
  double state_bytes_per_sequence_per_device = 0;
  double weight_bytes_per_device = 0;
  double kv_memory_bytes_per_device = 0;
  int64_t max_kv_tokens = 0;
  int64_t max_concurrency = 0;  // sequences of `context` tokens at once
  // Longest context `batch` sequences can each hold; empty when not even
  // one page per sequence fits.
  std::optional<int64_t> max_context;
  // A decode step of `batch` sequences at `context` tokens, with page and
  // token-granular KV reads, and one prefill of `context` tokens.
  StepCost decode;
  StepCost decode_token_granular;
  StepCost prefill;
  double ridge_point = 0;  // FLOP/byte
};

// Returns the plan of `model` on `hardware` under `options`.
// InvalidArgument for bad options or specs (naming the field), or when
// tensor_parallel exceeds hardware.num_devices; FailedPrecondition when the
// weights leave no KV memory (naming both sizes).
absl::StatusOr<CapacityPlan> MakeCapacityPlan(ModelSpec model,
                                              HardwareSpec hardware,
                                              const PlanOptions& options);

// Returns the plan as the JSON object `pagekv plan --json` writes: the
// fields above with the step costs in ms and their bounds, keys in a fixed
// order, two-space indent, trailing newline (docs/cost-model.md explains
// the figures).
std::string CapacityPlanJson(const CapacityPlan& plan);

}  // namespace pagekv

#endif  // PAGEKV_COST_PLAN_H_
