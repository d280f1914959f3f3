// Simulator: replays a Workload through the Scheduler on a simulated clock
// and reports what a serving engine would see: per-request latency (TTFT,
// TPOT, end to end), throughput, preemptions and rejections, prefix-cache
// hits (fresh and resumed-after-preemption apart), and KV memory over time
// split as in the PagedAttention paper (token states, reserved, internal
// and external fragmentation, cached, free).
//
// One run simulates one allocator (paged, or a contiguous baseline, see
// sim_allocator.h); run it once per allocator to compare them on the same
// workload and scheduler. Deterministic: the same workload and config give
// the same report, bit for bit.
//
// Thread-safety: Simulate() shares no state; concurrent calls are safe.
#ifndef PAGEKV_SIM_SIMULATOR_H_
#define PAGEKV_SIM_SIMULATOR_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"
#include "pagekv/cost_hook.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/kv_cache_stats.h"
#include "pagekv/sim/scheduler.h"
#include "pagekv/sim/sim_allocator.h"
#include "pagekv/sim/workload.h"

namespace pagekv {

// The longest per-request reservation the max allocators take from the
// model's max_context without an explicit max_model_len.
inline constexpr int64_t kMaxSilentReservation = 32768;

struct SimulatorConfig {
  // The model and device; both must be valid (e.g. FindModelPreset()).
  ModelSpec model;
  HardwareSpec hardware;
  int32_t tensor_parallel = 1;  // >= 1
  // KV memory per device in bytes; 0 = what the device has left after the
  // weights at 90% utilization (KvMemoryBudget()).
  double kv_memory_bytes = 0;  // >= 0
  // With kv_memory_bytes 0: the fraction of device memory the engine may
  // use (weights + KV), as vLLM's --gpu-memory-utilization. In (0, 1].
  double gpu_memory_utilization = 0.9;

  AllocatorKind allocator = AllocatorKind::kPaged;
  // Paged: tokens per block, prefix caching and its eviction policy.
  int32_t block_size = 16;  // >= 1
  bool enable_prefix_caching = true;
  std::string eviction_policy = "lru";
  // The serving engine's maximum context (vLLM's --max-model-len). When > 0:
  // at most the model's max_context (InvalidArgument beyond it), a request
  // whose final length exceeds it is rejected, and the max allocators
  // reserve it per request. 0 = no limit, and the max allocators reserve the
  // model's max_context (or the workload's longest request when the model
  // gives none); a model context over kMaxSilentReservation is then an
  // InvalidArgument asking for max_model_len rather than a run that
  // reserves, say, 128k tokens per request.
  int64_t max_model_len = 0;  // >= 0

  // Swap preemption's swap_bytes_per_token and host_link_bytes_per_s, when
  // 0, come from the model (KV bytes per token on one device) and
  // hardware.host_link_bandwidth.
  SchedulerConfig scheduler;
  // Closed loop: this many clients each send their next request (in
  // workload order) as soon as their previous one finishes or is rejected,
  // ignoring the workload's arrival times; a request's arrival_s in the
  // report is when it was sent. 0 = open loop (the workload's arrivals).
  int32_t concurrency = 0;  // >= 0
  // Steady-state window in simulated seconds, [start, end): when set
  // (start > 0 or end finite), the mean memory shares, mean batch and mean
  // running are time-weighted over the window only, and the TTFT, TPOT and
  // E2E summaries cover the requests that arrived in it. Counts, peaks,
  // throughput and the timeline still cover the whole run.
  double window_start_s = 0;                                      // >= 0
  double window_end_s = std::numeric_limits<double>::infinity();  // > start
  // Paged: a host tier under the GPU pool (docs/tiers.md), per device; off
  // by default. Size it with num_blocks or capacity_bytes; block_bytes is
  // filled in from the model (KV bytes of a block on one device). Needs a
  // model with one full-attention KV group.
  HostTierConfig host_tier;
  // Paged: record the manager's calls (pagekv/call_log.h); off by default.
  CallLogOptions call_log;

