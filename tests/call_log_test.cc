// The call log: what the recorder writes, what the reader accepts and
// rejects, ring mode, and replays of recorded runs.
#include "pagekv/call_log.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/call_log_codec.h"
#include "core/check.h"
#include "gtest/gtest.h"
#include "pagekv/call_log_replay.h"
#include "pagekv/clock.h"
#include "test_util.h"

namespace pagekv {
namespace {

using testing::Iota;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string TempPath(const std::string& name) {
  return pagekv::testing::TempPath("call_log_test_" + name);
}

KVCacheConfig Recording(
    const std::string& path,
    CallLogOptions::Mode mode = CallLogOptions::Mode::kFile) {
  KVCacheConfig c = testing::SmallConfig(24, 4);
  c.groups = {KVCacheGroupSpec::FullAttention(),
              KVCacheGroupSpec::SlidingWindow(6)};
  c.enable_kv_events = true;
  c.call_log.mode = mode;
  c.call_log.path = path;
  return c;
}

// Drives every recorded method at least once, including failures.
void Exercise(KVCacheManager& m, ManualClock* clock) {
  const std::vector<TokenId> prompt = Iota(10, 100);
  SeqId a = *m.AddSequence(prompt);
  SequenceOptions salted;
  salted.hash_extras.cache_salt = 7;
  salted.hash_extras.mm_items = {{0xabc, 2, 3}};
  SeqId b = *m.AddSequence(prompt, salted);
  (void)m.MatchPrefix(a);
  (void)m.BlocksToAdmit(a, 8);
  const ReserveRequest batch[] = {{a, 8, 0}, {b, 4, 1}};
  (void)m.AdmitBatch(batch);
  (void)m.CanReserve(batch);
  (void)m.BlocksToReserve(a, 2, 3);
  clock->Advance(5);
  (void)m.Reserve(a, 2, 3);
  (void)m.Reserve(a, 1000);  // fails: InvalidArgument
  SeqId c = *m.Fork(a);
  (void)m.AppendTokens(c, {1, 2});
  (void)m.Reserve(c, 2);  // copy-on-write of the shared last block
  (void)m.DrainCopies();
  (void)m.Truncate(c, 11);
  (void)m.MatchPrefix(Iota(12, 100), {});
  (void)m.AppendDecodeTokens(std::vector<SeqId>{a}, std::vector<TokenId>{5});
  (void)m.AppendDecodeTokens(std::vector<SeqId>{a}, std::vector<TokenId>{6});
  (void)m.Reset();  // fails: live sequences
  (void)m.DrainEvents();
  for (SeqId s : {a, b, c}) (void)m.Release(s);
  (void)m.Release(a);  // fails: stale id
  (void)m.Verify();
  (void)m.Reset();
}

TEST(CallLogTest, RecordsEveryCallAndReplaysIdentically) {
  const std::string path = TempPath("every_call.pkvlog");
  ManualClock clock(1000);
  KVCacheConfig config = Recording(path);
  config.clock = &clock;
  {
    auto m = testing::MakeManager(config);
    ASSERT_NE(m, nullptr);
    Exercise(*m, &clock);
  }
  auto log = ReadCallLog(path);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(log->config.num_blocks, 24);
  EXPECT_EQ(log->config.groups.size(), 2u);
  EXPECT_EQ(log->config.groups[1].sliding_window, 6);
  // Admit is not logged twice through AdmitBatch, nor CanReserve through
  // BlocksToReserve: one record per public call the engine made.
  ASSERT_EQ(log->records.size(), 25u);
  EXPECT_EQ(log->records[0].op, CallOp::kAddSequence);
  EXPECT_EQ(log->records[1].options.hash_extras.mm_items[0].hash, 0xabcu);
  EXPECT_EQ(log->records[4].op, CallOp::kAdmitBatch);
  EXPECT_EQ(log->records[4].result.admissions.size(), 2u);
  EXPECT_EQ(log->records[8].result.code, absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log->records[12].op, CallOp::kDrainCopies);
  EXPECT_EQ(log->records[12].result.copies.size(), 2u);  // one per group
  // Re-encoding what was read gives the same bytes.
  EXPECT_EQ(EncodeCallLog(*log), ReadBytes(path));
  auto replay = ReplayCallLog(*log, {});
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_FALSE(replay->divergence.has_value())
      << DescribeCall(log->records[replay->divergence->record]);
  EXPECT_EQ(replay->calls_replayed, log->records.size());
}

TEST(CallLogTest, RecordsTheTimeEachCallRead) {
  const std::string path = TempPath("time.pkvlog");
  ManualClock clock(5000);
  KVCacheConfig config = Recording(path);
  config.num_blocks = 5;  // 4 usable: the second prompt must evict
  config.groups = {KVCacheGroupSpec::FullAttention()};
  config.clock = &clock;
  {
    auto m = testing::MakeManager(config);
    SeqId a = *m->AddSequence(Iota(12, 1));
    ASSERT_TRUE(m->Admit(a, 12).ok());
    clock.Advance(250);
    ASSERT_TRUE(m->Release(a).ok());  // reads the clock
    clock.Advance(250);
    SeqId b = *m->AddSequence(Iota(16, 500));
    ASSERT_TRUE(m->Admit(b, 16).ok());  // evicts: reads the clock
  }
  auto log = ReadCallLog(path);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->records.size(), 5u);
  EXPECT_EQ(log->records[0].time_us, -1);  // AddSequence reads no time
  EXPECT_EQ(log->records[2].time_us, 5250);
  EXPECT_EQ(log->records[4].time_us, 5500);
}

TEST(CallLogTest, RingKeepsTheLastCallsAndDumpsOnDemand) {
  const std::string path = TempPath("ring.pkvlog");
  KVCacheConfig config = Recording(path, CallLogOptions::Mode::kRing);
  config.call_log.ring_calls = 8;
  auto m = testing::MakeManager(config);
  std::vector<SeqId> seqs;
  for (int i = 0; i < 5; ++i) seqs.push_back(*m->AddSequence(Iota(3, i)));
  ASSERT_TRUE(m->DumpCallLog().ok());
  // Fewer calls than the ring holds: a complete log, replayable.
  auto whole = ReadCallLog(path);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->first_call, 0u);
  EXPECT_EQ(whole->records.size(), 5u);
  auto replay = ReplayCallLog(*whole, {});
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_FALSE(replay->divergence.has_value());

