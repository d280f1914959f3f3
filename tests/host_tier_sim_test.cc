// The host tier in the cost model, the simulator and the cache replay: what
// transfers cost, that a tier helps a trace with reuse, and that at zero
// reuse storing everything shows up as a cost, never as a gain.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"
#include "pagekv/cost/transfer_cost.h"
#include "pagekv/sim/cache_replay.h"
#include "pagekv/sim/simulator.h"

namespace pagekv {
namespace {

constexpr double kGiB = 1024.0 * 1024 * 1024;

TEST(TransferCostTest, AlphaPlusBytesOverBeta) {
  const LinkCost link{10e-6, 50e9};
  EXPECT_DOUBLE_EQ(link.Seconds(0, 0), 0);
  EXPECT_DOUBLE_EQ(link.Seconds(50e9, 1), 1 + 10e-6);
  EXPECT_DOUBLE_EQ(link.Seconds(1e9, 4), 4 * 10e-6 + 0.02);
  EXPECT_TRUE(std::isinf(LinkCost{0, 0}.Seconds(1, 1)));
}

TEST(TransferCostTest, PresetsUsePcieOrNvlinkC2c) {
  const HardwareSpec h100 = *FindHardwarePreset("h100-sxm");
  EXPECT_NEAR(HostLinkCost(h100).bytes_per_second, 51.2e9, 1e6);
  const HardwareSpec gh200 = *FindHardwarePreset("gh200");
  EXPECT_GT(HostLinkCost(gh200).bytes_per_second,
            5 * HostLinkCost(h100).bytes_per_second);
  EXPECT_DOUBLE_EQ(RemoteLinkCost(h100).bytes_per_second, 12.5e9);
}

TEST(TransferCostTest, DecodeSlowdownGrowsWithTheLinksBusyShare) {
  HardwareSpec h = *FindHardwarePreset("h100-sxm");
  h.store_decode_slowdown = 0.1;
  EXPECT_DOUBLE_EQ(DecodeSlowdown(h, 0, 1), 1);
  EXPECT_DOUBLE_EQ(DecodeSlowdown(h, 0.5, 1), 1.05);
  EXPECT_DOUBLE_EQ(DecodeSlowdown(h, 3, 1), 1.1);  // saturated
  EXPECT_DOUBLE_EQ(DecodeSlowdown(h, 1, 0), 1);
}

TEST(TransferCostTest, HardwareJsonOverridesTheLinkFigures) {
  auto h = ParseHardwareSpecJson(
      R"({"base": "h100-sxm", "host_transfer_efficiency": 0.5,
          "host_transfer_latency_us": 20, "store_decode_slowdown": 0.2})",
      "inline");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_NEAR(HostLinkCost(*h).bytes_per_second, 32e9, 1e6);
  EXPECT_NEAR(HostLinkCost(*h).latency_seconds, 20e-6, 1e-12);
  auto bad = ParseHardwareSpecJson(
      R"({"base": "h100-sxm", "host_transfer_efficiency": 1.5})", "inline");
  EXPECT_THAT(std::string(bad.status().message()),
              ::testing::HasSubstr("host_transfer_efficiency"));
}

SimulatorConfig Config(double kv_gib, double host_gib) {
  SimulatorConfig c;
  c.model = *FindModelPreset("llama-3-8b");  // 128 KiB per token
  c.hardware = *FindHardwarePreset("h100-sxm");
  c.kv_memory_bytes = kv_gib * kGiB;
  c.allocator = AllocatorKind::kPaged;
  c.host_tier.capacity_bytes = static_cast<uint64_t>(host_gib * kGiB);
  return c;
}

// `n` requests 50 ms apart: with `docs` > 0, request i reads document i %
// docs (2048 tokens) then 32 tokens of its own; with docs == 0 every prompt
// is unique (2080 tokens).
Workload Trace(int n, int docs) {
  Workload w;
  w.name = docs > 0 ? "reuse" : "unique";
  for (int i = 0; i < n; ++i) {
    Request r;
    r.id = static_cast<uint64_t>(i);
    r.arrival_s = 0.05 * i;
    r.output_tokens = 32;
    const uint64_t doc = docs > 0 ? static_cast<uint64_t>(i % docs)
                                  : 1000 + static_cast<uint64_t>(i);
    r.segments = {{doc, 2048}, {5000 + static_cast<uint64_t>(i), 32}};
    w.requests.push_back(r);
  }
  return w;
}

