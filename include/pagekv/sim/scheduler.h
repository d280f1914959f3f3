// Scheduler: continuous batching with chunked prefill over a SimAllocator,
// timed by a CostHook on a simulated clock.
//
// Each Step():
//   1. Running requests, in admission order: every decode (one token) first,
//      then the unfinished prefills, each taking a chunk of what is left of
//      the token budget `max_batch_tokens` (Sarathi-style: decodes never
//      stall behind a long prompt). When memory for a scheduled token runs
//      out, a victim is preempted by recompute: its memory is released, it
//      goes back to the front of the waiting queue, and it is re-added later
//      with its prompt and the tokens it generated so far, marked
//      resumed_after_preemption (its prefix hits are counted apart). Victims
//      are the last admitted running request, or the lowest priority one.
//      The decodes go to the allocator in one AppendDecodeTokens() call
//      when they all fit; otherwise one at a time, preempting as above.
//      Either way the outcome is the same.
//   2. Waiting requests, first come first served (preempted ones first),
//      while there is budget and fewer than max_num_seqs run: admit with the
//      allocator's prefix match and a first chunk. The first request that
//      does not fit stops admission (no overtaking). With
//      require_full_prompt_fit, a request is admitted only if its whole
//      remaining prompt fits now. Nothing is admitted in a step that
//      preempted.
//   3. The step's footprint (all scheduled sequences, prefill and decode
//      together, one step) goes to the CostHook; the clock advances by its
//      time. A sequence whose computed tokens reach its known tokens samples
//      a token: the first one is its first token (TTFT), the last one
//      finishes it and releases its memory.
//
// Modes (SchedulerConfig):
//   preemption_mode  recompute (above), or swap: the victim's computed KV is
//                    copied to host memory over the host link and copied back
//                    when it is re-admitted, instead of being recomputed
//                    (vLLM v0's swap). Both copies are charged to the step
//                    that runs next: bytes / host link bandwidth, serialized
//                    with the step's compute. Host memory is unbounded.
//   admission        chunked (above: decodes and prefill chunks share every
//                    step); prefill-first: a step that can run prefill work
//                    (unfinished prompts, waiting requests that fit) runs only
//                    that, decodes wait for a step with none (vLLM v0 from
//                    August 2023; a prompt longer than the budget is still
//                    chunked unless chunked_prefill is off); guaranteed: a
//                    request is admitted only when the slots it can ever hold
//                    (SimAllocator::MaxSlots), added to those of every running
//                    request, fit in the cache, so nothing is ever preempted
//                    (TensorRT-LLM's GUARANTEED_NO_EVICT).
//   chunked_prefill  true (above); false: a prompt is never split, a waiting
//                    request joins a step only when all its known tokens fit
//                    what is left of the budget (vLLM before chunked prefill:
//                    with chunked admission, vLLM 0.1.0-0.1.2 and the
//                    PagedAttention paper's engine, whose steps ran whole
//                    prompts beside the decodes; with prefill-first, vLLM
//                    v0 from August 2023).
//
// A request that can never fit (SimAllocator::CheckFits fails: its final
// length exceeds the whole cache) is rejected with the reason at Submit().
//
// Output tokens are synthesized, SynthesizeToken(OutputContentId(request),
// i), so a resumed request recomputes exactly the tokens it had. Each
// request's tokens are kept from its first admission to its end, so
// re-adding it after preemption synthesizes nothing again.
//
// Thread-safety: not thread-safe.
#ifndef PAGEKV_SIM_SCHEDULER_H_
#define PAGEKV_SIM_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/cost_hook.h"
#include "pagekv/footprint.h"
#include "pagekv/sim/sim_allocator.h"
#include "pagekv/sim/workload.h"
#include "pagekv/types.h"

