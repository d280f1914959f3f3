// The compute, fixed-overhead and tensor-parallel all-reduce terms of a
// step's cost (BandwidthModel adds the memory term and takes the max).
//
//   efficiency(T)  = eff_max(dtype) · T / (T + T_half)
//   compute        = flops / (PeakFlops(dtype) · efficiency(T))
//   step           = max(memory, compute) + overlap_loss · min(memory, compute)
//   overhead       = step_overhead
//                    + prefills · (prefill_overhead + layers · layer_overhead)
//   all-reduce     = latency + 2 (tp − 1) · (hop_latency + m / (tp · BW))
//
// T is the step's new tokens, the M dimension of every weight GEMM: a few
// rows leave most of a tensor core's tiles idle, so efficiency rises with T
// and saturates at eff_max (compute_efficiency for 16-bit weights,
// compute_efficiency_8bit for fp8/int8 tensor-core paths). T_half is the T at
// which half of eff_max is reached. The all-reduce is a ring over tp
// devices: 2 (tp − 1) hops, each sending m / tp bytes. docs/cost-model.md
// derives each term and its per-GPU defaults.
//
// Thread-safety: pure functions of their arguments.
#ifndef PAGEKV_COST_COMPUTE_MODEL_H_
#define PAGEKV_COST_COMPUTE_MODEL_H_

#include <cstdint>

#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"

namespace pagekv {

// Returns the fraction of hw.PeakFlops(weight_dtype) that a step computing
// `tokens` new tokens reaches, in (0, 1].
// REQUIRES: tokens >= 1.
double ComputeEfficiency(const HardwareSpec& hw, DType weight_dtype,
                         int64_t tokens);

// Returns the seconds `flops` take in a step of `tokens` new tokens.
// REQUIRES: tokens >= 1, flops >= 0.
double ComputeSeconds(const HardwareSpec& hw, DType weight_dtype, double flops,
                      int64_t tokens);

// Returns the time of a step whose memory and compute terms take `memory`
// and `compute` seconds: max + hw.overlap_loss * min.
double CombineRoofline(const HardwareSpec& hw, double memory, double compute);

// Returns the fixed time of a step that runs `prefills` prefill chunks
// through a model of `num_layers` layers.
// REQUIRES: prefills >= 0, num_layers >= 0.
double FixedOverheadSeconds(const HardwareSpec& hw, int64_t prefills,
                            int32_t num_layers);

// Returns the time of one ring all-reduce of `message_bytes` over `tp`
// devices; 0 when tp == 1.
// REQUIRES: tp >= 1, message_bytes >= 0, hw.interconnect_bandwidth > 0 when
// tp > 1.
double AllReduceSeconds(const HardwareSpec& hw, int32_t tp,
                        double message_bytes);

}  // namespace pagekv

#endif  // PAGEKV_COST_COMPUTE_MODEL_H_
