// Randomized stress of a KVCacheManager against a reference model, on a
// configuration the user chooses (`pagekv stress`, tests/manager_stress_test).
//
// The reference is the engine's view of KV memory: a shadow array of token
// ids per physical block slot, written as an engine would (perform the
// requested copies, then write each step's new tokens into the slots the
// block table names). After every operation each live sequence must read
// its own tokens back through its block table: a prefix hit that handed out
// the wrong block, a missed copy-on-write or a block freed while still
// referenced shows up as a wrong token. The reference also tracks
// known/computed counts; failed operations must change nothing; Verify()
// runs every `verify_every` operations.
//
// The operation mix: add + admit a first chunk, reserve (prefill chunk or
// decode, with lookahead now and then), batched decode, fork, truncate,
// release, reset when empty, and bad calls that must fail. Prompts start
// with one of a few shared prefixes so prefix hits happen.
//
// The run records a call log (call_log.h) at `log_path`; it is kept when the
// run fails, so `pagekv replay-log` can re-execute the failing sequence.
//
// Thread-safety: RunStress() is thread-compatible (no shared state).
#ifndef PAGEKV_SIM_STRESS_H_
#define PAGEKV_SIM_STRESS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "pagekv/kv_cache_config.h"

namespace pagekv {

struct StressOptions {
  // The manager under test; its clock and call_log are set by the run.
  KVCacheConfig manager;
  uint64_t seed = 1;
  // Stop after this many operations or seconds, whichever comes first; at
  // least one must be > 0.
  int64_t max_ops = 0;
  double max_seconds = 0;
  // Percent of operations of each kind; the rest are reserves (prefill
  // chunks and decode steps). Must add up to at most 100.
  int32_t add_percent = 14;
  int32_t decode_batch_percent = 6;
  int32_t fork_percent = 7;
  int32_t truncate_percent = 8;
  int32_t release_percent = 15;
  int32_t bad_call_percent = 14;
  // Percent of reserves that also ask for lookahead slots, and the most.
  int32_t lookahead_percent = 25;
  int32_t max_lookahead = 5;
  // Verify() and the reference check every this many operations (>= 1).
  int64_t verify_every = 1;
  // Where the run's call log goes; empty = no log.
  std::string log_path;
  // Keep the log of a run that passes too.
  bool keep_log = false;
  // Reports a failure at this operation as if the reference disagreed (to
  // exercise the failure path: the log is kept); -1 = never.
  int64_t planted_failure_op = -1;
  // Called about every 1000 operations with the operations done so far.
  std::function<void(int64_t ops)> progress;

  // OK or InvalidArgument naming the bad field.
  absl::Status Validate() const;
};

struct StressReport {
  int64_t ops = 0;
  int64_t exhausted = 0;  // operations refused for lack of blocks
  int64_t hits = 0;       // admissions with a prefix hit
  int64_t forks = 0;
  int64_t truncates = 0;
  int64_t decode_batches = 0;
  int64_t releases = 0;
  int64_t resets = 0;
  double seconds = 0;
  // Set when the manager disagreed with the reference or Verify() failed:
  // the operation number and what went wrong.
  std::optional<std::string> failure;
  // The call log written (kept), or empty.
  std::string log_path;
};

// Runs the stress. InvalidArgument for bad options or a configuration the
// manager rejects; a failure of the manager is reported in the report, not
// as an error.
absl::StatusOr<StressReport> RunStress(const StressOptions& options);

}  // namespace pagekv

#endif  // PAGEKV_SIM_STRESS_H_
