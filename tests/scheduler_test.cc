#include "pagekv/sim/scheduler.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/clock.h"
#include "pagekv/cost_hook.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/sim/sim_allocator.h"
#include "pagekv/sim/workload.h"

namespace pagekv {
namespace {

// Every step takes 10 ms.
class FixedCost final : public CostHook {
 public:
  StepCost Estimate(const StepFootprint& fp) const override {
    StepCost c;
    c.seconds = fp.sequences.empty() ? 0 : 0.010;
    return c;
  }
};

Request MakeRequest(uint64_t id, int32_t prompt, int32_t output,
                    uint64_t content = 0, int32_t priority = 50) {
  Request r;
  r.id = id;
  r.output_tokens = output;
  r.priority = priority;
  r.segments = {{content == 0 ? 1000 + id : content, prompt}};
  return r;
}

// Steps until no work is left (at most max_steps); returns the results.
std::vector<StepResult> RunToCompletion(Scheduler& scheduler,
                                        int max_steps = 10000) {
  std::vector<StepResult> out;
  while (scheduler.HasWork() && max_steps-- > 0) {
    absl::StatusOr<StepResult> s = scheduler.Step();
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) break;
    out.push_back(*std::move(s));
  }
  EXPECT_FALSE(scheduler.HasWork()) << "did not finish";
  return out;
}

struct Harness {
  explicit Harness(int64_t num_blocks, int32_t block_size = 4,
                   SchedulerConfig sc = {}) {
    KVCacheConfig kv;
    kv.num_blocks = num_blocks;
    kv.block_size = block_size;
    allocator = *MakePagedAllocator(kv, 1.0);
    scheduler = *Scheduler::Create(sc, allocator.get(), &cost);
  }
  std::vector<StepResult> RunAll(int max_steps = 10000) {
    return RunToCompletion(*scheduler, max_steps);
  }

  FixedCost cost;
  std::unique_ptr<SimAllocator> allocator;
  std::unique_ptr<Scheduler> scheduler;
};

// Forwards to another allocator and records what the scheduler gives it:
// every sequence's known tokens (added, then appended) and the decode
// batches.
class RecordingAllocator final : public SimAllocator {
 public:
  explicit RecordingAllocator(SimAllocator* inner) : inner_(inner) {}

  AllocatorKind kind() const override { return inner_->kind(); }
  void SetTimeMicros(int64_t now_us) override {
    times_us.push_back(now_us);
    inner_->SetTimeMicros(now_us);
  }
  absl::Status CheckFits(int64_t prompt_tokens,
                         int64_t final_tokens) const override {
    return inner_->CheckFits(prompt_tokens, final_tokens);
  }
  int64_t MaxSlots(int64_t prompt_tokens, int64_t final_tokens) const override {
    return inner_->MaxSlots(prompt_tokens, final_tokens);
  }
  absl::StatusOr<SeqId> AddSequence(absl::Span<const TokenId> prompt,
                                    int64_t final_tokens,
                                    const SequenceOptions& options) override {
    absl::StatusOr<SeqId> seq =
        inner_->AddSequence(prompt, final_tokens, options);
    if (seq.ok()) {
      known[seq->value()].assign(prompt.begin(), prompt.end());
      added.emplace_back(prompt.begin(), prompt.end());
    }
    return seq;
  }
  bool CanAdmitWholePrompt(SeqId seq) const override {
    return inner_->CanAdmitWholePrompt(seq);
  }
  absl::StatusOr<Admission> Admit(SeqId seq, int64_t max_new_tokens) override {
    return inner_->Admit(seq, max_new_tokens);
  }
  absl::Status Reserve(SeqId seq, int64_t num_new_tokens) override {
    if (num_new_tokens == 1) ++single_token_reserves;
    return inner_->Reserve(seq, num_new_tokens);
  }
  absl::Status AppendToken(SeqId seq, TokenId token) override {
    absl::Status s = inner_->AppendToken(seq, token);
    if (s.ok()) known[seq.value()].push_back(token);
    return s;
  }
  absl::Status AppendDecodeTokens(absl::Span<const SeqId> seqs,
                                  absl::Span<const TokenId> tokens) override {
    absl::Status s = inner_->AppendDecodeTokens(seqs, tokens);
    if (!s.ok()) return s;
    decode_batches.push_back(static_cast<int64_t>(seqs.size()));
    for (size_t i = 0; i < seqs.size(); ++i) {
      known[seqs[i].value()].push_back(tokens[i]);
    }
    return s;
  }
  absl::Status Release(SeqId seq) override { return inner_->Release(seq); }
  absl::Status AddToFootprint(SeqId seq, int32_t new_tokens,
                              StepFootprint* footprint) const override {
    return inner_->AddToFootprint(seq, new_tokens, footprint);
  }
  MemoryBreakdown Memory() const override { return inner_->Memory(); }
  PrefixCacheStats PrefixStats() const override {
    return inner_->PrefixStats();
  }

