#include "pagekv/cost/compute_model.h"

#include <cmath>

#include "gtest/gtest.h"
#include "pagekv/cost/bandwidth_model.h"
#include "pagekv/cost/hardware_spec.h"

namespace pagekv {
namespace {

HardwareSpec Hw() {
  HardwareSpec hw = *FindHardwarePreset("h100-sxm");
  hw.compute_efficiency = 0.8;
  hw.compute_efficiency_8bit = 0.4;
  hw.compute_half_tokens = 100;
  return hw;
}

TEST(ComputeModelTest, EfficiencyRisesWithTokensTowardItsMaximum) {
  const HardwareSpec hw = Hw();
  EXPECT_DOUBLE_EQ(ComputeEfficiency(hw, DType::kBf16, 100), 0.4);
  EXPECT_LT(ComputeEfficiency(hw, DType::kBf16, 10),
            ComputeEfficiency(hw, DType::kBf16, 1000));
  EXPECT_NEAR(ComputeEfficiency(hw, DType::kBf16, 1000000), 0.8, 1e-4);
}

TEST(ComputeModelTest, EightBitWeightsUseTheirPathsEfficiency) {
  const HardwareSpec hw = Hw();
  EXPECT_DOUBLE_EQ(ComputeEfficiency(hw, DType::kFp8, 100), 0.2);
  EXPECT_DOUBLE_EQ(ComputeEfficiency(hw, DType::kInt4, 100), 0.4);
  HardwareSpec a100 = *FindHardwarePreset("a100-80gb");  // no fp8 path
  EXPECT_DOUBLE_EQ(ComputeEfficiency(a100, DType::kFp8, 1000000),
                   ComputeEfficiency(a100, DType::kBf16, 1000000));
  // The fp8 peak is twice the bf16 one (1979 vs 989 TFLOP/s); at half the
  // efficiency the same flops take the same time.
  EXPECT_NEAR(ComputeSeconds(hw, DType::kFp8, 1e12, 100) /
                  ComputeSeconds(hw, DType::kBf16, 1e12, 100),
              1, 1e-3);
}

TEST(ComputeModelTest, FlatEfficiencyWhenHalfTokensIsZero) {
  HardwareSpec hw = Hw();
  hw.compute_half_tokens = 0;
  EXPECT_DOUBLE_EQ(ComputeEfficiency(hw, DType::kBf16, 1), 0.8);
}

TEST(ComputeModelTest, OverheadPerStepAndPerPrefill) {
  HardwareSpec hw = Hw();
  hw.step_overhead_seconds = 50e-6;
  hw.prefill_overhead_seconds = 200e-6;
  hw.prefill_layer_overhead_seconds = 0;
  EXPECT_DOUBLE_EQ(FixedOverheadSeconds(hw, 0, 32), 50e-6);
  EXPECT_DOUBLE_EQ(FixedOverheadSeconds(hw, 3, 32), 650e-6);
}

TEST(ComputeModelTest, LayerOverheadScalesWithDepthPerPrefill) {
  HardwareSpec hw = Hw();
  hw.step_overhead_seconds = 50e-6;
  hw.prefill_overhead_seconds = 0;
  hw.prefill_layer_overhead_seconds = 10e-6;
  // 80 layers pay 2.5x what 32 do, per prefill chunk; decodes pay none.
  EXPECT_DOUBLE_EQ(FixedOverheadSeconds(hw, 1, 32), 50e-6 + 320e-6);
  EXPECT_DOUBLE_EQ(FixedOverheadSeconds(hw, 1, 80), 50e-6 + 800e-6);
  EXPECT_DOUBLE_EQ(FixedOverheadSeconds(hw, 2, 80), 50e-6 + 1600e-6);
  EXPECT_DOUBLE_EQ(FixedOverheadSeconds(hw, 0, 80), 50e-6);
}

TEST(ComputeModelTest, RingAllReduceHasLatencyPerHopAndBandwidth) {
  HardwareSpec hw = Hw();
  hw.interconnect_bandwidth = 100e9;
  hw.interconnect_latency_seconds = 10e-6;
  hw.interconnect_hop_latency_seconds = 1e-6;
  EXPECT_EQ(AllReduceSeconds(hw, 1, 1e6), 0);
  // tp 4: 6 hops of 1 us + 250 kB / 100 GB/s = 2.5 us each, plus 10 us.
  EXPECT_NEAR(AllReduceSeconds(hw, 4, 1e6), 10e-6 + 6 * 3.5e-6, 1e-12);
  // Small messages: latency dominates and grows with the ring.
  EXPECT_NEAR(AllReduceSeconds(hw, 8, 1e3), 10e-6 + 14 * (1e-6 + 1.25e-9),
              1e-15);
  EXPECT_GT(AllReduceSeconds(hw, 8, 1e3), AllReduceSeconds(hw, 2, 1e3));
}

// The presets reproduce the published rows they were fitted to
// (docs/validation.md): a guard on the defaults, within 3%.
double StepMs(const char* model, const char* hw, int32_t tp, bool decode,
              int64_t tokens) {
  BandwidthModelOptions o;
  o.tensor_parallel = tp;
  const BandwidthModel bw = *BandwidthModel::FromNames(model, hw, o);
  const StepFootprint fp =
      decode ? UniformDecodeFootprint(bw.model(), 1, tokens, 16)
             : PrefillFootprint(bw.model(), tokens, 0, 16);
  return bw.Estimate(fp).seconds * 1e3;
}

TEST(ComputeModelTest, AmperePresetMatchesPublishedDecodeAndTtft) {
  // gpt-fast, Llama-2-7B batch 1: 104.9, 168.84, 254.02, 328.43 tok/s.
  EXPECT_NEAR(StepMs("llama-2-7b", "a100-80gb", 1, true, 105), 9.533, 0.3);
  EXPECT_NEAR(StepMs("llama-2-7b", "a100-80gb", 2, true, 105), 5.923, 0.18);
  EXPECT_NEAR(StepMs("llama-2-7b", "a100-80gb", 4, true, 105), 3.937, 0.12);
  EXPECT_NEAR(StepMs("llama-2-7b", "a100-80gb", 8, true, 105), 3.045, 0.09);
  // TensorRT-LLM v0.5, Llama-2-7B fp16 TTFT: 16 and 133 ms.
  EXPECT_NEAR(StepMs("llama-2-7b", "a100-80gb", 1, false, 128), 16, 0.5);
  EXPECT_NEAR(StepMs("llama-2-7b", "a100-80gb", 1, false, 2048), 133, 4);
}

}  // namespace
}  // namespace pagekv
