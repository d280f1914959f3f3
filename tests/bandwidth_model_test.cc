#include "pagekv/cost/bandwidth_model.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/cost_hook.h"

namespace pagekv {
namespace {

using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Property;
using ::testing::Return;

BandwidthModel Make(const char* model, const char* hardware,
                    BandwidthModelOptions options = {}) {
  absl::StatusOr<BandwidthModel> m =
      BandwidthModel::FromNames(model, hardware, options);
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

// One 4096 x 11008 projection (a Llama-2-7B MLP matrix) as a "model".
ModelSpec OneProjection() {
  return ModelSpec{.name = "proj-4096x11008",
                   .num_layers = 1,
                   .hidden_size = 4096,
                   .num_attention_heads = 1,
                   .num_kv_heads = 1,
                   .head_dim = 1,
                   .num_params = 4096.0 * 11008.0,
                   .weight_dtype = DType::kFp16,
                   .kv_dtype = DType::kFp16};
}

TEST(BandwidthModelTest, BatchOneDecodeOfAProjectionIsMemoryBound) {
  absl::StatusOr<BandwidthModel> model =
      BandwidthModel::Create(OneProjection(), *FindHardwarePreset("h100-sxm"));
  ASSERT_TRUE(model.ok()) << model.status();
  const StepCost cost =
      model->Estimate(UniformDecodeFootprint(model->model(), 1, 0, 16));
  EXPECT_EQ(cost.bound, Bound::kMemory);
  // 2 FLOPs per fp16 weight (2 bytes): about 1 FLOP/byte, far below ~295.
  EXPECT_NEAR(cost.arithmetic_intensity, 1.0, 0.01);
  EXPECT_LT(cost.arithmetic_intensity, model->RidgePoint());
  EXPECT_NEAR(model->RidgePoint(), 295, 1);
}

TEST(BandwidthModelTest, BatchOneDecodeReadsAllWeightsOnce) {
  const BandwidthModel model = Make("llama-2-7b", "a100-80gb");
  const StepCost cost =
      model.Estimate(UniformDecodeFootprint(model.model(), 1, 511, 16));
  EXPECT_DOUBLE_EQ(cost.weight_bytes, 6.74e9 * 2);
  // 512 tokens read in 32 whole pages, one token written.
  EXPECT_DOUBLE_EQ(cost.kv_read_bytes, 512 * 512 * 1024.0);
  EXPECT_DOUBLE_EQ(cost.kv_write_bytes, 512 * 1024.0);
  EXPECT_EQ(cost.bound, Bound::kMemory);
  // ~13.8 GB at 71% of 2.039 TB/s plus overhead: about 9.6 ms; gpt-fast
  // measures 9.5 ms at a shorter context (docs/validation.md).
  EXPECT_GT(cost.seconds, 9e-3);
  EXPECT_LT(cost.seconds, 10.5e-3);
  // The compute term hides under the memory term but for the overlap loss.
  const HardwareSpec& hw = model.hardware();
  EXPECT_DOUBLE_EQ(cost.seconds, cost.memory_seconds +
                                     hw.overlap_loss * cost.compute_seconds +
                                     cost.overhead_seconds);
  EXPECT_LT(cost.compute_seconds, 0.01 * cost.memory_seconds);
}

TEST(BandwidthModelTest, LongPrefillIsComputeBound) {
  const BandwidthModel model = Make("llama-3-8b", "h100-sxm");
  const StepCost cost =
      model.Estimate(PrefillFootprint(model.model(), 4096, 0, 16));
  EXPECT_EQ(cost.bound, Bound::kCompute);
  EXPECT_GT(cost.arithmetic_intensity, model.RidgePoint());
}

TEST(BandwidthModelTest, PrefillAttentionFlopsAreQuadratic) {
  const BandwidthModel model = Make("llama-3-8b", "h100-sxm");
  auto attention_flops = [&](int64_t n) {
    const StepCost c =
        model.Estimate(PrefillFootprint(model.model(), n, 0, 16));
    return c.flops - 2.0 * model.model().num_params * n;
  };
  // sum_{j=1..n} j = n(n+1)/2 keys, 4*layers*heads*head_dim FLOPs each.
  const double per_pair = 4.0 * 32 * 32 * 128;
  EXPECT_NEAR(attention_flops(1000), per_pair * 1000 * 1001 / 2, 1e3);
  EXPECT_NEAR(attention_flops(2000) / attention_flops(1000), 4.0, 0.01);
}

TEST(BandwidthModelTest, MixedStepCostsOneStep) {
  const BandwidthModel model = Make("llama-3-8b", "h100-sxm");
  const StepFootprint decode =
      UniformDecodeFootprint(model.model(), 32, 1000, 16);
  const StepFootprint prefill = PrefillFootprint(model.model(), 512, 0, 16);
  StepFootprint mixed = decode;
  mixed.sequences.push_back(prefill.sequences[0]);

  const StepCost d = model.Estimate(decode);
  const StepCost p = model.Estimate(prefill);
  const StepCost m = model.Estimate(mixed);
  // Weights are read once and the step overhead is paid once; the prefill
  // adds its own overhead.
  EXPECT_DOUBLE_EQ(m.weight_bytes, d.weight_bytes);
  EXPECT_DOUBLE_EQ(m.overhead_seconds, p.overhead_seconds);
  const HardwareSpec& hw = model.hardware();
  EXPECT_GT(hw.prefill_layer_overhead_seconds, 0);  // Hopper's per layer
  EXPECT_DOUBLE_EQ(
      m.overhead_seconds - d.overhead_seconds,
      hw.prefill_overhead_seconds +
          model.model().num_layers * hw.prefill_layer_overhead_seconds);
  EXPECT_DOUBLE_EQ(m.kv_read_bytes, d.kv_read_bytes + p.kv_read_bytes);
  EXPECT_LT(m.seconds, d.seconds + p.seconds);
  EXPECT_GE(m.seconds, std::max(d.seconds, p.seconds));
}

TEST(BandwidthModelTest, PageGranularityReadsMoreThanTokensForShortTails) {
  BandwidthModelOptions token_options;
  token_options.granularity = Granularity::kToken;
  const BandwidthModel pages = Make("llama-2-7b", "h100-sxm");
  const BandwidthModel tokens = Make("llama-2-7b", "h100-sxm", token_options);
  // Context 17 + 1 new token: 2 pages of 16 (32 slots) against 18 tokens.
  const StepFootprint fp = UniformDecodeFootprint(pages.model(), 1, 17, 16);
  const double per_token = pages.model().KvBytesPerToken();
  EXPECT_DOUBLE_EQ(pages.Estimate(fp).kv_read_bytes, 32 * per_token);
  EXPECT_DOUBLE_EQ(tokens.Estimate(fp).kv_read_bytes, 18 * per_token);
  EXPECT_GT(pages.Estimate(fp).seconds, tokens.Estimate(fp).seconds);
}

TEST(BandwidthModelTest, PageOverheadAtMostOnePagePerSequence) {
  BandwidthModelOptions token_options;
  token_options.granularity = Granularity::kToken;
  const BandwidthModel pages = Make("llama-3-8b", "h100-sxm");
  const BandwidthModel tokens = Make("llama-3-8b", "h100-sxm", token_options);
  const int32_t block = 256;
  const StepFootprint fp =
      UniformDecodeFootprint(pages.model(), 4, 32768, block);
  const double extra =
      pages.Estimate(fp).kv_read_bytes - tokens.Estimate(fp).kv_read_bytes;
  EXPECT_GT(extra, 0);
  EXPECT_LE(extra, 4.0 * block * pages.model().KvBytesPerToken());
}

TEST(BandwidthModelTest, SlidingWindowCapsKvRead) {
  const BandwidthModel mistral = Make("mistral-7b", "h100-sxm");
  const StepFootprint fp =
      UniformDecodeFootprint(mistral.model(), 1, 20000, 16);
  EXPECT_EQ(fp.sequences[0].groups[0].context_tokens, 4096);
  EXPECT_LE(fp.sequences[0].groups[0].pages_read, 4096 / 16 + 1);
  const StepCost cost = mistral.Estimate(fp);
  EXPECT_LE(cost.kv_read_bytes,
            (4096 + 16) * mistral.model().KvBytesPerToken());
}

TEST(BandwidthModelTest, TensorParallelSplitsBytesAndAddsAllReduce) {
  BandwidthModelOptions tp2;
  tp2.tensor_parallel = 2;
  const BandwidthModel one = Make("llama-3-70b", "h100-sxm");
  const BandwidthModel two = Make("llama-3-70b", "h100-sxm", tp2);
  const StepFootprint fp = UniformDecodeFootprint(one.model(), 8, 2000, 16);
  EXPECT_DOUBLE_EQ(two.Estimate(fp).weight_bytes,
                   one.Estimate(fp).weight_bytes / 2);
  EXPECT_GT(two.Estimate(fp).overhead_seconds,
            one.Estimate(fp).overhead_seconds);
}

TEST(BandwidthModelTest, EmptyStepCostsNothing) {
  const BandwidthModel model = Make("llama-2-7b", "h100-sxm");
  const StepCost cost = model.Estimate(StepFootprint{});
  EXPECT_EQ(cost.seconds, 0);
  EXPECT_EQ(cost.bytes, 0);
}

TEST(BandwidthModelTest, CreateRejectsTooManyDevicesNamingTheValue) {
  BandwidthModelOptions options;
  options.tensor_parallel = 16;
  absl::StatusOr<BandwidthModel> model =
      BandwidthModel::FromNames("llama-3-70b", "h100-sxm", options);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(std::string(model.status().message()), HasSubstr("16"));
  options.tensor_parallel = 0;
  EXPECT_THAT(
      std::string(BandwidthModel::FromNames("llama-3-70b", "h100-sxm", options)
                      .status()
                      .message()),
      HasSubstr("'tensor_parallel'"));
}

TEST(BandwidthModelDeathTest, FootprintWithFewerGroupsThanModelFails) {
  absl::StatusOr<ModelSpec> spec = ResolveModelSpec(
      std::string(PAGEKV_SOURCE_DIR) + "/tests/data/cost/custom_model.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<BandwidthModel> model =
      BandwidthModel::Create(*spec, *FindHardwarePreset("l40s"));
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ(model->num_kv_cache_groups(), 2);
  StepFootprint fp;
  fp.block_size = 16;
  SequenceFootprint seq;
  seq.new_tokens = 1;
  seq.groups.resize(1);
  fp.sequences.push_back(seq);
  EXPECT_DEATH(model->Estimate(fp), "has 1 KV-cache groups but model");
}

// --- The CostHook call contract, observed through a mock. ---

class MockCostHook : public CostHook {
 public:
  MOCK_METHOD(StepCost, Estimate, (const StepFootprint& footprint),
              (const, override));
};

// A minimal scheduler loop: advances a clock by the hook's estimate of each
// step, asking exactly once per step.
double RunSteps(const CostHook& hook, const std::vector<StepFootprint>& steps) {
  double clock = 0;
  for (const StepFootprint& step : steps) clock += hook.Estimate(step).seconds;
  return clock;
}

TEST(CostHookContractTest, CalledOncePerStepWithThatStepsFootprint) {
  MockCostHook hook;
  const ModelSpec spec = *FindModelPreset("llama-2-7b");
  const std::vector<StepFootprint> steps = {
      PrefillFootprint(spec, 100, 0, 16),
      UniformDecodeFootprint(spec, 1, 100, 16),
      UniformDecodeFootprint(spec, 1, 101, 16)};
  StepCost prefill_cost;
  prefill_cost.seconds = 0.05;
  StepCost decode_cost;
  decode_cost.seconds = 0.01;
  ::testing::InSequence in_order;
  EXPECT_CALL(hook, Estimate(Property(&StepFootprint::TotalNewTokens, 100)))
      .WillOnce(Return(prefill_cost));
  EXPECT_CALL(hook, Estimate(Property(&StepFootprint::TotalNewTokens, 1)))
      .Times(2)
      .WillRepeatedly(Return(decode_cost));
  EXPECT_DOUBLE_EQ(RunSteps(hook, steps), 0.07);
}

TEST(CostHookContractTest, BandwidthModelIsUsableThroughTheInterface) {
  const BandwidthModel model = Make("llama-3-8b", "h100-sxm");
  const CostHook& hook = model;
  const std::vector<StepFootprint> steps = {
      UniformDecodeFootprint(model.model(), 8, 1000, 16)};
  EXPECT_DOUBLE_EQ(RunSteps(hook, steps), model.Estimate(steps[0]).seconds);
  MockCostHook unused;
  EXPECT_CALL(unused, Estimate(_)).Times(0);
}

}  // namespace
}  // namespace pagekv
