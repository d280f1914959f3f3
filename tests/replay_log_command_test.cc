// `pagekv replay-log` and `pagekv stress` end to end: the engine-loop
// example recorded and replayed, planted divergences, damaged logs, the
// minimizer, and short stress runs on several group configurations.
#include "replay_log_command.h"

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "command_test_util.h"
#include "fmt/format.h"
#include "gtest/gtest.h"
#include "pagekv/call_log.h"
#include "pagekv/sim/stress.h"
#include "stress_command.h"
#include "test_util.h"

namespace pagekv::tools {
namespace {

using pagekv::testing::RunCommand;

std::string Temp(const std::string& name) {
  return pagekv::testing::TempPath("replay_log_test_" + name);
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

int Exit(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The engine-loop example's log, recorded once per test binary.
const std::string& EngineLoopLog() {
  static const std::string path = [] {
    const std::string p = Temp("engine_loop.pkvlog");
    const std::string cmd = std::string("'") + PAGEKV_ENGINE_LOOP_PATH +
                            "' --record-log '" + p + "' > /dev/null";
    EXPECT_EQ(Exit(cmd), 0);
    return p;
  }();
  return path;
}

// Byte offsets of each record in a log (after the header).
std::vector<size_t> RecordOffsets(const std::string& bytes) {
  auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      v |= uint32_t{static_cast<uint8_t>(bytes[at + i])} << (8 * i);
    }
    return v;
  };
  std::vector<size_t> offsets;
  for (size_t at = 20 + u32(12); at < bytes.size(); at += 8 + u32(at)) {
    offsets.push_back(at);
  }
  return offsets;
}

ReplayLogArgs Args(const std::string& log) {
  ReplayLogArgs a;
  a.log = log;
  return a;
}

TEST(ReplayLogCommandTest, EngineLoopRecordedAndReplayedIsIdentical) {
  auto log = ReadCallLog(EngineLoopLog());
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_GT(log->records.size(), 100u);
  auto run = RunCommand(&RunReplayLog, Args(EngineLoopLog()));
  EXPECT_EQ(run.code, kReplayIdentical) << run.err;
  EXPECT_NE(run.out.find(fmt::format("identical: {} calls replayed",
                                     log->records.size())),
            std::string::npos)
      << run.out;
  // The installed binary agrees.
  EXPECT_EQ(Exit(std::string("'") + PAGEKV_CLI_PATH + "' replay-log '" +
                 EngineLoopLog() + "' > /dev/null"),
            0);
}

TEST(ReplayLogCommandTest, SimulateRecordsALogThatReplaysIdentically) {
  const std::string path = Temp("simulate.pkvlog");
  ASSERT_EQ(Exit(std::string("'") + PAGEKV_CLI_PATH +
                 "' simulate --max-requests 8 --allocator paged "
                 "--record-log '" +
                 path + "' > /dev/null"),
            0);
  auto log = ReadCallLog(path);
  ASSERT_TRUE(log.ok()) << log.status();
  size_t decodes = 0;
  for (const CallRecord& r : log->records) {
    decodes += r.op == CallOp::kAppendDecodeTokens ||
               (r.op == CallOp::kReserve && r.a == 1);
  }
  EXPECT_GT(decodes, 10u);
  ReplayLogArgs a = Args(path);
  a.verify_every = 25;
  auto run = RunCommand(&RunReplayLog, a);
  EXPECT_EQ(run.code, kReplayIdentical) << run.out << run.err;
}

TEST(ReplayLogCommandTest, CorruptedResultDivergesAtExactlyThatRecord) {
  auto log = ReadCallLog(EngineLoopLog());
  ASSERT_TRUE(log.ok()) << log.status();
  // The middle successful decode step: claim it ran out of blocks.
  std::vector<size_t> decodes;
  for (size_t i = 0; i < log->records.size(); ++i) {
    if (log->records[i].op == CallOp::kAppendDecodeTokens) decodes.push_back(i);
  }
  ASSERT_GT(decodes.size(), 10u);
  const size_t k = decodes[decodes.size() / 2];
  log->records[k].result.code = absl::StatusCode::kResourceExhausted;
  const std::string path = Temp("corrupted.pkvlog");
  ASSERT_TRUE(WriteCallLog(path, *log).ok());
  auto run = RunCommand(&RunReplayLog, Args(path));
  EXPECT_EQ(run.code, kReplayDiverged);
  EXPECT_NE(run.out.find(fmt::format("divergence at call {} of", k)),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("call:     AppendDecodeTokens("), std::string::npos);
  EXPECT_NE(run.out.find("expected: RESOURCE_EXHAUSTED"), std::string::npos);
  EXPECT_NE(run.out.find("actual:   OK"), std::string::npos);
  EXPECT_NE(run.out.find("Verify(): OK"), std::string::npos);
  // --until stops before it: identical.
  ReplayLogArgs until = Args(path);
  until.until = static_cast<int64_t>(k);
  until.dump_state = true;
  auto before = RunCommand(&RunReplayLog, until);
  EXPECT_EQ(before.code, kReplayIdentical) << before.out;
  EXPECT_NE(before.out.find("pool: 512 blocks"), std::string::npos)
      << before.out;
  EXPECT_EQ(Exit(std::string("'") + PAGEKV_CLI_PATH + "' replay-log '" + path +
                 "' > /dev/null"),
            1);
}

// Each damaged copy of the engine-loop log exits 2 naming `record`.
TEST(ReplayLogCommandTest, DamagedLogsExit2NamingTheRecord) {
  const std::string good = ReadBytes(EngineLoopLog());
  const std::vector<size_t> at = RecordOffsets(good);
  ASSERT_GT(at.size(), 20u);
  struct Case {
    std::string name;
    std::string bytes;
    std::string expect;
  };
  std::vector<Case> cases;
  cases.push_back(
      {"truncated", good.substr(0, good.size() - 3),
       fmt::format("record {} at byte offset {}", at.size() - 1, at.back())});
  std::string flipped = good;
  flipped[at[17] + 9] ^= 0x04;
  cases.push_back({"bit_flipped", flipped,
                   fmt::format("record 17 at byte offset {}", at[17])});
  std::string version = good;
  version[8] = 9;
  cases.push_back({"wrong_version", version, "format version 9"});
  std::string magic = good;
  magic[1] = 'X';
  cases.push_back({"wrong_magic", magic, "bad magic"});
  std::string oversized = good;
  oversized[at[5] + 3] = '\x7f';  // record 5's length becomes ~2 GiB
  cases.push_back({"oversized", oversized,
                   fmt::format("record 5 at byte offset {}", at[5])});
  cases.push_back({"cut_header", good.substr(0, 15), "header"});
  for (const Case& c : cases) {
    const std::string path = Temp(c.name + ".pkvlog");
    WriteBytes(path, c.bytes);
    auto run = RunCommand(&RunReplayLog, Args(path));
    EXPECT_EQ(run.code, kReplayBadLog) << c.name;
    EXPECT_NE(run.err.find(c.expect), std::string::npos)
        << c.name << ": " << run.err;
  }
  EXPECT_EQ(RunCommand(&RunReplayLog, Args(Temp("missing"))).code,
            kReplayBadLog);
  EXPECT_EQ(Exit(std::string("'") + PAGEKV_CLI_PATH + "' replay-log '" +
                 Temp("truncated.pkvlog") + "' 2> /dev/null"),
            2);
}

TEST(ReplayLogCommandTest, MinimizeShrinksAPlantedDivergence) {
  // A stress run's log: thousands of calls over many sequences.
  StressOptions o;
  o.manager.num_blocks = 40;
  o.manager.block_size = 4;
  o.max_ops = 1500;
  o.seed = 7;
  o.verify_every = 50;
  o.log_path = Temp("stress_for_minimize.pkvlog");
  o.keep_log = true;
  auto report = RunStress(o);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_FALSE(report->failure.has_value());
  auto log = ReadCallLog(o.log_path);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_GT(log->records.size(), 3000u);
  // Plant: a late successful multi-token Reserve "ran out of blocks".
  size_t k = 0;
  for (size_t i = log->records.size() * 3 / 4; i < log->records.size(); ++i) {
    const CallRecord& r = log->records[i];
    if (r.op == CallOp::kReserve && r.a > 1 &&
        r.result.code == absl::StatusCode::kOk) {
      k = i;
      break;
    }
  }
  ASSERT_GT(k, 0u);
  log->records[k].result.code = absl::StatusCode::kResourceExhausted;
  const std::string planted = Temp("planted.pkvlog");
  ASSERT_TRUE(WriteCallLog(planted, *log).ok());
  ReplayLogArgs a = Args(planted);
  a.verify_every = 0;
  a.minimize = Temp("minimized.pkvlog");
  auto run = RunCommand(&RunReplayLog, a);
  EXPECT_EQ(run.code, kReplayDiverged) << run.err;
  EXPECT_NE(run.out.find(fmt::format("divergence at call {} of", k)),
            std::string::npos);
  auto small = ReadCallLog(a.minimize);
  ASSERT_TRUE(small.ok()) << run.out << run.err;
  EXPECT_LE(small->records.size(), 30u) << run.out;
  EXPECT_GE(small->records.size(), 2u);  // the sequence must exist first
  EXPECT_EQ(small->records.back().op, CallOp::kReserve);
  // The reproducer diverges at its last call, the same way.
  auto again = RunCommand(&RunReplayLog, Args(a.minimize));
  EXPECT_EQ(again.code, kReplayDiverged);
  EXPECT_NE(again.out.find(fmt::format("divergence at call {} of {}",
                                       small->records.size() - 1,
                                       small->records.size())),
            std::string::npos)
      << again.out;
  EXPECT_NE(again.out.find("expected: RESOURCE_EXHAUSTED"), std::string::npos);
}

TEST(StressTest, AFailingRunKeepsItsLogForReplay) {
  StressOptions o;
  o.manager.num_blocks = 32;
  o.manager.block_size = 4;
  o.max_ops = 1000;
  o.planted_failure_op = 300;
  o.log_path = Temp("failing_stress.pkvlog");
  auto report = RunStress(o);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_TRUE(report->failure.has_value());
  EXPECT_NE(report->failure->find("operation 300: planted"), std::string::npos)
      << *report->failure;
  EXPECT_EQ(report->ops, 300);
  EXPECT_EQ(report->log_path, o.log_path);
  // The kept log holds the run up to the failing operation and replays.
  auto run = RunCommand(&RunReplayLog, Args(o.log_path));
  EXPECT_EQ(run.code, kReplayIdentical) << run.out << run.err;
}

class StressCommandTest : public ::testing::TestWithParam<const char*> {};

TEST_P(StressCommandTest, PassesForAFewSeconds) {
  StressArgs a;
  a.groups = GetParam();
  a.block_size = 4;
  a.num_blocks = 64;
  a.seconds = 2;
  a.progress = "off";
  a.log = Temp(std::string("stress_") +
               std::to_string(std::hash<std::string>{}(a.groups)));
  auto run = RunCommand(&RunStressCommand, a);
  EXPECT_EQ(run.code, kStressPassed) << run.out << run.err;
  EXPECT_NE(run.out.find("passed"), std::string::npos);
  // A passing run leaves no log behind.
  EXPECT_FALSE(std::ifstream(a.log).good());
}

INSTANTIATE_TEST_SUITE_P(Groups, StressCommandTest,
                         ::testing::Values("full", "full,window:7",
                                           "window:5,full,window:12"));

TEST(StressCommandTest, KeepsTheLogItWasAskedToAndItReplays) {
  StressArgs a;
  a.block_size = 8;
  a.num_blocks = 48;
  a.ops = 400;
  a.prefix_caching = "off";
  a.policy = "s3fifo";
  a.keep_log = true;
  a.progress = "off";
  a.log = Temp("kept.pkvlog");
  auto run = RunCommand(&RunStressCommand, a);
  ASSERT_EQ(run.code, kStressPassed) << run.err;
  EXPECT_NE(run.out.find("400 operations"), std::string::npos) << run.out;
  EXPECT_EQ(RunCommand(&RunReplayLog, Args(a.log)).code, kReplayIdentical);
}

TEST(StressCommandTest, BadFlagsExit2) {
  StressArgs a;
  a.ops = 10;
  a.progress = "off";
  a.groups = "full,sliding";
  EXPECT_EQ(RunCommand(&RunStressCommand, a).code, kStressBadInput);
  a.groups = "full";
  a.ops = 0;
  auto run = RunCommand(&RunStressCommand, a);
  EXPECT_EQ(run.code, kStressBadInput);
  EXPECT_NE(run.err.find("max_ops"), std::string::npos) << run.err;
  a.ops = 10;
  a.policy = "nope";
  EXPECT_EQ(RunCommand(&RunStressCommand, a).code, kStressBadInput);
  a.policy = "lru";
  a.fork_percent = 90;
  EXPECT_EQ(RunCommand(&RunStressCommand, a).code, kStressBadInput);
}

}  // namespace
}  // namespace pagekv::tools
