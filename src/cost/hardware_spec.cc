#include "pagekv/cost/hardware_spec.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "cost/hardware_fields.h"
#include "cost/str_util.h"

namespace pagekv {
namespace internal {

absl::Span<const HardwareNumberField> HardwareNumberFields() {
  // 1 PB of memory, 1 PB/s, 1 EFLOP/s per device and a minute per step are
  // far beyond any device; they bound what a typo such as 1e308 can do.
  static constexpr HardwareNumberField kFields[] = {
      {&HardwareSpec::hbm_bytes, "hbm_bytes", "hbm_gb", 1e9, 0, false, 1e15},
      {&HardwareSpec::hbm_bandwidth, "hbm_bandwidth", "hbm_bandwidth_gbps", 1e9,
       0, false, 1e15},
      {&HardwareSpec::peak_flops_bf16, "peak_flops_bf16", "peak_tflops_bf16",
       1e12, 0, false, 1e18},
      {&HardwareSpec::peak_flops_fp8, "peak_flops_fp8", "peak_tflops_fp8", 1e12,
       0, true, 1e18},
      {&HardwareSpec::peak_flops_int8, "peak_flops_int8", "peak_tflops_int8",
       1e12, 0, true, 1e18},
      {&HardwareSpec::interconnect_bandwidth, "interconnect_bandwidth",
       "interconnect_gbps", 1e9, 0, true, 1e15},
      {&HardwareSpec::interconnect_latency_seconds,
       "interconnect_latency_seconds", "interconnect_latency_us", 1e-6, 0, true,
       60},
      {&HardwareSpec::interconnect_hop_latency_seconds,
       "interconnect_hop_latency_seconds", "interconnect_hop_latency_us", 1e-6,
       0, true, 60},
      {&HardwareSpec::memory_efficiency, "memory_efficiency",
       "memory_efficiency", 1, 0, false, 1},
      {&HardwareSpec::compute_efficiency, "compute_efficiency",
       "compute_efficiency", 1, 0, false, 1},
      {&HardwareSpec::compute_efficiency_8bit, "compute_efficiency_8bit",
       "compute_efficiency_8bit", 1, 0, false, 1},
      {&HardwareSpec::compute_half_tokens, "compute_half_tokens",
       "compute_half_tokens", 1, 0, true, 1e9},
      {&HardwareSpec::overlap_loss, "overlap_loss", "overlap_loss", 1, 0, true,
       1},
      {&HardwareSpec::step_overhead_seconds, "step_overhead_seconds",
       "step_overhead_us", 1e-6, 0, true, 60},
      {&HardwareSpec::prefill_overhead_seconds, "prefill_overhead_seconds",
       "prefill_overhead_us", 1e-6, 0, true, 60},
      {&HardwareSpec::prefill_layer_overhead_seconds,
       "prefill_layer_overhead_seconds", "prefill_layer_overhead_us", 1e-6, 0,
       true, 60},
      {&HardwareSpec::host_link_bandwidth, "host_link_bandwidth",
       "host_link_gbps", 1e9, 0, true, 1e15},
      {&HardwareSpec::host_transfer_efficiency, "host_transfer_efficiency",
       "host_transfer_efficiency", 1, 0, false, 1},
      {&HardwareSpec::host_transfer_latency_seconds,
       "host_transfer_latency_seconds", "host_transfer_latency_us", 1e-6, 0,
       true, 60},
      {&HardwareSpec::remote_bandwidth, "remote_bandwidth", "remote_gbps", 1e9,
       0, true, 1e15},
      {&HardwareSpec::remote_latency_seconds, "remote_latency_seconds",
       "remote_latency_us", 1e-6, 0, true, 60},
      {&HardwareSpec::store_decode_slowdown, "store_decode_slowdown",
       "store_decode_slowdown", 1, 0, true, 1},
  };
  return kFields;
}

std::string HardwareFieldRangeError(const HardwareNumberField& f, double value,
                                    double unit) {
  const double min = f.min / unit;
  const double max = f.max / unit;
  const bool above_min = f.min_inclusive ? value >= min : value > min;
  if (std::isfinite(value) && above_min && value <= max) return "";
  return Cat("must be in ", f.min_inclusive ? "[" : "(", min, ", ", max,
             "], got ", value);
}

}  // namespace internal

absl::Status HardwareSpec::Validate() const {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        "hardware spec: field 'name' must not be empty");
  }
  for (const internal::HardwareNumberField& f :
       internal::HardwareNumberFields()) {
    const std::string error =
        internal::HardwareFieldRangeError(f, this->*f.member, 1);
    if (!error.empty()) {
      return absl::InvalidArgumentError(internal::Cat(
          "hardware spec '", name, "': field '", f.name, "' ", error));
    }
  }
  if (num_devices < 1) {
    return absl::InvalidArgumentError(internal::Cat(
        "hardware spec '", name, "': field 'num_devices' must be >= 1, got ",
        num_devices));
  }
  return absl::OkStatus();
}

