// `pagekv remote-bench` (see remote_bench_command.h).
#include "remote_bench_command.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <iostream>
#include <random>
#include <vector>

#include "cli_util.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "pagekv/block_chain.h"
#include "pagekv/net/redis_kv_store.h"

namespace pagekv::tools {
namespace {

constexpr char kCommand[] = "remote-bench";

struct Parsed {
  net::RedisKVStoreConfig store;
  int64_t block_bytes = 0;
  int64_t batch_blocks = 0;
  int64_t batches = 0;
  KVCacheConfig keys;  // block_size and hash_seed of the manager
};

absl::StatusOr<Parsed> Parse(const RemoteBenchArgs& a) {
  Parsed p;
  auto store = net::RedisKVStoreConfig::FromUrl(a.redis);
  if (!store.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--redis: ", store.status().message()));
  }
  p.store = *std::move(store);
  auto bytes = ParseIntFlag("--block-bytes", a.block_bytes, 1, 64 << 20);
  auto batch = ParseIntFlag("--batch-blocks", a.batch_blocks, 1, 4096);
  auto batches = ParseIntFlag("--batches", a.batches, 1, 100000);
  auto bs = ParseBlockSizeFlag("--block-size", a.block_size);
  auto seed = ParseIntFlag("--hash-seed", a.hash_seed, 0);
  auto timeout = ParseIntFlag("--timeout-ms", a.timeout_ms, 1, 600000);
  auto ttl = ParseIntFlag("--ttl-s", a.ttl_s, 0, 1 << 30);
  for (const absl::Status& s :
       {bytes.status(), batch.status(), batches.status(), bs.status(),
        seed.status(), timeout.status(), ttl.status()}) {
    if (!s.ok()) return s;
  }
  p.block_bytes = *bytes;
  p.batch_blocks = *batch;
  p.batches = *batches;
  p.keys.block_size = *bs;
  p.keys.hash_seed = static_cast<uint64_t>(*seed);
  p.store.model = a.model;
  p.store.layout = fmt::format("bs{}-b{}", *bs, *bytes);
  p.store.timeout_ms = *timeout;
  p.store.default_ttl_ms = *ttl * 1000;
  if (absl::Status s = p.store.Validate(); !s.ok()) return s;
  return p;
}

// One prompt: its tokens, chain and payloads (engine-side host buffers).
struct Prompt {
  std::vector<TokenId> tokens;
  std::vector<BlockRecord> chain;
  std::vector<std::vector<uint8_t>> payloads;
  std::vector<std::vector<uint8_t>> loaded;
};

std::vector<Prompt> MakePrompts(const Parsed& p) {
  std::vector<Prompt> prompts(static_cast<size_t>(p.batches));
  std::mt19937_64 rng(1234);
  const int64_t n_tokens = p.batch_blocks * p.keys.block_size + 1;
  for (Prompt& pr : prompts) {
    pr.tokens.resize(static_cast<size_t>(n_tokens));
    for (TokenId& t : pr.tokens) t = static_cast<TokenId>(rng() % 32000);
    // What an engine asks the remote tier for after a GPU miss: the
    // matchable blocks of the prompt's chain.
    pr.chain = ComputeBlockChain(p.keys, pr.tokens, {},
                                 MatchableBlocks(n_tokens, p.keys.block_size))
                   .blocks;
    for (size_t i = 0; i < pr.chain.size(); ++i) {
      std::vector<uint8_t> bytes(static_cast<size_t>(p.block_bytes));
      for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng() >> 32);
      pr.payloads.push_back(std::move(bytes));
    }
  }
  return prompts;
}

struct Phase {
  std::string name;
  std::vector<double> ms;  // per batch
  int64_t blocks = 0;      // blocks stored / found / loaded
  int64_t bytes = 0;       // payload bytes moved

  double Quantile(double q) const {
    std::vector<double> s = ms;
    std::sort(s.begin(), s.end());
    return s[std::min(s.size() - 1, static_cast<size_t>(q * s.size()))];
  }
  double TotalMs() const {
    double t = 0;
    for (double m : ms) t += m;
    return t;
  }
  double MBps() const { return bytes / 1e6 / (TotalMs() / 1e3); }
};

template <typename Fn>
Phase Time(const std::string& name, std::vector<Prompt>& prompts, Fn&& fn) {
  Phase ph{name, {}, 0, 0};
  for (Prompt& pr : prompts) {
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t blocks = fn(pr);
    ph.ms.push_back(std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - t0)
                        .count());
    ph.blocks += blocks;
  }
  return ph;
}

// Blocks of `prompts` loaded that differ from what was put (must be 0).
int64_t WrongBlocks(const std::vector<Prompt>& prompts, int64_t per_prompt) {
  int64_t wrong = 0;
  for (const Prompt& pr : prompts) {
    for (int64_t i = 0; i < per_prompt; ++i) {
      wrong += pr.loaded[i] != pr.payloads[i];
    }
  }
  return wrong;
}

nlohmann::json Report(const Parsed& p, const std::vector<Phase>& phases,
                      const RemoteStoreStats& stats) {
  nlohmann::json j = {
      {"redis", fmt::format("{}:{}", p.store.host, p.store.port)},
      {"block_bytes", p.block_bytes},
      {"batch_blocks", p.batch_blocks},
      {"batches", p.batches},
      {"stats", stats.ToString()}};
  for (const Phase& ph : phases) {
    j[ph.name] = {{"blocks", ph.blocks},
                  {"p50_ms", ph.Quantile(0.5)},
                  {"p99_ms", ph.Quantile(0.99)},
                  {"mb_per_s", ph.bytes > 0 ? ph.MBps() : 0.0},
                  {"blocks_per_s", ph.blocks / (ph.TotalMs() / 1e3)}};
  }
  return j;
}

