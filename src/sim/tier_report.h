// The simulator's host-tier pieces: the tier and its costs derived from a
// SimulatorConfig, and the report's tier section. Private to the sim layer.
#ifndef PAGEKV_SIM_TIER_REPORT_H_
#define PAGEKV_SIM_TIER_REPORT_H_

#include "pagekv/host_tier.h"
#include "pagekv/kv_cache_stats.h"
#include "pagekv/sim/scheduler.h"
#include "pagekv/sim/sim_allocator.h"
#include "pagekv/sim/simulator.h"

namespace pagekv::internal {

// config.host_tier with block_bytes = the KV bytes of one block on one
// device (bytes_per_token x block_size); off when the config has no tier.
HostTierConfig SimHostTier(const SimulatorConfig& config,
                           double bytes_per_token);
// Fills the zero fields of *tier from the hardware's host link
// (transfer_cost.h) and the model (block bytes, prefill time per token)
// when the config has a host tier; leaves it alone otherwise.
void FillTierCost(const SimulatorConfig& config, TierCostConfig* tier);
// Adds one step's tier figures.
void AddTierStep(const StepResult& step, TierReport* report);
// Fills the rates and the tier's counters at the end of the run.
void FinishTierReport(const SimulatorConfig& config,
                      const SimAllocator& allocator,
                      const PrefixCacheStats& prefix, TierReport* report);

}  // namespace pagekv::internal

#endif  // PAGEKV_SIM_TIER_REPORT_H_