namespace pagekv {

enum class PreemptionPolicy {
  kLastAdmitted,    // the most recently admitted running request (vLLM)
  kLowestPriority,  // lowest Request::priority; ties: last admitted
};

// Returns "last-admitted" or "lowest-priority".
std::string_view PreemptionPolicyName(PreemptionPolicy policy);
// Parses a name above; InvalidArgument listing them otherwise.
absl::StatusOr<PreemptionPolicy> ParsePreemptionPolicy(std::string_view name);

enum class PreemptionMode { kRecompute, kSwap };
enum class AdmissionMode { kChunked, kPrefillFirst, kGuaranteed };

// Returns "recompute" / "swap", and "chunked" / "prefill-first" /
// "guaranteed".
std::string_view PreemptionModeName(PreemptionMode mode);
std::string_view AdmissionModeName(AdmissionMode mode);
// Parse the names above; InvalidArgument listing them otherwise.
absl::StatusOr<PreemptionMode> ParsePreemptionMode(std::string_view name);
absl::StatusOr<AdmissionMode> ParseAdmissionMode(std::string_view name);

// What host-tier transfers cost the scheduler (docs/tiers.md). All 0 = no
// host tier. A host hit is charged its load (alpha + bytes / beta, before
// the step's compute) or, when that is dearer, its recompute; stores run
// beside the step and stretch steps with decodes by
// 1 + store_decode_slowdown x the link's busy share.
struct TierCostConfig {
  double block_bytes = 0;            // KV bytes of one block, one device
  double host_latency_s = 0;         // alpha per transfer job
  double host_bytes_per_s = 0;       // beta, per direction
  double store_decode_slowdown = 0;  // in [0, 1]
  // Prefill seconds per token, for load vs recompute; 0 = always load.
  double recompute_s_per_token = 0;
};

struct SchedulerConfig {
  // Tokens computed per step, decodes and prefill chunks together. >= 1.
  int64_t max_batch_tokens = 8192;
  // Running (admitted, unfinished) requests at most. >= 1.
  int32_t max_num_seqs = 256;
  PreemptionPolicy preemption_policy = PreemptionPolicy::kLastAdmitted;
  // Admission gate: admit only when the whole remaining prompt fits now.
  bool require_full_prompt_fit = false;
  // Longest request (prompt + output) accepted; longer ones are rejected at
  // Submit() (vLLM's max_model_len). 0 = no limit. >= 0.
  int64_t max_model_len = 0;
  PreemptionMode preemption_mode = PreemptionMode::kRecompute;
  AdmissionMode admission = AdmissionMode::kChunked;
  // false: prompts are never split (see the top of this file); needs
  // 0 < max_model_len <= max_batch_tokens, so every request fits a step.
  bool chunked_prefill = true;
  // Swap: KV bytes of one token on one device, and the host link's bytes/s
  // per direction. Both > 0 with kSwap (ignored otherwise).
  double swap_bytes_per_token = 0;
  double host_link_bytes_per_s = 0;
  // Host tier transfer costs (the simulator fills them in).
  TierCostConfig tier;

  // OK, or InvalidArgument naming the bad field and value.
  absl::Status Validate() const;
};

// What happened in one Step().
struct StepResult {
  double start_s = 0;     // simulated time the step began
  double duration_s = 0;  // the cost hook's estimate; 0 if nothing ran
  int32_t num_decodes = 0;
  int32_t num_prefills = 0;  // prefill chunks (one per sequence)
  int64_t prefill_tokens = 0;
  // Sequences running and waiting after scheduling (before finishing).
  int32_t num_running = 0;
  int32_t num_waiting = 0;
  // Memory after scheduling, when the step's tokens hold their slots.
  MemoryBreakdown memory;
  // Admission stopped for lack of memory (not budget or max_num_seqs).
  bool admission_blocked_by_memory = false;
  // Request ids: first token sampled this step, finished this step,
  // preempted this step.
  std::vector<uint64_t> first_tokens;
  std::vector<uint64_t> finished;
  std::vector<uint64_t> preempted;
  // Requests admitted this step with their prefix-hit tokens: {id, tokens}.
  std::vector<std::pair<uint64_t, int64_t>> hits;

  // Time of the step spent copying KV to and from host memory (swap); part
  // of duration_s.
  double swap_s = 0;
  // Host tier: hit tokens admitted from the host (loaded, or recomputed
  // because that was cheaper), blocks stored, the loads' time (part of
  // duration_s), the stores' link time and the slowdown they added (part
  // of duration_s).
  int64_t host_hit_tokens = 0;
  int64_t loaded_host_tokens = 0;
  int64_t recomputed_host_tokens = 0;
  int64_t stored_blocks = 0;
  double load_s = 0;
  double store_link_s = 0;
  double store_overhead_s = 0;

