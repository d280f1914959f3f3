// CostHook: turns a step's footprint into time.
#ifndef PAGEKV_COST_HOOK_H_
#define PAGEKV_COST_HOOK_H_

#include "pagekv/footprint.h"

namespace pagekv {

// Which resource limits a step.
enum class Bound { kMemory, kCompute };

// The estimated cost of one step, with its breakdown.
struct StepCost {
  double seconds = 0;          // total: max(memory, compute) + overhead
  double memory_seconds = 0;   // bytes / effective bandwidth
  double compute_seconds = 0;  // flops / effective peak
  double overhead_seconds = 0;
  double bytes = 0;  // weights + KV read + KV written (+ interconnect)
  double kv_read_bytes = 0;
  double kv_write_bytes = 0;
  double weight_bytes = 0;
  double flops = 0;
  Bound bound = Bound::kMemory;
  // flops / bytes, to compare with the hardware's ridge point.
  double arithmetic_intensity = 0;
};

// Estimates the time of a step from what it touches. Implementations: the
// bandwidth (roofline) model, or an engine's own profiled table.
// Thread-safety: Estimate() is const and must be safe to call concurrently.
class CostHook {
 public:
  virtual ~CostHook() = default;
  // REQUIRES: every footprint's `groups` has one entry per group the hook
  // was configured for.
  virtual StepCost Estimate(const StepFootprint& footprint) const = 0;
};

}  // namespace pagekv

#endif  // PAGEKV_COST_HOOK_H_