  std::map<uint64_t, std::vector<TokenId>> known;  // by sequence id
  std::vector<std::vector<TokenId>> added;         // each AddSequence
  std::vector<int64_t> decode_batches;             // sizes, in order
  int64_t single_token_reserves = 0;
  std::vector<int64_t> times_us;  // each SetTimeMicros

 private:
  SimAllocator* inner_;
};

// What a request's sequence must hold: its prompt, then its synthesized
// output tokens.
std::vector<TokenId> ExpectedTokens(const Request& r) {
  std::vector<TokenId> tokens;
  r.MaterializePrompt(&tokens);
  for (int32_t i = 0; i < r.output_tokens; ++i) {
    tokens.push_back(SynthesizeToken(OutputContentId(r), i));
  }
  return tokens;
}

// True if `tokens` is a prefix of `expected` at least `min_size` long.
bool IsPrefixOf(const std::vector<TokenId>& tokens,
                const std::vector<TokenId>& expected, size_t min_size) {
  return tokens.size() >= min_size && tokens.size() <= expected.size() &&
         std::equal(tokens.begin(), tokens.end(), expected.begin());
}

// A scheduler over a RecordingAllocator over a paged allocator.
struct RecordingHarness {
  RecordingHarness(int64_t num_blocks, SchedulerConfig sc = {})
      : inner(num_blocks), recording(inner.allocator.get()) {
    scheduler = *Scheduler::Create(sc, &recording, &inner.cost);
  }
  std::vector<StepResult> RunAll() { return RunToCompletion(*scheduler); }
  // Each sequence the allocator saw holds a prefix of one request's tokens
  // (whole prompt included), and was added with at least the prompt.
  void ExpectTokensOf(const std::vector<Request>& requests) {
    for (const auto& [seq, tokens] : recording.known) {
      bool matched = false;
      for (const Request& r : requests) {
        matched |= IsPrefixOf(tokens, ExpectedTokens(r),
                              static_cast<size_t>(r.PromptTokens()));
      }
      EXPECT_TRUE(matched) << "sequence " << seq << " holds tokens of no "
                           << "request";
    }
  }

  Harness inner;
  RecordingAllocator recording;
  std::unique_ptr<Scheduler> scheduler;
};

TEST(SchedulerConfigTest, ValidateNamesTheField) {
  SchedulerConfig c;
  EXPECT_TRUE(c.Validate().ok());
  c.max_batch_tokens = 0;
  EXPECT_THAT(c.Validate().message(), testing::HasSubstr("max_batch_tokens"));
  c = {};
  c.max_num_seqs = 0;
  EXPECT_THAT(c.Validate().message(), testing::HasSubstr("max_num_seqs"));
  EXPECT_FALSE(ParsePreemptionPolicy("random").ok());
  EXPECT_EQ(*ParsePreemptionPolicy("lowest-priority"),
            PreemptionPolicy::kLowestPriority);
}

TEST(SchedulerTest, ChunkedPrefillRespectsTheTokenBudget) {
  SchedulerConfig sc;
  sc.max_batch_tokens = 64;
  Harness h(1000, 4, sc);
  const Request r = MakeRequest(0, 200, 3);
  ASSERT_TRUE(h.scheduler->Submit(r));
  std::vector<StepResult> steps = h.RunAll();
  ASSERT_EQ(steps.size(), 6u);  // 4 prefill chunks + 2 decodes
  EXPECT_EQ(steps[0].prefill_tokens, 64);
  EXPECT_EQ(steps[1].prefill_tokens, 64);
  EXPECT_EQ(steps[2].prefill_tokens, 64);
  EXPECT_EQ(steps[3].prefill_tokens, 8);
  EXPECT_THAT(steps[3].first_tokens, testing::ElementsAre(0u));
  EXPECT_EQ(steps[4].num_decodes, 1);
  EXPECT_THAT(steps[5].finished, testing::ElementsAre(0u));
  for (const StepResult& s : steps) {
    EXPECT_LE(s.prefill_tokens + s.num_decodes, 64);
  }
  EXPECT_NEAR(h.scheduler->now_s(), 0.060, 1e-9);
}

TEST(SchedulerTest, TellsTheAllocatorEveryMoveOfItsClock) {
  RecordingHarness h(1000);
  const Request r = MakeRequest(0, 8, 3);
  ASSERT_TRUE(h.scheduler->Submit(r));
  h.scheduler->AdvanceTo(1.5);
  h.RunAll();  // prefill, then two decodes of 10 ms each
  EXPECT_THAT(h.recording.times_us,
              testing::ElementsAre(0, 1500000, 1510000, 1520000, 1530000));
}

TEST(SchedulerTest, PagedAllocatorKeepsItsOwnClock) {
  ManualClock clock;
  KVCacheConfig kv;
  kv.num_blocks = 10;
  kv.clock = &clock;
  absl::StatusOr<std::unique_ptr<SimAllocator>> a = MakePagedAllocator(kv, 1);
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.status().message(), testing::HasSubstr("clock"));
}

