#include "cache_command.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "cli_util.h"
#include "fmt/format.h"
#include "fmt/ostream.h"
#include "memory_check.h"
#include "pagekv/clock.h"
#include "pagekv/eviction_policy.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/sim/report_json.h"
#include "pagekv/sim/trace_reader.h"

namespace pagekv::tools {
namespace {

constexpr char kCommand[] = "cache";

// One requested capacity: a number of blocks, or infinite.
struct Capacity {
  bool infinite = false;
  int64_t blocks = 0;
};

std::string CapacityName(const Capacity& c) {
  return c.infinite ? std::string("inf") : std::to_string(c.blocks);
}

// The validated arguments.
struct CacheSettings {
  int32_t block_size = 0;
  std::vector<Capacity> capacities;
  std::vector<std::string> policies;
  int32_t copies = 1;
  std::optional<uint64_t> max_memory;  // bytes, from --max-memory-gib
  double host_multiple = 0;            // 0 = no host tier
  std::string host_policy = "lru";
  StorePolicy store_policy = StorePolicy::kWriteThrough;

  // The host tier under a cache of `blocks` blocks.
  HostTierConfig HostTier(int64_t blocks) const {
    HostTierConfig tier;
    if (host_multiple <= 0) return tier;
    tier.num_blocks = std::max<int64_t>(
        1, std::llround(host_multiple * static_cast<double>(blocks)));
    tier.eviction_policy = host_policy;
    tier.store_policy = store_policy;
    return tier;
  }

