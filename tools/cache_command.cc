#include "cache_command.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "fmt/format.h"
#include "fmt/ostream.h"
#include "pagekv/clock.h"
#include "pagekv/eviction_policy.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/sim/report_json.h"
#include "pagekv/sim/trace_reader.h"

namespace pagekv::tools {
namespace {

int BadInput(std::ostream& err, const std::string& message) {
  err << "pagekv cache: " << message << "\n";
  return kCacheBadInput;
}

// One requested capacity: a number of blocks, or infinite.
struct Capacity {
  bool infinite = false;
  int64_t blocks = 0;
};

std::string CapacityName(const Capacity& c) {
  return c.infinite ? std::string("inf") : std::to_string(c.blocks);
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  for (absl::string_view piece : absl::StrSplit(text, ',')) {
    items.emplace_back(absl::StripAsciiWhitespace(piece));
  }
  return items;
}

// Writes `text` to `path` ("-" = `out`); false if the file cannot be written.
bool WriteOutput(const std::string& path, const std::string& text,
                 std::ostream& out) {
  if (path == "-") {
    out << text;
    return true;
  }
  std::ofstream file(path);
  return file && (file << text) && file.flush();
}

}  // namespace

int RunCache(const CacheArgs& args, std::ostream& out, std::ostream& err) {
  if (args.trace.empty()) return BadInput(err, "--trace is required");
  int64_t block_size = 0;
  if (!absl::SimpleAtoi(args.block_size, &block_size) || block_size < 1 ||
      block_size > (int64_t{1} << 20)) {
    return BadInput(err, fmt::format("--block-size must be an integer in [1, "
                                     "1048576], got '{}'",
                                     args.block_size));
  }
  std::vector<Capacity> capacities;
  for (const std::string& item : SplitList(args.capacity_blocks)) {
    Capacity c;
    if (item == "inf") {
      c.infinite = true;
    } else if (!absl::SimpleAtoi(item, &c.blocks) || c.blocks < 1) {
      return BadInput(err, fmt::format("--capacity-blocks: each value must be "
                                       "an integer >= 1 or 'inf', got '{}'",
                                       item));
    }
    capacities.push_back(c);
  }
  const std::vector<std::string> known = EvictionPolicyNames();
  std::vector<std::string> policies;
  if (args.policy == "all") {
    policies = known;
  } else {
    policies = SplitList(args.policy);
    for (const std::string& p : policies) {
      if (std::find(known.begin(), known.end(), p) == known.end()) {
        return BadInput(err, fmt::format("--policy: unknown policy '{}' "
                                         "(known: {}, or all)",
                                         p, fmt::join(known, ", ")));
      }
    }
  }
  if (args.json == "-" && args.csv == "-") {
    return BadInput(err, "--json - and --csv - cannot both go to stdout");
  }
  absl::StatusOr<Workload> workload = ReadWorkload(args.trace, args.format);
  if (!workload.ok()) {
    return BadInput(err, fmt::format("--trace '{}': {}", args.trace,
                                     std::string(workload.status().message())));
  }
  const WorkloadStats wstats = workload->Stats();
  const auto bs = static_cast<int32_t>(block_size);
  const int64_t inf_blocks = InfiniteCapacityBlocks(*workload, bs);

  // results[c][p]: capacity c, policy p.
  std::vector<std::vector<ReplayResult>> results(capacities.size());
  std::vector<ReplayRun> runs;
  for (size_t c = 0; c < capacities.size(); ++c) {
    const int64_t blocks =
        capacities[c].infinite ? inf_blocks : capacities[c].blocks;
    for (const std::string& policy : policies) {
      absl::StatusOr<ReplayResult> r =
          ReplayWorkload(*workload, {bs, blocks, policy});
      if (!r.ok()) {
        return BadInput(err, fmt::format("replay with --policy {} "
                                         "--capacity-blocks {}: {}",
                                         policy, CapacityName(capacities[c]),
                                         std::string(r.status().message())));
      }
      runs.push_back({policy, blocks, capacities[c].infinite, *r});
      results[c].push_back(*r);
    }
  }

  const bool sweep = capacities.size() > 1 || policies.size() > 1;
  if (!args.json.empty()) {
    const std::string json = ReplayReportJson(workload->name, block_size, runs);
    if (!WriteOutput(args.json, json, out)) {
      return BadInput(err, fmt::format("--json: cannot write '{}'", args.json));
    }
  }
  if (!args.csv.empty()) {
    std::string csv = "capacity_blocks";
    for (const std::string& p : policies) csv += "," + p;
    csv += "\n";
    for (size_t c = 0; c < capacities.size(); ++c) {
      csv += capacities[c].infinite ? std::to_string(inf_blocks)
                                    : std::to_string(capacities[c].blocks);
      for (const ReplayResult& r : results[c]) {
        csv += fmt::format(",{:.6f}", r.HitRateTokens());
      }
      csv += "\n";
    }
    if (!WriteOutput(args.csv, csv, out)) {
      return BadInput(err, fmt::format("--csv: cannot write '{}'", args.csv));
    }
  }
  if (args.json == "-" || args.csv == "-") return kCacheOk;

  fmt::print(out,
             "{}: {} requests, {} prompt tokens (output tokens ignored), "
             "block {}\n",
             workload->name, wstats.num_requests, wstats.prompt_tokens,
             block_size);
  if (!sweep) {
    const ReplayResult& r = results[0][0];
    const Capacity& cap = capacities[0];
    auto row = [&](const std::string& name, const std::string& value) {
      fmt::print(out, "  {:<22} {}\n", name, value);
    };
    row("policy", policies[0]);
    row("capacity",
        cap.infinite ? fmt::format("inf ({} blocks, never evicts)", inf_blocks)
                     : fmt::format("{} blocks", cap.blocks));
    row("hit tokens", fmt::format("{} / {} = {:.4f}", r.hit_tokens,
                                  r.prompt_tokens, r.HitRateTokens()));
    row("hit blocks", fmt::format("{} / {} full = {:.4f}", r.hit_blocks,
                                  r.query_blocks, r.HitRateBlocks()));
    row("evictions", fmt::format("{}", r.evictions));
    row("cached blocks at end", fmt::format("{}", r.cached_blocks));
    if (r.skipped_requests > 0) {
      row("skipped (too long)",
          fmt::format("{} requests, {} tokens", r.skipped_requests,
                      r.skipped_prompt_tokens));
    }
    row("replay time", fmt::format("{:.3f} s", r.seconds));
    return kCacheOk;
  }

  // Sweep: token hit rate against capacity, one column per policy.
  fmt::print(out, "token hit rate (block hit rate) by capacity and policy\n");
  fmt::print(out, "  {:>16}", "capacity_blocks");
  for (const std::string& p : policies) fmt::print(out, " {:>17}", p);
  fmt::print(out, " {:>8}\n", "skipped");
  for (size_t c = 0; c < capacities.size(); ++c) {
    const std::string name = capacities[c].infinite
                                 ? fmt::format("inf={}", inf_blocks)
                                 : std::to_string(capacities[c].blocks);
    fmt::print(out, "  {:>16}", name);
    for (const ReplayResult& r : results[c]) {
      fmt::print(
          out, " {:>17}",
          fmt::format("{:.4f} ({:.4f})", r.HitRateTokens(), r.HitRateBlocks()));
    }
    fmt::print(out, " {:>8}\n", results[c][0].skipped_requests);
  }
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
      ->capture_default_str();
  cache
      ->add_option("--capacity-blocks", args->capacity_blocks,
                   "Cache size in blocks, or inf; a comma list is a sweep")
      ->capture_default_str();
  cache
      ->add_option("--policy", args->policy,
                   "Eviction policy, a comma list, or all")
      ->capture_default_str();
  cache->add_option("--json", args->json,
                    "Write JSON to FILE, or - for stdout");
  cache->add_option("--csv", args->csv,
                    "Write the hit-rate curve as CSV to FILE, or - for stdout");
  cache->callback([args, exit_code] {
    *exit_code = RunCache(*args, std::cout, std::cerr);
  });
}

}  // namespace pagekv::tools
