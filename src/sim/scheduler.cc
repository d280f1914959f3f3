#include "pagekv/sim/scheduler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/check.h"
#include "fmt/format.h"
#include "pagekv/footprint.h"

namespace pagekv {

// One request's scheduling state.
struct Scheduler::Entry {
  const Request* request = nullptr;
  int64_t prompt_tokens = 0;  // of the original request
  int64_t final_tokens = 0;   // prompt + output
  // Tokens generated so far (sampled); survives preemption.
  int64_t generated = 0;
  // The known tokens, prompt then generated: synthesized once, when the
  // request is first added, and kept until it finishes, so that a request
  // resumed after preemption is re-added without synthesizing its prompt
  // again (on the Mooncake trace, resumed requests re-add more tokens than
  // the whole workload's prompts). Empty before the first add and after
  // finishing; otherwise size() == prompt_tokens + generated.
  std::vector<TokenId> tokens;
  // The allocator's sequence; valid while has_seq.
  bool has_seq = false;
  SeqId seq;
  // Of the current sequence: known = prompt + generated (<= final),
  // computed <= known. Running iff admitted.
  int64_t known = 0;
  int64_t computed = 0;
  bool admitted = false;
  uint64_t admit_order = 0;
  int64_t preemptions = 0;
  // Swap: computed tokens whose KV waits in host memory (0 = none); they
  // are restored, not recomputed, when the request is re-admitted.
  int64_t swapped_tokens = 0;
  // Guaranteed admission: SimAllocator::MaxSlots of the request.
  int64_t max_slots = 0;
  // Tokens scheduled in the current step (0 = not scheduled).
  int64_t step_tokens = 0;
  // The last sampled token (tokens.back(), counted in known) has not been
  // given to the allocator yet: it goes with the next step's decode batch
  // (ScheduleDecodeBatch), or alone before anything else touches the
  // sequence (FlushPendingTokens). Only between steps and in the decode
  // pass.
  bool token_pending = false;
  bool finished = false;
  // The last admission failure: the release epoch and token budget it
  // happened at. Without a release since, memory has only shrunk, so an
  // admission with no more budget fails again and is not retried (each
  // retry would walk the prefix index of a possibly long prompt).
  uint64_t blocked_epoch = ~uint64_t{0};
  int64_t blocked_budget = 0;
};

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(
    const SchedulerConfig& config, SimAllocator* allocator,
    const CostHook* cost_hook) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  if (allocator == nullptr || cost_hook == nullptr) {
    return absl::InvalidArgumentError(
        "Scheduler needs an allocator and a cost hook");
  }
  return std::unique_ptr<Scheduler>(
      new Scheduler(config, allocator, cost_hook));
}

Scheduler::Scheduler(const SchedulerConfig& config, SimAllocator* allocator,
                     const CostHook* cost_hook)
    : config_(config), allocator_(allocator), cost_hook_(cost_hook) {
  allocator_->SetTimeMicros(0);
  capacity_slots_ = allocator_->Memory().capacity();
}

Scheduler::~Scheduler() = default;

bool Scheduler::Submit(const Request& request) {
  auto e = std::make_unique<Entry>();
  e->request = &request;
  e->prompt_tokens = request.PromptTokens();
  e->final_tokens = e->prompt_tokens + request.output_tokens;
  PAGEKV_CHECK(e->prompt_tokens >= 1 && request.output_tokens >= 1,
               "request {} has {} prompt and {} output tokens; both must be "
               ">= 1 (validate the workload first)",
               request.id, e->prompt_tokens, request.output_tokens);
  if (config_.max_model_len > 0 && e->final_tokens > config_.max_model_len) {
    rejections_.push_back(
        {request.id,
         fmt::format("prompt of {} tokens growing to {} tokens exceeds "
                     "max_model_len {}",
                     e->prompt_tokens, e->final_tokens,
                     config_.max_model_len)});
    return false;
  }
  if (absl::Status fits =
          allocator_->CheckFits(e->prompt_tokens, e->final_tokens);
      !fits.ok()) {
    rejections_.push_back({request.id, std::string(fits.message())});
    return false;
  }
  e->max_slots = allocator_->MaxSlots(e->prompt_tokens, e->final_tokens);
  waiting_.push_back(e.get());
  entries_.push_back(std::move(e));
  return true;
}

