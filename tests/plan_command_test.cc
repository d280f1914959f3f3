#include "plan_command.h"

#include <string>
#include <vector>

#include "command_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace pagekv::tools {
namespace {

using ::testing::HasSubstr;

using Result = ::pagekv::testing::CommandRun;

Result RunCapture(const PlanArgs& args) {
  return ::pagekv::testing::RunCommand(RunPlan, args);
}

PlanArgs Llama() {
  PlanArgs args;
  args.model = "llama-2-7b";
  args.hardware = "a100-80gb";
  return args;
}

TEST(PlanCommandTest, PrintsReadableTable) {
  const Result r = RunCapture(Llama());
  ASSERT_EQ(r.code, kPlanOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("llama-2-7b on a100-80gb"));
  EXPECT_THAT(r.out, HasSubstr("524288 (512.0 KiB)"));
  EXPECT_THAT(r.out, HasSubstr("memory-bound"));
}

TEST(PlanCommandTest, JsonHasTheDocumentedFields) {
  PlanArgs args = Llama();
  args.json = "-";
  args.batch = "8";
  args.context = "2048";
  const Result r = RunCapture(args);
  ASSERT_EQ(r.code, kPlanOk) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kv_bytes_per_token"], 524288.0);
  for (const char* key : {"max_kv_tokens", "max_concurrency", "decode_step_ms",
                          "prefill_ms", "bound", "arithmetic_intensity"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["bound"], "memory");
  EXPECT_EQ(j["prefill_bound"], "compute");
  EXPECT_GT(j["decode_step_ms"].get<double>(), 5.0);
}

TEST(PlanCommandTest, KvMemoryBudgetAndDtypeOverrides) {
  PlanArgs args = Llama();
  args.json = "-";
  args.kv_memory_gib = "32";
  args.kv_dtype = "fp8";
  args.context = "4096";
  const Result r = RunCapture(args);
  ASSERT_EQ(r.code, kPlanOk) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kv_bytes_per_token"], 262144.0);
  EXPECT_EQ(j["max_kv_tokens"], 131072);  // 32 GiB / 256 KiB
  EXPECT_EQ(j["max_concurrency"], 32);    // 131072 / 4096
}

struct BadCase {
  const char* what;
  PlanArgs args;
  const char* message;
};

TEST(PlanCommandTest, BadInputExitsTwoNamingTheValue) {
  std::vector<BadCase> cases;
  PlanArgs a = Llama();
  a.model = "llama-99b";
  cases.push_back({"model", a, "llama-99b"});
  a = Llama();
  a.hardware = "tpu";
  cases.push_back({"hardware", a, "tpu"});
  a = Llama();
  a.tp = "two";
  cases.push_back({"tp", a, "--tp must be an integer >= 1, got 'two'"});
  a = Llama();
  a.tp = "16";
  cases.push_back({"tp range", a, "--tp 16"});
  a = Llama();
  a.kv_dtype = "fp5";
  cases.push_back({"kv dtype", a, "'fp5'"});
  a = Llama();
  a.gpu_memory_utilization = "1.7";
  cases.push_back({"utilization", a, "'1.7'"});
  a = Llama();
  a.gpu_memory_utilization = "0.9";
  a.kv_memory_gib = "10";
  cases.push_back({"exclusive", a, "mutually exclusive"});
  a = Llama();
  a.block_size = "0";
  cases.push_back({"block size", a, "--block-size"});
  a = Llama();
  a.model = "llama-3-70b";
  cases.push_back({"weights", a, "weights do not fit"});
  for (const BadCase& c : cases) {
    const Result r = RunCapture(c.args);
    EXPECT_EQ(r.code, kPlanBadInput) << c.what;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << c.what;
  }
}

TEST(PlanCommandTest, RegistersSubcommandOnACli11App) {
  CLI::App app("pagekv");
  int exit_code = -1;
  AddPlanCommand(app, &exit_code);
  const char* argv[] = {"pagekv",     "plan",     "--model", "llama-3-70b",
                        "--hardware", "h100-sxm", "--tp",    "2",
                        "--json",     "-"};
  ::testing::internal::CaptureStdout();
  try {
    app.parse(static_cast<int>(std::size(argv)), argv);
  } catch (const CLI::ParseError& e) {
    ADD_FAILURE() << "CLI11 rejected the arguments: " << e.what();
  }
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(exit_code, kPlanOk);
  const nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j["tensor_parallel"], 2);
  EXPECT_EQ(j["model"], "llama-3-70b");
}

}  // namespace
}  // namespace pagekv::tools
