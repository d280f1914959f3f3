// `pagekv simulate`'s fidelity flags, through RunSimulate as the CLI runs
// them.
#include "simulate_flags.h"

#include <initializer_list>
#include <sstream>
#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "simulate_command.h"

namespace pagekv::tools {
namespace {

using testing::HasSubstr;

SimulateArgs Small() {
  SimulateArgs a;
  a.max_requests = "30";
  a.kv_memory_gib = "0.5";
  return a;
}

nlohmann::json RunJson(SimulateArgs a) {
  a.json = "-";
  std::ostringstream out, err;
  EXPECT_EQ(RunSimulate(a, out, err), kSimulateOk) << err.str();
  return nlohmann::json::parse(out.str(), nullptr, /*allow_exceptions=*/false);
}

TEST(SimulateFlagsTest, PaperRunsPagedAndTheOrcaBaselines) {
  SimulateArgs a = Small();
  a.allocator = "paper";
  const nlohmann::json j = RunJson(a);
  ASSERT_TRUE(j.is_object());
  ASSERT_EQ(j["results"].size(), 4u);
  EXPECT_EQ(j["results"][0]["allocator"], "paged");
  EXPECT_EQ(j["results"][1]["allocator"], "orca-max");
  EXPECT_EQ(j["results"][2]["allocator"], "orca-pow2");
  EXPECT_EQ(j["results"][3]["allocator"], "orca-oracle");
}

TEST(SimulateFlagsTest, UnknownAllocatorListsTheSets) {
  SimulateArgs a = Small();
  a.allocator = "buddy";
  std::ostringstream out, err;
  EXPECT_EQ(RunSimulate(a, out, err), kSimulateBadInput);
  EXPECT_THAT(err.str(), HasSubstr("'buddy'"));
  EXPECT_THAT(err.str(), HasSubstr("orca-pow2"));
  EXPECT_THAT(err.str(), HasSubstr("paper"));
}

TEST(SimulateFlagsTest, ModesChangeTheRun) {
  SimulateArgs a = Small();
  a.allocator = "paged";
  a.kv_memory_gib = "0.3";
  const nlohmann::json chunked = RunJson(a);
  a.fidelity.admission = "guaranteed";
  const nlohmann::json guaranteed = RunJson(a);
  ASSERT_TRUE(chunked.is_object() && guaranteed.is_object());
  EXPECT_GT(chunked["results"][0]["preemptions"].get<int>(), 0);
  EXPECT_EQ(guaranteed["results"][0]["preemptions"].get<int>(), 0);
  a.fidelity.admission = "";
  a.fidelity.concurrency = "2";
  const nlohmann::json closed = RunJson(a);
  ASSERT_TRUE(closed.is_object());
  EXPECT_LE(closed["results"][0]["max_running"].get<int>(), 2);
}

TEST(SimulateFlagsTest, BadModeValuesExitTwoNamingTheFlag) {
  for (auto [flag, set] :
       {std::pair<std::string, std::string SimulateFlags::*>{
            "--preempt-mode", &SimulateFlags::preempt_mode},
        {"--admission", &SimulateFlags::admission},
        {"--chunked-prefill", &SimulateFlags::chunked_prefill},
        {"--concurrency", &SimulateFlags::concurrency}}) {
    SimulateArgs a = Small();
    a.fidelity.*set = "-3x";
    std::ostringstream out, err;
    EXPECT_EQ(RunSimulate(a, out, err), kSimulateBadInput) << flag;
    EXPECT_THAT(err.str(), HasSubstr(flag));
    EXPECT_THAT(err.str(), HasSubstr("-3x"));
  }
}

// Runs `a` expecting exit 2 with every string of `needles` in the message.
void ExpectBadInput(const SimulateArgs& a,
                    std::initializer_list<const char*> needles) {
  std::ostringstream out, err;
  EXPECT_EQ(RunSimulate(a, out, err), kSimulateBadInput) << err.str();
  for (const char* n : needles) EXPECT_THAT(err.str(), HasSubstr(n));
}

TEST(SimulateFlagsTest, ChunkedPrefillOffRunsWholePromptsWithinTheLimits) {
  SimulateArgs a = Small();
  a.allocator = "paged";
  a.max_batch_tokens = "2048";
  a.fidelity.max_model_len = "2048";
  const nlohmann::json chunked = RunJson(a);
  a.fidelity.chunked_prefill = "off";
  const nlohmann::json whole = RunJson(a);
  ASSERT_TRUE(chunked.is_object() && whole.is_object());
  // The same work, computed in other steps.
  EXPECT_EQ(whole["results"][0]["completed"],
            chunked["results"][0]["completed"]);
  EXPECT_NE(whole["results"][0]["steps"], chunked["results"][0]["steps"]);
  a.fidelity.max_model_len = "4096";
  ExpectBadInput(a, {"--max-model-len", "--max-batch-tokens", "4096"});
}

TEST(SimulateFlagsTest, PlanFlagsKeepPlansLimits) {
  SimulateArgs a = Small();
  a.fidelity.tp = "3";
  ExpectBadInput(a, {"--tp", "does not divide the 32 attention heads"});
  a = Small();
  a.fidelity.max_model_len = "100000";
  ExpectBadInput(a, {"--max-model-len", "8192"});
  a = Small();
  a.fidelity.gpu_memory_utilization = "0.8";
  ExpectBadInput(a, {"mutually exclusive"});
  a = Small();
  a.kv_memory_gib = "";
  a.fidelity.gpu_memory_utilization = "1.5";
  ExpectBadInput(a, {"--gpu-memory-utilization", "1.5"});
  a = Small();
  a.fidelity.kv_dtype = "fp7";
  ExpectBadInput(a, {"--kv-dtype", "fp7"});
}

TEST(SimulateFlagsTest, MaxAllocatorNeedsAMaxModelLenForLongContexts) {
  SimulateArgs a = Small();
  a.model = "deepseek-v3";  // 131072-token context
  a.allocator = "max";
  ExpectBadInput(a, {"131072", "--max-model-len"});
  a.fidelity.max_model_len = "8192";
  std::ostringstream out, err;
  EXPECT_EQ(RunSimulate(a, out, err), kSimulateOk) << err.str();
}

TEST(SimulateFlagsTest, ModelFlagsChangeTheRun) {
  SimulateArgs a = Small();
  a.allocator = "paged";
  a.kv_memory_gib = "";
  // The device's memory, not the default workload's 20 GiB.
  a.fidelity.gpu_memory_utilization = "0.9";
  const nlohmann::json base = RunJson(a);
  a.fidelity.kv_dtype = "fp8";
  const nlohmann::json fp8 = RunJson(a);
  a.fidelity.kv_dtype = "";
  a.fidelity.tp = "2";
  const nlohmann::json tp2 = RunJson(a);
  a.fidelity.tp = "";
  a.fidelity.gpu_memory_utilization = "0.5";
  const nlohmann::json half = RunJson(a);
  ASSERT_TRUE(base.is_object() && fp8.is_object() && tp2.is_object() &&
              half.is_object());
  const double kv = base["results"][0]["kv_memory_bytes"].get<double>();
  // fp8 halves the bytes per slot; tp 2 halves the weights per device.
  EXPECT_DOUBLE_EQ(fp8["results"][0]["bytes_per_slot"].get<double>() * 2,
                   base["results"][0]["bytes_per_slot"].get<double>());
  EXPECT_GT(tp2["results"][0]["kv_memory_bytes"].get<double>(), kv);
  EXPECT_LT(half["results"][0]["kv_memory_bytes"].get<double>(), kv);
}

TEST(SimulateFlagsTest, MaxModelLenRejectsLongerRequests) {
  SimulateArgs a = Small();
  a.allocator = "paged";
  a.fidelity.max_model_len = "2048";
  const nlohmann::json j = RunJson(a);
  ASSERT_TRUE(j.is_object());
  EXPECT_GT(j["results"][0]["rejected"].get<int>(), 0);
}

TEST(SimulateFlagsTest, WindowLimitsTheSteadyStateStatistics) {
  SimulateArgs a = Small();
  a.allocator = "paged";
  const nlohmann::json whole = RunJson(a);
  a.fidelity.window = "1:2";
  const nlohmann::json window = RunJson(a);
  ASSERT_TRUE(whole.is_object() && window.is_object());
  const nlohmann::json& w = whole["results"][0];
  const nlohmann::json& v = window["results"][0];
  EXPECT_EQ(v["completed"], w["completed"]);  // counts cover the whole run
  EXPECT_LT(v["ttft_s"]["count"].get<int>(), w["ttft_s"]["count"].get<int>());
  EXPECT_NE(v["mean_memory"]["token_states"].get<double>(),
            w["mean_memory"]["token_states"].get<double>());
  for (const char* bad : {"2:1", "x:3", "5", "-1:2"}) {
    a.fidelity.window = bad;
    ExpectBadInput(a, {"--window", bad});
  }
}

TEST(SimulateFlagsTest, RequestsCsvHasARowPerRequest) {
  SimulateArgs a = Small();
  a.allocator = "paged";
  a.fidelity.requests_csv = "-";
  std::ostringstream out, err;
  ASSERT_EQ(RunSimulate(a, out, err), kSimulateOk) << err.str();
  std::istringstream lines(out.str());
  std::string line;
  std::getline(lines, line);
  EXPECT_THAT(line, HasSubstr("allocator,id,arrival_s,first_token_s"));
  int rows = 0;
  while (std::getline(lines, line)) {
    EXPECT_THAT(line, testing::StartsWith("paged,"));
    ++rows;
  }
  EXPECT_EQ(rows, 30);
  EXPECT_THAT(out.str(), HasSubstr("output_tokens,hit_tokens,preemptions"));
}

}  // namespace
}  // namespace pagekv::tools
