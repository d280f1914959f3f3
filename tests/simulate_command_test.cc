#include "simulate_command.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_util.h"

namespace pagekv::tools {
namespace {

using ::testing::HasSubstr;

SimulateArgs Small() {
  SimulateArgs a;
  a.max_requests = "30";
  a.kv_memory_gib = "0.5";
  a.allocator = "all";
  return a;
}

std::string TempPath(const std::string& name) {
  return pagekv::testing::TempPath(name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(SimulateCommandTest, PrintsASummaryAndTheComparison) {
  std::ostringstream out, err;
  ASSERT_EQ(RunSimulate(Small(), out, err), kSimulateOk) << err.str();
  EXPECT_THAT(out.str(), HasSubstr("== Allocator paged =="));
  EXPECT_THAT(out.str(), HasSubstr("TTFT"));
  EXPECT_THAT(out.str(), HasSubstr("Allocator comparison"));
  EXPECT_THAT(out.str(), HasSubstr("oracle"));
  EXPECT_EQ(err.str(), "");
}

TEST(SimulateCommandTest, JsonKeysAreStable) {
  SimulateArgs a = Small();
  a.json = "-";
  std::ostringstream out, err;
  ASSERT_EQ(RunSimulate(a, out, err), kSimulateOk) << err.str();
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(out.str());
  std::vector<std::string> top, result;
  for (const auto& [k, v] : j.items()) top.push_back(k);
  EXPECT_THAT(top, ::testing::ElementsAre("schema_version", "workload",
                                          "config", "results"));
  ASSERT_EQ(j["results"].size(), 4u);
  for (const auto& [k, v] : j["results"][0].items()) result.push_back(k);
  EXPECT_THAT(
      result,
      ::testing::ElementsAre(
          "allocator", "num_requests", "completed", "rejected", "preemptions",
          "preempted_requests", "steps", "prompt_tokens", "output_tokens",
          "computed_prefill_tokens", "makespan_s", "busy_s",
          "request_throughput", "output_throughput", "total_throughput",
          "ttft_s", "tpot_s", "e2e_s", "capacity_slots", "bytes_per_slot",
          "kv_memory_bytes", "mean_memory", "peak_memory",
          "peak_token_states_share", "mean_batch_size", "max_batch_size",
          "mean_running", "max_running", "first_preemption_s",
          "first_admission_blocked_s", "prefix_cache", "rejections",
          "timeline_interval_s"));
  EXPECT_EQ(j["results"][0]["allocator"], "paged");
  EXPECT_TRUE(j["results"][0]["ttft_s"].contains("p99"));
  EXPECT_TRUE(
      j["results"][1]["mean_memory"].contains("external_fragmentation"));
}

TEST(SimulateCommandTest, SameInputsSameOutput) {
  SimulateArgs a = Small();
  a.json = "-";
  std::ostringstream out1, out2, err;
  ASSERT_EQ(RunSimulate(a, out1, err), kSimulateOk);
  ASSERT_EQ(RunSimulate(a, out2, err), kSimulateOk);
  EXPECT_EQ(out1.str(), out2.str());
  a.seed = "2";
  std::ostringstream out3;
  ASSERT_EQ(RunSimulate(a, out3, err), kSimulateOk);
  EXPECT_NE(out1.str(), out3.str());
}

TEST(SimulateCommandTest, WritesCsvAndHtml) {
  SimulateArgs a = Small();
  a.csv = TempPath("timeline.csv");
  a.html = TempPath("report.html");
  std::ostringstream out, err;
  ASSERT_EQ(RunSimulate(a, out, err), kSimulateOk) << err.str();
  const std::string csv = ReadFile(a.csv);
  EXPECT_THAT(csv, ::testing::StartsWith("allocator,time_s,token_states,"));
  EXPECT_THAT(csv, HasSubstr("\npaged,"));
  EXPECT_THAT(csv, HasSubstr("\nmax,"));
  const std::string html = ReadFile(a.html);
  EXPECT_THAT(html, ::testing::StartsWith("<!DOCTYPE html>"));
  EXPECT_THAT(html, ::testing::EndsWith("</html>\n"));
  EXPECT_THAT(html, ::testing::Not(HasSubstr("<script")));
  size_t open = 0, close = 0;
  for (size_t p = 0; (p = html.find("<svg", p)) != std::string::npos; ++p) {
    ++open;
  }
  for (size_t p = 0; (p = html.find("</svg>", p)) != std::string::npos; ++p) {
    ++close;
  }
  EXPECT_GE(open, 9u);  // 4 memory charts, 2 batch, 2 CDFs, comparison...
  EXPECT_EQ(open, close);
  EXPECT_THAT(html, HasSubstr("<polygon"));
  EXPECT_THAT(html, HasSubstr("Mean KV memory by allocator"));
}

TEST(SimulateCommandTest, BadValuesExitTwoNamingTheValue) {
  struct Case {
    std::string SimulateArgs::*field;
    std::string value;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {&SimulateArgs::block_size, "0", "--block-size"},
           {&SimulateArgs::allocator, "buddy", "buddy"},
           {&SimulateArgs::prefix_caching, "maybe", "maybe"},
           {&SimulateArgs::model, "gpt-9", "gpt-9"},
           {&SimulateArgs::rate_scale, "-1", "--rate-scale"},
           {&SimulateArgs::policy, "mru", "mru"},
           {&SimulateArgs::format, "xml", "xml"},
       }) {
    SimulateArgs a = Small();
    a.*c.field = c.value;
    std::ostringstream out, err;
    EXPECT_EQ(RunSimulate(a, out, err), kSimulateBadInput) << c.value;
    EXPECT_THAT(err.str(), HasSubstr(c.message));
    EXPECT_EQ(out.str(), "") << "nothing runs on bad input";
  }
}

// --repeat 2 simulates two shifted copies of the selected requests: twice
// the requests and, on this small run, twice the completions (each copy
// loses the same too-long prompts to the small KV memory).
TEST(SimulateCommandTest, RepeatSimulatesShiftedCopies) {
  SimulateArgs a = Small();
  a.allocator = "paged";
  a.json = "-";
  std::ostringstream out1, out2, err;
  ASSERT_EQ(RunSimulate(a, out1, err), kSimulateOk) << err.str();
  a.repeat = "2";
  ASSERT_EQ(RunSimulate(a, out2, err), kSimulateOk) << err.str();
  const nlohmann::json one = nlohmann::json::parse(out1.str());
  const nlohmann::json two = nlohmann::json::parse(out2.str());
  EXPECT_EQ(two["workload"]["num_requests"], 60);
  EXPECT_GT(one["results"][0]["completed"].get<int>(), 0);
  EXPECT_EQ(two["results"][0]["completed"].get<int>(),
            2 * one["results"][0]["completed"].get<int>());
  a.repeat = "0";
  std::ostringstream out3;
  EXPECT_EQ(RunSimulate(a, out3, err), kSimulateBadInput);
  EXPECT_THAT(err.str(), HasSubstr("--repeat must be an integer in [1, "));
}

TEST(SimulateCommandTest, BadTraceLineNamesFileAndLine) {
  const std::string path = TempPath("bad.jsonl");
  {
    std::ofstream f(path);
    f << "{\"arrival_s\": 0, \"prompt_length\": 10, \"output_length\": 4}\n"
      << "{\"arrival_s\": 1, \"prompt_length\": \"x\", \"output_length\": 4}\n";
  }
  SimulateArgs a;
  a.workload = path;
  a.kv_memory_gib = "1";
  std::ostringstream out, err;
  EXPECT_EQ(RunSimulate(a, out, err), kSimulateBadInput);
  EXPECT_THAT(err.str(), HasSubstr("bad.jsonl:2"));
  EXPECT_EQ(out.str(), "");
}

TEST(SimulateCommandTest, RunsATraceFile) {
  const std::string path = TempPath("ok.jsonl");
  {
    std::ofstream f(path);
    for (int i = 0; i < 10; ++i) {
      f << "{\"arrival_s\": " << i * 0.1
        << ", \"prompt_length\": 300, \"shared_prefix_id\": 1, "
           "\"shared_prefix_length\": 256, \"output_length\": 8}\n";
    }
  }
  SimulateArgs a;
  a.workload = path;
  a.kv_memory_gib = "1";
  std::ostringstream out, err;
  ASSERT_EQ(RunSimulate(a, out, err), kSimulateOk) << err.str();
  EXPECT_THAT(out.str(), HasSubstr("10 completed"));
  EXPECT_THAT(out.str(), ::testing::Not(HasSubstr("comparison")));
  EXPECT_THAT(out.str(), HasSubstr("Prefix cache"));
}

}  // namespace
}  // namespace pagekv::tools
