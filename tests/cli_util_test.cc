// The CLI helper layer: each flag rule is one validator, applied the same
// way while CLI11 parses and when a command's Run checks its Args; and the
// block-size limit is the library's, in every command.
#include "cli_util.h"

#include <sstream>
#include <string>
#include <vector>

#include "cache_command.h"
#include "command_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/cost/capacity.h"
#include "pagekv/kv_cache_config.h"
#include "plan_command.h"
#include "simulate_command.h"

namespace pagekv::tools {
namespace {

using ::testing::HasSubstr;

TEST(CliUtilTest, ParsersNameTheFlagAndTheValue) {
  EXPECT_EQ(*ParseIntFlag("--n", "12", 1), 12);
  EXPECT_EQ(ParseIntFlag("--n", "0", 1).status().message(),
            "--n must be an integer >= 1, got '0'");
  EXPECT_EQ(ParseIntFlag("--n", "9", 1, 8).status().message(),
            "--n must be an integer in [1, 8], got '9'");
  EXPECT_EQ(ParsePositiveFlag("--x", "-1").status().message(),
            "--x must be a number > 0, got '-1'");
  EXPECT_FALSE(ParsePositiveFlag("--x", "inf").ok());
  EXPECT_DOUBLE_EQ(*ParseFractionFlag("--f", "0.5"), 0.5);
  EXPECT_THAT(std::string(ParseFractionFlag("--f", "1.5").status().message()),
              HasSubstr("'1.5'"));
  EXPECT_TRUE(*ParseOnOffFlag("--o", "on"));
  EXPECT_FALSE(*ParseOnOffFlag("--o", "off"));
  EXPECT_EQ(ParseOnOffFlag("--o", "yes").status().message(),
            "--o must be on or off, got 'yes'");
  EXPECT_THAT(SplitList(" a, b ,c"), ::testing::ElementsAre("a", "b", "c"));
}

TEST(CliUtilTest, CommandLineAndRunGiveTheSameRule) {
  int seen = -1;
  CLI::App app("t");
  std::string value = "16";
  app.add_option("--block-size", value)->check(BlockSizeValidator());
  const char* argv[] = {"t", "--block-size", "4097"};
  try {
    app.parse(3, argv);
    ADD_FAILURE() << "CLI11 accepted block size 4097";
  } catch (const CLI::ValidationError& e) {
    seen = 1;
    EXPECT_EQ(std::string(e.what()),
              "--block-size: must be an integer in [1, 4096], got '4097'");
  }
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(ParseBlockSizeFlag("--block-size", "4097").status().message(),
            "--block-size must be an integer in [1, 4096], got '4097'");
}

TEST(CliUtilTest, WriteOutputNamesTheFlagAndPath) {
  std::ostringstream out;
  ASSERT_TRUE(WriteOutput("--json", "-", "x", out).ok());
  EXPECT_EQ(out.str(), "x");
  EXPECT_EQ(WriteOutput("--json", "no/such/dir/f.json", "x", out).message(),
            "--json: cannot write 'no/such/dir/f.json'");
}

// One limit: what the manager accepts, each command and the planner accept.
TEST(CliUtilTest, BlockSizeLimitIsTheLibrarysEverywhere) {
  KVCacheConfig config;
  config.num_blocks = 8;
  config.block_size = kMaxBlockSize;
  EXPECT_TRUE(config.Validate().ok());
  config.block_size = kMaxBlockSize + 1;
  EXPECT_FALSE(config.Validate().ok());
  CapacityOptions capacity;
  capacity.block_size = kMaxBlockSize + 1;
  EXPECT_FALSE(capacity.Validate().ok());

  const std::string too_big = std::to_string(kMaxBlockSize + 1);
  const std::string message =
      "--block-size must be an integer in [1, 4096], got '" + too_big + "'";
  PlanArgs plan;
  plan.model = "llama-2-7b";
  plan.hardware = "a100-80gb";
  plan.block_size = std::to_string(kMaxBlockSize);
  EXPECT_EQ(::pagekv::testing::RunCommand(RunPlan, plan).code, kPlanOk);
  plan.block_size = too_big;
  auto r = ::pagekv::testing::RunCommand(RunPlan, plan);
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_THAT(r.err, HasSubstr(message));

  CacheArgs cache;
  cache.trace = "unused.jsonl";  // the block size is checked first
  cache.block_size = too_big;
  r = ::pagekv::testing::RunCommand(RunCache, cache);
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_THAT(r.err, HasSubstr(message));

  SimulateArgs sim;
  sim.block_size = too_big;
  r = ::pagekv::testing::RunCommand(RunSimulate, sim);
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_THAT(r.err, HasSubstr(message));
}

}  // namespace
}  // namespace pagekv::tools