bool Scheduler::HasWork() const {
  return !running_.empty() || !waiting_.empty();
}

void Scheduler::AdvanceTo(double t) {
  PAGEKV_CHECK(t >= now_s_, "time goes back: {} < {}", t, now_s_);
  now_s_ = t;
  allocator_->SetTimeMicros(static_cast<int64_t>(std::llround(now_s_ * 1e6)));
}

absl::Status Scheduler::EnsureSequence(Entry* e) {
  if (e->has_seq) return absl::OkStatus();
  if (e->tokens.empty()) {
    PAGEKV_DCHECK(e->generated == 0,
                  "request {} lost the {} tokens it generated", e->request->id,
                  e->generated);
    if (!spare_tokens_.empty()) {
      e->tokens = std::move(spare_tokens_.back());
      spare_tokens_.pop_back();
    }
    // Room for every output token too: appending never reallocates.
    e->tokens.reserve(static_cast<size_t>(e->final_tokens));
    e->request->MaterializePrompt(&e->tokens);
  }
  PAGEKV_DCHECK(
      static_cast<int64_t>(e->tokens.size()) == e->prompt_tokens + e->generated,
      "request {} keeps {} tokens, expected {} prompt + {} generated",
      e->request->id, e->tokens.size(), e->prompt_tokens, e->generated);
  SequenceOptions options;
  options.hash_extras.cache_salt = e->request->cache_salt;
  options.retention_priority = e->request->priority;
  options.resumed_after_preemption = e->preemptions > 0;
  absl::StatusOr<SeqId> seq =
      allocator_->AddSequence(e->tokens, e->final_tokens, options);
  if (!seq.ok()) return seq.status();
  e->seq = *seq;
  e->has_seq = true;
  e->known = static_cast<int64_t>(e->tokens.size());
  e->computed = 0;
  return absl::OkStatus();
}

Scheduler::Entry* Scheduler::PickVictim() {
  PAGEKV_DCHECK(!running_.empty(), "no running request to preempt");
  Entry* victim = running_.back();
  if (config_.preemption_policy == PreemptionPolicy::kLowestPriority) {
    for (Entry* e : running_) {
      // Lower priority wins; ties go to the later admission.
      if (e->request->priority < victim->request->priority ||
          (e->request->priority == victim->request->priority &&
           e->admit_order > victim->admit_order)) {
        victim = e;
      }
    }
  }
  return victim;
}

absl::Status Scheduler::Preempt(Entry* victim, StepResult* result) {
  PAGEKV_DCHECK(!victim->token_pending,
                "request {} is preempted before its sampled token reached the "
                "allocator",
                victim->request->id);
  if (config_.preemption_mode == PreemptionMode::kSwap) {
    // The computed tokens' KV goes to host memory; what was scheduled in
    // this step was not computed and is dropped.
    victim->swapped_tokens = victim->computed;
    pending_swap_bytes_ +=
        static_cast<double>(victim->computed) * config_.swap_bytes_per_token;
  }
  if (absl::Status s = allocator_->Release(victim->seq); !s.ok()) return s;
  ++release_epoch_;
  committed_slots_ -= victim->max_slots;
  victim->has_seq = false;
  victim->admitted = false;
  victim->known = victim->computed = 0;
  victim->step_tokens = 0;
  ++victim->preemptions;
  ++num_preemptions_;
  running_.erase(std::find(running_.begin(), running_.end(), victim));
  waiting_.push_front(victim);
  result->preempted.push_back(victim->request->id);
  return absl::OkStatus();
}

