// `pagekv index`: a cluster prefix index service. Subscribes to N engines'
// KV-event publishers (pagekv or vLLM), keeps a ClusterIndex in step with
// them (replay, snapshots, restarts: pagekv/net/index_subscriber.h) and
// answers score queries on a ZeroMQ REP socket, one JSON object per
// message (docs/kv-events.md, "The index service"):
//
//   request  {"tokens": [int...], "lora_id": 0, "cache_salt": 0}
//   reply    {"block_size": 16, "synced": true, "scores": [{"instance":
//             "tcp://...", "blocks": 3, "tokens": 48, "by_medium":
//             {"GPU": 3}}, ...]}
//   request  {"op": "stats"}     -> per-source counters and index sizes
//   request  {"op": "shutdown"}  -> {"ok": true}, then the service exits
//   bad request                  -> {"error": "what and where"}
//   with --redis, scores come from Redis: {"error": "redis ... degraded"}
//   while it is unreachable (never a stale answer)
#ifndef PAGEKV_TOOLS_INDEX_COMMAND_H_
#define PAGEKV_TOOLS_INDEX_COMMAND_H_

#include <ostream>
#include <string>

#include "CLI/CLI.hpp"

namespace pagekv::tools {

struct IndexArgs {
  std::string subscribe;  // comma-separated PUB endpoints
  std::string replay;     // comma-separated ROUTER endpoints, same order
  std::string listen = "tcp://127.0.0.1:5560";
  std::string block_size = "16";
  std::string hash_seed = "0";
  std::string duration_s = "0";  // 0 = until shutdown or a signal
  // redis://host:port: the index is also kept in Redis (written every
  // 100 ms) and score queries are answered from Redis, so several index
  // processes share one view; empty = in memory only.
  std::string redis;
};

inline constexpr int kIndexOk = 0;
inline constexpr int kIndexBadInput = 2;
inline constexpr int kIndexFailed = 1;

// Runs the service. Prints "listening <endpoint>" (the bound endpoint) to
// `out` once ready. Returns kIndexOk at shutdown, kIndexBadInput after
// naming a bad flag value on `err`, kIndexFailed if a socket fails.
int RunIndex(const IndexArgs& args, std::ostream& out, std::ostream& err);

// Registers the `index` subcommand; its exit code goes to *exit_code.
void AddIndexCommand(CLI::App& app, int* exit_code);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_INDEX_COMMAND_H_
