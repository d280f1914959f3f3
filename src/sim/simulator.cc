#include "pagekv/sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/check.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "pagekv/clock.h"
#include "pagekv/cost/bandwidth_model.h"
#include "pagekv/cost/capacity.h"
#include "pagekv/eviction_policy.h"
#include "pagekv/kv_cache_config.h"

namespace pagekv {
namespace {

// Time-weighted sums of a memory breakdown, in slot-seconds.
struct MemoryIntegral {
  double token_states = 0;
  double reserved = 0;
  double internal_fragmentation = 0;
  double external_fragmentation = 0;
  double cached = 0;
  double free = 0;

  void Add(const MemoryBreakdown& m, double dt) {
    token_states += static_cast<double>(m.token_states) * dt;
    reserved += static_cast<double>(m.reserved) * dt;
    internal_fragmentation +=
        static_cast<double>(m.internal_fragmentation) * dt;
    external_fragmentation +=
        static_cast<double>(m.external_fragmentation) * dt;
    cached += static_cast<double>(m.cached) * dt;
    free += static_cast<double>(m.free) * dt;
  }
  MemoryShares Shares(double capacity_slot_seconds) const {
    MemoryShares s;
    if (capacity_slot_seconds <= 0) return s;
    s.token_states = token_states / capacity_slot_seconds;
    s.reserved = reserved / capacity_slot_seconds;
    s.internal_fragmentation = internal_fragmentation / capacity_slot_seconds;
    s.external_fragmentation = external_fragmentation / capacity_slot_seconds;
    s.cached = cached / capacity_slot_seconds;
    s.free = free / capacity_slot_seconds;
    return s;
  }
};

std::vector<KVCacheGroupSpec> GroupsOf(const ModelSpec& model) {
  std::vector<KVCacheGroupSpec> groups;
  for (const LayerGroupSpec& g : model.EffectiveLayerGroups()) {
    groups.push_back(g.sliding_window > 0
                         ? KVCacheGroupSpec::SlidingWindow(g.sliding_window)
                         : KVCacheGroupSpec::FullAttention());
  }
  return groups;
}

}  // namespace

absl::Status SimulatorConfig::Validate() const {
  if (absl::Status s = model.Validate(); !s.ok()) return s;
  if (absl::Status s = hardware.Validate(); !s.ok()) return s;
  if (tensor_parallel < 1) {
    return absl::InvalidArgumentError(
        fmt::format("SimulatorConfig.tensor_parallel must be >= 1, got {}",
                    tensor_parallel));
  }
  if (!(kv_memory_bytes >= 0) || !std::isfinite(kv_memory_bytes)) {
    return absl::InvalidArgumentError(fmt::format(
        "SimulatorConfig.kv_memory_bytes must be a finite number >= 0, got {}",
        kv_memory_bytes));
  }
  if (block_size < 1) {
    return absl::InvalidArgumentError(fmt::format(
        "SimulatorConfig.block_size must be >= 1, got {}", block_size));
  }
  if (allocator == AllocatorKind::kPaged) {
    const std::vector<std::string> names = EvictionPolicyNames();
    if (std::find(names.begin(), names.end(), eviction_policy) == names.end()) {
      return absl::InvalidArgumentError(fmt::format(
          "SimulatorConfig.eviction_policy: unknown policy '{}'; known: {}",
          eviction_policy, fmt::join(names, ", ")));
    }
  }
  if (max_model_len < 0) {
    return absl::InvalidArgumentError(fmt::format(
        "SimulatorConfig.max_model_len must be >= 0, got {}", max_model_len));
  }
  if (!(timeline_interval_s >= 0) || !std::isfinite(timeline_interval_s)) {
    return absl::InvalidArgumentError(fmt::format(
        "SimulatorConfig.timeline_interval_s must be a finite number >= 0, "
        "got {}",
        timeline_interval_s));
  }
  return scheduler.Validate();
}

LatencySummary Summarize(std::vector<double> values) {
  LatencySummary s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  const auto n = static_cast<int64_t>(values.size());
  s.count = n;
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(n);
  auto rank = [&](double p) {
    auto k = static_cast<int64_t>(std::ceil(p * static_cast<double>(n)));
    return values[static_cast<size_t>(std::clamp<int64_t>(k, 1, n) - 1)];
  };
  s.p50 = rank(0.50);
  s.p90 = rank(0.90);
  s.p99 = rank(0.99);
  s.max = values.back();
  return s;
}

MemoryShares SharesOf(const MemoryBreakdown& m) {
  MemoryIntegral one;
  one.Add(m, 1.0);
  return one.Shares(static_cast<double>(m.capacity()));
}

absl::StatusOr<double> SimulatedKvMemoryBytes(const SimulatorConfig& config) {
  if (config.kv_memory_bytes > 0) return config.kv_memory_bytes;
  CapacityOptions options;
  options.tensor_parallel = config.tensor_parallel;
  options.block_size = config.block_size;
  return KvMemoryBudget(config.model, config.hardware, options);
}

absl::StatusOr<SimulationReport> Simulate(const Workload& workload,
                                          const SimulatorConfig& config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  if (absl::Status s = workload.Validate(); !s.ok()) return s;
  if (workload.requests.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("workload '{}' has no request", workload.name));
  }
  absl::StatusOr<double> budget = SimulatedKvMemoryBytes(config);
  if (!budget.ok()) return budget.status();
  absl::StatusOr<double> bytes_per_token =
      KvBytesPerToken(config.model, config.tensor_parallel);
  if (!bytes_per_token.ok()) return bytes_per_token.status();