absl::StatusOr<bool> Scheduler::ScheduleDecodeBatch(int64_t* budget) {
  batch_entries_.clear();
  batch_seqs_.clear();
  batch_tokens_.clear();
  // The decodes the one-at-a-time pass would schedule: the first `budget`
  // running requests, in admission order, with one token left.
  for (Entry* e : snapshot_) {
    if (e->known - e->computed != 1) continue;
    if (static_cast<int64_t>(batch_entries_.size()) >= *budget) break;
    // The last known token is a prompt token, already given.
    if (!e->token_pending) return false;
    batch_entries_.push_back(e);
    batch_seqs_.push_back(e->seq);
    batch_tokens_.push_back(e->tokens.back());
  }
  if (batch_entries_.empty()) return true;
  absl::Status st = allocator_->AppendDecodeTokens(batch_seqs_, batch_tokens_);
  // A batch that fits is what the decodes one at a time would have done
  // (the allocator's contract). One that does not changed nothing; the
  // caller then goes one by one, which picks the victims in order.
  if (absl::IsResourceExhausted(st)) return false;
  if (!st.ok()) return st;
  for (Entry* e : batch_entries_) {
    e->token_pending = false;
    e->step_tokens = 1;
    scheduled_.push_back(e);
  }
  *budget -= static_cast<int64_t>(batch_entries_.size());
  return true;
}

absl::Status Scheduler::FlushPendingTokens() {
  for (Entry* e : snapshot_) {
    if (!e->token_pending) continue;
    if (absl::Status s = allocator_->AppendToken(e->seq, e->tokens.back());
        !s.ok()) {
      return s;
    }
    e->token_pending = false;
  }
  return absl::OkStatus();
}

absl::Status Scheduler::ReserveOrPreempt(Entry* e, int64_t n, int64_t* budget,
                                         StepResult* result, bool* preempted) {
  while (true) {
    absl::Status st = allocator_->Reserve(e->seq, n);
    if (st.ok()) {
      e->step_tokens = n;
      *budget -= n;
      scheduled_.push_back(e);
      return absl::OkStatus();
    }
    if (!absl::IsResourceExhausted(st)) return st;
    Entry* victim = PickVictim();
    if (victim->step_tokens > 0) *budget += victim->step_tokens;
    if (absl::Status s = Preempt(victim, result); !s.ok()) return s;
    *preempted = true;
    if (victim == e) return absl::OkStatus();
  }
}

