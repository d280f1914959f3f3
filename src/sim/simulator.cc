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
#include "pagekv/cost/bandwidth_model.h"
#include "pagekv/cost/capacity.h"
#include "pagekv/eviction_policy.h"
#include "pagekv/kv_cache_config.h"
#include "sim/memory_integral.h"
#include "sim/tier_report.h"

namespace pagekv {

using internal::MemoryIntegral;

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
  if (max_model_len < 0 ||
      (model.max_context > 0 && max_model_len > model.max_context)) {
    return absl::InvalidArgumentError(fmt::format(
        "SimulatorConfig.max_model_len must be in [0, {}] (the model's "
        "max_context), got {}",
        model.max_context > 0 ? model.max_context : INT64_MAX, max_model_len));
  }
  if (!(gpu_memory_utilization > 0 && gpu_memory_utilization <= 1)) {
    return absl::InvalidArgumentError(fmt::format(
        "SimulatorConfig.gpu_memory_utilization must be in (0, 1], got {}",
        gpu_memory_utilization));
  }
  if ((allocator == AllocatorKind::kMax ||
       allocator == AllocatorKind::kOrcaMax) &&
      max_model_len == 0 && model.max_context > kMaxSilentReservation) {
    return absl::InvalidArgumentError(fmt::format(
        "allocator {} would reserve the model's whole {}-token context per "
        "request; set max_model_len (--max-model-len) to the engine's limit",
        AllocatorKindName(allocator), model.max_context));
  }
  if (!(timeline_interval_s >= 0) || !std::isfinite(timeline_interval_s)) {
    return absl::InvalidArgumentError(fmt::format(
        "SimulatorConfig.timeline_interval_s must be a finite number >= 0, "
        "got {}",
        timeline_interval_s));
  }
  if (!(window_start_s >= 0) || !std::isfinite(window_start_s) ||
      !(window_end_s > window_start_s)) {
    return absl::InvalidArgumentError(fmt::format(
        "SimulatorConfig window [{}, {}) must have 0 <= start < end",
        window_start_s, window_end_s));
  }
  if (concurrency < 0) {
    return absl::InvalidArgumentError(fmt::format(
        "SimulatorConfig.concurrency must be >= 0, got {}", concurrency));
  }
  return EffectiveSchedulerConfig(*this).Validate();
}

SchedulerConfig EffectiveSchedulerConfig(const SimulatorConfig& config) {
  SchedulerConfig s = config.scheduler;
  if (s.max_model_len == 0) s.max_model_len = config.max_model_len;
  internal::FillTierCost(config, &s.tier);
  if (s.preemption_mode != PreemptionMode::kSwap) return s;
  if (s.swap_bytes_per_token == 0) {
    absl::StatusOr<double> bytes =
        KvBytesPerToken(config.model, config.tensor_parallel);
    if (bytes.ok()) s.swap_bytes_per_token = *bytes;
  }
  if (s.host_link_bytes_per_s == 0) {
    s.host_link_bytes_per_s = config.hardware.host_link_bandwidth;
  }
  return s;
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
  one.Add(m, 1.0, /*waiting=*/false);
  return one.Shares(static_cast<double>(m.capacity()));
}

absl::StatusOr<double> SimulatedKvMemoryBytes(const SimulatorConfig& config) {
  if (config.kv_memory_bytes > 0) return config.kv_memory_bytes;
  CapacityOptions options;
  options.tensor_parallel = config.tensor_parallel;
  options.block_size = config.block_size;
  options.gpu_memory_utilization = config.gpu_memory_utilization;
  return KvMemoryBudget(config.model, config.hardware, options);
}

