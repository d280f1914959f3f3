// `pagekv cache`: replays a trace through the prefix cache with no timing and
// reports the prefix hit rate, for one (policy, capacity) or a sweep. The
// replay itself is pagekv/sim/cache_replay.h.
#ifndef PAGEKV_TOOLS_CACHE_COMMAND_H_
#define PAGEKV_TOOLS_CACHE_COMMAND_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "cli_util.h"
#include "pagekv/sim/cache_replay.h"

namespace pagekv::tools {

// The cache subcommand's inputs, as typed on the command line. Values stay
// text: RunCache checks them with the validators the command line uses
// (cli_util.h), so a caller filling this struct gets the same messages.
struct CacheArgs {
  std::string trace;
  std::string format;  // mooncake | azure | jsonl; empty = guess
  std::string block_size = "16";
  // Comma-separated capacities in blocks, each an integer >= 1 or "inf";
  // more than one value (or policy) is a sweep.
  std::string capacity_blocks = "inf";
  // Comma-separated policy names, or "all".
  std::string policy = "lru";
  std::string json;  // file path, "-" for `out`, empty for none
  std::string csv;   // file path, "-" for `out`, empty for none
  // Replay this many shifted copies of the trace that share no block
  // (RepeatWorkload): a K times larger trace of the same shape.
  std::string repeat = "1";
  // Refuse (exit 2) a run whose estimated memory exceeds this many GiB, as
  // one exceeding the machine's available memory is; empty = no own limit.
  std::string max_memory_gib;
  // Host tier under each replayed cache: this many times its capacity in
  // host blocks (empty = none), its eviction policy and store policy.
  std::string host_multiple;
  std::string host_policy = "lru";
  std::string store_policy = "write-through";
};

// Exit codes of RunCache.
inline constexpr int kCacheOk = kExitOk;
inline constexpr int kCacheBadInput = kExitBadInput;

// Runs the replay(s): prints a table to `out` (unless json or csv is "-",
// which prints that instead) and writes JSON / CSV to the given paths.
// Before the pool of a replay is allocated, its memory (trace copies, the
// pre-pass that sizes "inf", pool and index) is estimated and checked.
// Returns kCacheOk, or kCacheBadInput after printing a message naming the bad
// value to `err`.
int RunCache(const CacheArgs& args, std::ostream& out, std::ostream& err);

// Registers the `cache` subcommand on `app`. When it runs, its exit code is
// stored in *exit_code (which must outlive `app`).
void AddCacheCommand(CLI::App& app, int* exit_code);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_CACHE_COMMAND_H_
