#include "pagekv/cost/calibration.h"

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/cost/bandwidth_model.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"

namespace pagekv {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A spec whose every fitted field differs from the h100-sxm preset's.
HardwareSpec Truth() {
  HardwareSpec hw = *FindHardwarePreset("h100-sxm");
  hw.name = "truth";
  hw.memory_efficiency = 0.73;
  hw.compute_efficiency = 0.58;
  hw.compute_half_tokens = 40;
  hw.overlap_loss = 0.6;
  hw.step_overhead_seconds = 120e-6;
  hw.prefill_overhead_seconds = 900e-6;
  hw.interconnect_latency_seconds = 11e-6;
  hw.interconnect_hop_latency_seconds = 1.7e-6;
  return hw;
}

// Step times of `truth` for decodes, prefills, mixed steps and three TP
// degrees: what a user would measure on an engine that is `truth`.
std::vector<Measurement> Table(const ModelSpec& model,
                               const HardwareSpec& truth) {
  std::vector<Measurement> rows;
  auto add = [&](int32_t batch, int64_t context, int64_t prompt, int32_t tp) {
    Measurement m{batch, context, prompt, tp, 0, batch == 0, 0};
    BandwidthModelOptions o;
    o.tensor_parallel = tp;
    StepFootprint fp = UniformDecodeFootprint(model, batch, context, 16);
    if (prompt > 0) {
      SequenceFootprint s = PrefillFootprint(model, prompt, 0, 16).sequences[0];
      s.seq = SeqId(static_cast<uint64_t>(batch) + 1);
      fp.sequences.push_back(s);
    }
    m.seconds = BandwidthModel::Create(model, truth, o)->Estimate(fp).seconds;
    rows.push_back(m);
  };
  for (int32_t batch : {1, 16, 128}) {
    for (int64_t context : {256, 4096}) add(batch, context, 0, 1);
  }
  for (int64_t prompt : {16, 64, 256, 1024, 4096}) add(0, 0, prompt, 1);
  add(32, 1024, 512, 1);
  for (int32_t tp : {2, 4, 8}) {
    add(1, 512, 0, tp);
    add(0, 0, 2048, tp);
  }
  return rows;
}

TEST(CalibrationTest, FitsATableOfKnownParametersBackToThem) {
  const ModelSpec model = *FindModelPreset("llama-3-8b");
  const HardwareSpec truth = Truth();
  const std::vector<Measurement> rows = Table(model, truth);
  absl::StatusOr<CalibrationResult> fit =
      Calibrate(model, *FindHardwarePreset("h100-sxm"), rows);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_THAT(
      fit->fitted,
      ElementsAre("interconnect_latency_us", "interconnect_hop_latency_us",
                  "memory_efficiency", "compute_efficiency",
                  "compute_half_tokens", "overlap_loss", "step_overhead_us",
                  "prefill_overhead_us"));
  const HardwareSpec& got = fit->hardware;
  auto near = [](double got, double want, double rel) {
    return std::abs(got / want - 1) <= rel;
  };
  EXPECT_PRED3(near, got.memory_efficiency, truth.memory_efficiency, 0.01);
  EXPECT_PRED3(near, got.compute_efficiency, truth.compute_efficiency, 0.01);
  EXPECT_PRED3(near, got.compute_half_tokens, truth.compute_half_tokens, 0.03);
  EXPECT_PRED3(near, got.overlap_loss, truth.overlap_loss, 0.03);
  EXPECT_PRED3(near, got.step_overhead_seconds, truth.step_overhead_seconds,
               0.03);
  EXPECT_PRED3(near, got.prefill_overhead_seconds,
               truth.prefill_overhead_seconds, 0.03);
  EXPECT_PRED3(near, got.interconnect_latency_seconds,
               truth.interconnect_latency_seconds, 0.03);
  EXPECT_PRED3(near, got.interconnect_hop_latency_seconds,
               truth.interconnect_hop_latency_seconds, 0.05);
  EXPECT_LT(fit->max_abs_error, 1e-3);
  ASSERT_EQ(fit->estimated_seconds.size(), rows.size());
}

TEST(CalibrationTest, FitsThePerLayerPrefillOverheadWhenAsked) {
  const ModelSpec model = *FindModelPreset("llama-3-8b");
  HardwareSpec truth = Truth();
  truth.prefill_overhead_seconds = 0;
  truth.prefill_layer_overhead_seconds = 40e-6;
  const std::vector<Measurement> rows = Table(model, truth);
  HardwareSpec base = truth;
  base.prefill_layer_overhead_seconds = 5e-6;
  CalibrationOptions options;
  options.fit = {"prefill_layer_overhead_us"};
  absl::StatusOr<CalibrationResult> fit = Calibrate(model, base, rows, options);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_THAT(fit->fitted, ElementsAre("prefill_layer_overhead_us"));
  EXPECT_NEAR(fit->hardware.prefill_layer_overhead_seconds / 40e-6, 1, 0.01);
  EXPECT_LT(fit->max_abs_error, 1e-3);
}

TEST(CalibrationTest, ReportsResidualsOfAnImperfectFit) {
  const ModelSpec model = *FindModelPreset("llama-3-8b");
  std::vector<Measurement> rows = Table(model, Truth());
  rows[0].seconds *= 1.5;  // one outlier the model cannot follow
  absl::StatusOr<CalibrationResult> fit =
      Calibrate(model, *FindHardwarePreset("h100-sxm"), rows);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_GT(fit->max_abs_error, 0.05);
  EXPECT_LT(fit->relative_errors[0], -0.05);
  EXPECT_LT(fit->median_abs_error, fit->max_abs_error);
}

TEST(CalibrationTest, FitsOnlyWhatTheTableIdentifies) {
  const ModelSpec model = *FindModelPreset("llama-3-8b");
  const HardwareSpec base = *FindHardwarePreset("a100-80gb");
  std::vector<Measurement> decode = {{1, 512, 0, 1, 0.01, false, 2},
                                     {64, 512, 0, 1, 0.02, false, 3}};
  EXPECT_THAT(FitParameters(model, base, decode),
              ElementsAre("memory_efficiency", "step_overhead_us"));
  ModelSpec fp8 = model;
  fp8.weight_dtype = DType::kFp8;
  std::vector<Measurement> ttft = {{0, 0, 128, 1, 0.01, true, 2}};
  EXPECT_THAT(FitParameters(fp8, *FindHardwarePreset("h100-sxm"), ttft),
              ElementsAre("memory_efficiency", "compute_efficiency_8bit",
                          "prefill_overhead_us"));
}

TEST(CalibrationTest, RejectsRowsTheModelCannotRunNamingTheLine) {
  const ModelSpec model = *FindModelPreset("llama-2-7b");  // 4096 tokens
  const HardwareSpec base = *FindHardwarePreset("a100-80gb");
  std::vector<Measurement> rows = {{1, 512, 0, 1, 0.01, false, 2},
                                   {0, 0, 8192, 1, 0.5, true, 3}};
  absl::StatusOr<CalibrationResult> fit = Calibrate(model, base, rows);
  ASSERT_FALSE(fit.ok());
  EXPECT_THAT(fit.status().message(), HasSubstr("line 3"));
  EXPECT_THAT(fit.status().message(), HasSubstr("8192"));
  rows[1] = {1, 512, 0, 3, 0.01, false, 7};  // 3 does not divide 32 heads
  fit = Calibrate(model, base, rows);
  ASSERT_FALSE(fit.ok());
  EXPECT_THAT(fit.status().message(), HasSubstr("line 7: field 'tp'"));
  rows = {{1, 512, 0, 1, 0.01, false, 2}};
  fit = Calibrate(model, base, rows);
  ASSERT_FALSE(fit.ok());
  EXPECT_THAT(fit.status().message(), HasSubstr("cannot determine"));
}

TEST(MeasurementsCsvTest, ReadsColumnsInAnyOrderWithOptionalTp) {
  absl::StatusOr<std::vector<Measurement>> rows = ParseMeasurementsCsv(
      "# measured on my engine\n"
      "step_ms,ttft_ms,prompt_tokens,context,batch\n"
      "10.5,,0,512,8\n"
      "\n"
      ",42,2048,0,0\n",
      "m.csv");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].batch, 8);
  EXPECT_EQ((*rows)[0].context, 512);
  EXPECT_DOUBLE_EQ((*rows)[0].seconds, 10.5e-3);
  EXPECT_FALSE((*rows)[0].ttft);
  EXPECT_EQ((*rows)[0].line, 3);
  EXPECT_EQ((*rows)[1].prompt_tokens, 2048);
  EXPECT_TRUE((*rows)[1].ttft);
  EXPECT_EQ((*rows)[1].tensor_parallel, 1);
  EXPECT_EQ((*rows)[1].line, 5);
}