TEST(SchedulerTest, DecodesRunBeforePrefillChunks) {
  SchedulerConfig sc;
  sc.max_batch_tokens = 32;
  Harness h(1000, 4, sc);
  const Request a = MakeRequest(0, 8, 10);
  const Request b = MakeRequest(1, 100, 2);
  ASSERT_TRUE(h.scheduler->Submit(a));
  absl::StatusOr<StepResult> s = h.scheduler->Step();  // a's prefill
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->prefill_tokens, 8);
  ASSERT_TRUE(h.scheduler->Submit(b));
  s = h.scheduler->Step();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->num_decodes, 1);      // a decodes first ...
  EXPECT_EQ(s->prefill_tokens, 31);  // ... b gets what is left
  s = h.scheduler->Step();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->num_decodes, 1);
  EXPECT_EQ(s->prefill_tokens, 31);
}

TEST(SchedulerTest, MaxNumSeqsLimitsRunningRequests) {
  SchedulerConfig sc;
  sc.max_num_seqs = 2;
  Harness h(1000, 4, sc);
  std::vector<Request> rs;
  for (uint64_t i = 0; i < 5; ++i) rs.push_back(MakeRequest(i, 4, 5));
  for (const Request& r : rs) ASSERT_TRUE(h.scheduler->Submit(r));
  for (const StepResult& s : h.RunAll()) EXPECT_LE(s.num_running, 2);
}

TEST(SchedulerTest, PreemptsUnderPressureAndTheVictimCompletesLater) {
  // 8 usable blocks of 4 tokens; each request grows to 20 tokens (5 blocks).
  Harness h(9, 4);
  const Request a = MakeRequest(0, 8, 12);
  const Request b = MakeRequest(1, 8, 12);
  ASSERT_TRUE(h.scheduler->Submit(a));
  ASSERT_TRUE(h.scheduler->Submit(b));
  std::vector<StepResult> steps = h.RunAll();
  EXPECT_GE(h.scheduler->num_preemptions(), 1);
  std::vector<uint64_t> preempted, finished;
  int64_t first_tokens = 0;
  for (const StepResult& s : steps) {
    preempted.insert(preempted.end(), s.preempted.begin(), s.preempted.end());
    finished.insert(finished.end(), s.finished.begin(), s.finished.end());
    first_tokens += static_cast<int64_t>(s.first_tokens.size());
  }
  // The last admitted (b) is the victim; both finish, each exactly once,
  // and each first token is reported once despite the recompute.
  ASSERT_FALSE(preempted.empty());
  EXPECT_EQ(preempted.front(), 1u);
  EXPECT_THAT(finished, testing::UnorderedElementsAre(0u, 1u));
  EXPECT_EQ(first_tokens, 2);
  // The resumed request's hits are counted apart.
  EXPECT_GT(h.allocator->PrefixStats().resumed_queries, 0u);
  EXPECT_EQ(h.allocator->PrefixStats().queries, 2u);
}

