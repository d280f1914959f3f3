#include "cluster/instance.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/check.h"
#include "fmt/format.h"
#include "pagekv/cost/capacity.h"

namespace pagekv::cluster::internal {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double Usage(const MemoryBreakdown& m) {
  const int64_t capacity = m.capacity();
  return capacity == 0 ? 0.0
                       : static_cast<double>(m.allocated()) /
                             static_cast<double>(capacity);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Instance>> Instance::Create(
    const Workload& workload, SimulatorConfig config, bool events,
    double start_s, std::vector<RequestResult>* results) {
  config.progress = nullptr;
  // MakeSimulatorParts enables the manager's KV events when on_step is set.
  config.on_step = nullptr;
  if (events) config.on_step = [](KVCacheManager&, double) {};
  absl::StatusOr<SimulatorParts> parts = MakeSimulatorParts(workload, config);
  if (!parts.ok()) return parts.status();
  absl::StatusOr<std::unique_ptr<Scheduler>> scheduler =
      Scheduler::Create(EffectiveSchedulerConfig(config),
                        parts->allocator.get(), parts->cost_hook);
  if (!scheduler.ok()) return scheduler.status();
  std::unique_ptr<Instance> instance(
      new Instance(std::move(config), *std::move(parts), *std::move(scheduler),
                   start_s, results));
  absl::StatusOr<double> per_token = KvBytesPerToken(
      instance->config_.model, instance->config_.tensor_parallel);
  if (!per_token.ok()) return per_token.status();
  instance->kv_bytes_per_token_ = *per_token;
  return instance;
}

Instance::Instance(SimulatorConfig config, SimulatorParts parts,
                   std::unique_ptr<Scheduler> scheduler, double start_s,
                   std::vector<RequestResult>* results)
    : config_(std::move(config)),
      parts_(std::move(parts)),
      scheduler_(std::move(scheduler)),
      results_(*results),
      start_s_(start_s) {
  scheduler_->AdvanceTo(start_s);
}

void Instance::Enqueue(const Request& request, double ready_s) {
  pending_.emplace(ready_s, &request);
  routed_.push_back(request.id);
}

double Instance::NextTime() const {
  if (scheduler_->HasWork()) return scheduler_->now_s();
  if (pending_.empty()) return kInf;
  return std::max(scheduler_->now_s(), pending_.begin()->first);
}

void Instance::SubmitReady() {
  while (!pending_.empty() && pending_.begin()->first <= scheduler_->now_s()) {
    const Request& r = *pending_.begin()->second;
    pending_.erase(pending_.begin());
    if (!scheduler_->Submit(r)) {
      results_[r.id].rejected = true;
      ++done_;
    }
  }
}

void Instance::Account(double from, double to, const MemoryBreakdown& memory) {
  usage_integral_ += Usage(memory) * (to - from);
}

absl::Status Instance::OnIdleStep(double next_arrival_s) {
  // As Simulate(): the first empty step may follow a preemption of
  // everything; two in a row wait for something new, or are a bug.
  if (++idle_steps_ < 2) return absl::OkStatus();
  double next = next_arrival_s;
  if (!pending_.empty()) next = std::min(next, pending_.begin()->first);
  if (scheduler_->num_running() == 0 && next == kInf) {
    return absl::InternalError(
        fmt::format("an instance made no progress at t={}s with {} waiting "
                    "requests and nothing running",
                    scheduler_->now_s(), scheduler_->num_waiting()));
  }
  if (next != kInf && next > scheduler_->now_s()) {
    Account(scheduler_->now_s(), next, parts_.allocator->Memory());
    scheduler_->AdvanceTo(next);
  }
  return absl::OkStatus();
}

void Instance::Record(const StepResult& step) {
  idle_steps_ = 0;
  ++steps_;
  busy_s_ += step.duration_s;
  const double now = scheduler_->now_s();
  Account(step.start_s, now, step.memory);
  peak_usage_ = std::max(peak_usage_, Usage(step.memory));
  for (uint64_t id : step.first_tokens) results_[id].first_token_s = now;
  for (uint64_t id : step.finished) {
    results_[id].finish_s = now;
    ++done_;
  }
}

absl::Status Instance::RunOnce(double next_arrival_s) {
  if (!scheduler_->HasWork() && !pending_.empty() &&
      pending_.begin()->first > scheduler_->now_s()) {
    const double t = pending_.begin()->first;
    Account(scheduler_->now_s(), t, parts_.allocator->Memory());
    scheduler_->AdvanceTo(t);
  }
  SubmitReady();
  if (!scheduler_->HasWork()) return absl::OkStatus();  // all rejected
  absl::StatusOr<StepResult> step = scheduler_->Step();
  if (!step.ok()) return step.status();
  for (const auto& [id, tokens] : step->hits) {
    results_[id].hit_tokens += tokens;
  }
  for (uint64_t id : step->preempted) ++results_[id].preemptions;
  if (step->batch_size() == 0) return OnIdleStep(next_arrival_s);
  Record(*step);
  return absl::OkStatus();
}

InstanceLoad Instance::Load() const {
  InstanceLoad load;
  load.running = scheduler_->num_running();
  load.queued =
      scheduler_->num_waiting() + static_cast<int32_t>(pending_.size());
  load.in_flight =
      static_cast<int32_t>(static_cast<int64_t>(routed_.size()) - done_);
  const MemoryBreakdown m = parts_.allocator->Memory();
  load.kv_usage = Usage(m);
  const int64_t bs = config_.block_size;
  load.used_blocks = m.allocated() / bs;
  load.capacity_blocks = std::max<int64_t>(1, m.capacity() / bs);
  return load;
}

std::vector<KVEvent> Instance::DrainEvents() {
  KVCacheManager* m = parts_.allocator->manager();
  return m == nullptr ? std::vector<KVEvent>() : m->DrainEvents();
}

absl::StatusOr<int64_t> Instance::Import(absl::Span<const TokenId> prompt,
                                         int64_t blocks,
                                         const BlockHashExtras& extras) {
  KVCacheManager* m = parts_.allocator->manager();
  PAGEKV_CHECK(m != nullptr, "the global cache needs the paged allocator");
  const int64_t bs = m->block_size();
  const int64_t n =
      std::min<int64_t>(blocks, static_cast<int64_t>(prompt.size()) / bs) * bs;
  const int64_t held = CachedBlocks(prompt, extras);
  if (n / bs <= held) return 0;
  SequenceOptions options;
  options.hash_extras = extras;
  // A copy, not a request: its own hits are counted with resumed ones.
  options.resumed_after_preemption = true;
  absl::StatusOr<SeqId> seq = m->AddSequence(prompt.first(n), options);
  if (!seq.ok()) return seq.status();
  absl::StatusOr<Admission> admitted = m->Admit(*seq, n);
  if (absl::Status s = m->Release(*seq); !s.ok()) return s;
  if (!admitted.ok()) {
    if (absl::IsResourceExhausted(admitted.status())) return 0;
    return admitted.status();
  }
  return n / bs - held;
}

int64_t Instance::CachedBlocks(absl::Span<const TokenId> prompt,
                               const BlockHashExtras& extras) const {
  const KVCacheManager* m = parts_.allocator->manager();
  if (m == nullptr) return 0;
  return m->MatchPrefix(prompt, extras).num_tokens / m->block_size();
}

double Instance::hit_rate() const {
  return parts_.allocator->PrefixStats().TokenHitRate();
}

double Instance::kv_usage() const { return Usage(parts_.allocator->Memory()); }

InstanceSummary Instance::Summarize(double end_s) const {
  InstanceSummary s;
  s.routed = static_cast<int64_t>(routed_.size());
  s.preemptions = scheduler_->num_preemptions();
  s.steps = steps_;
  s.busy_s = busy_s_;
  s.prefix = parts_.allocator->PrefixStats();
  s.prefix_hit_rate = s.prefix.TokenHitRate();
  s.capacity_slots = parts_.allocator->Memory().capacity();
  const double span = end_s - start_s_;
  // The clock may stop before the cluster's end: idle afterwards.
  if (span > 0) s.mean_kv_usage = usage_integral_ / span;
  s.peak_kv_usage = peak_usage_;
  std::vector<double> ttft, tpot;
  for (uint64_t id : routed_) {
    const RequestResult& r = results_[id];
    if (r.rejected) {
      ++s.rejected;
      continue;
    }
    if (r.finish_s < 0) continue;
    ++s.completed;
    s.prompt_tokens += r.prompt_tokens;
    s.output_tokens += r.output_tokens;
    ttft.push_back(r.ttft_s());
    if (r.output_tokens > 1) tpot.push_back(r.tpot_s());
  }
  s.ttft = pagekv::Summarize(std::move(ttft));
  s.tpot = pagekv::Summarize(std::move(tpot));
  return s;
}

}  // namespace pagekv::cluster::internal