  // Timeline sampling interval in simulated seconds; 0 = the workload's
  // arrival span / 500 (at least 10 ms).
  double timeline_interval_s = 0;  // >= 0
  // Time cost of a step; null = a BandwidthModel of model and hardware.
  // Not owned; must outlive Simulate(). Must accept footprints with one
  // group per model layer group.
  const CostHook* cost_hook = nullptr;
  // Called now and then with the fraction of requests done (0..1), for a
  // progress bar. May be empty.
  std::function<void(double)> progress;
  // Paged allocator only: called after every step with the manager (whose
  // KV events are then enabled) and the simulated time in seconds, e.g. to
  // publish the step's events (pagekv simulate --kv-events). May be empty.
  std::function<void(KVCacheManager&, double)> on_step;

  // OK, or InvalidArgument naming the first bad field and its value.
  absl::Status Validate() const;
};

// A latency distribution, in seconds (nearest-rank percentiles).
struct LatencySummary {
  int64_t count = 0;
  double mean = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
};

// A memory breakdown as fractions of capacity (the first six add up to 1).
struct MemoryShares {
  double token_states = 0;
  double reserved = 0;
  double internal_fragmentation = 0;
  double external_fragmentation = 0;
  double cached = 0;
  double free = 0;
  // Of free + cached, the part held while at least one request waited in
  // the queue: allocatable memory the waiting requests could not use then
  // (no hole or buddy block large enough, or the admission rules held it
  // back). The PagedAttention paper's Fig. 2 counts it under "external
  // fragmentation & others"; memory free with nobody waiting is idle, not
  // waste. Time averages only (0 in a single breakdown such as
  // peak_memory).
  double free_while_waiting = 0;
};

// One timeline sample: the state during the step running at time_s.
struct TimelinePoint {
  double time_s = 0;
  MemoryBreakdown memory;  // slots
  int32_t batch_size = 0;  // sequences computed in the step
  int32_t num_decodes = 0;
  int64_t prefill_tokens = 0;
  int32_t num_running = 0;
  int32_t num_waiting = 0;
  int64_t preemptions = 0;  // cumulative
};

// One request's outcome. Times are simulated seconds since the start;
// first_token_s and finish_s are -1 for a rejected request.
struct RequestResult {
  uint64_t id = 0;
  double arrival_s = 0;
  double first_token_s = -1;
  double finish_s = -1;
  int64_t prompt_tokens = 0;
  int32_t output_tokens = 0;
  int32_t preemptions = 0;
  // Prompt tokens served from the prefix cache, summed over admissions
  // (a request resumed after preemption is admitted again).
  int64_t hit_tokens = 0;
  bool rejected = false;

  double ttft_s() const { return first_token_s - arrival_s; }
  double e2e_s() const { return finish_s - arrival_s; }
  // Mean time per output token after the first; 0 with one output token.
  double tpot_s() const {
    return output_tokens > 1 ? (finish_s - first_token_s) / (output_tokens - 1)
                             : 0;
  }
};

// The host tier's side of a run (all zero without one). Hit rates are over
// the fresh queries' prompt tokens, as SimulationReport::prefix_hit_rate.
struct TierReport {
  bool enabled = false;
  double gpu_hit_rate = 0;
  double host_hit_rate = 0;
  int64_t host_hit_tokens = 0;
  int64_t loaded_host_tokens = 0;      // of those, loaded
  int64_t recomputed_host_tokens = 0;  // recomputed: cheaper than the load
  int64_t stored_blocks = 0;
  double bytes_loaded = 0;
  double bytes_stored = 0;
  double load_s = 0;            // step time spent waiting for loads
  double store_link_s = 0;      // host-link time the stores took
  double store_overhead_s = 0;  // step time the stores' slowdown added
  HostTierStats host;
};

struct SimulationReport {
  AllocatorKind allocator = AllocatorKind::kPaged;
  std::string workload_name;