  int32_t batch_size() const { return num_decodes + num_prefills; }
};

// A request rejected because it can never fit.
struct Rejection {
  uint64_t request_id = 0;
  std::string reason;
};

class Scheduler {
 public:
  // `allocator` and `cost_hook` are not owned and must outlive the
  // scheduler. The scheduler's clock starts at 0; it tells the allocator
  // every move (SimAllocator::SetTimeMicros), so eviction recency follows
  // simulated time. InvalidArgument if the config is invalid or a pointer
  // is null.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(
      const SchedulerConfig& config, SimAllocator* allocator,
      const CostHook* cost_hook);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request that has arrived. Returns false (and records a
  // Rejection) if it can never fit. `request` must outlive the scheduler.
  // REQUIRES: request.Validate-level invariants (>= 1 prompt and output
  // token); every request id distinct.
  bool Submit(const Request& request);

  // True while a request is running or waiting.
  bool HasWork() const;

  // Runs one step (see the top of the file) and advances the clock.
  // Internal errors of the allocator are returned (a bug, not capacity).
  absl::StatusOr<StepResult> Step();

  // Simulated time in seconds (the clock, at full precision).
  double now_s() const { return now_s_; }
  // Moves the clock forward to `t` (idle time). REQUIRES: t >= now_s().
  void AdvanceTo(double t);

  int64_t num_preemptions() const { return num_preemptions_; }
  const std::vector<Rejection>& rejections() const { return rejections_; }
  int32_t num_running() const { return static_cast<int32_t>(running_.size()); }
  int32_t num_waiting() const { return static_cast<int32_t>(waiting_.size()); }
  const SchedulerConfig& config() const { return config_; }

 private:
  struct Entry;
  Scheduler(const SchedulerConfig& config, SimAllocator* allocator,
            const CostHook* cost_hook);
  // Step()'s phases, in order.
  // 1. Schedules the running requests (decodes, then prefill chunks) within
  // *budget, preempting when memory runs out; returns whether it preempted.
  absl::StatusOr<bool> ScheduleRunning(int64_t* budget, StepResult* result);
  // Prefill-first: schedules only prefill work (unfinished prompts, then
  // admissions); returns whether anything was scheduled.
  absl::StatusOr<bool> SchedulePrefillStep(int64_t* budget, StepResult* result);
  // One pass over the snapshot: the decodes, or the prefill chunks.
  absl::Status SchedulePass(bool decode_pass, int64_t* budget,
                            StepResult* result, bool* preempted);
  // 2. Admits waiting requests while budget, max_num_seqs and memory allow.
  absl::Status AdmitWaiting(int64_t* budget, StepResult* result);
  // Whether admission mode guaranteed lets `e` in now.
  bool GuaranteedFits(const Entry& e) const;
  // Re-admits a swapped-out request with its computed tokens restored;
  // false (nothing held) when they do not fit.
  absl::StatusOr<bool> SwapIn(Entry* e);
  // 3. Costs the scheduled sequences' footprint and advances the clock.
  absl::Status RunScheduled(StepResult* result);
  // 4. Counts the computed tokens, samples one token for each sequence that
  // caught up with its known tokens, and finishes the complete ones.
  absl::Status SampleTokens(StepResult* result);
  // Reserves `n` tokens for `e`, preempting victims until it fits or `e`
  // itself is preempted (then *preempted is set).
  absl::Status ReserveOrPreempt(Entry* e, int64_t n, int64_t* budget,
                                StepResult* result, bool* preempted);
  // Marks an admitted request running (admission order, committed slots).
  void MarkRunning(Entry* e);
  // Releases a request that generated its last token.
  absl::Status Finish(Entry* e);
  // Host tier (scheduler_tiers.cc): charges an admission's host hits their
  // load or recompute time, to the step that runs next.
  void ChargeHostHit(const Admission& admission, StepResult* result);
  // Adds the pending loads and the stores' slowdown to the step's time.
  void ChargeTierTraffic(StepResult* result);
  absl::Status Preempt(Entry* victim, StepResult* result);
  Entry* PickVictim();
  absl::Status EnsureSequence(Entry* e);
  // The decode pass in one allocator call; false (nothing changed) when it
  // must run one request at a time.
  absl::StatusOr<bool> ScheduleDecodeBatch(int64_t* budget);
  // Gives the allocator every sampled token it has not had yet.
  absl::Status FlushPendingTokens();

  SchedulerConfig config_;
  SimAllocator* allocator_;
  const CostHook* cost_hook_;
  double now_s_ = 0;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<Entry*> running_;  // in admission order
  std::deque<Entry*> waiting_;   // front = next to admit
  uint64_t next_admit_order_ = 0;
  int64_t num_preemptions_ = 0;
  uint64_t release_epoch_ = 0;  // counts releases (finish, preemption)
  // Guaranteed admission: sum of MaxSlots over running requests, and the
  // allocator's capacity in slots.
  int64_t committed_slots_ = 0;
  int64_t capacity_slots_ = 0;
  // Swap: bytes copied over the host link not yet charged to a step.
  double pending_swap_bytes_ = 0;
  double pending_tier_s_ = 0;  // host-hit loads/recomputes for the next step
  std::vector<Rejection> rejections_;
  // Scratch of Step(), kept to reuse its memory: the running requests at the
  // step's start, the scheduled ones, the decode batch and the footprint.
  std::vector<Entry*> snapshot_;
  std::vector<Entry*> scheduled_;
  std::vector<Entry*> batch_entries_;
  std::vector<SeqId> batch_seqs_;
  std::vector<TokenId> batch_tokens_;
  StepFootprint footprint_;
  // Token buffers of finished requests, reused by new ones (their pages are
  // already mapped: a fresh buffer per request costs a page fault per 4 KiB).
  std::vector<std::vector<TokenId>> spare_tokens_;
};

}  // namespace pagekv

#endif  // PAGEKV_SIM_SCHEDULER_H_
