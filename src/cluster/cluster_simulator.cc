#include "pagekv/cluster/cluster_simulator.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cluster/event_feed.h"
#include "cluster/instance.h"
#include "core/check.h"
#include "fmt/format.h"
#include "pagekv/block_hash.h"

namespace pagekv::cluster {
namespace {

using internal::EventFeed;
using internal::Instance;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr size_t kMaxTimelinePoints = 5000;

// The bandwidth of a copy into instance `config`.
double TransferBandwidth(const ClusterConfig& c, const SimulatorConfig& inst) {
  return c.transfer_bytes_per_s > 0 ? c.transfer_bytes_per_s
                                    : inst.hardware.interconnect_bandwidth;
}

// One run of SimulateCluster(): the instances, the router, the event feed
// and the report being filled.
class ClusterRun {
 public:
  ClusterRun(const Workload& workload, const ClusterConfig& config)
      : workload_(workload),
        config_(config),
        hasher_(config.instances.front().block_size, /*seed=*/0),
        needs_keys_(config.router.name == "prefix" ||
                    config.router.name == "approx-prefix" ||
                    config.router.affinity_blocks > 0) {}

  absl::Status Init();
  // The event loop (see the top of cluster_simulator.h).
  absl::Status Run();
  ClusterReport Finish();

 private:
  // Routes request k at its arrival time and queues it at its instance.
  absl::Status Route(size_t k);
  // Global cache: copies the prompt's deepest cached prefix elsewhere into
  // instance `to`; returns the copy's duration.
  absl::StatusOr<double> FetchRemote(int32_t to, const Request& r);
  // Index of the instance that acts first, and its time (ties: lowest).
  std::pair<int32_t, double> EarliestInstance() const;
  // Adds timeline points up to `t`.
  void Sample(double t);
  void SummarizeRequests(ClusterReport* report) const;

