// The host-tier side of the Scheduler: what loading a host hit and storing
// blocks cost a step (TierCostConfig in scheduler.h).
#include <cmath>

#include "fmt/format.h"
#include "pagekv/sim/scheduler.h"

namespace pagekv {

absl::Status ValidateTierCost(const TierCostConfig& tier) {
  const std::pair<const char*, double> fields[] = {
      {"block_bytes", tier.block_bytes},
      {"host_latency_s", tier.host_latency_s},
      {"host_bytes_per_s", tier.host_bytes_per_s},
      {"store_decode_slowdown", tier.store_decode_slowdown},
      {"recompute_s_per_token", tier.recompute_s_per_token}};
  for (const auto& [name, value] : fields) {
    if (!(value >= 0) || !std::isfinite(value)) {
      return absl::InvalidArgumentError(fmt::format(
          "SchedulerConfig.tier.{} must be a finite number >= 0, got {}", name,
          value));
    }
  }
  if (tier.store_decode_slowdown > 1) {
    return absl::InvalidArgumentError(fmt::format(
        "SchedulerConfig.tier.store_decode_slowdown must be in [0, 1], got {}",
        tier.store_decode_slowdown));
  }
  if (tier.block_bytes > 0 && !(tier.host_bytes_per_s > 0)) {
    return absl::InvalidArgumentError(
        "SchedulerConfig.tier: block_bytes > 0 needs host_bytes_per_s > 0 (a "
        "host link)");
  }
  return absl::OkStatus();
}

void Scheduler::ChargeHostHit(const Admission& admission, StepResult* result) {
  const int64_t blocks = admission.hit.num_host_blocks;
  if (blocks <= 0) return;
  const TierCostConfig& tier = config_.tier;
  const int64_t tokens =
      admission.hit.num_blocks == 0
          ? 0
          : admission.hit.num_tokens / admission.hit.num_blocks * blocks;
  result->host_hit_tokens += tokens;
  // One job per admission: the blocks go in one batched copy.
  const double load_s =
      tier.host_bytes_per_s > 0
          ? tier.host_latency_s + static_cast<double>(blocks) *
                                      tier.block_bytes / tier.host_bytes_per_s
          : 0;
  const double recompute_s =
      static_cast<double>(tokens) * tier.recompute_s_per_token;
  if (tier.recompute_s_per_token > 0 && recompute_s < load_s) {
    // The manager loaded them anyway; the engine would recompute over them.
    result->recomputed_host_tokens += tokens;
    pending_tier_s_ += recompute_s;
  } else {
    result->loaded_host_tokens += tokens;
    pending_tier_s_ += load_s;
    result->load_s += load_s;
  }
}

void Scheduler::ChargeTierTraffic(StepResult* result) {
  const TierCostConfig& tier = config_.tier;
  // Loads (and recomputes) of the step's admissions run before its compute.
  result->duration_s += pending_tier_s_;
  pending_tier_s_ = 0;
  const TierTraffic traffic = allocator_->TakeTierTraffic();
  result->stored_blocks = traffic.stored_blocks;
  if (traffic.stored_blocks == 0 || !(tier.host_bytes_per_s > 0)) return;
  result->store_link_s =
      static_cast<double>(traffic.store_jobs) * tier.host_latency_s +
      static_cast<double>(traffic.stored_blocks) * tier.block_bytes /
          tier.host_bytes_per_s;
  if (result->num_decodes == 0 || !(result->duration_s > 0)) return;
  const double busy = std::min(1.0, result->store_link_s / result->duration_s);
  result->store_overhead_s =
      result->duration_s * tier.store_decode_slowdown * busy;
  result->duration_s += result->store_overhead_s;
}

}  // namespace pagekv
