// The call log: every public KVCacheManager call an engine makes, with its
// arguments and its result, in a compact versioned binary file, so that the
// engine's exact sequence of calls can be replayed against a fresh manager
// under every check (`pagekv replay-log`) and shrunk to a small reproducer.
//
// Recording is switched on by KVCacheConfig::call_log. Two modes:
//   kFile  every call is appended to `path` (buffered; flushed when the
//          manager is destroyed, when Verify() fails and when a pagekv check
//          fails).
//   kRing  the last `ring_calls` calls are kept in memory (a flight
//          recorder for production) and written to `path` by
//          KVCacheManager::DumpCallLog(), when Verify() fails, or when a
//          pagekv check fails. A ring dump that dropped older calls starts
//          at call `first_call` > 0: it can be printed, not replayed (the
//          state before its first call is gone).
//
// The format (docs/stress.md has it field by field): a header with the magic
// "PKVCALL1", the format version and the manager's configuration, then one
// record per call: payload length, checksum, opcode, flags, the clock time
// the call observed (if it read the clock), the arguments and the result.
// Integers are LEB128 varints (signed ones zigzag), token arrays raw
// little-endian int32.
//
// While recording, the manager's clock is read at most once per call (every
// read inside one call returns the same time), so that a replay sees exactly
// the times the recorded run saw.
//
// Thread-safety: CallLog is a plain value. ReadCallLog()/ParseCallLog() are
// thread-safe.
#ifndef PAGEKV_CALL_LOG_H_
#define PAGEKV_CALL_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv {

// The first 8 bytes of every call log, and its format version.
inline constexpr char kCallLogMagic[8] = {'P', 'K', 'V', 'C',
                                          'A', 'L', 'L', '1'};
inline constexpr uint32_t kCallLogVersion = 1;
// The most bytes one record's payload may have (a decode batch of 2^24
// sequences fits); a longer length field means a corrupt log.
inline constexpr uint32_t kMaxCallRecordBytes = uint32_t{1} << 28;

// The recorded calls. Values are part of the format: never renumber.
enum class CallOp : uint8_t {
  kAddSequence = 1,
  kAppendTokens = 2,
  kMatchPrefixSeq = 3,     // MatchPrefix(SeqId)
  kMatchPrefixTokens = 4,  // MatchPrefix(prompt, extras)
  kAdmit = 5,
  kAdmitBatch = 6,
  kReserve = 7,
  kAppendDecodeTokens = 8,
  kBlocksToReserve = 9,
  kBlocksToAdmit = 10,
  kCanReserve = 11,
  kTruncate = 12,
  kFork = 13,
  kRelease = 14,
  kReset = 15,
  kDrainCopies = 16,
  kDrainEvents = 17,
  kVerify = 18,
};
inline constexpr uint8_t kMaxCallOp = 18;

// The name of the method `op` records ("AddSequence", "MatchPrefix", ...).
std::string_view CallOpName(CallOp op);

// What a call returned. Only the fields of the call's kind are set.
struct CallResult {
  absl::StatusCode code = absl::StatusCode::kOk;
  // AddSequence/Fork: the new sequence id; BlocksTo*: the count; CanReserve:
  // 0/1; DrainEvents: the number of events.
  int64_t value = 0;
  PrefixMatch match;                  // MatchPrefix
  std::vector<Admission> admissions;  // Admit (one), AdmitBatch
  std::vector<BlockCopy> copies;      // DrainCopies

  friend bool operator==(const CallResult& a, const CallResult& b);
};

// One recorded call. Only the fields of `op` are meaningful.
struct CallRecord {
  CallOp op = CallOp::kVerify;
  // The clock time (µs) the call read, or -1 if it did not read the clock.
  int64_t time_us = -1;
  SeqId seq;                             // single-sequence calls
  std::vector<SeqId> seqs;               // AppendDecodeTokens
  std::vector<TokenId> tokens;           // prompt / appended / decode tokens
  SequenceOptions options;               // AddSequence
  BlockHashExtras extras;                // MatchPrefix(prompt, extras)
  std::vector<ReserveRequest> requests;  // AdmitBatch, CanReserve
  // Reserve/BlocksToReserve: new and lookahead tokens; Admit/BlocksToAdmit:
  // max_new_tokens in `a`; Truncate: num_tokens in `a`.
  int64_t a = 0;
  int64_t b = 0;
  CallResult result;
};

// A whole log: the configuration the manager was created with (its
// block_hash_fn is the default unless `custom_hash` and its clock is null:
// records carry the times) and the calls.
struct CallLog {
  KVCacheConfig config;
  // The recorded manager used a block hash other than Xxh3BlockHash; a replay
  // cannot reproduce its keys.
  bool custom_hash = false;
  // Index of the first record among all calls the manager saw: 0 for a file
  // log, the number of dropped calls for a ring dump.
  uint64_t first_call = 0;
  std::vector<CallRecord> records;
};

// Parses a log held in memory. InvalidArgument naming the record number and
// the byte offset of the first malformed, truncated or corrupt part (bad
// magic, unknown version, bad configuration, a length or count past the end
// of its record, a checksum mismatch, an unknown opcode). Never crashes.
absl::StatusOr<CallLog> ParseCallLog(std::string_view bytes);

// Reads and parses the log at `path`; NotFound if it cannot be opened.
absl::StatusOr<CallLog> ReadCallLog(const std::string& path);

// Encodes `log` in the file format (what ParseCallLog() reads back).
std::string EncodeCallLog(const CallLog& log);

// Writes EncodeCallLog(log) to `path`; an error naming the path on failure.
absl::Status WriteCallLog(const std::string& path, const CallLog& log);

// One line describing a record's call and arguments, e.g.
// "Reserve(seq=4294967297, new=1, lookahead=0)"; long arrays are elided.
std::string DescribeCall(const CallRecord& record);
// A result as text, e.g. "OK seq=4294967297" or "RESOURCE_EXHAUSTED".
std::string DescribeResult(CallOp op, const CallResult& result);

}  // namespace pagekv

#endif  // PAGEKV_CALL_LOG_H_
