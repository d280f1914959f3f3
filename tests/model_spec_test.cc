#include "pagekv/cost/model_spec.h"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/cost/hardware_spec.h"

namespace pagekv {
namespace {

using ::testing::HasSubstr;

// Matches an absl::Status with `code` whose message matches `message` (a
// string for equality, or a matcher).
MATCHER_P2(StatusIs, code, message, "") {
  *result_listener << "status " << arg.ToString();
  return arg.code() == code &&
         ::testing::Matcher<const std::string&>(message).Matches(
             std::string(arg.message()));
}

constexpr double kKiB = 1024.0;
constexpr double kMiB = 1024.0 * kKiB;
constexpr double kTiB = 1024.0 * 1024.0 * kMiB;

std::string DataFile(const std::string& name) {
  return std::string(PAGEKV_SOURCE_DIR) + "/tests/data/cost/" + name;
}

ModelSpec Preset(const char* name) {
  absl::StatusOr<ModelSpec> spec = FindModelPreset(name);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

TEST(ModelSpecTest, Llama2_7bFp16KvIs512KiBPerToken) {
  const ModelSpec llama = Preset("llama-2-7b");
  EXPECT_EQ(llama.KvBytesPerToken(), 512 * kKiB);
  EXPECT_EQ(1024 * llama.KvBytesPerToken(), 512 * kMiB);
  EXPECT_EQ(64 * 32768 * llama.KvBytesPerToken(), 1 * kTiB);
}

TEST(ModelSpecTest, GqaShrinksKvByKvHeadRatio) {
  const ModelSpec llama3 = Preset("llama-3-8b");  // 8 of 32 heads
  EXPECT_EQ(llama3.KvBytesPerToken(), 128 * kKiB);
  const ModelSpec qwen = Preset("qwen2.5-7b");  // 28 layers, 4 KV heads
  EXPECT_EQ(qwen.KvBytesPerToken(), 2.0 * 28 * 4 * 128 * 2);
}

TEST(ModelSpecTest, MqaKeepsOneKvHead) {
  ModelSpec mqa = Preset("llama-2-7b");
  mqa.name = "mqa";
  mqa.num_kv_heads = 1;
  ASSERT_TRUE(mqa.Validate().ok());
  EXPECT_EQ(mqa.KvBytesPerToken(), 2.0 * 32 * 1 * 128 * 2);
}

TEST(ModelSpecTest, MlaStoresOneLatentPerTokenPerLayer) {
  const ModelSpec dsv3 = Preset("deepseek-v3");
  EXPECT_TRUE(dsv3.uses_mla());
  // 61 layers * (512 + 64) elements * 2 bytes.
  EXPECT_EQ(dsv3.KvBytesPerToken(), 61.0 * 576 * 2);
  // The latent is replicated on every tensor-parallel device.
  EXPECT_EQ(dsv3.KvBytesPerToken(/*tp=*/8), dsv3.KvBytesPerToken());
}

TEST(ModelSpecTest, Int4KvCountsScaleBytes) {
  const ModelSpec int4 = WithKvDtype(Preset("llama-2-7b"), DType::kInt4);
  // Data: 2*32*32*128 elements / 2; scales: 4 bytes per head per token.
  const double elements = 2.0 * 32 * 32 * 128;
  EXPECT_EQ(int4.KvBytesPerToken(), elements / 2 + (elements / 128) * 4);
  const ModelSpec fp8 = WithKvDtype(Preset("llama-2-7b"), DType::kFp8);
  EXPECT_EQ(fp8.KvBytesPerToken(), 256 * kKiB);
  EXPECT_EQ(fp8.kv_scale_bytes, 0);
}

TEST(ModelSpecTest, TensorParallelSplitsKvHeadsAndReplicatesFewerHeads) {
  const ModelSpec llama3 = Preset("llama-3-8b");
  EXPECT_EQ(llama3.KvBytesPerToken(/*tp=*/2), llama3.KvBytesPerToken() / 2);
  // 8 KV heads on 16 devices: one head each, not half a head.
  EXPECT_EQ(llama3.KvBytesPerToken(/*tp=*/16), llama3.KvBytesPerToken() / 8);
}

TEST(ModelSpecTest, FourteenBillionFp16ParamsAre28GB) {
  ModelSpec spec = Preset("llama-2-13b");
  spec.num_params = 14e9;
  EXPECT_DOUBLE_EQ(spec.WeightBytes(), 28e9);
}

TEST(ModelSpecTest, MoeReadsActiveExpertsAtBatchOneAndAllWhenLarge) {
  const ModelSpec mixtral = Preset("mixtral-8x7b");
  EXPECT_NEAR(mixtral.StepWeightBytes(1), mixtral.ActiveWeightBytes(), 1e3);
  EXPECT_NEAR(mixtral.StepWeightBytes(256), mixtral.WeightBytes(), 1e3);
  EXPECT_LT(mixtral.StepWeightBytes(2), mixtral.StepWeightBytes(8));
}

TEST(ModelSpecTest, SlidingWindowPresetHasOneWindowedGroup) {
  const ModelSpec mistral = Preset("mistral-7b");
  ASSERT_EQ(mistral.num_layer_groups(), 1);
  EXPECT_EQ(mistral.layer_groups[0].sliding_window, 4096);
  EXPECT_EQ(mistral.KvBytesPerToken(0, 1), mistral.KvBytesPerToken());
}

TEST(ModelSpecTest, EveryPresetValidates) {
  const std::vector<std::string> names = ModelPresetNames();
  EXPECT_GE(names.size(), 9u);
  for (const std::string& name : names) {
    absl::StatusOr<ModelSpec> spec = FindModelPreset(name);
    ASSERT_TRUE(spec.ok()) << name;
    EXPECT_TRUE(spec->Validate().ok()) << spec->Validate();
  }
  for (const std::string& name : HardwarePresetNames()) {
    absl::StatusOr<HardwareSpec> spec = FindHardwarePreset(name);
    ASSERT_TRUE(spec.ok()) << name;
    EXPECT_TRUE(spec->Validate().ok()) << spec->Validate();
  }
}

TEST(ModelSpecTest, PresetLookupIsCaseInsensitiveAndListsNamesOnMiss) {
  EXPECT_TRUE(FindModelPreset("Llama-3-70B").ok());
  absl::StatusOr<ModelSpec> missing = FindModelPreset("llama-9");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("llama-2-7b"));
}

TEST(ModelSpecTest, ValidateNamesTheBadField) {
  ModelSpec spec = Preset("llama-3-8b");
  spec.num_kv_heads = 3;
  EXPECT_THAT(std::string(spec.Validate().message()),
              HasSubstr("'num_kv_heads'"));
  spec = Preset("llama-3-8b");
  spec.layer_groups = {{.name = "a", .num_layers = 10, .sliding_window = 0}};
  EXPECT_THAT(std::string(spec.Validate().message()),
              HasSubstr("'layer_groups'"));
}

TEST(ModelSpecTest, ParsesDTypeNames) {
  EXPECT_EQ(*ParseDType("BF16"), DType::kBf16);
  EXPECT_EQ(*ParseDType("float16"), DType::kFp16);
  EXPECT_EQ(*ParseDType("fp8_e4m3"), DType::kFp8);
  EXPECT_EQ(BytesPerElement(DType::kInt4), 0.5);
  EXPECT_THAT(std::string(ParseDType("fp3").status().message()),
              HasSubstr("'fp3'"));
}

TEST(SpecJsonTest, LoadsCustomModelWithLayerGroups) {
  absl::StatusOr<ModelSpec> spec =
      LoadModelSpecFile(DataFile("custom_model.json"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "tiny-hybrid");
  ASSERT_EQ(spec->num_layer_groups(), 2);
  EXPECT_EQ(spec->layer_groups[1].sliding_window, 1024);
  EXPECT_EQ(spec->kv_dtype, DType::kFp8);
  // 4 KV heads * 64 dims * 2 (K and V) * 1 byte per layer.
  EXPECT_EQ(spec->KvBytesPerToken(0, 1), 2 * 512.0);
  EXPECT_EQ(spec->KvBytesPerToken(1, 1), 4 * 512.0);
}

TEST(SpecJsonTest, LoadsHardwareOverridingAPreset) {
  absl::StatusOr<HardwareSpec> hw =
      LoadHardwareSpecFile(DataFile("custom_hardware.json"));
  ASSERT_TRUE(hw.ok()) << hw.status();
  EXPECT_EQ(hw->name, "h100-derated");
  EXPECT_DOUBLE_EQ(hw->hbm_bandwidth, 3000e9);
  EXPECT_DOUBLE_EQ(hw->peak_flops_bf16, 989e12);  // from the base
  EXPECT_DOUBLE_EQ(hw->step_overhead_seconds, 100e-6);
}

struct BadFile {
  const char* file;
  const char* expected;
};

class BadSpecFileTest : public ::testing::TestWithParam<BadFile> {};

TEST_P(BadSpecFileTest, ErrorNamesFileAndField) {
  const std::string path = DataFile(GetParam().file);
  absl::Status status =
      std::string(GetParam().file).find("hardware") != std::string::npos
          ? LoadHardwareSpecFile(path).status()
          : LoadModelSpecFile(path).status();
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr(GetParam().file));
  EXPECT_THAT(std::string(status.message()), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Files, BadSpecFileTest,
    ::testing::Values(
        BadFile{"bad_type_model.json", "field 'num_layers' must be an integer"},
        BadFile{"unknown_field_model.json", "unknown field 'num_kv_head'"},
        BadFile{"bad_value_model.json", "'num_kv_heads'"},
        BadFile{"bad_group_model.json", "'layer_groups[0].sliding_window'"},
        BadFile{"bad_hardware.json", "'memory_efficiency'"},
        BadFile{"not_json.json", "invalid JSON at line "},
        BadFile{"missing.json", "cannot open"}),
    [](const ::testing::TestParamInfo<BadFile>& info) {
      // Named for the file, e.g. bad_type_model_json.
      std::string name = info.param.file;
      for (char& c : name) {
        if (!isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

absl::Status ModelJsonError(std::string_view json) {
  return ParseModelSpecJson(json, "m.json").status();
}
absl::Status HardwareJsonError(std::string_view json) {
  return ParseHardwareSpecJson(json, "h.json").status();
}

TEST(SpecJsonTest, DuplicateKeysAreRejectedWithFileAndKey) {
  EXPECT_THAT(
      ModelJsonError(
          R"({"base": "llama-3-8b", "num_layers": 32, "num_layers": 16})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "m.json: duplicate field 'num_layers'"));
  EXPECT_THAT(
      HardwareJsonError(R"({"base": "h100-sxm", "hbm_gb": 80, "hbm_gb": 40})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "h.json: duplicate field 'hbm_gb'"));
  // Inside a layer group, named by its path.
  EXPECT_THAT(ModelJsonError(R"({"base": "llama-3-8b", "layer_groups": [
                  {"num_layers": 16}, {"num_layers": 8, "num_layers": 16}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "m.json: duplicate field 'layer_groups[1].num_layers'"));
  // The same key in two objects is fine.
  EXPECT_TRUE(ParseModelSpecJson(R"({"base": "llama-3-8b", "layer_groups": [
                  {"num_layers": 16}, {"num_layers": 16}]})",
                                 "m.json")
                  .ok());
}

TEST(SpecJsonTest, SyntaxErrorsGiveLineAndColumn) {
  EXPECT_THAT(
      ModelJsonError("{\n  \"base\": \"llama-3-8b\",\n  \"num_layers\": "
                     "32,\n}\n"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("m.json: invalid JSON at line 4, column 1: "
                         "syntax error")));
  EXPECT_THAT(
      ModelJsonError("{\"base\": \"llama-3-8b\", \"head_dim\": 1e400}"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "m.json: invalid JSON at line 1, column 40: number overflow "
               "parsing '1e400'"));
  EXPECT_THAT(HardwareJsonError(""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("h.json: invalid JSON at line 1, column 0")));
  // Comments stay allowed in spec files.
  EXPECT_TRUE(
      ParseHardwareSpecJson("// derated\n{\"base\": \"h100-sxm\"}", "h.json")
          .ok());
}

TEST(ModelSpecTest, ValidateRejectsHugeAndNonFiniteParams) {
  ModelSpec spec = Preset("llama-3-8b");
  for (double bad :
       {1e308, 1.0000001e15, std::numeric_limits<double>::infinity(),
        std::numeric_limits<double>::quiet_NaN(), 0.0, -1.0}) {
    SCOPED_TRACE(bad);
    spec.num_params = bad;
    EXPECT_THAT(
        spec.Validate(),
        StatusIs(
            absl::StatusCode::kInvalidArgument,
            HasSubstr("field 'num_params' must be in (0, 1000000000000000]")));
  }
  spec.num_params = 1e15;
  EXPECT_TRUE(spec.Validate().ok());
  spec.active_params = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT(spec.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("field 'active_params'")));
}

TEST(ModelSpecTest, ValidateRejectsAbsurdDimensions) {
  const ModelSpec base = Preset("llama-3-8b");
  ModelSpec spec = base;
  spec.num_layers = (1 << 24) + 1;
  EXPECT_THAT(spec.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field 'num_layers' must be in [1, 16777216], "
                                 "got 16777217")));
  spec = base;
  spec.num_attention_heads = std::numeric_limits<int32_t>::max();
  EXPECT_THAT(spec.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("'num_attention_heads'")));
  spec = base;
  spec.max_context = std::numeric_limits<int64_t>::max();
  EXPECT_THAT(spec.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("'max_context'")));
  spec = base;
  spec.max_context = int64_t{1} << 40;
  EXPECT_TRUE(spec.Validate().ok());
}

TEST(SpecJsonTest, HugeNumbersNameTheFieldAsWritten) {
  EXPECT_THAT(
      ModelJsonError(R"({"base": "llama-3-8b", "num_params": 1e308})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("m.json: model spec 'llama-3-8b': field "
                         "'num_params' must be in (0, 1000000000000000], "
                         "got 1e+308")));
  EXPECT_THAT(
      ModelJsonError(
          R"({"base": "llama-3-8b", "max_context": 18446744073709551615})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("field 'max_context' is out of range: "
                         "18446744073709551615")));
  // Hardware fields are checked in the file's units, under the file's names.
  EXPECT_THAT(
      HardwareJsonError(R"({"base": "h100-sxm", "hbm_gb": -80})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "h.json: field 'hbm_gb' must be in (0, 1000000], got -80"));
  EXPECT_THAT(HardwareJsonError(R"({"base": "h100-sxm", "hbm_gb": 1e300})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field 'hbm_gb' must be in (0, 1000000]")));
  EXPECT_THAT(
      HardwareJsonError(R"({"base": "h100-sxm", "step_overhead_us": 1e308})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("field 'step_overhead_us'")));
  // Validate() itself names the struct's fields in SI units.
  HardwareSpec hw = *FindHardwarePreset("h100-sxm");
  hw.hbm_bytes = -80e9;
  EXPECT_THAT(
      hw.Validate(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("field 'hbm_bytes' must be in (0, 1000000000000000], "
                         "got -80000000000")));
  hw = *FindHardwarePreset("h100-sxm");
  hw.peak_flops_fp8 = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT(hw.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("'peak_flops_fp8'")));
}

TEST(SpecJsonTest, ResolveFallsBackFromPresetToFile) {
  EXPECT_EQ(ResolveModelSpec("llama-2-7b")->name, "llama-2-7b");
  EXPECT_EQ(ResolveModelSpec(DataFile("custom_model.json"))->name,
            "tiny-hybrid");
  absl::Status missing = ResolveModelSpec("no-such-model").status();
  EXPECT_THAT(std::string(missing.message()), HasSubstr("no-such-model"));
  EXPECT_EQ(ResolveHardwareSpec("H100-SXM")->name, "h100-sxm");
}

TEST(HardwareSpecTest, H100RidgePointIsAbout295FlopsPerByte) {
  const HardwareSpec h100 = *FindHardwarePreset("h100-sxm");
  EXPECT_NEAR(h100.RidgePoint(), 295, 1);
  // FP8 weights double the compute roof.
  EXPECT_NEAR(h100.RidgePoint(DType::kFp8), 591, 1);
  // A100 has no FP8 path and falls back to the BF16 peak.
  const HardwareSpec a100 = *FindHardwarePreset("a100-80gb");
  EXPECT_EQ(a100.PeakFlops(DType::kFp8), a100.peak_flops_bf16);
}

}  // namespace
}  // namespace pagekv
