// The commands' memory check: a run estimated larger than --max-memory-gib
// or the machine's available memory exits 2 with the estimate and what to
// change, before the pool is allocated (shown by running the real binary
// under an address-space limit far below the estimate: an allocation would
// abort, not exit 2).
#include "memory_check.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "cache_command.h"
#include "command_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simulate_command.h"
#include "test_util.h"

namespace pagekv::tools {
namespace {

using ::testing::HasSubstr;

const std::string kMooncakeTrace =
    std::string(PAGEKV_SOURCE_DIR) +
    "/data/traces/mooncake/conversation_trace.jsonl";

TEST(MemoryCheckTest, CheckNamesTheEstimateTheLimitAndTheAdvice) {
  MemoryEstimate e;
  e.Add("trace", 1 << 20);
  e.Add("pool and index", 3u << 30);
  e.advice = "use fewer blocks";
  EXPECT_TRUE(CheckMemory(e, std::nullopt, std::nullopt).ok());
  EXPECT_TRUE(CheckMemory(e, uint64_t{4} << 30, uint64_t{8} << 30).ok());
  const absl::Status over_flag =
      CheckMemory(e, uint64_t{2} << 30, std::nullopt);
  EXPECT_THAT(std::string(over_flag.message()),
              HasSubstr("needs an estimated 3.00 GiB (trace 0.00 GiB, pool "
                        "and index 3.00 GiB), but --max-memory-gib allows "
                        "2.00 GiB; use fewer blocks"));
  const absl::Status over_machine =
      CheckMemory(e, std::nullopt, uint64_t{1} << 30);
  EXPECT_THAT(std::string(over_machine.message()),
              HasSubstr("the machine has 1.00 GiB available"));
  EXPECT_TRUE(AvailableMemoryBytes().has_value());
  EXPECT_FALSE(ParseMaxMemoryFlag("0").ok());
  EXPECT_EQ(**ParseMaxMemoryFlag("0.5"), uint64_t{1} << 29);
}

TEST(MemoryCheckTest, CacheOverTheLimitExitsTwoWithTheEstimate) {
  CacheArgs args;
  args.trace = kMooncakeTrace;
  args.repeat = "4";
  args.max_memory_gib = "0.01";
  const auto r = ::pagekv::testing::RunCommand(RunCache, args);
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_THAT(r.err, HasSubstr("needs an estimated"));
  EXPECT_THAT(r.err, HasSubstr("trace x4"));
  EXPECT_THAT(r.err, HasSubstr("--max-memory-gib allows 0.01 GiB"));
  EXPECT_TRUE(r.out.empty());
}

TEST(MemoryCheckTest, SimulateOverTheLimitExitsTwoWithTheEstimate) {
  SimulateArgs args;
  args.repeat = "3";
  args.max_memory_gib = "0.0001";
  const auto r = ::pagekv::testing::RunCommand(RunSimulate, args);
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_THAT(r.err, HasSubstr("needs an estimated"));
  EXPECT_THAT(r.err, HasSubstr("--repeat"));
  EXPECT_TRUE(r.out.empty());
}

// Runs the CLI with at most 1 GiB of address space; returns the exit code
// (or -1 when it did not exit) and the output in *output.
int RunLimited(const std::string& args, std::string* output) {
  const std::string out_path = pagekv::testing::TempPath("memcheck.out");
  const std::string cmd = "ulimit -v 1048576; timeout 60 '" +
                          std::string(PAGEKV_CLI_PATH) + "' " + args + " >'" +
                          out_path + "' 2>&1";
  const int status = std::system(cmd.c_str());
  std::ifstream f(out_path);
  std::stringstream ss;
  ss << f.rdbuf();
  *output = ss.str();
  std::remove(out_path.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(MemoryCheckTest, HugePoolIsRefusedBeforeItIsAllocated) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space, so "
                  "the binary cannot start under ulimit -v";
#endif
  std::string output;
  // ~475 GiB of pool and index; --max-memory-gib above the address limit so
  // only the machine or the flag can refuse it, never an allocation.
  EXPECT_EQ(
      RunLimited("cache --trace '" + kMooncakeTrace +
                     "' --capacity-blocks 4000000000 --max-memory-gib 100",
                 &output),
      2)
      << output;
  EXPECT_THAT(output, HasSubstr("needs an estimated"));
  EXPECT_THAT(output, HasSubstr("--capacity-blocks"));
  // vLLM's pool (policy vllm) is estimated too: ~300 GiB at 2e9 blocks.
  EXPECT_EQ(RunLimited("cache --trace '" + kMooncakeTrace +
                           "' --policy vllm --capacity-blocks 2000000000 "
                           "--max-memory-gib 100",
                       &output),
            2)
      << output;
  EXPECT_THAT(output, HasSubstr("pool and index"));
  EXPECT_EQ(RunLimited("simulate --repeat 65536 --max-memory-gib 0.5", &output),
            2)
      << output;
  EXPECT_THAT(output, HasSubstr("needs an estimated"));
}

}  // namespace
}  // namespace pagekv::tools
