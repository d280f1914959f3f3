// The host-tier flags of `pagekv simulate` and `pagekv cache`: the summary
// they add, the JSON fields, and bad values exiting 2 naming the flag.
#include <fstream>
#include <sstream>
#include <string>

#include "cache_command.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "simulate_command.h"
#include "test_util.h"

namespace pagekv::tools {
namespace {

using ::testing::HasSubstr;

SimulateArgs SmallWithTier() {
  SimulateArgs a;
  a.max_requests = "24";
  a.kv_memory_gib = "0.3";
  a.allocator = "paged";
  a.tiers.host_memory_gib = "2";
  a.tiers.host_policy = "arc";
  return a;
}

TEST(TierCommandTest, SimulatePrintsTheTierSectionAgainstNoTier) {
  std::ostringstream out, err;
  ASSERT_EQ(RunSimulate(SmallWithTier(), out, err), kSimulateOk) << err.str();
  EXPECT_THAT(out.str(), HasSubstr("KV tiers (host tier of"));
  EXPECT_THAT(out.str(), HasSubstr("without the tier"));
  EXPECT_THAT(out.str(), HasSubstr("write-through overhead"));
}

TEST(TierCommandTest, SimulateJsonHasTheTiersObject) {
  SimulateArgs a = SmallWithTier();
  a.json = "-";
  std::ostringstream out, err;
  ASSERT_EQ(RunSimulate(a, out, err), kSimulateOk) << err.str();
  const auto j = nlohmann::json::parse(out.str());
  const auto& tiers = j["results"][0]["tiers"];
  ASSERT_TRUE(tiers.is_object()) << out.str();
  EXPECT_TRUE(tiers.contains("host_hit_rate"));
  EXPECT_GT(tiers["stored_blocks"].get<int64_t>(), 0);
}

TEST(TierCommandTest, BadTierFlagsExitTwoNamingTheFlag) {
  struct Case {
    void (*set)(SimulateArgs&);
    const char* message;
  };
  const Case cases[] = {
      {[](SimulateArgs& a) { a.tiers.store_policy = "lazy"; },
       "--store-policy"},
      {[](SimulateArgs& a) { a.tiers.host_policy = "mru"; }, "--host-policy"},
      {[](SimulateArgs& a) { a.tiers.host_memory_gib = "-1"; },
       "--host-memory-gib"},
      {[](SimulateArgs& a) { a.tiers.store_hit_threshold = "0"; },
       "--store-hit-threshold"},
      {[](SimulateArgs& a) {
         a.tiers.host_memory_gib.clear();
         a.tiers.host_policy = "arc";
       },
       "need --host-memory-gib"},
  };
  for (const Case& c : cases) {
    SimulateArgs a = SmallWithTier();
    c.set(a);
    std::ostringstream out, err;
    EXPECT_EQ(RunSimulate(a, out, err), 2) << c.message;
    EXPECT_THAT(err.str(), HasSubstr(c.message));
  }
}

// A trace of 8 documents read round robin, 24 requests.
std::string ReuseTrace() {
  const std::string path = pagekv::testing::TempPath("tier_reuse.jsonl");
  std::ofstream f(path);
  for (int i = 0; i < 24; ++i) {
    f << "{\"arrival_s\": " << i << ", \"prompt_length\": 520, "
      << "\"shared_prefix_id\": " << (i % 8)
      << ", \"shared_prefix_length\": 512, \"output_length\": 4}\n";
  }
  return path;
}

TEST(TierCommandTest, CacheSweepReportsHostHitsPerCapacity) {
  CacheArgs a;
  a.trace = ReuseTrace();
  a.capacity_blocks = "40,100";
  a.host_multiple = "8";
  a.csv = "-";
  std::ostringstream out, err;
  ASSERT_EQ(RunCache(a, out, err), kCacheOk) << err.str();
  EXPECT_THAT(out.str(), HasSubstr("capacity_blocks,lru,lru_host"));
  // 8 documents of 32 blocks: 40 blocks hit nothing on the GPU (round
  // robin); the host tier of 320 holds them all.
  std::istringstream rows(out.str());
  std::string header, small;
  std::getline(rows, header);
  std::getline(rows, small);
  double gpu = 0, host = 0;
  ASSERT_EQ(std::sscanf(small.c_str(), "40,%lf,%lf", &gpu, &host), 2) << small;
  EXPECT_GT(host, 0.5);
}

TEST(TierCommandTest, CacheRefusesABadHostMultiple) {
  CacheArgs a;
  a.trace = ReuseTrace();
  a.host_multiple = "zero";
  std::ostringstream out, err;
  EXPECT_EQ(RunCache(a, out, err), kCacheBadInput);
  EXPECT_THAT(err.str(), HasSubstr("--host-multiple"));
}

}  // namespace
}  // namespace pagekv::tools