double HardwareSpec::PeakFlops(DType weight_dtype) const {
  if (weight_dtype == DType::kFp8 && peak_flops_fp8 > 0) return peak_flops_fp8;
  if (weight_dtype == DType::kInt8 && peak_flops_int8 > 0) {
    return peak_flops_int8;
  }
  return peak_flops_bf16;
}

double HardwareSpec::RidgePoint(DType weight_dtype) const {
  return PeakFlops(weight_dtype) / hbm_bandwidth;
}

namespace {

// What turns one GPU generation's peaks into measured step times, fitted by
// `pagekv calibrate` to published measurements (docs/cost-model.md section 3
// gives the rows, the commands and the residuals).
struct GenerationFit {
  double memory_efficiency = kDefaultMemoryEfficiency;
  double compute_efficiency = kDefaultComputeEfficiency;
  double compute_efficiency_8bit = kDefaultComputeEfficiency8bit;
  double compute_half_tokens = kDefaultComputeHalfTokens;
  double overlap_loss = kDefaultOverlapLoss;
  double prefill_overhead_seconds = 0;
  double prefill_layer_overhead_seconds = 0;
  double interconnect_latency_seconds = 0;
  double interconnect_hop_latency_seconds = 0;
};

// Ampere (A100): gpt-fast's Llama-2-7B decode at tp 1/2/4/8 and
// TensorRT-LLM's Llama-2-7B fp16 TTFT at 128 and 2048 tokens. No 8-bit
// measurement: the int8 path keeps the generic default.
constexpr GenerationFit kAmpere = {.memory_efficiency = 0.71,
                                   .compute_efficiency = 0.745,
                                   .overlap_loss = 0.88,
                                   .interconnect_latency_seconds = 18.4e-6,
                                   .interconnect_hop_latency_seconds = 0.73e-6};
// Hopper (H100, H200): TensorRT-LLM's Llama-2-7B fp8 TTFT at 128 and 2048
// tokens, with Ampere's overlap loss. Their fixed 2.0 ms per prefill is
// charged per layer (62.5 us x Llama-2-7B's 32 layers): it is work every
// layer adds to a prefill (launches, the fp8 path's activation
// quantization), so a deeper model pays more. No published batch-1 decode
// or tp sweep was found: the memory efficiency and the 16-bit path keep the
// generic defaults, the all-reduce latencies are Ampere's.
constexpr GenerationFit kHopper = {.compute_efficiency_8bit = 0.47,
                                   .overlap_loss = 0.88,
                                   .prefill_layer_overhead_seconds = 62.5e-6,
                                   .interconnect_latency_seconds = 18.4e-6,
                                   .interconnect_hop_latency_seconds = 0.73e-6};
// Ada (L40S): TensorRT-LLM's Llama-2-7B fp8 TTFT at 128 and 2048 tokens;
// the all-reduce latencies as Hopper.
constexpr GenerationFit kAda = {.compute_efficiency_8bit = 0.56,
                                .overlap_loss = 0.19,
                                .interconnect_latency_seconds = 18.4e-6,
                                .interconnect_hop_latency_seconds = 0.73e-6};

HardwareSpec Fitted(HardwareSpec spec, const GenerationFit& fit) {
  spec.memory_efficiency = fit.memory_efficiency;
  spec.compute_efficiency = fit.compute_efficiency;
  spec.compute_efficiency_8bit = fit.compute_efficiency_8bit;
  spec.compute_half_tokens = fit.compute_half_tokens;
  spec.overlap_loss = fit.overlap_loss;
  spec.prefill_overhead_seconds = fit.prefill_overhead_seconds;
  spec.prefill_layer_overhead_seconds = fit.prefill_layer_overhead_seconds;
  spec.interconnect_latency_seconds = fit.interconnect_latency_seconds;
  spec.interconnect_hop_latency_seconds = fit.interconnect_hop_latency_seconds;
  return spec;
}

// Capacities are the datasheet's decimal gigabytes; bandwidths are per
// device; FLOP/s are dense (the datasheets' "with sparsity" figures halved).
// Interconnect: per direction (NVLink totals are bidirectional, halved).
// Host link: PCIe per direction, Gen4 x16 32 GB/s (A100, L40S), Gen5 x16
// 64 GB/s (H100, H200 SXM).
std::vector<HardwareSpec> BuildPresets() {
  std::vector<HardwareSpec> presets;
  // NVIDIA A100 Tensor Core GPU datasheet (2021), SXM4 40GB column: 1,555
  // GB/s HBM2, 312 TFLOP/s BF16 dense, 624 TOPS INT8, NVLink 600 GB/s.
  presets.push_back(Fitted(HardwareSpec{.name = "a100-40gb",
                                        .hbm_bytes = 40e9,
                                        .hbm_bandwidth = 1555e9,
                                        .peak_flops_bf16 = 312e12,
                                        .peak_flops_fp8 = 0,
                                        .peak_flops_int8 = 624e12,
                                        .num_devices = 8,
                                        .interconnect_bandwidth = 300e9,
                                        .host_link_bandwidth = 32e9},
                           kAmpere));
  // Same datasheet, SXM4 80GB column: 2,039 GB/s HBM2e.
  presets.push_back(Fitted(HardwareSpec{.name = "a100-80gb",
                                        .hbm_bytes = 80e9,
                                        .hbm_bandwidth = 2039e9,
                                        .peak_flops_bf16 = 312e12,
                                        .peak_flops_fp8 = 0,
                                        .peak_flops_int8 = 624e12,
                                        .num_devices = 8,
                                        .interconnect_bandwidth = 300e9,
                                        .host_link_bandwidth = 32e9},
                           kAmpere));
  // NVIDIA H100 Tensor Core GPU datasheet, H100 SXM column: 80 GB, 3.35 TB/s,
  // BF16 1,979 TFLOP/s with sparsity (989 dense), FP8 and INT8 3,958 with
  // sparsity (1,979 dense), NVLink 900 GB/s.
  presets.push_back(Fitted(HardwareSpec{.name = "h100-sxm",
                                        .hbm_bytes = 80e9,
                                        .hbm_bandwidth = 3.35e12,
                                        .peak_flops_bf16 = 989e12,
                                        .peak_flops_fp8 = 1979e12,
                                        .peak_flops_int8 = 1979e12,
                                        .num_devices = 8,
                                        .interconnect_bandwidth = 450e9,
                                        .host_link_bandwidth = 64e9},
                           kHopper));
  // NVIDIA H200 Tensor Core GPU datasheet, H200 SXM column: 141 GB HBM3e,
  // 4.8 TB/s; compute as H100 SXM; NVLink 900 GB/s.
  presets.push_back(Fitted(HardwareSpec{.name = "h200",
                                        .hbm_bytes = 141e9,
                                        .hbm_bandwidth = 4.8e12,
                                        .peak_flops_bf16 = 989e12,
                                        .peak_flops_fp8 = 1979e12,
                                        .peak_flops_int8 = 1979e12,
                                        .num_devices = 8,
                                        .interconnect_bandwidth = 450e9,
                                        .host_link_bandwidth = 64e9},
                           kHopper));
  // NVIDIA L40S datasheet: 48 GB GDDR6, 864 GB/s, BF16 362 TFLOP/s dense
  // (733 with sparsity), FP8 and INT8 733 dense; no NVLink, PCIe Gen4 x16
  // (64 GB/s bidirectional).
  presets.push_back(Fitted(HardwareSpec{.name = "l40s",
                                        .hbm_bytes = 48e9,
                                        .hbm_bandwidth = 864e9,
                                        .peak_flops_bf16 = 362e12,
                                        .peak_flops_fp8 = 733e12,
                                        .peak_flops_int8 = 733e12,
                                        .num_devices = 8,
                                        .interconnect_bandwidth = 32e9,
                                        .host_link_bandwidth = 32e9},
                           kAda));
  // NVIDIA GH200 Grace Hopper Superchip datasheet, 96 GB HBM3 version: 4
  // TB/s, Hopper compute as H100 SXM, and NVLink-C2C to the Grace CPU's
  // memory at 900 GB/s total (450 per direction) instead of PCIe: the
  // host link a KV tier uses.
  presets.push_back(Fitted(HardwareSpec{.name = "gh200",
                                        .hbm_bytes = 96e9,
                                        .hbm_bandwidth = 4.0e12,
                                        .peak_flops_bf16 = 989e12,
                                        .peak_flops_fp8 = 1979e12,
                                        .peak_flops_int8 = 1979e12,
                                        .num_devices = 1,
                                        .interconnect_bandwidth = 450e9,
                                        .host_link_bandwidth = 450e9},
                           kHopper));
  return presets;
}

const std::vector<HardwareSpec>& Presets() {
  static const auto* const presets =
      new std::vector<HardwareSpec>(BuildPresets());
  return *presets;
}

}  // namespace

absl::StatusOr<HardwareSpec> FindHardwarePreset(std::string_view name) {
  const std::string wanted = internal::ToLower(name);
  for (const HardwareSpec& spec : Presets()) {
    if (spec.name == wanted) return spec;
  }
  return absl::NotFoundError(internal::Cat(
      "unknown hardware preset '", name,
      "' (known: ", absl::StrJoin(HardwarePresetNames(), ", "), ")"));
}

std::vector<std::string> HardwarePresetNames() {
  std::vector<std::string> names;
  for (const HardwareSpec& spec : Presets()) names.push_back(spec.name);
  return names;
}

}  // namespace pagekv
