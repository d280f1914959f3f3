// The scheduler's modes: swap preemption, prefill-first and guaranteed
// admission, prefill without chunks.
#include <cmath>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/cost_hook.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/sim/scheduler.h"
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

Request MakeRequest(uint64_t id, int32_t prompt, int32_t output) {
  Request r;
  r.id = id;
  r.output_tokens = output;
  r.segments = {{1000 + id, prompt}};
  return r;
}

struct ModeRun {
  std::vector<StepResult> steps;
  int64_t preemptions = 0;
  int64_t prefill_tokens = 0;
  double swap_s = 0;
  std::vector<uint64_t> finished;
};

// Two requests of 8 + 12 tokens in 8 blocks of 4 (each grows to 5 blocks):
// the chunked default preempts one of them.
ModeRun RunPressure(SchedulerConfig sc, bool no_prefix_caching = true) {
  KVCacheConfig kv;
  kv.num_blocks = 9;
  kv.block_size = 4;
  kv.enable_prefix_caching = !no_prefix_caching;
  std::unique_ptr<SimAllocator> allocator = *MakePagedAllocator(kv, 1.0);
  FixedCost cost;
  std::unique_ptr<Scheduler> scheduler =
      *Scheduler::Create(sc, allocator.get(), &cost);
  const Request a = MakeRequest(0, 8, 12);
  const Request b = MakeRequest(1, 8, 12);
  EXPECT_TRUE(scheduler->Submit(a));
  EXPECT_TRUE(scheduler->Submit(b));
  ModeRun run;
  for (int i = 0; i < 1000 && scheduler->HasWork(); ++i) {
    absl::StatusOr<StepResult> s = scheduler->Step();
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) break;
    run.prefill_tokens += s->prefill_tokens;
    run.swap_s += s->swap_s;
    run.finished.insert(run.finished.end(), s->finished.begin(),
                        s->finished.end());
    run.steps.push_back(*std::move(s));
  }
  EXPECT_FALSE(scheduler->HasWork());
  run.preemptions = scheduler->num_preemptions();
  return run;
}

TEST(SchedulerModesTest, SwapRestoresTheVictimInsteadOfRecomputingIt) {
  const ModeRun recompute = RunPressure({});
  SchedulerConfig sc;
  sc.preemption_mode = PreemptionMode::kSwap;
  sc.swap_bytes_per_token = 1000;
  sc.host_link_bytes_per_s = 1e6;  // 1 ms per token copied
  const ModeRun swap = RunPressure(sc);
  ASSERT_GE(recompute.preemptions, 1);
  ASSERT_GE(swap.preemptions, 1);
  EXPECT_THAT(swap.finished, testing::UnorderedElementsAre(0u, 1u));
  // Recompute prefills the victim again; swap only prefills the prompts.
  EXPECT_GT(recompute.prefill_tokens, 16);
  EXPECT_EQ(swap.prefill_tokens, 16);
  EXPECT_EQ(recompute.swap_s, 0);
  // Every swapped-out token came back: out and in, 1 ms each.
  EXPECT_GT(swap.swap_s, 0);
  EXPECT_NEAR(std::fmod(swap.swap_s * 1e3 + 1e-6, 2.0), 0, 1e-3);
}

TEST(SchedulerModesTest, SwapNeedsAHostLink) {
  SchedulerConfig sc;
  sc.preemption_mode = PreemptionMode::kSwap;
  EXPECT_THAT(sc.Validate().message(), testing::HasSubstr("host link"));
  EXPECT_EQ(*ParsePreemptionMode("swap"), PreemptionMode::kSwap);
  EXPECT_FALSE(ParseAdmissionMode("fcfs").ok());
}

TEST(SchedulerModesTest, GuaranteedAdmissionNeverPreempts) {
  SchedulerConfig sc;
  sc.admission = AdmissionMode::kGuaranteed;
  const ModeRun run = RunPressure(sc);
  EXPECT_EQ(run.preemptions, 0);
  EXPECT_THAT(run.finished, testing::ElementsAre(0u, 1u));
  // b waits until a finishes: never two running.
  for (const StepResult& s : run.steps) EXPECT_LE(s.num_running, 1);
}