namespace {

// The cost hook: config.cost_hook, or a bandwidth model of the model and
// device kept in *own.
absl::StatusOr<const CostHook*> MakeCostHook(
    const SimulatorConfig& config, std::optional<BandwidthModel>* own) {
  if (config.cost_hook != nullptr) return config.cost_hook;
  BandwidthModelOptions options;
  options.tensor_parallel = config.tensor_parallel;
  absl::StatusOr<BandwidthModel> m =
      BandwidthModel::Create(config.model, config.hardware, options);
  if (!m.ok()) return m.status();
  own->emplace(*std::move(m));
  return &**own;
}

// A paged allocator: a logical page holds block_size tokens of every layer;
// in the pool it is one block per group.
absl::StatusOr<std::unique_ptr<SimAllocator>> MakePaged(
    const SimulatorConfig& config, double budget, double bytes_per_token) {
  const std::vector<KVCacheGroupSpec> groups = config.model.KVCacheGroups();
  const auto num_groups = static_cast<int64_t>(groups.size());
  double page_bytes = bytes_per_token * config.block_size;
  double slot_bytes = bytes_per_token / static_cast<double>(num_groups);
  int64_t blocks_per_page = num_groups;
  if (config.model.has_state_groups()) {
    // One pool, one block size in bytes (vLLM's hybrid rule): a block is as
    // large as the largest group's, an attention block of block_size tokens
    // or a state block of one sequence's state.
    page_bytes = 0;
    for (int32_t g = 0; g < num_groups; ++g) {
      page_bytes = std::max(
          page_bytes, config.model.GroupBlockBytes(g, config.block_size,
                                                   config.tensor_parallel));
    }
    slot_bytes = page_bytes / config.block_size;
    blocks_per_page = 1;
  }
  const auto pages = static_cast<int64_t>(std::floor(budget / page_bytes));
  if (pages < 1) {
    return absl::InvalidArgumentError(fmt::format(
        "KV memory of {} bytes holds no page of {} bytes", budget, page_bytes));
  }
  KVCacheConfig kv;
  kv.num_blocks = pages * blocks_per_page + 1;  // + the null block
  kv.block_size = config.block_size;
  kv.groups = groups;
  kv.enable_prefix_caching = config.enable_prefix_caching;
  kv.eviction_policy = config.eviction_policy;
  kv.call_log = config.call_log;
  kv.host_tier = internal::SimHostTier(config, bytes_per_token);
  kv.enable_kv_events = static_cast<bool>(config.on_step);
  return MakePagedAllocator(std::move(kv), slot_bytes);
}

// A contiguous baseline over the same KV memory.
absl::StatusOr<std::unique_ptr<SimAllocator>> MakeContiguous(
    const Workload& workload, const SimulatorConfig& config, double budget,
    double bytes_per_token) {
  ContiguousAllocatorOptions options;
  options.kind = config.allocator;
  options.capacity_tokens =
      static_cast<int64_t>(std::floor(budget / bytes_per_token));
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
  options.groups = config.model.KVCacheGroups();
  options.kv_bytes_per_slot = bytes_per_token;
  return MakeContiguousAllocator(options);
}

// The report's per-request rows and memory constants, before the replay.
void StartReport(const Workload& workload, const SimulatorConfig& config,
                 double budget, const SimAllocator& allocator,
                 SimulationReport* report) {
  const std::vector<Request>& requests = workload.requests;
  report->allocator = config.allocator;
  report->workload_name = workload.name;
  report->num_requests = static_cast<int64_t>(requests.size());
  report->requests.resize(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    RequestResult& r = report->requests[i];
    r.id = requests[i].id;
    r.arrival_s = requests[i].arrival_s;
    r.prompt_tokens = requests[i].PromptTokens();
    r.output_tokens = requests[i].output_tokens;
  }
  const MemoryBreakdown initial = allocator.Memory();
  report->capacity_slots = initial.capacity();
  report->bytes_per_slot = initial.bytes_per_slot;
  report->kv_memory_bytes = budget;
  double interval = config.timeline_interval_s;
  if (interval == 0) {
    interval = std::max(
        0.01, (requests.back().arrival_s - requests.front().arrival_s) / 500);
  }
  report->timeline_interval_s = interval;
}

// The replay loop: submits requests as the clock reaches their arrival,
// steps the scheduler, and records every step in the report, its time
// integrals and its timeline.
class Replay {
 public:
  Replay(const std::vector<Request>& requests, const SimulatorConfig& config,
         Scheduler& scheduler, SimulationReport& report)
      : requests_(requests),
        config_(config),
        scheduler_(scheduler),
        report_(report),
        first_arrival_(requests.front().arrival_s),
        next_sample_s_(first_arrival_),
        windowed_(config.window_start_s > 0 ||
                  std::isfinite(config.window_end_s)) {}

