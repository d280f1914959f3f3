// `pagekv remote-bench`: stores, looks up and loads blocks of KV through a
// RedisKVStore and reports what the remote tier costs on this link: MB/s and
// p50/p99 latency per pipelined batch, for each of put, lookup and get.
//
// Each batch is one prompt's chain, built as an engine builds it: the
// prompt's block keys and verification records from ComputeBlockChain for
// the manager's block size and hash seed, MatchableBlocks(...) of them, a
// payload of --block-bytes per block (what the engine's KV of one block
// occupies in a host buffer). The run:
//
//   put     Put(chain, payloads)        one SET per block, one round trip
//   lookup  Lookup(chain)               one GETRANGE of each header
//   get     Get(chain, buffers)         one GET per block, verified
//
// then checks every loaded byte against what was put (a wrong byte exits 1)
// and deletes the blocks it wrote (its own model namespace) unless --keep.
#ifndef PAGEKV_TOOLS_REMOTE_BENCH_COMMAND_H_
#define PAGEKV_TOOLS_REMOTE_BENCH_COMMAND_H_

#include <ostream>
#include <string>

#include "CLI/CLI.hpp"

namespace pagekv::tools {

struct RemoteBenchArgs {
  std::string redis = "redis://127.0.0.1:6379";  // [[user]:password@] too
  std::string block_bytes = "131072";            // payload per block
  std::string batch_blocks = "32";  // blocks per pipelined batch (chain)
  std::string batches = "50";       // timed batches per phase
  std::string block_size = "16";    // tokens per block (keys only)
  std::string hash_seed = "0";
  std::string model = "remote-bench";  // key namespace: <model>:<layout>
  std::string timeout_ms = "2000";
  std::string ttl_s = "600";  // the blocks expire even if the run dies
  bool keep = false;          // leave the blocks in Redis
  std::string json;           // file path, "-" for stdout, empty for none
};

// Runs the benchmark; prints a table to `out` (unless json is "-"). Returns
// kExitOk, kExitBadInput after naming a bad flag on `err`, or kExitFailed
// when Redis is unreachable, refuses the blocks, or returns a wrong byte.
int RunRemoteBench(const RemoteBenchArgs& args, std::ostream& out,
                   std::ostream& err);

// Registers the `remote-bench` subcommand; its exit code goes to
// *exit_code.
void AddRemoteBenchCommand(CLI::App& app, int* exit_code);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_REMOTE_BENCH_COMMAND_H_