  bool AnyInfinite() const {
    for (const Capacity& c : capacities) {
      if (c.infinite) return true;
    }
    return false;
  }
};

// One capacity in --capacity-blocks: an integer >= 1 or "inf".
CLI::Validator CapacityItem() {
  return CLI::Validator(
      [](std::string& item) {
        int64_t blocks = 0;
        if (item == "inf" || (absl::SimpleAtoi(item, &blocks) && blocks >= 1)) {
          return std::string();
        }
        return fmt::format(
            "each value must be an integer >= 1 or 'inf', got '{}'", item);
      },
      "BLOCKS|inf");
}

// Every item of a comma list passes `item`.
CLI::Validator EachItem(CLI::Validator item) {
  return CLI::Validator(
      [item](std::string& text) {
        for (const std::string& piece : SplitList(text)) {
          if (std::string m = item(piece); !m.empty()) return m;
        }
        return std::string();
      },
      item.get_description() + ",...");
}

// vLLM's order evicts cached blocks while uncached free blocks wait behind
// them, so the "inf" size (enough for every other policy never to evict) is
// not enough for it: it takes finite capacities only.
absl::Status CheckVllmCapacities(const std::vector<std::string>& policies,
                                 const std::vector<Capacity>& capacities) {
  const bool vllm = std::find(policies.begin(), policies.end(),
                              kVllmOrderPolicy) != policies.end();
  for (const Capacity& c : capacities) {
    if (vllm && c.infinite) {
      return absl::InvalidArgumentError(
          "--capacity-blocks: policy 'vllm' takes block counts only, not "
          "inf (vLLM evicts cached blocks while uncached ones wait, so the "
          "size at which the other policies never evict is not enough)");
    }
  }
  return absl::OkStatus();
}

// A policy name known to the library, or "all".
CLI::Validator PolicyList() {
  return CLI::Validator(
      [](std::string& text) {
        if (text == "all") return std::string();
        const std::vector<std::string> known = ReplayPolicyNames();
        for (const std::string& p : SplitList(text)) {
          if (std::find(known.begin(), known.end(), p) == known.end()) {
            return fmt::format("unknown policy '{}' (known: {}, or all)", p,
                               fmt::join(known, ", "));
          }
        }
        return std::string();
      },
      "POLICY,...|all");
}

absl::StatusOr<CacheSettings> ParseSettings(const CacheArgs& args) {
  if (args.trace.empty()) {
    return absl::InvalidArgumentError("--trace is required");
  }
  CacheSettings s;
  absl::StatusOr<int32_t> block_size =
      ParseBlockSizeFlag("--block-size", args.block_size);
  if (!block_size.ok()) return block_size.status();
  s.block_size = *block_size;
  // These two messages read "--flag: ...", as the list's items are named.
  if (std::string m = EachItem(CapacityItem())(args.capacity_blocks);
      !m.empty()) {
    return absl::InvalidArgumentError("--capacity-blocks: " + m);
  }
  for (const std::string& item : SplitList(args.capacity_blocks)) {
    Capacity c;
    c.infinite = item == "inf";
    if (!c.infinite) (void)absl::SimpleAtoi(item, &c.blocks);  // checked
    s.capacities.push_back(c);
  }
  if (std::string m = PolicyList()(args.policy); !m.empty()) {
    return absl::InvalidArgumentError("--policy: " + m);
  }
  s.policies =
      args.policy == "all" ? EvictionPolicyNames() : SplitList(args.policy);
  if (absl::Status st = CheckVllmCapacities(s.policies, s.capacities);
      !st.ok()) {
    return st;
  }
  if (args.json == "-" && args.csv == "-") {
    return absl::InvalidArgumentError(
        "--json - and --csv - cannot both go to stdout");
  }
  absl::StatusOr<int64_t> copies =
      ParseIntFlag("--repeat", args.repeat, 1, kMaxWorkloadCopies);
  if (!copies.ok()) return copies.status();
  s.copies = static_cast<int32_t>(*copies);
  absl::StatusOr<std::optional<uint64_t>> max_memory =
      ParseMaxMemoryFlag(args.max_memory_gib);
  if (!max_memory.ok()) return max_memory.status();
  s.max_memory = *max_memory;
  if (!args.host_multiple.empty()) {
    if (!absl::SimpleAtod(args.host_multiple, &s.host_multiple) ||
        !(s.host_multiple > 0) || !(s.host_multiple <= 1000)) {
      return absl::InvalidArgumentError(
          fmt::format("--host-multiple must be a number in (0, 1000], got '{}'",
                      args.host_multiple));
    }
    if (auto p = MakeEvictionPolicy(args.host_policy); !p.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("--host-policy: {}", std::string(p.status().message())));
    }
    s.host_policy = args.host_policy;
    absl::StatusOr<StorePolicy> store = ParseStorePolicy(args.store_policy);
    if (!store.ok()) {
      return absl::InvalidArgumentError(fmt::format(
          "--store-policy: {}", std::string(store.status().message())));
    }
    s.store_policy = *store;
  }
  return s;
}

// The largest pool of the replays (one runs at a time), by MemoryFootprint;
// 0 for a capacity the manager rejects (the replay reports it).
uint64_t LargestPoolBytes(const CacheSettings& s, int64_t inf_blocks) {
  uint64_t largest = 0;
  for (const Capacity& c : s.capacities) {
    if (c.infinite && inf_blocks == 0) continue;  // not known yet
    for (const std::string& policy : s.policies) {
      absl::StatusOr<uint64_t> bytes = ReplayMemoryFootprint(
          {s.block_size, c.infinite ? inf_blocks : c.blocks, policy,
           s.HostTier(c.infinite ? inf_blocks : c.blocks)});
      if (bytes.ok()) largest = std::max(largest, *bytes);
    }
  }
  return largest;
}

// Estimates the run and checks it. Called before the "inf" pre-pass (with
// inf_blocks = 0: its hash set instead of the inf pool) and again before the
// replays, with the inf pool's size known.
absl::Status CheckReplayMemory(const Workload& base, const CacheSettings& s,
                               int64_t inf_blocks) {
  MemoryEstimate e;
  e.advice =
      "use a smaller --capacity-blocks or --repeat, or a larger "
      "--block-size";
  e.Add(s.copies > 1 ? fmt::format("trace x{}", s.copies) : "trace",
        WorkloadBytes(base) * static_cast<uint64_t>(s.copies));
  uint64_t prepass = 0;
  if (s.AnyInfinite() && inf_blocks == 0) {
    // The pre-pass's key set: at most ~21 bytes per full prompt block of one
    // copy (8-byte keys and a control byte at a load factor >= 7/16).
    int64_t full_blocks = 0;
    for (const Request& r : base.requests) {
      full_blocks += r.PromptTokens() / s.block_size;
    }
    prepass = static_cast<uint64_t>(full_blocks) * 21;
  }
  const uint64_t pool = LargestPoolBytes(s, inf_blocks);
  if (prepass > pool) {
    e.Add("inf pre-pass", prepass);
  } else {
    e.Add("pool and index", pool);
  }
  return CheckMemory(e, s.max_memory, AvailableMemoryBytes());
}

// Every replay's result: results[c][p] for capacity c and policy p.
struct Sweep {
  int64_t inf_blocks = 0;  // the size "inf" stands for
  std::vector<std::vector<ReplayResult>> results;