  // Runs until every request finished or was rejected.
  absl::Status Run(SimAllocator& allocator);
  // Fills the report's summaries from the requests' outcomes.
  void Summarize(const SimAllocator& allocator);

 private:
  // Records [from, to) with the given state in the integrals and timeline.
  void Account(double from, double to, const MemoryBreakdown& memory,
               const StepResult* step);
  // Submits every request that has arrived by now.
  void SubmitArrived();
  // A step that computed nothing: waits for the next arrival, or fails when
  // no progress is possible.
  absl::Status OnIdleStep(const StepResult& step);
  // A step that computed something.
  void RecordStep(const StepResult& step);
  void SummarizeLatency();

  const std::vector<Request>& requests_;
  const SimulatorConfig& config_;
  Scheduler& scheduler_;
  SimulationReport& report_;
  const double first_arrival_;
  double next_sample_s_;
  const bool windowed_;       // a steady-state window is set
  double window_busy_s_ = 0;  // step time inside the window
  size_t next_ = 0;           // the next request to submit
  MemoryIntegral memory_integral_;
  double batch_integral_ = 0;
  double running_integral_ = 0;
  int64_t peak_allocated_ = -1;
  int64_t done_ = 0;  // finished or rejected
  int64_t preemptions_ = 0;
  int64_t idle_steps_ = 0;
  int64_t steps_since_progress_ = 0;
};

void Replay::Account(double from, double to, const MemoryBreakdown& memory,
                     const StepResult* step) {
  double dt = to - from;
  if (windowed_) {
    dt = std::max(0.0, std::min(to, config_.window_end_s) -
                           std::max(from, config_.window_start_s));
    if (step != nullptr) window_busy_s_ += dt;
  }
  const int32_t waiting =
      step != nullptr ? step->num_waiting : scheduler_.num_waiting();
  memory_integral_.Add(memory, dt, waiting > 0);
  if (step != nullptr) {
    batch_integral_ += step->batch_size() * dt;
    running_integral_ += step->num_running * dt;
  }
  while (next_sample_s_ < to) {
    TimelinePoint p;
    p.time_s = next_sample_s_;
    p.memory = memory;
    if (step != nullptr) {
      p.batch_size = step->batch_size();
      p.num_decodes = step->num_decodes;
      p.prefill_tokens = step->prefill_tokens;
      p.num_running = step->num_running;
    }
    p.num_waiting = waiting;
    p.preemptions = preemptions_;
    report_.timeline.push_back(p);
    next_sample_s_ += report_.timeline_interval_s;
  }
}

void Replay::SubmitArrived() {
  const size_t n = requests_.size();
  if (config_.concurrency > 0) {
    // Closed loop: a client sends as soon as it has nothing in flight.
    while (next_ < n &&
           static_cast<int64_t>(next_) - done_ < config_.concurrency) {
      report_.requests[next_].arrival_s = scheduler_.now_s();
      if (!scheduler_.Submit(requests_[next_])) {
        report_.requests[next_].rejected = true;
        ++done_;
      }
      ++next_;
    }
    return;
  }
  while (next_ < n && requests_[next_].arrival_s <= scheduler_.now_s()) {
    if (!scheduler_.Submit(requests_[next_])) {
      report_.requests[next_].rejected = true;
      ++done_;
    }
    ++next_;
  }
}

absl::Status Replay::OnIdleStep(const StepResult& step) {
  // Nothing ran: everything running was just preempted (the next step
  // admits again), or nothing fits until the next arrival's time. Two
  // empty steps in a row with nothing running means no progress is
  // possible: a bug, reported rather than looped on.
  if (++idle_steps_ < 2) return absl::OkStatus();
  // Closed loop: no later arrival can help, the clients are waiting.
  const bool all_submitted =
      next_ >= requests_.size() || config_.concurrency > 0;
  if (scheduler_.num_running() == 0 && all_submitted) {
    return absl::InternalError(
        fmt::format("the scheduler made no progress at t={}s with {} waiting "
                    "requests and nothing running",
                    scheduler_.now_s(), scheduler_.num_waiting()));
  }
  if (!all_submitted) {
    Account(scheduler_.now_s(), requests_[next_].arrival_s, step.memory, &step);
    scheduler_.AdvanceTo(requests_[next_].arrival_s);
  }
  return absl::OkStatus();
}

void Replay::RecordStep(const StepResult& step) {
  idle_steps_ = 0;
  ++report_.steps;
  report_.busy_s += step.duration_s;
  report_.computed_prefill_tokens += step.prefill_tokens;
  internal::AddTierStep(step, &report_.tier);
  Account(step.start_s, scheduler_.now_s(), step.memory, &step);
  const int64_t allocated = step.memory.allocated();
  if (allocated > peak_allocated_) {
    peak_allocated_ = allocated;
    report_.peak_memory = SharesOf(step.memory);
  }
  report_.peak_token_states_share =
      std::max(report_.peak_token_states_share,
               static_cast<double>(step.memory.token_states) /
                   static_cast<double>(report_.capacity_slots));
  report_.max_batch_size = std::max(report_.max_batch_size, step.batch_size());
  report_.max_running = std::max(report_.max_running, step.num_running);
  for (uint64_t id : step.first_tokens) {
    report_.requests[id].first_token_s = scheduler_.now_s();
  }
  for (uint64_t id : step.finished) {
    report_.requests[id].finish_s = scheduler_.now_s();
    ++done_;
  }
}

absl::Status Replay::Run(SimAllocator& allocator) {
  const size_t n = requests_.size();
  scheduler_.AdvanceTo(first_arrival_);
  while (next_ < n || scheduler_.HasWork()) {
    SubmitArrived();
    if (!scheduler_.HasWork()) {
      // (Closed loop: SubmitArrived sent the rest, or everything is done.)
      if (next_ >= n || config_.concurrency > 0) break;
      Account(scheduler_.now_s(), requests_[next_].arrival_s,
              allocator.Memory(), nullptr);
      scheduler_.AdvanceTo(requests_[next_].arrival_s);
      continue;
    }
    absl::StatusOr<StepResult> step = scheduler_.Step();
    if (!step.ok()) return step.status();
    if (config_.on_step && allocator.manager() != nullptr) {
      config_.on_step(*allocator.manager(), scheduler_.now_s());
    }
    for (const auto& [id, tokens] : step->hits) {
      report_.requests[id].hit_tokens += tokens;
    }
    for (uint64_t id : step->preempted) {
      ++report_.requests[id].preemptions;
      ++preemptions_;
      if (report_.first_preemption_s < 0) {
        report_.first_preemption_s = step->start_s;
      }
    }
    if (step->admission_blocked_by_memory &&
        report_.first_admission_blocked_s < 0) {
      report_.first_admission_blocked_s = step->start_s;
    }
    if (step->batch_size() == 0) {
      if (absl::Status s = OnIdleStep(*step); !s.ok()) return s;
      continue;
    }
    RecordStep(*step);
    if (config_.progress && (++steps_since_progress_ & 1023) == 0) {
      config_.progress(static_cast<double>(done_) / static_cast<double>(n));
    }
  }
  if (config_.progress) config_.progress(1.0);
  return absl::OkStatus();
}

void Replay::SummarizeLatency() {
  std::vector<double> ttft, tpot, e2e;
  for (const RequestResult& r : report_.requests) {
    if (r.preemptions > 0) ++report_.preempted_requests;
    if (r.rejected || r.finish_s < 0) continue;
    ++report_.completed;
    report_.prompt_tokens += r.prompt_tokens;
    report_.output_tokens += r.output_tokens;
    if (windowed_ && (r.arrival_s < config_.window_start_s ||
                      r.arrival_s >= config_.window_end_s)) {
      continue;
    }
    ttft.push_back(r.ttft_s());
    if (r.output_tokens > 1) tpot.push_back(r.tpot_s());
    e2e.push_back(r.e2e_s());
  }
  PAGEKV_CHECK(report_.completed + report_.rejected == report_.num_requests,
               "{} completed + {} rejected != {} requests", report_.completed,
               report_.rejected, report_.num_requests);
  report_.ttft = pagekv::Summarize(std::move(ttft));
  report_.tpot = pagekv::Summarize(std::move(tpot));
  report_.e2e = pagekv::Summarize(std::move(e2e));
}

void Replay::Summarize(const SimAllocator& allocator) {
  report_.preemptions = scheduler_.num_preemptions();
  report_.rejections = scheduler_.rejections();
  report_.rejected = static_cast<int64_t>(report_.rejections.size());
  SummarizeLatency();
  double last_finish = first_arrival_;
  for (const RequestResult& r : report_.requests) {
    if (!r.rejected && r.finish_s >= 0) {
      last_finish = std::max(last_finish, r.finish_s);
    }
  }
  report_.makespan_s = last_finish - first_arrival_;
  const double span =
      windowed_
          ? std::max(0.0, std::min(scheduler_.now_s(), config_.window_end_s) -
                              std::max(first_arrival_, config_.window_start_s))
          : scheduler_.now_s() - first_arrival_;
  if (report_.makespan_s > 0) {
    const double makespan = report_.makespan_s;
    report_.request_throughput =
        static_cast<double>(report_.completed) / makespan;
    report_.output_throughput =
        static_cast<double>(report_.output_tokens) / makespan;
    report_.total_throughput =
        static_cast<double>(report_.prompt_tokens + report_.output_tokens) /
        makespan;
  }
  if (span > 0) {
    report_.mean_memory = memory_integral_.Shares(
        static_cast<double>(report_.capacity_slots) * span);
    report_.mean_running = running_integral_ / span;
  } else {
    report_.mean_memory = SharesOf(allocator.Memory());
  }
  const double busy = windowed_ ? window_busy_s_ : report_.busy_s;
  if (busy > 0) report_.mean_batch_size = batch_integral_ / busy;
  report_.prefix = allocator.PrefixStats();
  internal::FinishTierReport(config_, allocator, report_.prefix, &report_.tier);
  report_.prefix_hit_rate = report_.prefix.TokenHitRate();
  report_.resumed_prefix_hit_rate =
      report_.prefix.resumed_query_tokens == 0
          ? 0.0
          : static_cast<double>(report_.prefix.resumed_hit_tokens) /
                static_cast<double>(report_.prefix.resumed_query_tokens);
}

}  // namespace

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

  std::optional<BandwidthModel> own_model;
  absl::StatusOr<const CostHook*> cost = MakeCostHook(config, &own_model);
  if (!cost.ok()) return cost.status();
  // The allocator, sized to the same KV memory for every kind.
  absl::StatusOr<std::unique_ptr<SimAllocator>> allocator =
      config.allocator == AllocatorKind::kPaged
          ? MakePaged(config, *budget, *bytes_per_token)
          : MakeContiguous(workload, config, *budget, *bytes_per_token);
  if (!allocator.ok()) return allocator.status();
  absl::StatusOr<std::unique_ptr<Scheduler>> scheduler = Scheduler::Create(
      EffectiveSchedulerConfig(config), allocator->get(), *cost);
  if (!scheduler.ok()) return scheduler.status();

  SimulationReport report;
  StartReport(workload, config, *budget, **allocator, &report);
  Replay replay(workload.requests, config, **scheduler, report);
  if (absl::Status s = replay.Run(**allocator); !s.ok()) return s;
  replay.Summarize(**allocator);
  return report;
}

