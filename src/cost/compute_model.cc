#include "pagekv/cost/compute_model.h"

#include <algorithm>

#include "core/check.h"

namespace pagekv {

double ComputeEfficiency(const HardwareSpec& hw, DType weight_dtype,
                         int64_t tokens) {
  PAGEKV_DCHECK(tokens >= 1, "tokens must be >= 1, got {}", tokens);
  // 8-bit weights run on their own tensor-core path when the device has
  // one; otherwise (and for every other dtype) on the 16-bit path.
  const bool eight_bit =
      (weight_dtype == DType::kFp8 && hw.peak_flops_fp8 > 0) ||
      (weight_dtype == DType::kInt8 && hw.peak_flops_int8 > 0);
  const double max =
      eight_bit ? hw.compute_efficiency_8bit : hw.compute_efficiency;
  const double t = static_cast<double>(tokens);
  return max * t / (t + hw.compute_half_tokens);
}

double ComputeSeconds(const HardwareSpec& hw, DType weight_dtype, double flops,
                      int64_t tokens) {
  return flops / (hw.PeakFlops(weight_dtype) *
                  ComputeEfficiency(hw, weight_dtype, tokens));
}

double CombineRoofline(const HardwareSpec& hw, double memory, double compute) {
  return std::max(memory, compute) +
         hw.overlap_loss * std::min(memory, compute);
}

double FixedOverheadSeconds(const HardwareSpec& hw, int64_t prefills,
                            int32_t num_layers) {
  PAGEKV_DCHECK(prefills >= 0 && num_layers >= 0,
                "prefills {} and num_layers {} must be >= 0", prefills,
                num_layers);
  const double per_prefill =
      hw.prefill_overhead_seconds +
      static_cast<double>(num_layers) * hw.prefill_layer_overhead_seconds;
  return hw.step_overhead_seconds + static_cast<double>(prefills) * per_prefill;
}

double AllReduceSeconds(const HardwareSpec& hw, int32_t tp,
                        double message_bytes) {
  PAGEKV_DCHECK(tp >= 1, "tp must be >= 1, got {}", tp);
  if (tp == 1) return 0;
  const double hops = 2.0 * (tp - 1);
  const double per_hop = hw.interconnect_hop_latency_seconds +
                         message_bytes / tp / hw.interconnect_bandwidth;
  return hw.interconnect_latency_seconds + hops * per_hop;
}

}  // namespace pagekv
