#include "calibrate_command.h"

#include <fstream>
#include <string>

#include "command_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "pagekv/cost/bandwidth_model.h"
#include "pagekv/cost/hardware_spec.h"
#include "test_util.h"

namespace pagekv::tools {
namespace {

using ::testing::HasSubstr;
using Result = ::pagekv::testing::CommandRun;

std::string Write(const std::string& name, const std::string& text) {
  const std::string path = ::pagekv::testing::TempPath(name);
  std::ofstream(path) << text;
  return path;
}

// Decode and prefill times of llama-2-7b on a100-80gb with the memory
// efficiency at 0.8 and a 300 us step overhead, everything else the preset's.
std::string MeasuredCsv() {
  HardwareSpec hw = *FindHardwarePreset("a100-80gb");
  hw.memory_efficiency = 0.8;
  hw.step_overhead_seconds = 300e-6;
  const ModelSpec model = *FindModelPreset("llama-2-7b");
  const BandwidthModel bw = *BandwidthModel::Create(model, hw);
  std::string csv = "batch,context,prompt_tokens,step_ms\n";
  for (int batch : {1, 8, 32}) {
    const double s =
        bw.Estimate(UniformDecodeFootprint(model, batch, 1024, 16)).seconds;
    csv += std::to_string(batch) + ",1024,0," + std::to_string(s * 1e3) + "\n";
  }
  return csv;
}

CalibrateArgs Args(const std::string& csv, const std::string& out) {
  CalibrateArgs a;
  a.measurements = csv;
  a.hardware = "a100-80gb";
  a.model = "llama-2-7b";
  a.output = out;
  return a;
}

TEST(CalibrateCommandTest, WritesAHardwareSpecThatPlanAndSimulateLoad) {
  const std::string csv = Write("measured.csv", MeasuredCsv());
  const std::string out = ::pagekv::testing::TempPath("fit.json");
  CalibrateArgs args = Args(csv, out);
  args.name = "my-a100";
  const Result r = ::pagekv::testing::RunCommand(RunCalibrate, args);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out,
              HasSubstr("Fitted my-a100 (llama-2-7b on a100-80gb) to 3"));
  EXPECT_THAT(r.out, HasSubstr("memory_efficiency"));
  EXPECT_THAT(r.out, HasSubstr("Residuals: median |error| 0.0%"));
  absl::StatusOr<HardwareSpec> fitted = ResolveHardwareSpec(out);
  ASSERT_TRUE(fitted.ok()) << fitted.status();
  EXPECT_EQ(fitted->name, "my-a100");
  EXPECT_NEAR(fitted->memory_efficiency, 0.8, 1e-3);
  EXPECT_NEAR(fitted->step_overhead_seconds, 300e-6, 3e-6);
}

TEST(CalibrateCommandTest, JsonReportListsParametersAndResiduals) {
  const std::string csv = Write("measured.csv", MeasuredCsv());
  CalibrateArgs args = Args(csv, ::pagekv::testing::TempPath("fit.json"));
  args.json = "-";
  const Result r = ::pagekv::testing::RunCommand(RunCalibrate, args);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["hardware"], "a100-80gb-fit");
  EXPECT_NEAR(j["parameters"]["memory_efficiency"]["fitted"].get<double>(), 0.8,
              1e-3);
  EXPECT_NEAR(j["parameters"]["step_overhead_us"]["fitted"].get<double>(), 300,
              3);
  ASSERT_EQ(j["rows"].size(), 3u);
  EXPECT_EQ(j["rows"][0]["line"], 2);
  EXPECT_LT(j["max_abs_error"].get<double>(), 1e-3);
}

TEST(CalibrateCommandTest, BadCsvExitsTwoNamingFileLineAndField) {
  const std::string csv =
      Write("bad.csv",
            "batch,context,prompt_tokens,step_ms\n1,1024,0,9.5\n2,abc,0,9\n");
  const std::string out = ::pagekv::testing::TempPath("never.json");
  const Result r = ::pagekv::testing::RunCommand(RunCalibrate, Args(csv, out));
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_THAT(r.err, HasSubstr("pagekv calibrate: " + csv +
                               ":3: field 'context' must be an integer"));
  EXPECT_FALSE(std::ifstream(out).good());
}

TEST(CalibrateCommandTest, UnfittableRowsAndMissingInputsExitTwo) {
  const std::string csv =
      Write("long.csv", "batch,context,prompt_tokens,ttft_ms\n0,0,9000,900\n");
  Result r = ::pagekv::testing::RunCommand(
      RunCalibrate, Args(csv, ::pagekv::testing::TempPath("x.json")));
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_THAT(r.err, HasSubstr("line 2: context 9000 exceeds"));
  r = ::pagekv::testing::RunCommand(
      RunCalibrate, Args("no/such.csv", ::pagekv::testing::TempPath("x.json")));
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_THAT(r.err, HasSubstr("cannot open measurements file 'no/such.csv'"));
  CalibrateArgs args = Args(csv, "");
  r = ::pagekv::testing::RunCommand(RunCalibrate, args);
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_THAT(r.err, HasSubstr("-o is required"));
}

}  // namespace
}  // namespace pagekv::tools