  const Workload& workload_;
  const ClusterConfig& config_;
  BlockHasher hasher_;  // the index's keys (block size, seed 0)
  // The router reads the prompt's block keys (prefix routers, affinity).
  const bool needs_keys_;
  std::vector<std::unique_ptr<Instance>> instances_;
  std::unique_ptr<EventFeed> feed_;  // prefix router only
  std::unique_ptr<RoutingPolicy> policy_;
  std::vector<RequestResult> results_;
  std::vector<int32_t> routed_to_;
  double next_sample_s_ = 0;
  double interval_s_ = 0;
  std::vector<ClusterTimelinePoint> timeline_;
  int64_t transferred_blocks_ = 0;
  int64_t transferred_tokens_ = 0;
  double transfer_s_ = 0;
  // Scratch of Route().
  std::vector<TokenId> prompt_;
  std::vector<uint64_t> keys_;
  std::vector<int32_t> cached_;
  std::vector<InstanceLoad> loads_;
};

absl::Status ClusterRun::Init() {
  const std::vector<Request>& requests = workload_.requests;
  const double start = requests.front().arrival_s;
  results_.resize(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    RequestResult& r = results_[i];
    r.id = requests[i].id;
    r.arrival_s = requests[i].arrival_s;
    r.prompt_tokens = requests[i].PromptTokens();
    r.output_tokens = requests[i].output_tokens;
  }
  routed_to_.assign(requests.size(), -1);
  const bool use_index = RouterUsesClusterIndex(config_.router.name);
  std::vector<int64_t> capacity;
  for (const SimulatorConfig& c : config_.instances) {
    absl::StatusOr<std::unique_ptr<Instance>> inst =
        Instance::Create(workload_, c, use_index, start, &results_);
    if (!inst.ok()) return inst.status();
    capacity.push_back((*inst)->Load().capacity_blocks /
                       std::max(1, c.model.num_layer_groups()));
    instances_.push_back(*std::move(inst));
  }
  const auto n = static_cast<int32_t>(instances_.size());
  if (use_index) {
    absl::StatusOr<std::unique_ptr<EventFeed>> feed =
        EventFeed::Create(n, config_.instances.front().block_size,
                          /*hash_seed=*/0, config_.event_delay_s);
    if (!feed.ok()) return feed.status();
    feed_ = *std::move(feed);
  }
  absl::StatusOr<std::unique_ptr<RoutingPolicy>> policy =
      RoutingPolicy::Create(config_.router, n, capacity);
  if (!policy.ok()) return policy.status();
  policy_ = *std::move(policy);
  interval_s_ = config_.timeline_interval_s;
  if (interval_s_ == 0) {
    interval_s_ = std::max(0.01, (requests.back().arrival_s - start) / 200);
  }
  next_sample_s_ = start;
  return absl::OkStatus();
}

absl::StatusOr<double> ClusterRun::FetchRemote(int32_t to, const Request& r) {
  BlockHashExtras extras;
  extras.cache_salt = r.cache_salt;
  int64_t best = 0;
  for (size_t j = 0; j < instances_.size(); ++j) {
    if (static_cast<int32_t>(j) == to) continue;
    best = std::max(best, instances_[j]->CachedBlocks(prompt_, extras));
  }
  Instance& dst = *instances_[static_cast<size_t>(to)];
  absl::StatusOr<int64_t> copied = dst.Import(prompt_, best, extras);
  if (!copied.ok()) return copied.status();
  if (*copied == 0) return 0.0;
  const int64_t tokens = *copied * dst.config().block_size;
  transferred_blocks_ += *copied;
  transferred_tokens_ += tokens;
  const double seconds = static_cast<double>(tokens) *
                         dst.kv_bytes_per_token() /
                         TransferBandwidth(config_, dst.config());
  transfer_s_ += seconds;
  return seconds;
}

absl::Status ClusterRun::Route(size_t k) {
  const Request& r = workload_.requests[k];
  if (feed_ != nullptr) {
    if (absl::Status s = feed_->DeliverUntil(r.arrival_s); !s.ok()) return s;
  }
  // Load-only routers need neither the prompt nor its keys.
  prompt_.clear();
  keys_.clear();
  if (needs_keys_ || config_.global_cache) r.MaterializePrompt(&prompt_);
  if (needs_keys_) {
    BlockHashExtras extras;
    extras.cache_salt = r.cache_salt;
    hasher_.ExtendKeys(prompt_, extras, &keys_);
  }
  loads_.clear();
  for (const auto& inst : instances_) loads_.push_back(inst->Load());
  if (feed_ != nullptr) feed_->Score(keys_, &cached_);
  RouteQuery q;
  q.request_id = r.id;
  q.block_keys = keys_;
  if (feed_ != nullptr) q.cached_blocks = cached_;
  q.now_s = r.arrival_s;
  const int32_t pick = policy_->Route(q, loads_);
  routed_to_[k] = pick;
  double ready = r.arrival_s;
  if (config_.global_cache && instances_.size() > 1) {
    absl::StatusOr<double> copy = FetchRemote(pick, r);
    if (!copy.ok()) return copy.status();
    ready += *copy;
    if (feed_ != nullptr) {
      feed_->Push(pick, r.arrival_s,
                  instances_[static_cast<size_t>(pick)]->DrainEvents());
    }
  }
  instances_[static_cast<size_t>(pick)]->Enqueue(r, ready);
  return absl::OkStatus();
}

std::pair<int32_t, double> ClusterRun::EarliestInstance() const {
  int32_t best = -1;
  double t = kInf;
  for (size_t i = 0; i < instances_.size(); ++i) {
    const double ti = instances_[i]->NextTime();
    if (ti < t) {
      t = ti;
      best = static_cast<int32_t>(i);
    }
  }
  return {best, t};
}

void ClusterRun::Sample(double t) {
  while (next_sample_s_ <= t && timeline_.size() < kMaxTimelinePoints) {
    ClusterTimelinePoint p;
    p.time_s = next_sample_s_;
    for (const auto& inst : instances_) {
      const InstanceLoad load = inst->Load();
      p.kv_usage.push_back(load.kv_usage);
      p.running.push_back(load.running);
      p.queued.push_back(load.queued);
      p.hit_rate.push_back(inst->hit_rate());
    }
    timeline_.push_back(std::move(p));
    next_sample_s_ += interval_s_;
  }
}

absl::Status ClusterRun::Run() {
  const std::vector<Request>& requests = workload_.requests;
  const size_t n = requests.size();
  size_t next = 0;
  int64_t iterations = 0;
  while (true) {
    const double t_arrival = next < n ? requests[next].arrival_s : kInf;
    const auto [i, t] = EarliestInstance();
    if (next < n && t_arrival <= t) {
      Sample(t_arrival);
      if (absl::Status s = Route(next++); !s.ok()) return s;
      continue;
    }
    if (i < 0) break;
    Sample(t);
    Instance& inst = *instances_[static_cast<size_t>(i)];
    if (absl::Status s = inst.RunOnce(t_arrival); !s.ok()) return s;
    if (feed_ != nullptr) feed_->Push(i, inst.now_s(), inst.DrainEvents());
    if (config_.progress && (++iterations & 1023) == 0) {
      int64_t done = 0;
      for (const auto& x : instances_) done += x->done();
      config_.progress(static_cast<double>(done) / static_cast<double>(n));
    }
  }
  int64_t done = 0;
  for (const auto& x : instances_) done += x->done();
  if (done != static_cast<int64_t>(n)) {
    return absl::InternalError(
        fmt::format("cluster run ended with {} of {} requests done", done, n));
  }
  if (config_.progress) config_.progress(1.0);
  return absl::OkStatus();
}

void ClusterRun::SummarizeRequests(ClusterReport* report) const {
  std::vector<double> ttft, tpot, e2e;
  double last_finish = workload_.requests.front().arrival_s;
  for (const RequestResult& r : results_) {
    if (r.rejected) {
      ++report->rejected;
      continue;
    }
    PAGEKV_CHECK(r.finish_s >= 0, "request {} never finished", r.id);
    ++report->completed;
    report->prompt_tokens += r.prompt_tokens;
    report->output_tokens += r.output_tokens;
    last_finish = std::max(last_finish, r.finish_s);
    ttft.push_back(r.ttft_s());
    if (r.output_tokens > 1) tpot.push_back(r.tpot_s());
    e2e.push_back(r.e2e_s());
  }
  report->ttft = pagekv::Summarize(std::move(ttft));
  report->tpot = pagekv::Summarize(std::move(tpot));
  report->e2e = pagekv::Summarize(std::move(e2e));
  report->makespan_s = last_finish - workload_.requests.front().arrival_s;
  if (report->makespan_s > 0) {
    const double m = report->makespan_s;
    report->request_throughput = static_cast<double>(report->completed) / m;
    report->output_throughput = static_cast<double>(report->output_tokens) / m;
    report->total_throughput =
        static_cast<double>(report->prompt_tokens + report->output_tokens) / m;
  }
}

ClusterReport ClusterRun::Finish() {
  ClusterReport report;
  report.router = config_.router.name;
  if (RouterUsesClusterIndex(config_.router.name)) {
    report.scorer = config_.router.scorer;
  }
  report.workload_name = workload_.name;
  report.num_instances = static_cast<int32_t>(instances_.size());
  report.global_cache = config_.global_cache;
  report.event_delay_s = config_.event_delay_s;
  report.num_requests = static_cast<int64_t>(results_.size());
  SummarizeRequests(&report);
  const double end = workload_.requests.front().arrival_s + report.makespan_s;
  int64_t max_routed = 0;
  for (const auto& inst : instances_) {
    InstanceSummary s = inst->Summarize(end);
    report.preemptions += s.preemptions;
    report.prefix.queries += s.prefix.queries;
    report.prefix.query_tokens += s.prefix.query_tokens;
    report.prefix.hit_tokens += s.prefix.hit_tokens;
    report.prefix.query_blocks += s.prefix.query_blocks;
    report.prefix.hit_blocks += s.prefix.hit_blocks;
    report.prefix.resumed_queries += s.prefix.resumed_queries;
    report.prefix.resumed_query_tokens += s.prefix.resumed_query_tokens;
    report.prefix.resumed_hit_tokens += s.prefix.resumed_hit_tokens;
    max_routed = std::max(max_routed, s.routed);
    report.instances.push_back(std::move(s));
  }
  report.prefix_hit_rate = report.prefix.TokenHitRate();
  report.transferred_blocks = transferred_blocks_;
  report.transfer_s = transfer_s_;
  if (report.prefix.query_tokens > 0) {
    report.remote_hit_share = static_cast<double>(transferred_tokens_) /
                              static_cast<double>(report.prefix.query_tokens);
  }
  const double mean = static_cast<double>(report.num_requests) /
                      static_cast<double>(instances_.size());
  report.imbalance = mean > 0 ? static_cast<double>(max_routed) / mean : 0;
  report.affinity_hits = policy_->affinity_hits();
  report.affinity_breaks = policy_->affinity_breaks();
  report.guarded_decisions = policy_->guarded_decisions();
  if (feed_ != nullptr) {
    report.event_batches =
        static_cast<int64_t>(feed_->index().stats().batches_applied);
    report.unresolved_blocks =
        static_cast<int64_t>(feed_->index().stats().unresolved_blocks);
  }
  report.routed_to = std::move(routed_to_);
  report.requests = std::move(results_);
  report.timeline_interval_s = interval_s_;
  report.timeline = std::move(timeline_);
  return report;
}

}  // namespace

absl::Status ClusterConfig::Validate() const {
  if (instances.empty() || instances.size() > 64) {
    return absl::InvalidArgumentError(
        fmt::format("ClusterConfig.instances: need 1..64 instances, got {}",
                    instances.size()));
  }
  for (size_t i = 0; i < instances.size(); ++i) {
    const SimulatorConfig& c = instances[i];
    if (absl::Status s = c.Validate(); !s.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("instance {}: {}", i, std::string(s.message())));
    }
    if (c.allocator != AllocatorKind::kPaged) {
      return absl::InvalidArgumentError(fmt::format(
          "instance {}: the cluster simulates the paged allocator only, got "
          "{}",
          i, AllocatorKindName(c.allocator)));
    }
    if (c.block_size != instances.front().block_size) {
      return absl::InvalidArgumentError(
          fmt::format("instance {}: block_size {} differs from instance 0's {}",
                      i, c.block_size, instances.front().block_size));
    }
    if (c.concurrency != 0) {
      return absl::InvalidArgumentError(fmt::format(
          "instance {}: closed-loop concurrency is not simulated in a "
          "cluster (got {})",
          i, c.concurrency));
    }
    if (global_cache && !(TransferBandwidth(*this, c) > 0)) {
      return absl::InvalidArgumentError(fmt::format(
          "instance {}: the global cache needs a transfer bandwidth (the "
          "hardware '{}' has no interconnect_bandwidth; set "
          "transfer_bytes_per_s)",
          i, c.hardware.name));
    }
  }
  if (absl::Status s = router.Validate(); !s.ok()) return s;
  if (!(event_delay_s >= 0) || !std::isfinite(event_delay_s)) {
    return absl::InvalidArgumentError(fmt::format(
        "ClusterConfig.event_delay_s must be a finite number >= 0, got {}",
        event_delay_s));
  }
  if (!(transfer_bytes_per_s >= 0) || !std::isfinite(transfer_bytes_per_s)) {
    return absl::InvalidArgumentError(fmt::format(
        "ClusterConfig.transfer_bytes_per_s must be a finite number >= 0, "
        "got {}",
        transfer_bytes_per_s));
  }
  if (!(timeline_interval_s >= 0) || !std::isfinite(timeline_interval_s)) {
    return absl::InvalidArgumentError(fmt::format(
        "ClusterConfig.timeline_interval_s must be a finite number >= 0, "
        "got {}",
        timeline_interval_s));
  }
  return absl::OkStatus();
}

absl::StatusOr<ClusterReport> SimulateCluster(const Workload& workload,
                                              const ClusterConfig& config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  if (absl::Status s = workload.Validate(); !s.ok()) return s;
  if (workload.requests.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("workload '{}' has no request", workload.name));
  }
  ClusterRun run(workload, config);
  if (absl::Status s = run.Init(); !s.ok()) return s;
  if (absl::Status s = run.Run(); !s.ok()) return s;
  return run.Finish();
}

}  // namespace pagekv::cluster