  int64_t Blocks(const Capacity& c) const {
    return c.infinite ? inf_blocks : c.blocks;
  }
  bool IsSweep() const { return results.size() > 1 || results[0].size() > 1; }
};

absl::StatusOr<Sweep> RunReplays(const Workload& workload,
                                 const CacheSettings& s, int64_t inf_blocks) {
  Sweep sweep;
  sweep.inf_blocks = inf_blocks;
  sweep.results.resize(s.capacities.size());
  for (size_t c = 0; c < s.capacities.size(); ++c) {
    const int64_t blocks = sweep.Blocks(s.capacities[c]);
    for (const std::string& policy : s.policies) {
      absl::StatusOr<ReplayResult> r = ReplayWorkload(
          workload, {s.block_size, blocks, policy, s.HostTier(blocks)});
      if (!r.ok()) {
        return absl::InvalidArgumentError(fmt::format(
            "replay with --policy {} --capacity-blocks {}: {}", policy,
            CapacityName(s.capacities[c]), std::string(r.status().message())));
      }
      sweep.results[c].push_back(*r);
    }
  }
  return sweep;
}

// The JSON report (pagekv/sim/report_json.h, shared with the Python
// package): one object for a single replay, an array for a sweep.
std::string SweepJson(const Workload& workload, const CacheSettings& s,
                      const Sweep& sweep) {
  std::vector<ReplayRun> runs;
  for (size_t c = 0; c < s.capacities.size(); ++c) {
    for (size_t p = 0; p < s.policies.size(); ++p) {
      const int64_t blocks = sweep.Blocks(s.capacities[c]);
      runs.push_back({s.policies[p], blocks, s.capacities[c].infinite,
                      sweep.results[c][p], s.HostTier(blocks).num_blocks});
    }
  }
  return ReplayReportJson(workload.name, s.block_size, runs, s.copies);
}

// The token hit-rate curve: one row per capacity, one column per policy.
std::string SweepCsv(const CacheSettings& s, const Sweep& sweep) {
  std::string csv = "capacity_blocks";
  for (const std::string& p : s.policies) csv += "," + p;
  if (s.host_multiple > 0) {
    for (const std::string& p : s.policies) csv += "," + p + "_host";
  }
  csv += "\n";
  for (size_t c = 0; c < s.capacities.size(); ++c) {
    csv += std::to_string(sweep.Blocks(s.capacities[c]));
    for (const ReplayResult& r : sweep.results[c]) {
      csv += fmt::format(",{:.6f}", r.HitRateTokens());
    }
    if (s.host_multiple > 0) {
      for (const ReplayResult& r : sweep.results[c]) {
        csv += fmt::format(",{:.6f}", r.HostHitRateTokens());
      }
    }
    csv += "\n";
  }
  return csv;
}

void PrintSingle(const CacheSettings& s, const Sweep& sweep,
                 std::ostream& out) {
  const ReplayResult& r = sweep.results[0][0];
  const Capacity& cap = s.capacities[0];
  auto row = [&](const std::string& name, const std::string& value) {
    fmt::print(out, "  {:<22} {}\n", name, value);
  };
  row("policy", s.policies[0]);
  row("capacity", cap.infinite ? fmt::format("inf ({} blocks, never evicts)",
                                             sweep.inf_blocks)
                               : fmt::format("{} blocks", cap.blocks));
  row("hit tokens", fmt::format("{} / {} = {:.4f}", r.hit_tokens,
                                r.prompt_tokens, r.HitRateTokens()));
  row("hit blocks", fmt::format("{} / {} full = {:.4f}", r.hit_blocks,
                                r.query_blocks, r.HitRateBlocks()));
  row("evictions", fmt::format("{}", r.evictions));
  if (s.host_multiple > 0) {
    row("host tier",
        fmt::format("{} blocks ({}x), {}, {}",
                    s.HostTier(sweep.Blocks(cap)).num_blocks, s.host_multiple,
                    s.host_policy, StorePolicyName(s.store_policy)));
    row("host hit tokens",
        fmt::format("{} / {} = {:.4f} (total {:.4f})", r.host_hit_tokens,
                    r.prompt_tokens, r.HostHitRateTokens(),
                    r.HitRateTokens() + r.HostHitRateTokens()));
    row("host stores, evictions",
        fmt::format("{}, {}", r.host_stores, r.host_evictions));
  }
  row("cached blocks at end", fmt::format("{}", r.cached_blocks));
  if (r.skipped_requests > 0) {
    row("skipped (too long)",
        fmt::format("{} requests, {} tokens", r.skipped_requests,
                    r.skipped_prompt_tokens));
  }
  row("replay time", fmt::format("{:.3f} s", r.seconds));
}

// Sweep: token hit rate against capacity, one column per policy.
void PrintSweep(const CacheSettings& s, const Sweep& sweep, std::ostream& out) {
  if (s.host_multiple > 0) {
    fmt::print(out,
               "token hit rate GPU + host (host tier {}x the capacity, {}, "
               "{}) by capacity and policy\n",
               s.host_multiple, s.host_policy, StorePolicyName(s.store_policy));
  } else {
    fmt::print(out, "token hit rate (block hit rate) by capacity and policy\n");
  }
  fmt::print(out, "  {:>16}", "capacity_blocks");
  for (const std::string& p : s.policies) fmt::print(out, " {:>17}", p);
  fmt::print(out, " {:>8}\n", "skipped");
  for (size_t c = 0; c < s.capacities.size(); ++c) {
    const std::string name = s.capacities[c].infinite
                                 ? fmt::format("inf={}", sweep.inf_blocks)
                                 : std::to_string(s.capacities[c].blocks);
    fmt::print(out, "  {:>16}", name);
    for (const ReplayResult& r : sweep.results[c]) {
      fmt::print(out, " {:>17}",
                 s.host_multiple > 0
                     ? fmt::format("{:.4f}+{:.4f}", r.HitRateTokens(),
                                   r.HostHitRateTokens())
                     : fmt::format("{:.4f} ({:.4f})", r.HitRateTokens(),
                                   r.HitRateBlocks()));
    }
    fmt::print(out, " {:>8}\n", sweep.results[c][0].skipped_requests);
  }
}

// Writes the requested files, then (unless stdout took JSON or CSV) the
// table.
absl::Status WriteResults(const CacheArgs& args, const Workload& workload,
                          const CacheSettings& s, const Sweep& sweep,
                          std::ostream& out) {
  if (!args.json.empty()) {
    absl::Status st =
        WriteOutput("--json", args.json, SweepJson(workload, s, sweep), out);
    if (!st.ok()) return st;
  }
  if (!args.csv.empty()) {
    absl::Status st = WriteOutput("--csv", args.csv, SweepCsv(s, sweep), out);
    if (!st.ok()) return st;
  }
  if (args.json == "-" || args.csv == "-") return absl::OkStatus();
  const WorkloadStats wstats = workload.Stats();
  fmt::print(out,
             "{}{}: {} requests, {} prompt tokens (output tokens ignored), "
             "block {}\n",
             workload.name,
             s.copies > 1 ? fmt::format(" x{} copies", s.copies) : "",
             wstats.num_requests, wstats.prompt_tokens, s.block_size);
  if (sweep.IsSweep()) {
    PrintSweep(s, sweep, out);
  } else {
    PrintSingle(s, sweep, out);
  }
  return absl::OkStatus();
}

}  // namespace