TEST(SchedulerModesTest, PrefillFirstStepsRunNoDecodes) {
  KVCacheConfig kv;
  kv.num_blocks = 1000;
  kv.block_size = 4;
  std::unique_ptr<SimAllocator> allocator = *MakePagedAllocator(kv, 1.0);
  FixedCost cost;
  SchedulerConfig sc;
  sc.admission = AdmissionMode::kPrefillFirst;
  std::unique_ptr<Scheduler> scheduler =
      *Scheduler::Create(sc, allocator.get(), &cost);
  const Request a = MakeRequest(0, 8, 10);
  const Request b = MakeRequest(1, 100, 2);
  ASSERT_TRUE(scheduler->Submit(a));
  ASSERT_TRUE(scheduler->Step().ok());  // a's prefill
  ASSERT_TRUE(scheduler->Submit(b));
  absl::StatusOr<StepResult> s = scheduler->Step();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->num_decodes, 0);  // a waits while b's prompt runs
  EXPECT_EQ(s->prefill_tokens, 100);
  s = scheduler->Step();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->num_decodes, 2);  // no prefill work left: both decode
  EXPECT_EQ(s->prefill_tokens, 0);
}

// Runs steps until `scheduler` has no work; returns each step's prefill
// tokens and decodes.
std::vector<std::pair<int64_t, int32_t>> PrefillsAndDecodes(
    Scheduler& scheduler) {
  std::vector<std::pair<int64_t, int32_t>> steps;
  for (int i = 0; i < 100 && scheduler.HasWork(); ++i) {
    absl::StatusOr<StepResult> s = scheduler.Step();
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) break;
    steps.emplace_back(s->prefill_tokens, s->num_decodes);
  }
  return steps;
}

TEST(SchedulerModesTest, WithoutChunkedPrefillAPromptWaitsToRunWhole) {
  KVCacheConfig kv;
  kv.num_blocks = 1000;
  kv.block_size = 4;
  for (bool chunked : {true, false}) {
    std::unique_ptr<SimAllocator> allocator = *MakePagedAllocator(kv, 1.0);
    FixedCost cost;
    SchedulerConfig sc;
    sc.max_batch_tokens = 100;
    sc.max_model_len = 100;
    sc.chunked_prefill = chunked;
    std::unique_ptr<Scheduler> scheduler =
        *Scheduler::Create(sc, allocator.get(), &cost);
    // a's 60 tokens leave 40 of the first step's budget: chunked, b's 50
    // start with 40; whole, b waits and runs beside a's first decode.
    const Request a = MakeRequest(0, 60, 3);  // the scheduler keeps pointers
    const Request b = MakeRequest(1, 50, 3);
    ASSERT_TRUE(scheduler->Submit(a));
    ASSERT_TRUE(scheduler->Submit(b));
    const auto steps = PrefillsAndDecodes(*scheduler);
    ASSERT_GE(steps.size(), 2u);
    if (chunked) {
      EXPECT_EQ(steps[0], std::make_pair(int64_t{100}, 0));
      EXPECT_EQ(steps[1], std::make_pair(int64_t{10}, 1));
    } else {
      EXPECT_EQ(steps[0], std::make_pair(int64_t{60}, 0));
      EXPECT_EQ(steps[1], std::make_pair(int64_t{50}, 1));
    }
    int64_t prefill = 0;
    for (const auto& [p, d] : steps) prefill += p;
    EXPECT_EQ(prefill, 110);
  }
}

TEST(SchedulerModesTest, WithoutChunkedPrefillEveryRequestMustFitAStep) {
  SchedulerConfig sc;
  sc.max_batch_tokens = 2560;
  sc.chunked_prefill = false;
  EXPECT_THAT(sc.Validate().message(),
              testing::HasSubstr("max_model_len (--max-model-len) must be "
                                 "in [1, max_batch_tokens = 2560]"));
  sc.max_model_len = 4096;
  EXPECT_FALSE(sc.Validate().ok());
  sc.max_model_len = 2048;
  EXPECT_TRUE(sc.Validate().ok());
}

}  // namespace
}  // namespace pagekv
