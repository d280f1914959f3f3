#include "pagekv/sim/simulator.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"
#include "pagekv/sim/default_workload.h"
#include "sim_test_util.h"

namespace pagekv {
namespace {

using pagekv::testing::SmallDefaultWorkload;

SimulatorConfig SmallConfig(AllocatorKind kind, double kv_gib) {
  SimulatorConfig c = pagekv::testing::SmallSimConfig(kv_gib);
  c.allocator = kind;
  return c;
}

// n requests arriving together, all starting with the same 1024-token
// system prompt, then 32 unique tokens; 16 output tokens.
Workload SharedPrefix(int n) {
  Workload w;
  w.name = "shared";
  for (int i = 0; i < n; ++i) {
    Request r;
    r.id = static_cast<uint64_t>(i);
    r.output_tokens = 16;
    r.segments = {{7, 1024}, {100 + static_cast<uint64_t>(i), 32}};
    w.requests.push_back(r);
  }
  return w;
}

TEST(SimulatorConfigTest, ValidateNamesTheField) {
  SimulatorConfig c = SmallConfig(AllocatorKind::kPaged, 1);
  EXPECT_TRUE(c.Validate().ok());
  c.block_size = 0;
  EXPECT_THAT(c.Validate().message(), ::testing::HasSubstr("block_size"));
  c = SmallConfig(AllocatorKind::kPaged, 1);
  c.eviction_policy = "nope";
  EXPECT_THAT(c.Validate().message(), ::testing::HasSubstr("nope"));
  c = SmallConfig(AllocatorKind::kPaged, 1);
  c.kv_memory_bytes = -1;
  EXPECT_THAT(c.Validate().message(), ::testing::HasSubstr("kv_memory_bytes"));
}

TEST(SimulatorTest, CompletesEveryRequestAndAddsUp) {
  const Workload w = SmallDefaultWorkload(40);
  absl::StatusOr<SimulationReport> r =
      Simulate(w, SmallConfig(AllocatorKind::kPaged, 0.5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->completed + r->rejected, 40);
  EXPECT_EQ(r->rejected, 0);
  EXPECT_GT(r->output_throughput, 0);
  EXPECT_GT(r->ttft.p50, 0);
  EXPECT_LE(r->ttft.p50, r->ttft.p99);
  EXPECT_FALSE(r->timeline.empty());
  const MemoryShares& m = r->mean_memory;
  EXPECT_NEAR(m.token_states + m.reserved + m.internal_fragmentation +
                  m.external_fragmentation + m.cached + m.free,
              1.0, 1e-9);
  for (const RequestResult& q : r->requests) {
    EXPECT_GE(q.first_token_s, q.arrival_s);
    EXPECT_GE(q.finish_s, q.first_token_s);
  }
}

TEST(SimulatorTest, PreemptedRequestsCompleteWithTheirOutput) {
  // Ten requests arrive together with 100-token prompts that grow to 400
  // tokens; 0.1 GiB holds 800 tokens, so admitted requests outgrow it.
  Workload w;
  w.name = "grow";
  for (uint64_t i = 0; i < 10; ++i) {
    Request q;
    q.id = i;
    q.output_tokens = 300;
    q.segments = {{50 + i, 100}};
    w.requests.push_back(q);
  }
  absl::StatusOr<SimulationReport> r =
      Simulate(w, SmallConfig(AllocatorKind::kPaged, 0.1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->preemptions, 0);
  EXPECT_GE(r->first_preemption_s, 0);
  EXPECT_EQ(r->completed, 10);
  EXPECT_EQ(r->output_tokens, 3000);
  EXPECT_GT(r->prefix.resumed_queries, 0u);
  int64_t out = 0;
  for (const RequestResult& q : r->requests) {
    if (!q.rejected) out += q.output_tokens;
  }
  EXPECT_EQ(r->output_tokens, out);
}

TEST(SimulatorTest, RejectsWhatCanNeverFitAndFinishes) {
  Workload w = SharedPrefix(3);
  w.requests[1].segments = {{9, 20000}};  // 20k tokens > 0.2 GiB = 1600
  absl::StatusOr<SimulationReport> r =
      Simulate(w, SmallConfig(AllocatorKind::kPaged, 0.2));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rejected, 1);
  EXPECT_EQ(r->completed, 2);
  ASSERT_EQ(r->rejections.size(), 1u);
  EXPECT_EQ(r->rejections[0].request_id, 1u);
  EXPECT_TRUE(r->requests[1].rejected);
}

TEST(SimulatorTest, PagedHoldsMoreTokenStatesThanContiguous) {
  const Workload w = SmallDefaultWorkload(40);
  double share[4] = {};
  for (AllocatorKind k : {AllocatorKind::kPaged, AllocatorKind::kMax,
                          AllocatorKind::kPow2, AllocatorKind::kOracle}) {
    // 1.5 GiB = 12k tokens: the max allocator (8k per request) runs one.
    absl::StatusOr<SimulationReport> r = Simulate(w, SmallConfig(k, 1.5));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->completed, 40) << AllocatorKindName(k);
    // Share of the allocated memory that holds token states.
    const MemoryShares& m = r->mean_memory;
    share[static_cast<int>(k)] =
        m.token_states / (m.token_states + m.reserved +
                          m.internal_fragmentation + m.external_fragmentation);
  }
  EXPECT_GT(share[0], 0.9);
  EXPECT_GT(share[0], share[1]);
  EXPECT_GT(share[0], share[2]);
  EXPECT_GT(share[2], share[1]);
}

TEST(SimulatorTest, BuddyPlacementWastesMoreThanFirstFit) {
  const Workload w = SmallDefaultWorkload(40);
  auto external = [&](AllocatorKind k) {
    absl::StatusOr<SimulationReport> r = Simulate(w, SmallConfig(k, 1.5));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return 0.0;
    EXPECT_EQ(r->completed, 40) << AllocatorKindName(k);
    return r->mean_memory.external_fragmentation;
  };
  // Same reservation rule, buddy placement: its rounding is external waste.
  EXPECT_GT(external(AllocatorKind::kOrcaOracle),
            external(AllocatorKind::kOracle) + 0.05);
  EXPECT_GT(external(AllocatorKind::kOrcaPow2), 0.05);
}

TEST(SimulatorTest, FreeMemoryCountsAsStrandedOnlyWhileRequestsWait) {
  // Orca (Max) regions of 1024 slots in a 2560-slot buddy arena (roots 2048
  // and 512): two requests run, the 512-slot root can never take a third.
  // Four requests arrive together, so two wait until the first two end.
  Workload w;
  w.name = "stranded";
  for (uint64_t i = 0; i < 4; ++i) {
    Request q;
    q.id = i;
    q.output_tokens = 50;
    q.segments = {{10 + i, 100}};
    w.requests.push_back(q);
  }
  // Llama-3-8B: 128 KiB per token, so 2560 tokens = 0.3125 GiB.
  SimulatorConfig c = SmallConfig(AllocatorKind::kOrcaMax, 0.3125);
  c.max_model_len = 1024;
  absl::StatusOr<SimulationReport> r = Simulate(w, c);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->capacity_slots, 2560);
  ASSERT_EQ(r->completed, 4);
  const double first_end = r->requests[0].finish_s;
  const double last_end = r->requests[3].finish_s;
  ASSERT_GT(last_end, first_end);
  // The 512 free slots count while two requests wait, not afterwards.
  EXPECT_NEAR(r->mean_memory.free_while_waiting,
              512.0 / 2560.0 * first_end / last_end, 1e-9);
  EXPECT_LT(r->mean_memory.free_while_waiting, r->mean_memory.free);
  // Alone, a request never waits: its free memory (the other 1024-slot
  // half of the 2048 root; the 512 root lies outside the largest block and
  // counts as external) is idle, not stranded.
  w.requests.resize(1);
  r = Simulate(w, c);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_DOUBLE_EQ(r->mean_memory.free, 1024.0 / 2560.0);
  EXPECT_EQ(r->mean_memory.free_while_waiting, 0);
}

TEST(SimulatorTest, ClosedLoopKeepsConcurrencyRequestsInFlight) {
  const Workload w = SmallDefaultWorkload(30);
  SimulatorConfig c = SmallConfig(AllocatorKind::kPaged, 1.5);
  c.concurrency = 3;
  absl::StatusOr<SimulationReport> r = Simulate(w, c);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->completed, 30);
  EXPECT_LE(r->max_running, 3);
  EXPECT_EQ(r->max_running, 3);
  // Sent when a client was free: the 4th request leaves with the 1st's end.
  std::vector<double> finishes;
  for (const RequestResult& q : r->requests) finishes.push_back(q.finish_s);
  std::sort(finishes.begin(), finishes.end());
  EXPECT_DOUBLE_EQ(r->requests[3].arrival_s, finishes[0]);
  c.concurrency = -1;
  EXPECT_FALSE(Simulate(w, c).ok());
}