  // The cost hook: given, or the bandwidth model of the model and device.
  std::optional<BandwidthModel> own_model;
  const CostHook* cost = config.cost_hook;
  if (cost == nullptr) {
    BandwidthModelOptions options;
    options.tensor_parallel = config.tensor_parallel;
    absl::StatusOr<BandwidthModel> m =
        BandwidthModel::Create(config.model, config.hardware, options);
    if (!m.ok()) return m.status();
    own_model.emplace(*std::move(m));
    cost = &*own_model;
  }

  // The allocator, sized to the same KV memory for every kind.
  const std::vector<KVCacheGroupSpec> groups = GroupsOf(config.model);
  const auto num_groups = static_cast<int64_t>(groups.size());
  ManualClock clock(0);
  std::unique_ptr<SimAllocator> allocator;
  SimulationReport report;
  report.allocator = config.allocator;
  report.workload_name = workload.name;
  if (config.allocator == AllocatorKind::kPaged) {
    // A logical page holds block_size tokens of every layer; in the pool it
    // is one block per group.
    const double page_bytes = *bytes_per_token * config.block_size;
    const auto pages = static_cast<int64_t>(std::floor(*budget / page_bytes));
    if (pages < 1) {
      return absl::InvalidArgumentError(
          fmt::format("KV memory of {} bytes holds no page of {} bytes",
                      *budget, page_bytes));
    }
    KVCacheConfig kv;
    kv.num_blocks = pages * num_groups + 1;  // + the null block
    kv.block_size = config.block_size;
    kv.groups = groups;
    kv.enable_prefix_caching = config.enable_prefix_caching;
    kv.eviction_policy = config.eviction_policy;
    kv.clock = &clock;
    kv.enable_kv_events = static_cast<bool>(config.on_step);
    absl::StatusOr<std::unique_ptr<SimAllocator>> a = MakePagedAllocator(
        std::move(kv), *bytes_per_token / static_cast<double>(num_groups));
    if (!a.ok()) return a.status();
    allocator = *std::move(a);
  } else {
    ContiguousAllocatorOptions options;
    options.kind = config.allocator;
    options.capacity_tokens =
        static_cast<int64_t>(std::floor(*budget / *bytes_per_token));
    options.max_model_len = config.max_model_len;
    if (options.max_model_len == 0) {
      options.max_model_len = config.model.max_context;
    }
    if (options.max_model_len == 0) {
      for (const Request& r : workload.requests) {
        options.max_model_len = std::max<int64_t>(
            options.max_model_len, r.PromptTokens() + r.output_tokens);
      }
    }
    options.groups = groups;
    options.kv_bytes_per_slot = *bytes_per_token;
    absl::StatusOr<std::unique_ptr<SimAllocator>> a =
        MakeContiguousAllocator(options);
    if (!a.ok()) return a.status();
    allocator = *std::move(a);
  }

