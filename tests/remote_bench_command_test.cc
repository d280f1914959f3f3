// `pagekv remote-bench` against a real redis-server: every phase moves every
// block, the JSON report carries the figures, the blocks are deleted after
// the run, and an unreachable Redis or a bad flag gives exit 1 or 2.
#include "remote_bench_command.h"

#include "cli_util.h"
#include "command_test_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "redis_kv_test_util.h"

namespace pagekv::tools {
namespace {

using pagekv::testing::RedisFixture;
using pagekv::testing::RunCommand;

RemoteBenchArgs SmallRun(int port) {
  RemoteBenchArgs a;
  a.redis = "redis://127.0.0.1:" + std::to_string(port);
  a.block_bytes = "4096";
  a.batch_blocks = "8";
  a.batches = "5";
  a.block_size = "4";
  return a;
}

TEST(RemoteBenchCommandTest, MovesEveryBlockAndCleansUp) {
  RedisFixture redis;
  ASSERT_TRUE(redis.Up());
  RemoteBenchArgs a = SmallRun(redis.port());
  a.json = "-";
  const auto run = RunCommand(&RunRemoteBench, a);
  ASSERT_EQ(run.code, kExitOk) << run.err;
  const nlohmann::json j = nlohmann::json::parse(run.out);
  for (const char* phase : {"put", "lookup", "get"}) {
    EXPECT_EQ(j[phase]["blocks"], 40) << phase;
    EXPECT_GT(j[phase]["p99_ms"].get<double>(), 0.0) << phase;
    EXPECT_GE(j[phase]["p99_ms"].get<double>(),
              j[phase]["p50_ms"].get<double>());
  }
  EXPECT_GT(j["get"]["mb_per_s"].get<double>(), 0.0);
  EXPECT_EQ(redis.AdminInt("DBSIZE"), 0);  // deleted after the run
  a.json.clear();
  a.keep = true;
  const auto table = RunCommand(&RunRemoteBench, a);
  ASSERT_EQ(table.code, kExitOk) << table.err;
  EXPECT_NE(table.out.find("lookup"), std::string::npos);
  EXPECT_EQ(redis.AdminInt("DBSIZE"), 40);  // kept
}

TEST(RemoteBenchCommandTest, UnreachableRedisFailsAndBadFlagsExit2) {
  RemoteBenchArgs a = SmallRun(pagekv::testing::FreePort());
  a.timeout_ms = "100";
  const auto down = RunCommand(&RunRemoteBench, a);
  EXPECT_EQ(down.code, kExitFailed);
  EXPECT_NE(down.err.find("0 of 40 blocks stored"), std::string::npos)
      << down.err;
  a.redis = "http://127.0.0.1:1";
  EXPECT_EQ(RunCommand(&RunRemoteBench, a).code, kExitBadInput);
  a = SmallRun(1);
  a.block_bytes = "0";
  const auto bad = RunCommand(&RunRemoteBench, a);
  EXPECT_EQ(bad.code, kExitBadInput);
  EXPECT_NE(bad.err.find("--block-bytes"), std::string::npos);
  a = SmallRun(1);
  a.model = "a:b";
  EXPECT_EQ(RunCommand(&RunRemoteBench, a).code, kExitBadInput);
}

}  // namespace
}  // namespace pagekv::tools