TEST(SimulatorTest, PerRequestHitsAddUpToTheCacheCounters) {
  const Workload w = SmallDefaultWorkload(40);
  absl::StatusOr<SimulationReport> r =
      Simulate(w, SmallConfig(AllocatorKind::kPaged, 0.2));
  ASSERT_TRUE(r.ok()) << r.status();
  uint64_t sum = 0;
  for (const RequestResult& q : r->requests) {
    sum += static_cast<uint64_t>(q.hit_tokens);
  }
  EXPECT_GT(sum, 0u);
  EXPECT_EQ(sum, r->prefix.hit_tokens + r->prefix.resumed_hit_tokens);
}

TEST(SimulatorTest, SwapTakesItsLinkFromTheHardware) {
  SimulatorConfig c = SmallConfig(AllocatorKind::kPaged, 1);
  c.scheduler.preemption_mode = PreemptionMode::kSwap;
  EXPECT_TRUE(c.Validate().ok()) << c.Validate();
  EXPECT_EQ(EffectiveSchedulerConfig(c).host_link_bytes_per_s,
            c.hardware.host_link_bandwidth);
  c.hardware.host_link_bandwidth = 0;
  EXPECT_FALSE(c.Validate().ok());
}

TEST(SimulatorTest, PrefixCachingRaisesThroughputOnASharedPrefix) {
  const Workload w = SharedPrefix(24);
  SimulatorConfig on = SmallConfig(AllocatorKind::kPaged, 1);
  SimulatorConfig off = on;
  off.enable_prefix_caching = false;
  absl::StatusOr<SimulationReport> a = Simulate(w, on);
  absl::StatusOr<SimulationReport> b = Simulate(w, off);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GT(a->prefix_hit_rate, 0.8);
  EXPECT_EQ(b->prefix_hit_rate, 0);
  EXPECT_GT(a->total_throughput, 1.5 * b->total_throughput);
  EXPECT_LT(a->ttft.p90, b->ttft.p90);
}