TEST(HostTierSimTest, ReuseBeyondTheGpuPoolHitsTheHostAndCutsTtft) {
  const Workload w = Trace(64, 8);
  auto with = Simulate(w, Config(0.6, 4));
  ASSERT_TRUE(with.ok()) << with.status();
  auto without = Simulate(w, Config(0.6, 0));
  ASSERT_TRUE(without.ok()) << without.status();
  const TierReport& t = with->tier;
  EXPECT_TRUE(t.enabled);
  EXPECT_FALSE(without->tier.enabled);
  EXPECT_GT(t.host_hit_rate, 0.3);
  EXPECT_GT(t.gpu_hit_rate + t.host_hit_rate, without->prefix_hit_rate + 0.3);
  EXPECT_GT(t.loaded_host_tokens, 0);
  EXPECT_GT(t.load_s, 0);  // a host hit costs its transfer, not zero
  EXPECT_GT(t.bytes_loaded, 0);
  EXPECT_LT(with->ttft.mean, without->ttft.mean);
  EXPECT_LT(with->computed_prefill_tokens, without->computed_prefill_tokens);
}

TEST(HostTierSimTest, ZeroReuseWriteThroughIsACostNotAGain) {
  const Workload w = Trace(32, 0);
  auto with = Simulate(w, Config(0.6, 4));
  ASSERT_TRUE(with.ok()) << with.status();
  auto without = Simulate(w, Config(0.6, 0));
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_EQ(with->tier.host_hit_tokens, 0);
  EXPECT_GT(with->tier.stored_blocks, 0);
  EXPECT_GT(with->tier.store_overhead_s, 0);
  EXPECT_GE(with->busy_s, without->busy_s);
  EXPECT_GE(with->ttft.mean, without->ttft.mean);
  EXPECT_GE(with->tpot.mean, without->tpot.mean);
}

TEST(HostTierSimTest, RecomputeIsChosenWhenCheaperThanTheLoad) {
  const Workload w = Trace(24, 4);
  SimulatorConfig c = Config(0.6, 4);
  c.scheduler.tier.recompute_s_per_token = 1e-12;  // nearly free compute
  auto r = Simulate(w, c);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->tier.recomputed_host_tokens, 0);
  EXPECT_EQ(r->tier.loaded_host_tokens, 0);
}

TEST(HostTierSimTest, BadTierCostIsRefusedNamingTheField) {
  SimulatorConfig c = Config(0.6, 4);
  c.scheduler.tier.store_decode_slowdown = 2;
  EXPECT_THAT(std::string(c.Validate().message()),
              ::testing::HasSubstr("store_decode_slowdown"));
}

TEST(HostTierReplayTest, HostTierRaisesTheHitRateOfASmallCache) {
  const Workload w = Trace(48, 8);
  ReplayOptions o;
  o.capacity_blocks = 400;  // about three documents of 130 blocks
  auto gpu_only = ReplayWorkload(w, o);
  ASSERT_TRUE(gpu_only.ok()) << gpu_only.status();
  // Write-through keeps the host a superset of the GPU: 5x holds all 8.
  o.host_tier.num_blocks = 5 * o.capacity_blocks;
  o.host_tier.eviction_policy = "arc";
  auto tiered = ReplayWorkload(w, o);
  ASSERT_TRUE(tiered.ok()) << tiered.status();
  EXPECT_EQ(gpu_only->host_hit_tokens, 0);
  EXPECT_GT(tiered->host_hit_tokens, 0);
  EXPECT_GT(tiered->HitRateTokens() + tiered->HostHitRateTokens(),
            gpu_only->HitRateTokens() + 0.3);
  EXPECT_GT(tiered->host_stores, 0);
}

}  // namespace
}  // namespace pagekv