int RunCache(const CacheArgs& args, std::ostream& out, std::ostream& err) {
  absl::StatusOr<CacheSettings> settings = ParseSettings(args);
  if (!settings.ok()) return BadInput(err, kCommand, settings.status());
  absl::StatusOr<Workload> workload = ReadWorkload(args.trace, args.format);
  if (!workload.ok()) {
    return BadInput(err, kCommand,
                    fmt::format("--trace '{}': {}", args.trace,
                                std::string(workload.status().message())));
  }
  // Memory is checked before the pre-pass and again before the pools.
  if (absl::Status st = CheckReplayMemory(*workload, *settings, 0); !st.ok()) {
    return BadInput(err, kCommand, st);
  }
  int64_t inf_blocks = 0;
  if (settings->AnyInfinite()) {
    inf_blocks = InfiniteCapacityBlocks(*workload, settings->block_size,
                                        settings->copies);
    absl::Status st = CheckReplayMemory(*workload, *settings, inf_blocks);
    if (!st.ok()) return BadInput(err, kCommand, st);
  }
  if (settings->copies > 1) {
    absl::StatusOr<Workload> repeated =
        RepeatWorkload(*workload, settings->copies);
    if (!repeated.ok()) return BadInput(err, kCommand, repeated.status());
    *workload = *std::move(repeated);
  }
  absl::StatusOr<Sweep> sweep = RunReplays(*workload, *settings, inf_blocks);
  if (!sweep.ok()) return BadInput(err, kCommand, sweep.status());
  absl::Status written = WriteResults(args, *workload, *settings, *sweep, out);
  if (!written.ok()) return BadInput(err, kCommand, written);
  return kCacheOk;
}

void AddCacheCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<CacheArgs>();
  CLI::App* cache = app.add_subcommand(
      "cache",
      "Replay a trace through the prefix cache (no timing) and report the "
      "prefix hit rate per eviction policy and capacity");
  cache->add_option("--trace", args->trace, "Trace file")->required();
  cache->add_option("--format", args->format,
                    "mooncake, azure or jsonl (default: guessed)");
  cache->add_option("--block-size", args->block_size, "Tokens per block")
      ->capture_default_str()
      ->check(BlockSizeValidator());
  cache
      ->add_option("--capacity-blocks", args->capacity_blocks,
                   "Cache size in blocks, or inf; a comma list is a sweep")
      ->capture_default_str()
      ->check(EachItem(CapacityItem()));
  cache
      ->add_option("--policy", args->policy,
                   "Eviction policy, a comma list, or all; vllm replays "
                   "vLLM v1's block order (docs/vllm.md)")
      ->capture_default_str()
      ->check(PolicyList());
  cache->add_option("--host-multiple", args->host_multiple,
                    "Host tier under each cache: this many times its "
                    "capacity in host blocks (default: none)");
  cache->add_option("--host-policy", args->host_policy,
                    "Eviction policy of the host tier (default lru)");
  cache->add_option("--store-policy", args->store_policy,
                    "write-through (default), write-through-selective or "
                    "write-back");
  cache->add_option("--json", args->json,
                    "Write JSON to FILE, or - for stdout");
  cache->add_option("--csv", args->csv,
                    "Write the hit-rate curve as CSV to FILE, or - for stdout");
  cache
      ->add_option("--repeat", args->repeat,
                   "Replay K shifted copies of the trace that share nothing")
      ->capture_default_str()
      ->check(IntInRange(1, kMaxWorkloadCopies));
  cache
      ->add_option("--max-memory-gib", args->max_memory_gib,
                   "Refuse a run estimated to need more memory (GiB); the "
                   "machine's available memory is always a limit")
      ->check(PositiveNumber());
  cache->callback([args, exit_code] {
    *exit_code = RunCache(*args, std::cout, std::cerr);
  });
}

}  // namespace pagekv::tools
