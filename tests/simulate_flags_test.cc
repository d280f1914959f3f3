// `pagekv simulate`'s fidelity flags, through RunSimulate as the CLI runs
// them.
#include "simulate_flags.h"

#include <sstream>
#include <string>

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

}  // namespace
}  // namespace pagekv::tools
