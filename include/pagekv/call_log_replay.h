// Replaying a call log (call_log.h) against a fresh KVCacheManager, and
// shrinking a diverging log to a small reproducer (delta debugging).
//
// A replay builds the manager from the log's header configuration with a
// ManualClock set to each record's time, executes the records in order,
// compares every result with the recorded one and runs Verify() every N
// calls; it stops at the first divergence: a different result, a failed
// Verify(), or a failed pagekv check (caught while the replay runs, so the
// report names the call instead of the process aborting).
//
// Sequence ids in the arguments are mapped from the recorded ids to the ids
// the replaying manager issued (identical in a faithful replay; different in
// a shrunk log whose earlier AddSequence calls were removed).
//
// Thread-safety: a replay installs a process-wide check-failure handler
// while it runs; run one replay at a time per process.
#ifndef PAGEKV_CALL_LOG_REPLAY_H_
#define PAGEKV_CALL_LOG_REPLAY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pagekv/call_log.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv {

struct ReplayOptions {
  // Verify() after every this many calls (1 = every call); 0 = only after
  // the last call replayed.
  int64_t verify_every = 1;
  // Replay only records [0, until); -1 = all.
  int64_t until = -1;
  // If >= 0, only this record's result is compared (the others run
  // unchecked): how the minimizer tests a candidate.
  int64_t compare_only = -1;
};

// Why a replay stopped early.
struct ReplayDivergence {
  enum class Kind {
    kResult,        // the call returned something else than recorded
    kVerify,        // Verify() failed after the call
    kCheckFailure,  // a pagekv check failed inside the call
  };
  Kind kind = Kind::kResult;
  size_t record = 0;    // index into CallLog::records
  CallResult actual;    // kResult: what the call returned
  std::string message;  // kVerify / kCheckFailure: the failure's text
  std::string verify;   // Verify() after the divergence: "OK" or the error
};

struct ReplayOutcome {
  size_t calls_replayed = 0;
  std::optional<ReplayDivergence> divergence;
  // The manager as the replay left it and its live sequences (for
  // --dump-state). Null if a check failed (its state is not trustworthy).
  std::unique_ptr<KVCacheManager> manager;
  std::vector<SeqId> live;
  // The records as executed: ids mapped, results as returned (what the
  // minimizer writes out).
  std::vector<CallRecord> executed;
};

// Replays `log`. FailedPrecondition if it cannot be replayed faithfully (a
// ring dump that starts after call 0, or a custom block hash);
// InvalidArgument if its configuration is rejected.
absl::StatusOr<ReplayOutcome> ReplayCallLog(const CallLog& log,
                                            const ReplayOptions& options);

// The name of a divergence kind ("result", "verify", "check failure").
std::string_view DivergenceKindName(ReplayDivergence::Kind kind);

// Shrinks `log`, which diverges as `target` (from ReplayCallLog()), to a log
// that ends with the diverging call and still diverges the same way there
// (same kind; for kResult, the same actual result), removing calls by delta
// debugging. At most `max_replays` candidate replays. The result's records
// carry the results the replay returned, except the last, which keeps the
// recorded (expected) result: replaying it diverges at its last record.
absl::StatusOr<CallLog> MinimizeCallLog(const CallLog& log,
                                        const ReplayDivergence& target,
                                        int64_t max_replays = 5000);

// A human-readable dump of a manager's state: pool counts, statistics and
// every live sequence's token counts and block tables.
std::string DescribeManagerState(const KVCacheManager& manager,
                                 const std::vector<SeqId>& live);

}  // namespace pagekv

#endif  // PAGEKV_CALL_LOG_REPLAY_H_