absl::Status Scheduler::SchedulePass(bool decode_pass, int64_t* budget,
                                     StepResult* result, bool* preempted) {
  for (Entry* e : snapshot_) {
    if (!e->admitted || e->step_tokens > 0) continue;
    const int64_t left = e->known - e->computed;
    PAGEKV_DCHECK(left >= 1, "running request {} has nothing to compute",
                  e->request->id);
    if ((left == 1) != decode_pass) continue;
    const int64_t n = std::min(left, *budget);
    if (n <= 0) break;
    if (absl::Status s = ReserveOrPreempt(e, n, budget, result, preempted);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Scheduler::ScheduleRunning(int64_t* budget,
                                                StepResult* result) {
  bool preempted = false;
  // Decodes (one token left to compute) first, then prefill chunks.
  // running_ may shrink under us (preemption), so walk a snapshot and skip
  // entries that left.
  snapshot_.assign(running_.begin(), running_.end());
  // Decodes go in one batch when they all fit (the usual case); otherwise
  // the decode pass below runs one request at a time, preempting as it
  // goes. Either way every sampled token reaches the allocator first.
  absl::StatusOr<bool> batched = ScheduleDecodeBatch(budget);
  if (!batched.ok()) return batched.status();
  if (absl::Status s = FlushPendingTokens(); !s.ok()) return s;
  for (int pass = *batched ? 1 : 0; pass < 2; ++pass) {
    if (absl::Status s = SchedulePass(pass == 0, budget, result, &preempted);
        !s.ok()) {
      return s;
    }
  }
  // Preempted victims that had been scheduled leave the batch.
  std::erase_if(scheduled_, [](Entry* e) { return !e->admitted; });
  return preempted;
}

absl::StatusOr<bool> Scheduler::SchedulePrefillStep(int64_t* budget,
                                                    StepResult* result) {
  snapshot_.assign(running_.begin(), running_.end());
  const bool prefilling =
      std::any_of(snapshot_.begin(), snapshot_.end(),
                  [](const Entry* e) { return e->known - e->computed > 1; });
  if (!prefilling && waiting_.empty()) return false;
  // Decodes wait; their sampled tokens reach the allocator now, so any of
  // them can be preempted.
  if (absl::Status s = FlushPendingTokens(); !s.ok()) return s;
  bool preempted = false;
  if (absl::Status s = SchedulePass(false, budget, result, &preempted);
      !s.ok()) {
    return s;
  }
  std::erase_if(scheduled_, [](Entry* e) { return !e->admitted; });
  if (!preempted) {
    if (absl::Status s = AdmitWaiting(budget, result); !s.ok()) return s;
  }
  return !scheduled_.empty();
}

absl::Status Scheduler::AdmitWaiting(int64_t* budget, StepResult* result) {
  while (!waiting_.empty() && *budget > 0 &&
         static_cast<int32_t>(running_.size()) < config_.max_num_seqs) {
    Entry* e = waiting_.front();
    if (e->blocked_epoch == release_epoch_ && *budget >= e->blocked_budget) {
      result->admission_blocked_by_memory = true;
      break;
    }
    if (config_.admission == AdmissionMode::kGuaranteed &&
        !GuaranteedFits(*e)) {
      result->admission_blocked_by_memory = true;
      e->blocked_epoch = release_epoch_;
      e->blocked_budget = 0;  // only a release makes room
      break;
    }
    if (absl::Status s = EnsureSequence(e); !s.ok()) return s;
    if (e->swapped_tokens > 0) {
      absl::StatusOr<bool> in = SwapIn(e);
      if (!in.ok()) return in.status();
      if (!*in) {
        result->admission_blocked_by_memory = true;
        e->blocked_epoch = release_epoch_;
        e->blocked_budget = 0;  // swapping in does not use the budget
        break;
      }
      continue;
    }
    // Without chunked prefill the whole known prefix is computed in this
    // step (vLLM v0 counted it whole, prefix hit or not), or not yet.
    if (!config_.chunked_prefill && e->known > *budget) break;
    if (config_.require_full_prompt_fit &&
        !allocator_->CanAdmitWholePrompt(e->seq)) {
      result->admission_blocked_by_memory = true;
      e->blocked_epoch = release_epoch_;
      e->blocked_budget = 0;  // the gate does not depend on the budget
      break;
    }
    absl::StatusOr<Admission> admission = allocator_->Admit(e->seq, *budget);
    if (!admission.ok()) {
      if (!absl::IsResourceExhausted(admission.status())) {
        return admission.status();
      }
      result->admission_blocked_by_memory = true;
      e->blocked_epoch = release_epoch_;
      e->blocked_budget = *budget;
      break;
    }
    waiting_.pop_front();
    MarkRunning(e);
    // The chunk's tokens count as computed once the step has run.
    e->computed = admission->hit.num_tokens;
    ChargeHostHit(*admission, result);
    if (e->computed > 0) result->hits.emplace_back(e->request->id, e->computed);
    if (admission->num_new_tokens > 0) {
      e->step_tokens = admission->num_new_tokens;
      *budget -= e->step_tokens;
      scheduled_.push_back(e);
    }
  }
  return absl::OkStatus();
}

void Scheduler::MarkRunning(Entry* e) {
  e->admitted = true;
  e->admit_order = next_admit_order_++;
  committed_slots_ += e->max_slots;
  running_.push_back(e);
}

bool Scheduler::GuaranteedFits(const Entry& e) const {
  return committed_slots_ + e.max_slots <= capacity_slots_;
}

absl::StatusOr<bool> Scheduler::SwapIn(Entry* e) {
  // Claim the prefix hit first: those tokens need no copy.
  absl::StatusOr<Admission> admission = allocator_->Admit(e->seq, 0);
  if (!admission.ok()) {
    if (!absl::IsResourceExhausted(admission.status())) {
      return admission.status();
    }
    return false;
  }
  const int64_t hit = admission->hit.num_tokens;
  const int64_t copy = e->swapped_tokens - hit;
  if (copy > 0) {
    absl::Status st = allocator_->Reserve(e->seq, copy);
    if (!st.ok()) {
      if (!absl::IsResourceExhausted(st)) return st;
      // Give the hit back: the request waits with nothing held.
      if (absl::Status s = allocator_->Release(e->seq); !s.ok()) return s;
      e->has_seq = false;
      return false;
    }
    pending_swap_bytes_ +=
        static_cast<double>(copy) * config_.swap_bytes_per_token;
  }
  waiting_.pop_front();
  MarkRunning(e);
  e->computed = std::max(hit, e->swapped_tokens);
  e->swapped_tokens = 0;
  return true;
}

absl::Status Scheduler::RunScheduled(StepResult* result) {
  footprint_.sequences.clear();
  for (Entry* e : scheduled_) {
    if (e->step_tokens == 1) {
      ++result->num_decodes;
    } else {
      ++result->num_prefills;
      result->prefill_tokens += e->step_tokens;
    }
    absl::Status s = allocator_->AddToFootprint(
        e->seq, static_cast<int32_t>(e->step_tokens), &footprint_);
    if (!s.ok()) return s;
  }
  const StepCost cost = cost_hook_->Estimate(footprint_);
  result->duration_s = cost.seconds;
  if (pending_swap_bytes_ > 0) {
    // Copies to and from host memory run before the step's compute.
    result->swap_s = pending_swap_bytes_ / config_.host_link_bytes_per_s;
    result->duration_s += result->swap_s;
    pending_swap_bytes_ = 0;
  }
  ChargeTierTraffic(result);
  AdvanceTo(now_s_ + result->duration_s);
  return absl::OkStatus();
}

absl::Status Scheduler::SampleTokens(StepResult* result) {
  bool any_finished = false;
  for (Entry* e : scheduled_) {
    e->computed += e->step_tokens;
    e->step_tokens = 0;
    PAGEKV_DCHECK(e->computed <= e->known,
                  "request {} computed {} of {} known tokens", e->request->id,
                  e->computed, e->known);
    if (e->computed < e->known) continue;
    // The step computed the last known token: one token is sampled.
    if (e->generated == 0) result->first_tokens.push_back(e->request->id);
    ++e->generated;
    if (e->prompt_tokens + e->generated >= e->final_tokens) {
      if (absl::Status s = Finish(e); !s.ok()) return s;
      any_finished = true;
      result->finished.push_back(e->request->id);
      continue;
    }
    // The allocator gets the token with the next step's decodes.
    e->tokens.push_back(
        SynthesizeToken(OutputContentId(*e->request), e->generated - 1));
    e->token_pending = true;
    ++e->known;
  }
  if (any_finished) {
    std::erase_if(running_, [](Entry* e) { return e->finished; });
  }
  return absl::OkStatus();
}

absl::Status Scheduler::Finish(Entry* e) {
  if (absl::Status s = allocator_->Release(e->seq); !s.ok()) return s;
  ++release_epoch_;
  committed_slots_ -= e->max_slots;
  e->has_seq = false;
  e->admitted = false;
  e->finished = true;
  // Never re-added: the buffer goes to the next request.
  e->tokens.clear();
  spare_tokens_.push_back(std::move(e->tokens));
  return absl::OkStatus();
}

absl::StatusOr<StepResult> Scheduler::Step() {
  StepResult result;
  result.start_s = now_s_;
  int64_t budget = config_.max_batch_tokens;
  scheduled_.clear();

  // Prefill-first: a step of prefill work alone when there is some.
  bool prefill_step = false;
  if (config_.admission == AdmissionMode::kPrefillFirst) {
    absl::StatusOr<bool> ran = SchedulePrefillStep(&budget, &result);
    if (!ran.ok()) return ran.status();
    prefill_step = *ran;
  }
  // 1. Running requests; 2. admission, unless this step had to preempt.
  if (!prefill_step) {
    absl::StatusOr<bool> preempted = ScheduleRunning(&budget, &result);
    if (!preempted.ok()) return preempted.status();
    if (!*preempted) {
      if (absl::Status s = AdmitWaiting(&budget, &result); !s.ok()) return s;
    }
  }
  result.num_running = static_cast<int32_t>(running_.size());
  result.num_waiting = static_cast<int32_t>(waiting_.size());
  result.memory = allocator_->Memory();
  if (scheduled_.empty()) return result;

  // 3. Cost of the step, then its outcome.
  if (absl::Status s = RunScheduled(&result); !s.ok()) return s;
  if (absl::Status s = SampleTokens(&result); !s.ok()) return s;
  return result;
}

}  // namespace pagekv
