#include "pagekv/hardware_spec.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "cost/str_util.h"

namespace pagekv {
namespace {

absl::Status Bad(const HardwareSpec& spec, std::string_view field, double value,
                 std::string_view what) {
  return absl::InvalidArgumentError(internal::Cat("hardware spec '", spec.name,
                                                  "': field '", field, "' ",
                                                  what, ", got ", value));
}

bool Finite(double x) { return std::isfinite(x); }

}  // namespace

absl::Status HardwareSpec::Validate() const {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        "hardware spec: field 'name' must not be empty");
  }
  if (!(hbm_bytes > 0) || !Finite(hbm_bytes)) {
    return Bad(*this, "hbm_bytes", hbm_bytes, "must be > 0");
  }
  if (!(hbm_bandwidth > 0) || !Finite(hbm_bandwidth)) {
    return Bad(*this, "hbm_bandwidth", hbm_bandwidth, "must be > 0");
  }
  if (!(peak_flops_bf16 > 0) || !Finite(peak_flops_bf16)) {
    return Bad(*this, "peak_flops_bf16", peak_flops_bf16, "must be > 0");
  }
  if (!(peak_flops_fp8 >= 0) || !Finite(peak_flops_fp8)) {
    return Bad(*this, "peak_flops_fp8", peak_flops_fp8, "must be >= 0");
  }
  if (!(peak_flops_int8 >= 0) || !Finite(peak_flops_int8)) {
    return Bad(*this, "peak_flops_int8", peak_flops_int8, "must be >= 0");
  }
  if (num_devices < 1) {
    return Bad(*this, "num_devices", num_devices, "must be >= 1");
  }
  if (!(interconnect_bandwidth >= 0) || !Finite(interconnect_bandwidth)) {
    return Bad(*this, "interconnect_bandwidth", interconnect_bandwidth,
               "must be >= 0");
  }
  if (!(interconnect_latency_seconds >= 0) ||
      !Finite(interconnect_latency_seconds)) {
    return Bad(*this, "interconnect_latency_seconds",
               interconnect_latency_seconds, "must be >= 0");
  }
  if (!(memory_efficiency > 0 && memory_efficiency <= 1)) {
    return Bad(*this, "memory_efficiency", memory_efficiency,
               "must be in (0, 1]");
  }
  if (!(compute_efficiency > 0 && compute_efficiency <= 1)) {
    return Bad(*this, "compute_efficiency", compute_efficiency,
               "must be in (0, 1]");
  }
  if (!(step_overhead_seconds >= 0) || !Finite(step_overhead_seconds)) {
    return Bad(*this, "step_overhead_seconds", step_overhead_seconds,
               "must be >= 0");
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

// Capacities are the datasheet's decimal gigabytes; bandwidths are per
// device; FLOP/s are dense (the datasheets' "with sparsity" figures halved).
// Interconnect: per direction (NVLink totals are bidirectional, halved).
std::vector<HardwareSpec> BuildPresets() {
  std::vector<HardwareSpec> presets;
  // NVIDIA A100 Tensor Core GPU datasheet (2021), SXM4 40GB column: 1,555
  // GB/s HBM2, 312 TFLOP/s BF16 dense, 624 TOPS INT8, NVLink 600 GB/s.
  presets.push_back(HardwareSpec{.name = "a100-40gb",
                                 .hbm_bytes = 40e9,
                                 .hbm_bandwidth = 1555e9,
                                 .peak_flops_bf16 = 312e12,
                                 .peak_flops_fp8 = 0,
                                 .peak_flops_int8 = 624e12,
                                 .num_devices = 8,
                                 .interconnect_bandwidth = 300e9});
  // Same datasheet, SXM4 80GB column: 2,039 GB/s HBM2e.
  presets.push_back(HardwareSpec{.name = "a100-80gb",
                                 .hbm_bytes = 80e9,
                                 .hbm_bandwidth = 2039e9,
                                 .peak_flops_bf16 = 312e12,
                                 .peak_flops_fp8 = 0,
                                 .peak_flops_int8 = 624e12,
                                 .num_devices = 8,
                                 .interconnect_bandwidth = 300e9});
  // NVIDIA H100 Tensor Core GPU datasheet, H100 SXM column: 80 GB, 3.35 TB/s,
  // BF16 1,979 TFLOP/s with sparsity (989 dense), FP8 and INT8 3,958 with
  // sparsity (1,979 dense), NVLink 900 GB/s.
  presets.push_back(HardwareSpec{.name = "h100-sxm",
                                 .hbm_bytes = 80e9,
                                 .hbm_bandwidth = 3.35e12,
                                 .peak_flops_bf16 = 989e12,
                                 .peak_flops_fp8 = 1979e12,
                                 .peak_flops_int8 = 1979e12,
                                 .num_devices = 8,
                                 .interconnect_bandwidth = 450e9});
  // NVIDIA H200 Tensor Core GPU datasheet, H200 SXM column: 141 GB HBM3e,
  // 4.8 TB/s; compute as H100 SXM; NVLink 900 GB/s.
  presets.push_back(HardwareSpec{.name = "h200",
                                 .hbm_bytes = 141e9,
                                 .hbm_bandwidth = 4.8e12,
                                 .peak_flops_bf16 = 989e12,
                                 .peak_flops_fp8 = 1979e12,
                                 .peak_flops_int8 = 1979e12,
                                 .num_devices = 8,
                                 .interconnect_bandwidth = 450e9});
  // NVIDIA L40S datasheet: 48 GB GDDR6, 864 GB/s, BF16 362 TFLOP/s dense
  // (733 with sparsity), FP8 and INT8 733 dense; no NVLink, PCIe Gen4 x16
  // (64 GB/s bidirectional).
  presets.push_back(HardwareSpec{.name = "l40s",
                                 .hbm_bytes = 48e9,
                                 .hbm_bandwidth = 864e9,
                                 .peak_flops_bf16 = 362e12,
                                 .peak_flops_fp8 = 733e12,
                                 .peak_flops_int8 = 733e12,
                                 .num_devices = 8,
                                 .interconnect_bandwidth = 32e9});
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