  for (SeqId s : seqs) ASSERT_TRUE(m->Release(s).ok());
  ASSERT_TRUE(m->DumpCallLog(path + ".2").ok());
  auto tail = ReadCallLog(path + ".2");
  ASSERT_TRUE(tail.ok()) << tail.status();
  EXPECT_EQ(tail->first_call, 2u);
  ASSERT_EQ(tail->records.size(), 8u);
  EXPECT_EQ(tail->records[3].op, CallOp::kRelease);
  EXPECT_EQ(tail->records[3].seq, seqs[0]);
  // The state before call 2 is gone: not replayable, and says why.
  auto refused = ReplayCallLog(*tail, {});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("ring dump"), std::string::npos);
}

void ThrowingHandler(const char*, int, const char*, std::string_view) {
  throw std::runtime_error("check failed");
}

TEST(CallLogTest, RingIsDumpedWhenACheckFails) {
  const std::string path = TempPath("ring_on_check.pkvlog");
  std::remove(path.c_str());
  KVCacheConfig config = Recording(path, CallLogOptions::Mode::kRing);
  auto m = testing::MakeManager(config);
  (void)m->AddSequence(Iota(3));
  auto previous = internal::SetCheckFailureHandler(&ThrowingHandler);
  EXPECT_THROW(internal::CheckFailed(__FILE__, __LINE__, "planted", "test"),
               std::runtime_error);
  internal::SetCheckFailureHandler(previous);
  auto log = ReadCallLog(path);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(log->records.size(), 1u);
}

