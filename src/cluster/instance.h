// One instance of the cluster simulator: a Scheduler over the allocator and
// cost hook Simulate() would build (MakeSimulatorParts), driven one step at
// a time by the cluster's event loop instead of its own replay loop.
//
// It mirrors Simulate()'s replay (src/sim/simulator.cc, class Replay) step
// for step: requests are submitted when the instance's clock reaches their
// (queue) time, an idle instance jumps to its next request, two empty steps
// in a row jump to the next arrival or fail. Per-request outcomes go to the
// cluster's result rows, indexed by request id.
//
// Thread-safety: not thread-safe.
#ifndef PAGEKV_SRC_CLUSTER_INSTANCE_H_
#define PAGEKV_SRC_CLUSTER_INSTANCE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pagekv/cluster/cluster_simulator.h"
#include "pagekv/cluster/router.h"
#include "pagekv/kv_events.h"
#include "pagekv/sim/scheduler.h"
#include "pagekv/sim/simulator.h"

namespace pagekv::cluster::internal {

class Instance {
 public:
  // An instance for `config` (paged), its clock at `start_s`. KV events are
  // enabled when `events`. `results` (one row per request, ids = indexes)
  // must outlive the instance.
  static absl::StatusOr<std::unique_ptr<Instance>> Create(
      const Workload& workload, SimulatorConfig config, bool events,
      double start_s, std::vector<RequestResult>* results);

  // Queues `request` (which must outlive the instance) to reach the
  // scheduler at `ready_s`.
  void Enqueue(const Request& request, double ready_s);

  // The earliest simulated time the instance acts: its clock while it has
  // work or a queued request is ready, else the earliest queued request,
  // else infinity.
  double NextTime() const;

  // Submits what has reached it and runs one step (an idle instance first
  // moves its clock to its next queued request). `next_arrival_s` is the
  // cluster's next arrival (infinity if none), for the no-progress rule.
  absl::Status RunOnce(double next_arrival_s);

  // The load a router sees now.
  InstanceLoad Load() const;
  // KV events since the last call (empty unless enabled).
  std::vector<KVEvent> DrainEvents();
  // Makes the first `blocks` full blocks of `prompt` cached here (a copy
  // from another instance). Returns the blocks added: 0 when they were
  // held already or do not fit now (nothing changes then).
  absl::StatusOr<int64_t> Import(absl::Span<const TokenId> prompt,
                                 int64_t blocks, const BlockHashExtras& extras);
  // Leading full blocks of `prompt` cached here (the hit a request with
  // this prompt would get: at most prompt.size() - 1 tokens).
  int64_t CachedBlocks(absl::Span<const TokenId> prompt,
                       const BlockHashExtras& extras) const;

  double now_s() const { return scheduler_->now_s(); }
  int64_t done() const { return done_; }
  const SimulatorConfig& config() const { return config_; }
  double kv_bytes_per_token() const { return kv_bytes_per_token_; }
  // Cumulative fresh hit rate and KV usage, for the timeline.
  double hit_rate() const;
  double kv_usage() const;

  // This instance's summary after the run (latencies from `results`).
  InstanceSummary Summarize(double makespan_end_s) const;

 private:
  Instance(SimulatorConfig config, SimulatorParts parts,
           std::unique_ptr<Scheduler> scheduler, double start_s,
           std::vector<RequestResult>* results);
  void SubmitReady();
  void Account(double from, double to, const MemoryBreakdown& memory);
  void Record(const StepResult& step);
  absl::Status OnIdleStep(double next_arrival_s);

  SimulatorConfig config_;
  SimulatorParts parts_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<RequestResult>& results_;
  const double start_s_;
  double kv_bytes_per_token_ = 0;
  // Requests routed here, by the time they reach the scheduler (stable
  // for equal times: routing order).
  std::multimap<double, const Request*> pending_;
  std::vector<uint64_t> routed_;  // request ids, in routing order
  int64_t done_ = 0;              // finished or rejected
  int64_t steps_ = 0;
  double busy_s_ = 0;
  int64_t idle_steps_ = 0;
  double usage_integral_ = 0;  // allocated / capacity, times seconds
  double peak_usage_ = 0;
};

}  // namespace pagekv::cluster::internal

#endif  // PAGEKV_SRC_CLUSTER_INSTANCE_H_