TEST(SchedulerTest, ResumedRequestIsReaddedWithItsGeneratedTokens) {
  // As above: b is preempted after generating tokens, then re-added.
  RecordingHarness h(9);
  const std::vector<Request> rs = {MakeRequest(0, 8, 12),
                                   MakeRequest(1, 8, 12)};
  for (const Request& r : rs) ASSERT_TRUE(h.scheduler->Submit(r));
  h.RunAll();
  ASSERT_GE(h.scheduler->num_preemptions(), 1);
  h.ExpectTokensOf(rs);
  // Some re-add carried generated tokens after the prompt.
  const std::vector<TokenId> expected_b = ExpectedTokens(rs[1]);
  bool resumed_with_output = false;
  for (const std::vector<TokenId>& tokens : h.recording.added) {
    resumed_with_output |=
        tokens.size() > 8 && IsPrefixOf(tokens, expected_b, 9);
  }
  EXPECT_TRUE(resumed_with_output);
}

TEST(SchedulerTest, DecodesOfAStepGoToTheAllocatorInOneBatch) {
  RecordingHarness h(1000);
  std::vector<Request> rs;
  for (uint64_t i = 0; i < 3; ++i) rs.push_back(MakeRequest(i, 8, 5));
  for (const Request& r : rs) ASSERT_TRUE(h.scheduler->Submit(r));
  std::vector<StepResult> steps = h.RunAll();
  // One prefill step samples every first token, then four decode steps.
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_THAT(h.recording.decode_batches, testing::ElementsAre(3, 3, 3, 3));
  EXPECT_EQ(h.recording.single_token_reserves, 0);
  h.ExpectTokensOf(rs);
  for (const auto& [seq, tokens] : h.recording.known) {
    EXPECT_EQ(tokens.size(), 12u);  // 8 prompt + 4 sampled and computed
  }
}

TEST(SchedulerTest, DecodeBatchTakesTheFirstRequestsTheBudgetAllows) {
  SchedulerConfig sc;
  sc.max_batch_tokens = 2;
  RecordingHarness h(1000, sc);
  std::vector<Request> rs;
  for (uint64_t i = 0; i < 3; ++i) rs.push_back(MakeRequest(i, 2, 4));
  for (const Request& r : rs) ASSERT_TRUE(h.scheduler->Submit(r));
  for (const StepResult& s : h.RunAll()) {
    EXPECT_LE(s.num_decodes + s.prefill_tokens, 2);
  }
  h.ExpectTokensOf(rs);
  for (int64_t size : h.recording.decode_batches) EXPECT_LE(size, 2);
}

TEST(SchedulerTest, LowestPriorityPolicyPicksTheLowPriorityVictim) {
  SchedulerConfig sc;
  sc.preemption_policy = PreemptionPolicy::kLowestPriority;
  Harness h(9, 4, sc);
  const Request a = MakeRequest(0, 8, 12, 0, /*priority=*/10);
  const Request b = MakeRequest(1, 8, 12, 0, /*priority=*/90);
  ASSERT_TRUE(h.scheduler->Submit(a));
  ASSERT_TRUE(h.scheduler->Submit(b));
  std::vector<StepResult> steps = h.RunAll();
  std::vector<uint64_t> preempted;
  for (const StepResult& s : steps) {
    preempted.insert(preempted.end(), s.preempted.begin(), s.preempted.end());
  }
  ASSERT_FALSE(preempted.empty());
  EXPECT_EQ(preempted.front(), 0u);
}

TEST(SchedulerTest, RejectsARequestThatCanNeverFit) {
  Harness h(9, 4);  // 32 slots
  const Request big = MakeRequest(0, 40, 2);
  const Request ok = MakeRequest(1, 8, 2);
  EXPECT_FALSE(h.scheduler->Submit(big));
  ASSERT_EQ(h.scheduler->rejections().size(), 1u);
  EXPECT_EQ(h.scheduler->rejections()[0].request_id, 0u);
  EXPECT_THAT(h.scheduler->rejections()[0].reason,
              testing::HasSubstr("whole cache"));
  EXPECT_TRUE(h.scheduler->Submit(ok));
  h.RunAll();
}

