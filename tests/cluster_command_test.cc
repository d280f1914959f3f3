// `pagekv simulate` in cluster mode: --instances, --router, --sweep and the
// shared-prefix workload, through RunSimulate as the CLI calls it.
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "simulate_command.h"
#include "test_util.h"

namespace pagekv::tools {
namespace {

using ::testing::HasSubstr;

// A small shared-prefix run on small instances.
SimulateArgs Small() {
  SimulateArgs a;
  a.workload = "shared-prefix";
  a.kv_memory_gib = "0.5";
  a.cluster.sp_groups = "3";
  a.cluster.sp_users = "4";
  a.cluster.sp_questions = "2";
  a.cluster.sp_prefix_tokens = "512";
  a.cluster.sp_output_tokens = "16";
  a.cluster.sp_rate = "20";
  a.cluster.instances = "3";
  return a;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

nlohmann::json RunJson(SimulateArgs a) {
  a.json = "-";
  std::ostringstream out, err;
  EXPECT_EQ(RunSimulate(a, out, err), kSimulateOk) << err.str();
  return nlohmann::json::parse(out.str());
}

TEST(ClusterCommandTest, RouterAllPrintsTheSideBySideTable) {
  SimulateArgs a = Small();
  a.cluster.router = "all";
  std::ostringstream out, err;
  ASSERT_EQ(RunSimulate(a, out, err), kSimulateOk) << err.str();
  for (const char* name :
       {"round-robin", "random", "least-loaded", "prefix", "approx-prefix"}) {
    EXPECT_THAT(out.str(), HasSubstr(name));
  }
  EXPECT_THAT(out.str(), HasSubstr("Cluster   3 instances"));
  EXPECT_THAT(out.str(), HasSubstr("imbalance"));
  EXPECT_THAT(out.str(), HasSubstr("Instances (prefix)"));
}

TEST(ClusterCommandTest, JsonHasEveryRunWithInstancesAndTimeline) {
  SimulateArgs a = Small();
  a.cluster.router = "round-robin,prefix";
  const nlohmann::json j = RunJson(a);
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["cluster"]["num_instances"], 3);
  const nlohmann::json& rr = j["runs"][0];
  EXPECT_EQ(rr["router"], "round-robin");
  EXPECT_EQ(rr["completed"], 24);
  EXPECT_DOUBLE_EQ(rr["imbalance"].get<double>(), 1.0);
  ASSERT_EQ(rr["instances"].size(), 3u);
  EXPECT_EQ(rr["instances"][0]["routed"], 8);
  EXPECT_FALSE(rr["timeline"]["time_s"].empty());
  EXPECT_EQ(rr["timeline"]["kv_usage"][0].size(), 3u);
  EXPECT_GT(j["runs"][1]["prefix_hit_rate"].get<double>(),
            rr["prefix_hit_rate"].get<double>());
  EXPECT_EQ(RunJson(a), j);  // same inputs, same report
}

TEST(ClusterCommandTest, OneInstanceReportsWhatTheSingleRunReports) {
  SimulateArgs single = Small();
  single.cluster.instances = "";
  single.allocator = "paged";
  const nlohmann::json s = RunJson(single);
  SimulateArgs one = Small();
  one.cluster.instances = "1";
  one.cluster.router = "prefix";
  const nlohmann::json c = RunJson(one);
  const nlohmann::json& sr = s["results"][0];
  const nlohmann::json& cr = c["runs"][0];
  EXPECT_EQ(cr["completed"], sr["completed"]);
  EXPECT_EQ(cr["ttft_s"]["p90"], sr["ttft_s"]["p90"]);
  EXPECT_EQ(cr["output_throughput"], sr["output_throughput"]);
}

TEST(ClusterCommandTest, SweepFindsTheMaxRateUnderTheSlo) {
  SimulateArgs a = Small();
  a.cluster.router = "round-robin,prefix";
  a.cluster.sweep = "rate=1,4,64";
  a.cluster.slo_ttft_p90 = "10";
  a.cluster.jobs = "2";
  const nlohmann::json j = RunJson(a);
  ASSERT_EQ(j["sweep"]["points"].size(), 6u);
  EXPECT_EQ(j["sweep"]["points"][0]["router"], "round-robin");
  EXPECT_EQ(j["sweep"]["points"][2]["rate_scale"], 64.0);
  EXPECT_EQ(j["sweep"]["points"][3]["router"], "prefix");
  // Offered load grows with the rate; a generous SLO is met everywhere.
  EXPECT_LT(j["sweep"]["points"][0]["offered_rps"].get<double>(),
            j["sweep"]["points"][1]["offered_rps"].get<double>());
  EXPECT_EQ(j["sweep"]["max_rate_under_slo"]["prefix"], 64.0);
  // A tight one is met nowhere.
  a.cluster.slo_ttft_p90 = "0.000001";
  const nlohmann::json tight = RunJson(a);
  EXPECT_TRUE(tight["sweep"]["max_rate_under_slo"]["prefix"].is_null());
}

TEST(ClusterCommandTest, SweepWithoutInstancesRunsOneInstance) {
  SimulateArgs a = Small();
  a.cluster.instances = "";
  a.cluster.sweep = "rate=1,2";
  const nlohmann::json j = RunJson(a);
  EXPECT_EQ(j["cluster"]["num_instances"], 1);
  ASSERT_EQ(j["sweep"]["points"].size(), 2u);
  EXPECT_EQ(j["sweep"]["points"][1]["num_instances"], 1);
  EXPECT_EQ(j["sweep"]["points"][1]["completed"], 24);
}

TEST(ClusterCommandTest, WritesHtmlAndCsvFiles) {
  SimulateArgs a = Small();
  a.cluster.router = "prefix";
  a.cluster.global_cache = true;
  a.html = pagekv::testing::TempPath("cluster.html");
  a.csv = pagekv::testing::TempPath("cluster.csv");
  a.cluster.routes_csv = pagekv::testing::TempPath("routes.csv");
  std::ostringstream out, err;
  ASSERT_EQ(RunSimulate(a, out, err), kSimulateOk) << err.str();
  const std::string html = ReadFile(a.html);
  EXPECT_THAT(html, HasSubstr("class=\"chart\" data-kind=\"kv\""));
  EXPECT_THAT(html, HasSubstr("KV usage per instance"));
  EXPECT_THAT(ReadFile(a.csv),
              HasSubstr("router,time_s,instance,kv_usage,running,queued"));
  const std::string routes = ReadFile(a.cluster.routes_csv);
  EXPECT_THAT(routes, HasSubstr("router,id,instance,arrival_s"));
  EXPECT_EQ(std::count(routes.begin(), routes.end(), '\n'), 25);
  EXPECT_THAT(out.str(), HasSubstr("Global cache (prefix)"));
}

TEST(ClusterCommandTest, BadValuesExitTwoNamingTheValue) {
  struct Case {
    std::string ClusterFlags::*field;
    const char* value;
    const char* message;
  };
  for (const Case& c : {Case{&ClusterFlags::router, "nearest", "nearest"},
                        Case{&ClusterFlags::instances, "0", "--instances"},
                        Case{&ClusterFlags::event_delay, "-1", "--event-delay"},
                        Case{&ClusterFlags::load_bound, "0.5", "load_bound"},
                        Case{&ClusterFlags::scorer, "magic", "magic"},
                        Case{&ClusterFlags::sweep, "speed=2", "--sweep"},
                        Case{&ClusterFlags::sp_users, "0", "--sp-users"},
                        Case{&ClusterFlags::instance_specs, "/nonexistent.json",
                             "nonexistent"}}) {
    SimulateArgs a = Small();
    a.cluster.*c.field = c.value;
    std::ostringstream out, err;
    EXPECT_EQ(RunSimulate(a, out, err), kSimulateBadInput) << c.value;
    EXPECT_THAT(err.str(), HasSubstr(c.message)) << c.value;
  }
  for (auto set : {+[](SimulateArgs* x) { x->record_log = "log.bin"; },
                   +[](SimulateArgs* x) { x->kv_events = "tcp://127.0.0.1:1"; },
                   +[](SimulateArgs* x) { x->fidelity.window = "1:2"; }}) {
    SimulateArgs b = Small();
    set(&b);
    std::ostringstream o, e;
    EXPECT_EQ(RunSimulate(b, o, e), kSimulateBadInput) << e.str();
  }
  SimulateArgs a = Small();
  a.allocator = "oracle";
  std::ostringstream out, err;
  EXPECT_EQ(RunSimulate(a, out, err), kSimulateBadInput);
  EXPECT_THAT(err.str(), HasSubstr("paged"));
}

TEST(ClusterCommandTest, InstanceSpecsMakeAHeterogeneousCluster) {
  const std::string path = pagekv::testing::TempPath("specs.json");
  std::ofstream(path) << R"([{"count": 2, "kv_memory_gib": 0.25},
                           {"hardware": "a100-80gb", "max_num_seqs": 8}])";
  SimulateArgs a = Small();
  a.cluster.instances = "";
  a.cluster.instance_specs = path;
  const nlohmann::json j = RunJson(a);
  const nlohmann::json& inst = j["cluster"]["instances"];
  ASSERT_EQ(inst.size(), 3u);
  EXPECT_EQ(inst[0]["kv_memory_bytes"], 0.25 * (1 << 30));
  EXPECT_EQ(inst[2]["hardware"], "a100-80gb");
  EXPECT_EQ(inst[2]["max_num_seqs"], 8);
  std::ofstream(path) << R"([{"count": 2, "colour": "blue"}])";
  std::ostringstream out, err;
  EXPECT_EQ(RunSimulate(a, out, err), kSimulateBadInput);
  EXPECT_THAT(err.str(), HasSubstr("entry 0: bad field 'colour'"));
}

}  // namespace
}  // namespace pagekv::tools