  // Requests.
  int64_t num_requests = 0;
  int64_t completed = 0;
  int64_t rejected = 0;
  std::vector<Rejection> rejections;
  int64_t preemptions = 0;         // preemption events
  int64_t preempted_requests = 0;  // requests preempted at least once
  int64_t steps = 0;               // steps that computed something
  int64_t prompt_tokens = 0;       // of completed requests
  int64_t output_tokens = 0;       // of completed requests
  // Tokens computed in prefill chunks (2+ tokens), recompute included,
  // prefix hits excluded.
  int64_t computed_prefill_tokens = 0;

  // Time and throughput (over the makespan: first arrival to last finish).
  double makespan_s = 0;
  double busy_s = 0;              // time spent in steps
  double request_throughput = 0;  // completed requests / s
  double output_throughput = 0;   // output tokens / s
  double total_throughput = 0;    // (prompt + output tokens) / s

  LatencySummary ttft;
  LatencySummary tpot;
  LatencySummary e2e;

  // Memory. capacity_slots * bytes_per_slot = KV memory simulated.
  int64_t capacity_slots = 0;
  double bytes_per_slot = 0;
  double kv_memory_bytes = 0;
  MemoryShares mean_memory;  // time-weighted over the makespan
  MemoryShares peak_memory;  // at the step with the most allocated slots
  double peak_token_states_share = 0;
  // Batch: sequences computed per step, time-weighted over busy time; and
  // running requests.
  double mean_batch_size = 0;
  int32_t max_batch_size = 0;
  double mean_running = 0;
  int32_t max_running = 0;
  // First time (s) a step preempted / admission was blocked by memory; -1 if
  // never.
  double first_preemption_s = -1;
  double first_admission_blocked_s = -1;

  // Prefix cache (paged with prefix caching): fresh requests, and resumed
  // ones apart.
  PrefixCacheStats prefix;
  double prefix_hit_rate = 0;          // fresh hit tokens / query tokens
  double resumed_prefix_hit_rate = 0;  // resumed hit tokens / query tokens

  TierReport tier;
  double timeline_interval_s = 0;
  std::vector<TimelinePoint> timeline;
  std::vector<RequestResult> requests;  // in workload order
};

// Returns the summary of a distribution of seconds (empty: all zero).
LatencySummary Summarize(std::vector<double> values);

// Returns the breakdown as shares of its capacity.
MemoryShares SharesOf(const MemoryBreakdown& memory);

// The scheduler config Simulate() runs: config.scheduler with the swap
// figures filled in from the model and hardware where they are 0.
SchedulerConfig EffectiveSchedulerConfig(const SimulatorConfig& config);

// The KV memory per device for `config` (kv_memory_bytes or the derived
// budget), or the error of KvMemoryBudget().
absl::StatusOr<double> SimulatedKvMemoryBytes(const SimulatorConfig& config);

// The allocator and cost hook Simulate() runs for `config`, for a caller
// that drives its own Scheduler (the cluster simulator, pagekv/cluster/):
// the same sizing, groups and cost model, so both agree by construction.
struct SimulatorParts {
  std::unique_ptr<SimAllocator> allocator;
  std::unique_ptr<CostHook> own_cost;   // null when config.cost_hook is set
  const CostHook* cost_hook = nullptr;  // own_cost or config.cost_hook
  double kv_memory_bytes = 0;           // SimulatedKvMemoryBytes(config)
};

// Builds the parts for `config` (validated first) and `workload` (which
// sizes the max allocators when nothing else does). Errors as Simulate().
absl::StatusOr<SimulatorParts> MakeSimulatorParts(
    const Workload& workload, const SimulatorConfig& config);

// Replays `workload` (validated first) under `config`. InvalidArgument for a
// bad config or workload; FailedPrecondition if the weights leave no KV
// memory. Capacity problems are results, not errors: requests that can never
// fit are rejected and listed.
absl::StatusOr<SimulationReport> Simulate(const Workload& workload,
                                          const SimulatorConfig& config);

}  // namespace pagekv

#endif  // PAGEKV_SIM_SIMULATOR_H_