  absl::StatusOr<std::unique_ptr<Scheduler>> created =
      Scheduler::Create(config.scheduler, allocator.get(), cost, &clock);
  if (!created.ok()) return created.status();
  Scheduler& scheduler = **created;

  const std::vector<Request>& requests = workload.requests;
  const size_t n = requests.size();
  report.num_requests = static_cast<int64_t>(n);
  report.requests.resize(n);
  for (size_t i = 0; i < n; ++i) {
    RequestResult& r = report.requests[i];
    r.id = requests[i].id;
    r.arrival_s = requests[i].arrival_s;
    r.prompt_tokens = requests[i].PromptTokens();
    r.output_tokens = requests[i].output_tokens;
  }

  const MemoryBreakdown initial = allocator->Memory();
  report.capacity_slots = initial.capacity();
  report.bytes_per_slot = initial.bytes_per_slot;
  report.kv_memory_bytes = *budget;
  const double first_arrival = requests.front().arrival_s;
  double interval = config.timeline_interval_s;
  if (interval == 0) {
    interval =
        std::max(0.01, (requests.back().arrival_s - first_arrival) / 500);
  }
  report.timeline_interval_s = interval;
  double next_sample_s = first_arrival;

  MemoryIntegral memory_integral;
  double batch_integral = 0;
  double running_integral = 0;
  int64_t peak_allocated = -1;
  int64_t done = 0;  // finished or rejected
  int64_t preemptions = 0;

  // Records [from, to) with the given state in the integrals and timeline.
  auto account = [&](double from, double to, const MemoryBreakdown& memory,
                     const StepResult* step) {
    const double dt = to - from;
    memory_integral.Add(memory, dt);
    if (step != nullptr) {
      batch_integral += step->batch_size() * dt;
      running_integral += step->num_running * dt;
    }
    while (next_sample_s < to) {
      TimelinePoint p;
      p.time_s = next_sample_s;
      p.memory = memory;
      if (step != nullptr) {
        p.batch_size = step->batch_size();
        p.num_decodes = step->num_decodes;
        p.prefill_tokens = step->prefill_tokens;
        p.num_running = step->num_running;
        p.num_waiting = step->num_waiting;
      } else {
        p.num_waiting = scheduler.num_waiting();
      }
      p.preemptions = preemptions;
      report.timeline.push_back(p);
      next_sample_s += interval;
    }
  };

