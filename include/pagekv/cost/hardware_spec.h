// HardwareSpec: one accelerator as the roofline model sees it.
//
// Capacity, bandwidth and peak dense FLOP/s per dtype come from vendor
// datasheets (see the preset table in src/cost/hardware_presets.cc); the
// efficiency factors and the per-step overhead are what turns peaks into
// measured step times (docs/cost-model.md explains the defaults).
//
// Thread-safety: specs are plain values; the preset table is immutable.
#ifndef PAGEKV_COST_HARDWARE_SPEC_H_
#define PAGEKV_COST_HARDWARE_SPEC_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/cost/model_spec.h"

namespace pagekv {

// Default efficiency factors of a spec that names no preset as its base
// (each preset has its own; see docs/cost-model.md for the derivations).
inline constexpr double kDefaultMemoryEfficiency = 0.6;
inline constexpr double kDefaultComputeEfficiency = 0.7;
inline constexpr double kDefaultComputeEfficiency8bit = 0.45;
inline constexpr double kDefaultComputeHalfTokens = 0;
inline constexpr double kDefaultOverlapLoss = 0;
inline constexpr double kDefaultStepOverheadSeconds = 50e-6;
// KV-tier transfer defaults (docs/tiers.md): the share of the host link's
// peak a KV copy reaches (0.8 x 64 GB/s PCIe Gen5 = 51 GB/s, what vLLM's CPU
// offloading measured on H100), the fixed cost of one transfer job, the
// host-to-remote network (100 Gb/s NIC, one TCP round trip per job), and the
// decode slowdown while stores keep the link saturated.
inline constexpr double kDefaultHostTransferEfficiency = 0.8;
inline constexpr double kDefaultHostTransferLatencySeconds = 10e-6;
inline constexpr double kDefaultRemoteBandwidth = 12.5e9;
inline constexpr double kDefaultRemoteLatencySeconds = 100e-6;
inline constexpr double kDefaultStoreDecodeSlowdown = 0.05;

struct HardwareSpec {
  std::string name = {};
  // Per device. All units are SI: bytes, bytes/s, FLOP/s, seconds.
  double hbm_bytes = 0;      // > 0, memory capacity
  double hbm_bandwidth = 0;  // > 0, peak memory bandwidth
  // Peak dense (no sparsity) tensor FLOP/s. peak_flops_bf16 > 0 and is also
  // used for fp16 and fp32-accumulate GEMMs; 0 for fp8/int8 means the
  // hardware has no such path and falls back to bf16.
  double peak_flops_bf16 = 0;
  double peak_flops_fp8 = 0;
  double peak_flops_int8 = 0;
  // Devices that can form one tensor-parallel group (e.g. 8 in a node).
  int32_t num_devices = 1;  // >= 1
  // Per device, per direction, device-to-device (NVLink or PCIe).
  double interconnect_bandwidth = 0;  // >= 0; required > 0 when tp > 1
  // A ring all-reduce costs interconnect_latency_seconds (launch and
  // synchronization, once) plus, on each of its 2 (tp - 1) hops,
  // interconnect_hop_latency_seconds + the hop's bytes / bandwidth. >= 0.
  double interconnect_latency_seconds = 0;
  double interconnect_hop_latency_seconds = 0;
  // Fraction of peak HBM bandwidth that real kernels reach, in (0, 1].
  double memory_efficiency = kDefaultMemoryEfficiency;
  // Fraction of the dense peak that large GEMMs reach, in (0, 1]: on the
  // 16-bit path, and on the fp8/int8 path of weights stored in 8 bits.
  double compute_efficiency = kDefaultComputeEfficiency;
  double compute_efficiency_8bit = kDefaultComputeEfficiency8bit;
  // Tokens per step at which GEMMs reach half of that fraction (a step of T
  // tokens reaches T / (T + compute_half_tokens) of it). >= 0; 0 = flat.
  double compute_half_tokens = kDefaultComputeHalfTokens;
  // Fraction of the smaller of a step's memory and compute times that does
  // not hide under the larger one (its kernels run one after another, and a
  // GEMM near the ridge point reaches neither roof), in [0, 1]: the step
  // takes max + overlap_loss * min. 0 = the ideal roofline.
  double overlap_loss = kDefaultOverlapLoss;
  // Fixed time per step: launch gaps, scheduling, sampling. >= 0.
  double step_overhead_seconds = kDefaultStepOverheadSeconds;
  // Fixed time per prefill chunk in a step (its metadata, its attention
  // kernel's launch, the first sampling). >= 0.
  double prefill_overhead_seconds = 0;
  // Fixed time per prefill chunk and per layer: work a prefill adds in
  // every layer whatever the layer's width (kernel launches and small
  // kernels such as an fp8 path's activation quantization), so a deeper
  // model pays more of it. >= 0.
  double prefill_layer_overhead_seconds = 0;
  // Per device, per direction, device to host memory (PCIe): what swapping
  // KV out and back in costs. >= 0; 0 = no host link (swap unavailable).
  double host_link_bandwidth = 0;
  // --- KV tiers (pagekv/cost/transfer_cost.h) ---
  // Fraction of host_link_bandwidth a KV block copy reaches, in (0, 1].
  double host_transfer_efficiency = kDefaultHostTransferEfficiency;
  // Fixed cost per transfer job (launch, DMA setup), seconds, >= 0.
  double host_transfer_latency_seconds = kDefaultHostTransferLatencySeconds;
  // Host to remote store (network), per direction, bytes/s (>= 0) and per
  // job round trip, seconds (>= 0).
  double remote_bandwidth = kDefaultRemoteBandwidth;
  double remote_latency_seconds = kDefaultRemoteLatencySeconds;
  // Decode step slowdown while stores keep the host link busy the whole
  // step (memory traffic of the copy engine), in [0, 1]: a step is
  // stretched by store_decode_slowdown x the link's busy share.
  double store_decode_slowdown = kDefaultStoreDecodeSlowdown;

