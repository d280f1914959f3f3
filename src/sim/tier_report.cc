#include "sim/tier_report.h"

#include "pagekv/cost/capacity.h"
#include "pagekv/cost/transfer_cost.h"

namespace pagekv::internal {

HostTierConfig SimHostTier(const SimulatorConfig& config,
                           double bytes_per_token) {
  HostTierConfig tier = config.host_tier;
  if (!tier.enabled()) return tier;
  if (tier.block_bytes == 0) {
    tier.block_bytes = static_cast<uint64_t>(
        bytes_per_token * static_cast<double>(config.block_size));
  }
  return tier;
}

void FillTierCost(const SimulatorConfig& config, TierCostConfig* tier) {
  if (!config.host_tier.enabled()) return;
  const LinkCost link = HostLinkCost(config.hardware);
  if (tier->host_bytes_per_s == 0)
    tier->host_bytes_per_s = link.bytes_per_second;
  if (tier->host_latency_s == 0) tier->host_latency_s = link.latency_seconds;
  if (tier->store_decode_slowdown == 0) {
    tier->store_decode_slowdown = config.hardware.store_decode_slowdown;
  }
  if (tier->block_bytes == 0) {
    absl::StatusOr<double> bytes =
        KvBytesPerToken(config.model, config.tensor_parallel);
    if (bytes.ok()) tier->block_bytes = *bytes * config.block_size;
  }
  if (tier->recompute_s_per_token == 0) {
    // Prefill is compute-bound: 2 FLOPs per active parameter per token at
    // the compute the device reaches (attention FLOPs left out: this
    // favours recompute slightly, so a load is never chosen by flattery).
    const double flops = config.hardware.PeakFlops(config.model.weight_dtype) *
                         config.hardware.compute_efficiency *
                         config.tensor_parallel;
    if (flops > 0) {
      tier->recompute_s_per_token =
          2.0 * config.model.EffectiveActiveParams() / flops;
    }
  }
}

void AddTierStep(const StepResult& step, TierReport* report) {
  report->host_hit_tokens += step.host_hit_tokens;
  report->loaded_host_tokens += step.loaded_host_tokens;
  report->recomputed_host_tokens += step.recomputed_host_tokens;
  report->stored_blocks += step.stored_blocks;
  report->load_s += step.load_s;
  report->store_link_s += step.store_link_s;
  report->store_overhead_s += step.store_overhead_s;
}

void FinishTierReport(const SimulatorConfig& config,
                      const SimAllocator& allocator,
                      const PrefixCacheStats& prefix, TierReport* report) {
  report->enabled = config.host_tier.enabled();
  if (!report->enabled) return;
  report->host = allocator.HostStats();
  report->gpu_hit_rate = prefix.TokenHitRate();
  report->host_hit_rate = prefix.query_tokens == 0
                              ? 0
                              : static_cast<double>(report->host.hit_tokens) /
                                    static_cast<double>(prefix.query_tokens);
  report->bytes_loaded = static_cast<double>(report->host.bytes_loaded);
  report->bytes_stored = static_cast<double>(report->host.bytes_stored);
}

}  // namespace pagekv::internal