TEST(SchedulerTest, FullPromptGateWaitsUntilTheWholePromptFits) {
  SchedulerConfig sc;
  sc.max_batch_tokens = 8;
  sc.require_full_prompt_fit = true;
  Harness h(9, 4, sc);
  const Request a = MakeRequest(0, 8, 10);  // 18 tokens: 5 blocks at most
  const Request b = MakeRequest(1, 16, 2);  // needs 4 blocks for its prompt
  ASSERT_TRUE(h.scheduler->Submit(a));
  ASSERT_TRUE(h.scheduler->Submit(b));
  absl::StatusOr<StepResult> s = h.scheduler->Step();
  ASSERT_TRUE(s.ok());
  h.RunAll();
  EXPECT_TRUE(h.allocator->Memory().allocated() == 0);
}

TEST(SchedulerTest, ContiguousAllocatorReservesTheFinalLength) {
  ContiguousAllocatorOptions o;
  o.kind = AllocatorKind::kPow2;
  o.capacity_tokens = 100;
  std::unique_ptr<SimAllocator> a = *MakeContiguousAllocator(o);
  std::vector<TokenId> prompt(10, 1);
  SeqId s = *a->AddSequence(prompt, 20, {});
  EXPECT_TRUE(a->CanAdmitWholePrompt(s));
  Admission adm = *a->Admit(s, 4);
  EXPECT_EQ(adm.num_new_tokens, 4);
  MemoryBreakdown m = a->Memory();
  EXPECT_EQ(m.token_states, 4);
  EXPECT_EQ(m.reserved, 16);
  EXPECT_EQ(m.internal_fragmentation, 12);  // 32 - 20
  EXPECT_EQ(m.free, 68);
  // A second 32-slot region fits, a third after it does not (36 left).
  SeqId t = *a->AddSequence(prompt, 20, {});
  ASSERT_TRUE(a->Admit(t, 1).ok());
  SeqId u = *a->AddSequence(prompt, 20, {});
  ASSERT_TRUE(a->Admit(u, 1).ok());
  SeqId v = *a->AddSequence(prompt, 20, {});
  EXPECT_TRUE(absl::IsResourceExhausted(a->Admit(v, 1).status()));
  // Freeing the middle region leaves two holes: external fragmentation.
  ASSERT_TRUE(a->Release(t).ok());
  m = a->Memory();
  EXPECT_EQ(m.free, 32);
  EXPECT_EQ(m.external_fragmentation, 4);
  EXPECT_EQ(m.capacity(), 100);
  ASSERT_TRUE(a->Release(s).ok());
  ASSERT_TRUE(a->Release(u).ok());
  EXPECT_EQ(a->Memory().free, 100);
  EXPECT_FALSE(a->CheckFits(60, 65).ok());  // pow2 -> 128 > 100
}

TEST(SchedulerTest, ContiguousDecodeBatchIsAllOrNothing) {
  ContiguousAllocatorOptions o;
  o.capacity_tokens = 100;
  std::unique_ptr<SimAllocator> a = *MakeContiguousAllocator(o);
  std::vector<TokenId> prompt(4, 1);
  SeqId done = *a->AddSequence(prompt, 8, {});  // whole prompt computed
  ASSERT_EQ(a->Admit(done, 4)->num_new_tokens, 4);
  SeqId half = *a->AddSequence(prompt, 8, {});  // half its prompt computed
  ASSERT_EQ(a->Admit(half, 2)->num_new_tokens, 2);
  const MemoryBreakdown before = a->Memory();
  const std::vector<TokenId> two = {7, 7};
  const std::vector<TokenId> one = {7};
  EXPECT_TRUE(
      absl::IsFailedPrecondition(a->AppendDecodeTokens({done, half}, two)));
  EXPECT_TRUE(
      absl::IsInvalidArgument(a->AppendDecodeTokens({done, done}, two)));
  EXPECT_TRUE(absl::IsInvalidArgument(a->AppendDecodeTokens({done}, two)));
  EXPECT_TRUE(absl::IsInvalidArgument(a->AppendDecodeTokens({SeqId(99)}, one)));
  EXPECT_EQ(a->Memory().token_states, before.token_states);
  EXPECT_EQ(a->Memory().reserved, before.reserved);
  ASSERT_TRUE(a->AppendDecodeTokens({done}, one).ok());
  EXPECT_EQ(a->Memory().token_states, before.token_states + 1);
  EXPECT_EQ(a->Memory().reserved, before.reserved - 1);
  // Computed up to the known tokens again: the next decode is allowed.
  EXPECT_TRUE(a->AppendDecodeTokens({done}, one).ok());
}

}  // namespace
}  // namespace pagekv