  // Returns OK, or InvalidArgument naming the first bad field.
  absl::Status Validate() const;

  // Returns the peak dense FLOP/s for GEMMs whose weights are `weight_dtype`:
  // fp8 and int8 use their own peak when the hardware has one, everything
  // else (fp32, fp16, bf16, weight-only int4) runs at the bf16 peak.
  double PeakFlops(DType weight_dtype) const;
  // Returns the ridge point PeakFlops(dtype) / hbm_bandwidth in FLOP/byte:
  // kernels with a lower arithmetic intensity are memory-bound.
  double RidgePoint(DType weight_dtype = DType::kBf16) const;
};

// Returns the preset named `name` (case-insensitive, e.g. "h100-sxm"), or
// NotFound listing the known names.
absl::StatusOr<HardwareSpec> FindHardwarePreset(std::string_view name);
// Returns the names of all hardware presets, in a stable order.
std::vector<std::string> HardwarePresetNames();

// Parses a JSON object into a spec. Fields (human units): name, hbm_gb,
// hbm_bandwidth_gbps, peak_tflops_bf16, peak_tflops_fp8, peak_tflops_int8,
// num_devices, interconnect_gbps, interconnect_latency_us,
// interconnect_hop_latency_us, memory_efficiency, compute_efficiency,
// compute_efficiency_8bit, compute_half_tokens, overlap_loss, step_overhead_us,
// prefill_overhead_us, prefill_layer_overhead_us, host_link_gbps,
// host_transfer_efficiency, host_transfer_latency_us, remote_gbps,
// remote_latency_us, store_decode_slowdown, and an optional "base" preset to
// start from. Unknown fields are rejected. Errors name `source` and the bad
// field.
absl::StatusOr<HardwareSpec> ParseHardwareSpecJson(std::string_view json_text,
                                                   std::string_view source);
// Returns `spec` as a self-contained JSON object in the file's units (every
// field, no "base"), which ParseHardwareSpecJson reads back to `spec`.
std::string HardwareSpecToJson(const HardwareSpec& spec);
// Reads and parses a JSON file. Errors name the file.
absl::StatusOr<HardwareSpec> LoadHardwareSpecFile(const std::string& path);
// Returns the preset called `name_or_file`, or else loads it as a file.
absl::StatusOr<HardwareSpec> ResolveHardwareSpec(std::string_view name_or_file);

}  // namespace pagekv

#endif  // PAGEKV_COST_HARDWARE_SPEC_H_