TEST(SimulatorTest, IsDeterministic) {
  const Workload w = SmallDefaultWorkload(30);
  SimulatorConfig c = SmallConfig(AllocatorKind::kPaged, 0.2);
  absl::StatusOr<SimulationReport> a = Simulate(w, c);
  absl::StatusOr<SimulationReport> b = Simulate(w, c);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->steps, b->steps);
  EXPECT_EQ(a->preemptions, b->preemptions);
  EXPECT_EQ(a->makespan_s, b->makespan_s);
  ASSERT_EQ(a->requests.size(), b->requests.size());
  for (size_t i = 0; i < a->requests.size(); ++i) {
    EXPECT_EQ(a->requests[i].finish_s, b->requests[i].finish_s);
  }
  ASSERT_EQ(a->timeline.size(), b->timeline.size());
  for (size_t i = 0; i < a->timeline.size(); ++i) {
    EXPECT_EQ(a->timeline[i].memory.token_states,
              b->timeline[i].memory.token_states);
  }
}

TEST(SimulatorTest, SummarizeUsesNearestRank) {
  LatencySummary s = Summarize({5, 1, 4, 2, 3, 6, 7, 8, 9, 10});
  EXPECT_EQ(s.count, 10);
  EXPECT_EQ(s.p50, 5);
  EXPECT_EQ(s.p90, 9);
  EXPECT_EQ(s.p99, 10);
  EXPECT_EQ(s.max, 10);
  EXPECT_DOUBLE_EQ(s.mean, 5.5);
  EXPECT_EQ(Summarize({}).count, 0);
}

}  // namespace
}  // namespace pagekv
