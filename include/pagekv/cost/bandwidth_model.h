// BandwidthModel: the default CostHook, a roofline model of one step.
//
//   bytes   = weights read once per step (MoE: experts touched)
//           + KV read  (pages_read * block_size, or context tokens)
//           + KV written (new tokens)
//   flops   = 2 * active_params * new tokens
//           + attention: 2 * heads * (qk_dim + v_dim) per layer per
//             (query, key) pair, summed causally (quadratic in prefill)
//   seconds = max(bytes / (BW * eff_mem), flops / (peak * eff_compute(T)))
//           + step overhead + prefills * prefill overhead
//           + tensor-parallel all-reduce time
//
// The compute, overhead and all-reduce terms are compute_model.h's.
//
// With tensor parallelism bytes and flops are those of one device (each
// device reads its shard). Footprint group g is the model's layer group g.
// docs/cost-model.md derives each term and compares with measurements.
//
// Thread-safety: immutable after Create(); Estimate() may run concurrently.
#ifndef PAGEKV_COST_BANDWIDTH_MODEL_H_
#define PAGEKV_COST_BANDWIDTH_MODEL_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"
#include "pagekv/cost_hook.h"
#include "pagekv/footprint.h"

namespace pagekv {

// How KV reads are counted.
enum class Granularity {
  // Whole pages: pages_read * block_size tokens, as a paged kernel loads
  // them (the partial last page costs a full page).
  kPage,
  // Exactly context_tokens tokens: the ideal a contiguous cache would reach.
  kToken,
};

struct BandwidthModelOptions {
  int32_t tensor_parallel = 1;  // >= 1, <= hardware.num_devices
  Granularity granularity = Granularity::kPage;
  // Bytes per activation element sent in tensor-parallel all-reduces.
  double activation_bytes = 2;  // > 0

  // Returns OK, or InvalidArgument naming the bad field.
  absl::Status Validate() const;
};

class BandwidthModel final : public CostHook {
 public:
  // Returns a model, or InvalidArgument if a spec or the options are invalid
  // or do not fit together (tp above the device count, no interconnect).
  static absl::StatusOr<BandwidthModel> Create(
      ModelSpec model, HardwareSpec hardware,
      BandwidthModelOptions options = {});
  // Resolves both specs by preset name or JSON file path (see
  // ResolveModelSpec / ResolveHardwareSpec), then calls Create().
  static absl::StatusOr<BandwidthModel> FromNames(
      std::string_view model, std::string_view hardware,
      BandwidthModelOptions options = {});

  // Returns the estimated cost of the step. An empty footprint costs 0.
  // REQUIRES: every sequence has exactly num_kv_cache_groups() groups;
  //           footprint.block_size > 0 when any sequence is present.
  StepCost Estimate(const StepFootprint& footprint) const override;

  // Returns the number of KV-cache groups footprints must carry.
  int32_t num_kv_cache_groups() const { return model_.num_layer_groups(); }
  // Returns the hardware's ridge point for this model's weight dtype.
  double RidgePoint() const {
    return hardware_.RidgePoint(model_.weight_dtype);
  }

  const ModelSpec& model() const { return model_; }
  const HardwareSpec& hardware() const { return hardware_; }
  const BandwidthModelOptions& options() const { return options_; }

 private:
  BandwidthModel(ModelSpec model, HardwareSpec hardware,
                 BandwidthModelOptions options);

  ModelSpec model_;
  HardwareSpec hardware_;
  BandwidthModelOptions options_;
};

// Returns the footprint of a decode step of `batch` sequences that each
// hold `context_tokens` tokens before the step (so attend context + 1),
// with pages counted per layer group of `model` (windows respected).
// REQUIRES: batch >= 0, context_tokens >= 0, block_size > 0.
StepFootprint UniformDecodeFootprint(const ModelSpec& model, int32_t batch,
                                     int64_t context_tokens,
                                     int32_t block_size);

// Returns the footprint of one prefill of `prompt_tokens` tokens with
// `cached_tokens` already cached (a prefix hit), in a single chunk.
// REQUIRES: prompt_tokens > 0, 0 <= cached_tokens, block_size > 0.
StepFootprint PrefillFootprint(const ModelSpec& model, int64_t prompt_tokens,
                               int64_t cached_tokens, int32_t block_size);

}  // namespace pagekv

#endif  // PAGEKV_COST_BANDWIDTH_MODEL_H_
