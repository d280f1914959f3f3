// Cluster simulation: N serving instances, each its own KVCacheManager,
// Scheduler and cost model (the single-instance simulator's parts, see
// MakeSimulatorParts), on one global simulated clock, with a router
// (router.h) assigning each arriving request to an instance.
//
// The event loop takes the earliest of: the next arrival (routed at its
// arrival time, then queued at its instance), and the earliest instance
// ready to step (its clock, while it has work). Ties go to the arrival, then
// to the lowest instance, so an instance submits every request that has
// arrived by the time its step starts, exactly as Simulate() does: one
// instance with any router reproduces Simulate()'s per-request results.
//
// Prefix router: after every step an instance's KV events are converted to
// the wire form and applied to a ClusterIndex (net/cluster_index.h, the
// service's own index, in process) `event_delay_s` later, so a router that
// acts on a burst sees the cache as it was.
//
// Global cache (Mooncake-style): a request routed to instance r whose
// prompt is cached deeper on another instance gets those blocks copied into
// r's cache before it is queued, and reaches r's queue after the copy, at
// the transfer bandwidth. The copy is marked as a resumed sequence in r's
// manager, so it never counts as a fresh prefix query.
//
// Thread-safety: SimulateCluster() shares no state; concurrent calls are
// safe.
#ifndef PAGEKV_CLUSTER_CLUSTER_SIMULATOR_H_
#define PAGEKV_CLUSTER_CLUSTER_SIMULATOR_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/cluster/router.h"
#include "pagekv/sim/simulator.h"
#include "pagekv/sim/workload.h"

namespace pagekv::cluster {

struct ClusterConfig {
  // One per instance (1..64); each must Validate() and use the paged
  // allocator, all with the same block_size. Their progress and on_step
  // are ignored.
  std::vector<SimulatorConfig> instances;
  RouterConfig router;
  // KV events reach the prefix router's index this many simulated seconds
  // after the step that produced them. >= 0.
  double event_delay_s = 0;
  bool global_cache = false;
  // Global cache: bytes/s of a cross-instance copy; 0 = the receiving
  // instance's hardware interconnect_bandwidth (then it must be > 0).
  double transfer_bytes_per_s = 0;  // >= 0
  // Timeline sampling interval; 0 = the arrival span / 200 (>= 10 ms).
  double timeline_interval_s = 0;  // >= 0
  // Called now and then with the fraction of requests done. May be empty.
  std::function<void(double)> progress;

  // OK, or InvalidArgument naming the first bad field and value.
  absl::Status Validate() const;
};

// One instance's share of the run.
struct InstanceSummary {
  int64_t routed = 0;  // requests routed here
  int64_t completed = 0;
  int64_t rejected = 0;
  int64_t preemptions = 0;
  int64_t steps = 0;
  double busy_s = 0;          // time in steps
  int64_t prompt_tokens = 0;  // of completed requests
  int64_t output_tokens = 0;  // of completed requests
  PrefixCacheStats prefix;    // fresh admissions (imports excluded)
  double prefix_hit_rate = 0;
  double mean_kv_usage = 0;  // time-weighted allocated / capacity
  double peak_kv_usage = 0;
  int64_t capacity_slots = 0;
  LatencySummary ttft;
  LatencySummary tpot;
};

// The cluster every timeline_interval_s: per instance, in instance order.
struct ClusterTimelinePoint {
  double time_s = 0;
  std::vector<double> kv_usage;  // allocated / capacity
  std::vector<int32_t> running;
  std::vector<int32_t> queued;
  std::vector<double> hit_rate;  // cumulative fresh token hit rate
};

struct ClusterReport {
  std::string router;
  std::string scorer;  // prefix router only
  std::string workload_name;
  int32_t num_instances = 0;
  bool global_cache = false;
  double event_delay_s = 0;

  int64_t num_requests = 0;
  int64_t completed = 0;
  int64_t rejected = 0;
  int64_t preemptions = 0;
  int64_t prompt_tokens = 0;  // of completed requests
  int64_t output_tokens = 0;  // of completed requests
  double makespan_s = 0;      // first arrival to last finish
  double request_throughput = 0;
  double output_throughput = 0;
  double total_throughput = 0;
  LatencySummary ttft;
  LatencySummary tpot;
  LatencySummary e2e;

  // Fresh admissions over all instances: hit tokens / query tokens. With
  // the global cache this includes the blocks copied in.
  PrefixCacheStats prefix;
  double prefix_hit_rate = 0;
  // Global cache: blocks copied between instances, their prompt tokens as
  // a share of all fresh query tokens, and the copy time summed.
  int64_t transferred_blocks = 0;
  double remote_hit_share = 0;
  double transfer_s = 0;

  // Requests routed per instance: max / mean (1 = perfectly even).
  double imbalance = 0;
  // Session affinity and bounded load (RoutingPolicy counters).
  int64_t affinity_hits = 0;
  int64_t affinity_breaks = 0;
  int64_t guarded_decisions = 0;
  // Prefix router: KV-event batches applied to the index, and the blocks
  // the index could not key (never wrong, only missed).
  int64_t event_batches = 0;
  int64_t unresolved_blocks = 0;

  std::vector<InstanceSummary> instances;
  std::vector<int32_t> routed_to;       // per request, in workload order
  std::vector<RequestResult> requests;  // in workload order
  double timeline_interval_s = 0;
  std::vector<ClusterTimelinePoint> timeline;
};

// Replays `workload` over the cluster. InvalidArgument for a bad config or
// workload, FailedPrecondition if an instance's weights leave no KV memory
// (as Simulate()), Internal if an instance makes no progress.
absl::StatusOr<ClusterReport> SimulateCluster(const Workload& workload,
                                              const ClusterConfig& config);

}  // namespace pagekv::cluster

#endif  // PAGEKV_CLUSTER_CLUSTER_SIMULATOR_H_