TEST(CallLogTest, DumpWithoutRecordingIsAnError) {
  auto m = testing::MakeManager(testing::SmallConfig(8));
  EXPECT_EQ(m->DumpCallLog().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(CallLogTest, BadOptionsNameTheField) {
  KVCacheConfig c = Recording("");
  EXPECT_NE(KVCacheManager::Create(c).status().message().find("call_log.path"),
            std::string::npos);
  c = Recording(TempPath("no_such_dir/x/log.pkvlog"));
  auto m = KVCacheManager::Create(c);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("no_such_dir"), std::string::npos);
  c = Recording(TempPath("r"), CallLogOptions::Mode::kRing);
  c.call_log.ring_calls = 0;
  EXPECT_NE(KVCacheManager::Create(c).status().message().find("ring_calls"),
            std::string::npos);
}

// A valid log of one AddSequence call, as bytes.
std::string OneCallLog() {
  CallLog log;
  log.config = testing::SmallConfig(8);
  CallRecord r;
  r.op = CallOp::kAddSequence;
  r.tokens = {1, 2, 3};
  log.records = {r, r};
  log.records[1].result.value = 1;
  return EncodeCallLog(log);
}

TEST(CallLogReaderTest, NamesTheRecordAndOffsetOfTheDamage) {
  const std::string good = OneCallLog();
  ASSERT_TRUE(ParseCallLog(good).ok());
  // Find where record 1 starts: the two records have equal sizes.
  auto parsed = ParseCallLog(good);
  const std::string one = EncodeCallLog({parsed->config, false, 0, {}});
  const size_t rec_bytes = (good.size() - one.size()) / 2;
  const size_t rec1 = one.size() + rec_bytes;

  auto truncated = ParseCallLog(good.substr(0, good.size() - 3));
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("record 1 at byte offset " +
                                              std::to_string(rec1)),
            std::string::npos)
      << truncated.status();

  std::string flipped = good;
  flipped[rec1 + 10] ^= 0x10;
  auto bad_sum = ParseCallLog(flipped);
  ASSERT_FALSE(bad_sum.ok());
  EXPECT_NE(bad_sum.status().message().find("record 1"), std::string::npos);
  EXPECT_NE(bad_sum.status().message().find("checksum"), std::string::npos);

  std::string magic = good;
  magic[0] = 'X';
  EXPECT_NE(ParseCallLog(magic).status().message().find("magic"),
            std::string::npos);
  std::string version = good;
  version[8] = 2;
  EXPECT_NE(ParseCallLog(version).status().message().find("version 2"),
            std::string::npos);
  EXPECT_FALSE(ParseCallLog("").ok());
  EXPECT_FALSE(ParseCallLog(good.substr(0, 14)).ok());
}

TEST(CallLogReaderTest, RejectsACountLargerThanItsRecord) {
  CallLog log;
  log.config = testing::SmallConfig(8);
  std::string bytes = EncodeCallLog(log);
  // AppendTokens(seq 0) claiming 2^30 tokens, with a valid checksum.
  const size_t start =
      internal::BeginRecord(CallOp::kAppendTokens, 0, -1, &bytes);
  internal::ByteWriter w(&bytes);
  w.Var(0);
  w.Var(uint64_t{1} << 30);
  w.U32(7);
  internal::FinishRecord(start, &bytes);
  auto parsed = ParseCallLog(bytes);
  ASSERT_FALSE(parsed.ok());
  const std::string message(parsed.status().message());
  EXPECT_NE(message.find("record 0"), std::string::npos) << message;
  EXPECT_NE(message.find("token count 1073741824 exceeds"), std::string::npos)
      << message;
  EXPECT_NE(message.find("byte offset"), std::string::npos);
}

TEST(CallLogReaderTest, RejectsAnOversizedRecordLength) {
  CallLog log;
  log.config = testing::SmallConfig(8);
  std::string bytes = EncodeCallLog(log);
  internal::ByteWriter w(&bytes);
  w.U32(0xffffffffu);
  w.U32(0);
  auto parsed = ParseCallLog(bytes);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("record 0"), std::string::npos);
  EXPECT_NE(parsed.status().message().find("oversized"), std::string::npos);
}

}  // namespace
}  // namespace pagekv