  scheduler.AdvanceTo(first_arrival);
  size_t next = 0;
  int64_t idle_steps = 0;
  int64_t steps_since_progress = 0;
  while (next < n || scheduler.HasWork()) {
    while (next < n && requests[next].arrival_s <= scheduler.now_s()) {
      if (!scheduler.Submit(requests[next])) {
        report.requests[next].rejected = true;
        ++done;
      }
      ++next;
    }
    if (!scheduler.HasWork()) {
      if (next >= n) break;
      const double from = scheduler.now_s();
      account(from, requests[next].arrival_s, allocator->Memory(), nullptr);
      scheduler.AdvanceTo(requests[next].arrival_s);
      continue;
    }
    absl::StatusOr<StepResult> step = scheduler.Step();
    if (!step.ok()) return step.status();
    if (config.on_step && allocator->manager() != nullptr) {
      config.on_step(*allocator->manager(), scheduler.now_s());
    }
    for (uint64_t id : step->preempted) {
      ++report.requests[id].preemptions;
      ++preemptions;
      if (report.first_preemption_s < 0) {
        report.first_preemption_s = step->start_s;
      }
    }
    if (step->admission_blocked_by_memory &&
        report.first_admission_blocked_s < 0) {
      report.first_admission_blocked_s = step->start_s;
    }
    if (step->batch_size() == 0) {
      // Nothing ran: everything running was just preempted (the next step
      // admits again), or nothing fits until the next arrival's time. Two
      // empty steps in a row with nothing running means no progress is
      // possible: a bug, reported rather than looped on.
      if (++idle_steps >= 2) {
        if (scheduler.num_running() == 0 && next >= n) {
          return absl::InternalError(fmt::format(
              "the scheduler made no progress at t={}s with {} waiting "
              "requests and nothing running",
              scheduler.now_s(), scheduler.num_waiting()));
        }
        if (next < n) {
          account(scheduler.now_s(), requests[next].arrival_s, step->memory,
                  &*step);
          scheduler.AdvanceTo(requests[next].arrival_s);
        }
      }
      continue;
    }
    idle_steps = 0;
    ++report.steps;
    report.busy_s += step->duration_s;
    report.computed_prefill_tokens += step->prefill_tokens;
    account(step->start_s, scheduler.now_s(), step->memory, &*step);
    const int64_t allocated = step->memory.allocated();
    if (allocated > peak_allocated) {
      peak_allocated = allocated;
      report.peak_memory = SharesOf(step->memory);
    }
    report.peak_token_states_share =
        std::max(report.peak_token_states_share,
                 static_cast<double>(step->memory.token_states) /
                     static_cast<double>(report.capacity_slots));
    report.max_batch_size = std::max(report.max_batch_size, step->batch_size());
    report.max_running = std::max(report.max_running, step->num_running);
    for (uint64_t id : step->first_tokens) {
      report.requests[id].first_token_s = scheduler.now_s();
    }
    for (uint64_t id : step->finished) {
      report.requests[id].finish_s = scheduler.now_s();
      ++done;
    }
    if (config.progress && (++steps_since_progress & 1023) == 0) {
      config.progress(static_cast<double>(done) / static_cast<double>(n));
    }
  }
  if (config.progress) config.progress(1.0);

  // Summaries.
  report.preemptions = scheduler.num_preemptions();
  report.rejections = scheduler.rejections();
  report.rejected = static_cast<int64_t>(report.rejections.size());
  std::vector<double> ttft, tpot, e2e;
  double last_finish = first_arrival;
  for (const RequestResult& r : report.requests) {
    if (r.preemptions > 0) ++report.preempted_requests;
    if (r.rejected || r.finish_s < 0) continue;
    ++report.completed;
    report.prompt_tokens += r.prompt_tokens;
    report.output_tokens += r.output_tokens;
    ttft.push_back(r.ttft_s());
    if (r.output_tokens > 1) tpot.push_back(r.tpot_s());
    e2e.push_back(r.e2e_s());
    last_finish = std::max(last_finish, r.finish_s);
  }
  PAGEKV_CHECK(report.completed + report.rejected == report.num_requests,
               "{} completed + {} rejected != {} requests", report.completed,
               report.rejected, report.num_requests);
  report.ttft = Summarize(std::move(ttft));
  report.tpot = Summarize(std::move(tpot));
  report.e2e = Summarize(std::move(e2e));
  report.makespan_s = last_finish - first_arrival;
  const double span = scheduler.now_s() - first_arrival;
  if (report.makespan_s > 0) {
    report.request_throughput =
        static_cast<double>(report.completed) / report.makespan_s;
    report.output_throughput =
        static_cast<double>(report.output_tokens) / report.makespan_s;
    report.total_throughput =
        static_cast<double>(report.prompt_tokens + report.output_tokens) /
        report.makespan_s;
  }
  if (span > 0) {
    report.mean_memory = memory_integral.Shares(
        static_cast<double>(report.capacity_slots) * span);
    report.mean_running = running_integral / span;
  } else {
    report.mean_memory = SharesOf(allocator->Memory());
  }
  if (report.busy_s > 0)
    report.mean_batch_size = batch_integral / report.busy_s;
  report.prefix = allocator->PrefixStats();
  report.prefix_hit_rate = report.prefix.TokenHitRate();
  report.resumed_prefix_hit_rate =
      report.prefix.resumed_query_tokens == 0
          ? 0.0
          : static_cast<double>(report.prefix.resumed_hit_tokens) /
                static_cast<double>(report.prefix.resumed_query_tokens);
  return report;
}

}  // namespace pagekv