void PrintTable(const nlohmann::json& j, std::ostream& out) {
  out << fmt::format("remote-bench {}: {} batches x {} blocks x {} bytes\n",
                     j["redis"].get<std::string>(), j["batches"].get<int64_t>(),
                     j["batch_blocks"].get<int64_t>(),
                     j["block_bytes"].get<int64_t>());
  out << fmt::format("{:<8}{:>10}{:>12}{:>12}{:>12}{:>14}\n", "phase", "blocks",
                     "p50 ms", "p99 ms", "MB/s", "blocks/s");
  for (const char* name : {"put", "lookup", "get"}) {
    const auto& ph = j[name];
    const double mbps = ph["mb_per_s"].get<double>();
    out << fmt::format("{:<8}{:>10}{:>12.3f}{:>12.3f}{:>12}{:>14.0f}\n", name,
                       ph["blocks"].get<int64_t>(), ph["p50_ms"].get<double>(),
                       ph["p99_ms"].get<double>(),
                       mbps > 0 ? fmt::format("{:.1f}", mbps) : "-",
                       ph["blocks_per_s"].get<double>());
  }
  out << "store: " << j["stats"].get<std::string>() << "\n";
}

}  // namespace

int RunRemoteBench(const RemoteBenchArgs& args, std::ostream& out,
                   std::ostream& err) {
  auto parsed = Parse(args);
  if (!parsed.ok()) return BadInput(err, kCommand, parsed.status());
  const Parsed& p = *parsed;
  std::signal(SIGPIPE, SIG_IGN);  // RedisKVStore's REQUIRES
  auto store = net::RedisKVStore::Create(p.store);
  if (!store.ok()) return BadInput(err, kCommand, store.status());
  net::RedisKVStore& s = **store;
  std::vector<Prompt> prompts = MakePrompts(p);
  const int64_t n = static_cast<int64_t>(prompts[0].chain.size());
  std::vector<Phase> phases;
  phases.push_back(Time("put", prompts, [&](Prompt& pr) {
    std::vector<absl::Span<const uint8_t>> in(pr.payloads.begin(),
                                              pr.payloads.end());
    return *s.Put(pr.chain, in);
  }));
  phases.push_back(
      Time("lookup", prompts, [&](Prompt& pr) { return s.Lookup(pr.chain); }));
  phases.push_back(Time("get", prompts, [&](Prompt& pr) {
    pr.loaded.assign(pr.chain.size(),
                     std::vector<uint8_t>(static_cast<size_t>(p.block_bytes)));
    std::vector<absl::Span<uint8_t>> bufs(pr.loaded.begin(), pr.loaded.end());
    return *s.Get(pr.chain, bufs);
  }));
  phases[0].bytes = phases[0].blocks * p.block_bytes;
  phases[2].bytes = phases[2].blocks * p.block_bytes;
  const int64_t expected = n * p.batches;
  const int64_t wrong =
      WrongBlocks(prompts, phases[2].blocks == expected ? n : 0);
  if (!args.keep) (void)s.DeleteNamespace();
  const nlohmann::json report = Report(p, phases, s.stats());
  if (!args.json.empty()) {
    if (absl::Status w =
            WriteOutput("--json", args.json, report.dump(2) + "\n", out);
        !w.ok()) {
      return BadInput(err, kCommand, w);
    }
  }
  if (args.json != "-") PrintTable(report, out);
  if (wrong > 0 || phases[0].blocks != expected ||
      phases[1].blocks != expected || phases[2].blocks != expected) {
    err << fmt::format(
        "pagekv {}: {} of {} blocks stored, {} found, {} loaded, {} wrong "
        "({})\n",
        kCommand, phases[0].blocks, expected, phases[1].blocks,
        phases[2].blocks, wrong, s.stats().ToString());
    return kExitFailed;
  }
  return kExitOk;
}

void AddRemoteBenchCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<RemoteBenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "remote-bench",
      "Measure the Redis remote KV tier: put, lookup and get of pipelined "
      "batches of blocks (MB/s, p50/p99 per batch)");
  cmd->add_option("--redis", args->redis,
                  "redis://[[user]:password@]host[:port]")
      ->capture_default_str();
  cmd->add_option("--block-bytes", args->block_bytes,
                  "KV payload bytes per block")
      ->capture_default_str();
  cmd->add_option("--batch-blocks", args->batch_blocks,
                  "Blocks per pipelined batch (one prompt's chain)")
      ->capture_default_str();
  cmd->add_option("--batches", args->batches, "Timed batches per phase")
      ->capture_default_str();
  cmd->add_option("--block-size", args->block_size,
                  "Tokens per block (for the keys)")
      ->capture_default_str();
  cmd->add_option("--hash-seed", args->hash_seed, "The manager's hash seed")
      ->capture_default_str();
  cmd->add_option("--model", args->model, "Key namespace of the run")
      ->capture_default_str();
  cmd->add_option("--timeout-ms", args->timeout_ms,
                  "Bound of one call's network time")
      ->capture_default_str();
  cmd->add_option("--ttl-s", args->ttl_s, "Expiry of the blocks (0: none)")
      ->capture_default_str();
  cmd->add_flag("--keep", args->keep, "Leave the blocks in Redis");
  cmd->add_option("--json", args->json, "Write a JSON report ('-': stdout)");
  cmd->callback([args, exit_code] {
    *exit_code = RunRemoteBench(*args, std::cout, std::cerr);
  });
}

}  // namespace pagekv::tools