absl::StatusOr<SimulatorParts> MakeSimulatorParts(
    const Workload& workload, const SimulatorConfig& config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  absl::StatusOr<double> budget = SimulatedKvMemoryBytes(config);
  if (!budget.ok()) return budget.status();
  absl::StatusOr<double> bytes_per_token =
      KvBytesPerToken(config.model, config.tensor_parallel);
  if (!bytes_per_token.ok()) return bytes_per_token.status();
  SimulatorParts parts;
  parts.kv_memory_bytes = *budget;
  std::optional<BandwidthModel> own_model;
  absl::StatusOr<const CostHook*> cost = MakeCostHook(config, &own_model);
  if (!cost.ok()) return cost.status();
  if (own_model.has_value()) {
    parts.own_cost = std::make_unique<BandwidthModel>(*std::move(own_model));
    parts.cost_hook = parts.own_cost.get();
  } else {
    parts.cost_hook = *cost;
  }
  absl::StatusOr<std::unique_ptr<SimAllocator>> allocator =
      config.allocator == AllocatorKind::kPaged
          ? MakePaged(config, *budget, *bytes_per_token)
          : MakeContiguous(workload, config, *budget, *bytes_per_token);
  if (!allocator.ok()) return allocator.status();
  parts.allocator = *std::move(allocator);
  return parts;
}

}  // namespace pagekv