TEST(MeasurementsCsvTest, ErrorsNameTheFileLineAndField) {
  const std::map<std::string, std::string> cases = {
      {"batch,context,prompt_tokens,step_ms\n1,x,0,5\n",
       "m.csv:2: field 'context' must be an integer"},
      {"batch,context,prompt_tokens,step_ms\n1,5,0,-3\n",
       "m.csv:2: field 'step_ms' must be a number in (0, "},
      {"batch,context,prompt_tokens,step_ms,tp\n1,5,0,3,0\n",
       "m.csv:2: field 'tp' must be an integer in [1, "},
      {"batch,context,prompt,step_ms\n", "m.csv:1: unknown column 'prompt'"},
      {"batch,context,step_ms\n", "m.csv:1: missing column 'prompt_tokens'"},
      {"batch,context,prompt_tokens\n",
       "m.csv:1: missing column 'step_ms' or 'ttft_ms'"},
      {"batch,batch,context,prompt_tokens,step_ms\n",
       "m.csv:1: column 'batch' repeated"},
      {"batch,context,prompt_tokens,step_ms\n1,2,3\n",
       "m.csv:2: expected 4 fields, got 3"},
      {"batch,context,prompt_tokens,step_ms,ttft_ms\n1,2,3,4,5\n",
       "m.csv:2: needs exactly one of 'step_ms' and 'ttft_ms'"},
      {"batch,context,prompt_tokens,ttft_ms\n4,2,0,5\n",
       "m.csv:2: a 'ttft_ms' row needs prompt_tokens > 0"},
      {"batch,context,prompt_tokens,step_ms\n0,2,0,5\n",
       "m.csv:2: a step needs batch > 0 or prompt_tokens > 0"},
      {"# nothing\n", "m.csv: no measurements"},
  };
  for (const auto& [text, want] : cases) {
    absl::StatusOr<std::vector<Measurement>> rows =
        ParseMeasurementsCsv(text, "m.csv");
    ASSERT_FALSE(rows.ok()) << text;
    EXPECT_THAT(rows.status().message(), HasSubstr(want)) << text;
  }
  EXPECT_EQ(LoadMeasurementsCsv("no/such/file.csv").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(HardwareSpecJsonTest, WrittenSpecReadsBackToTheSameSpec) {
  HardwareSpec hw = Truth();
  absl::StatusOr<HardwareSpec> back =
      ParseHardwareSpecJson(HardwareSpecToJson(hw), "fit.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->name, "truth");
  EXPECT_EQ(back->num_devices, hw.num_devices);
  EXPECT_NEAR(back->hbm_bandwidth / hw.hbm_bandwidth, 1, 1e-12);
  EXPECT_NEAR(back->prefill_overhead_seconds / hw.prefill_overhead_seconds, 1,
              1e-12);
  EXPECT_NEAR(
      back->prefill_layer_overhead_seconds / hw.prefill_layer_overhead_seconds,
      1, 1e-12);
  EXPECT_NEAR(back->interconnect_hop_latency_seconds /
                  hw.interconnect_hop_latency_seconds,
              1, 1e-12);
  EXPECT_DOUBLE_EQ(back->compute_half_tokens, hw.compute_half_tokens);
}

}  // namespace
}  // namespace pagekv
