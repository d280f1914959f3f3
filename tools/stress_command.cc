#include "stress_command.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "fmt/format.h"
#include "fmt/ostream.h"
#include "pagekv/sim/stress.h"

namespace pagekv::tools {
namespace {

int BadInput(std::ostream& err, absl::string_view message) {
  fmt::print(err, "pagekv stress: {}\n", std::string(message));
  return kStressBadInput;
}

// One state group: "state:none[:SPEC]" or "state:align[:SPEC[:BLOCK]]".
bool ParseStateGroup(absl::string_view item, KVCacheGroupSpec* out) {
  std::vector<absl::string_view> parts = absl::StrSplit(item, ':');
  if (parts.empty() || parts.size() > 3) return false;
  StateCacheMode mode;
  if (parts[0] == "none") {
    mode = StateCacheMode::kNone;
  } else if (parts[0] == "align") {
    mode = StateCacheMode::kAlign;
  } else {
    return false;
  }
  int32_t spec = 0;
  int32_t block = 0;
  if (parts.size() > 1 && !absl::SimpleAtoi(parts[1], &spec)) return false;
  if (parts.size() > 2 && !absl::SimpleAtoi(parts[2], &block)) return false;
  *out = KVCacheGroupSpec::State(mode, spec, block);
  return true;
}

absl::StatusOr<std::vector<KVCacheGroupSpec>> ParseGroups(
    const std::string& text) {
  std::vector<KVCacheGroupSpec> groups;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    int32_t n = 0;
    KVCacheGroupSpec state;
    if (item == "full") {
      groups.push_back(KVCacheGroupSpec::FullAttention());
    } else if (absl::ConsumePrefix(&item, "window:") &&
               absl::SimpleAtoi(item, &n) && n >= 1) {
      groups.push_back(KVCacheGroupSpec::SlidingWindow(n));
    } else if (absl::ConsumePrefix(&item, "chunk:") &&
               absl::SimpleAtoi(item, &n) && n >= 1) {
      groups.push_back(KVCacheGroupSpec::ChunkedLocal(n));
    } else if (absl::ConsumePrefix(&item, "state:") &&
               ParseStateGroup(item, &state)) {
      groups.push_back(state);
    } else {
      return absl::InvalidArgumentError(fmt::format(
          "--groups '{}': each group is full, window:N, chunk:N (N >= 1 "
          "tokens), state:none[:SPEC] or state:align[:SPEC[:BLOCK]]",
          text));
    }
  }
  return groups;
}

absl::StatusOr<StressOptions> MakeOptions(const StressArgs& a) {
  StressOptions o;
  auto groups = ParseGroups(a.groups);
  if (!groups.ok()) return groups.status();
  o.manager.groups = *std::move(groups);
  if (a.block_size < 1 || a.block_size > 4096) {
    return absl::InvalidArgumentError(
        fmt::format("--block-size {}: must be in [1, 4096]", a.block_size));
  }
  o.manager.block_size = static_cast<int32_t>(a.block_size);
  o.manager.num_blocks = a.num_blocks;
  o.manager.eviction_policy = a.policy;
  if (a.prefix_caching != "on" && a.prefix_caching != "off") {
    return absl::InvalidArgumentError(
        fmt::format("--prefix-caching '{}': on or off", a.prefix_caching));
  }
  o.manager.enable_prefix_caching = a.prefix_caching == "on";
  o.max_ops = a.ops;
  o.max_seconds = a.seconds;
  o.seed = a.seed;
  o.verify_every = a.verify_every;
  o.fork_percent = a.fork_percent;
  o.truncate_percent = a.truncate_percent;
  o.release_percent = a.release_percent;
  o.add_percent = a.add_percent;
  o.decode_batch_percent = a.decode_batch_percent;
  o.bad_call_percent = a.bad_call_percent;
  o.lookahead_percent = a.lookahead_percent;
  o.max_lookahead = a.max_lookahead;
  o.log_path = a.log;
  o.keep_log = a.keep_log;
  if (absl::Status st = o.Validate(); !st.ok()) return st;
  return o;
}

}  // namespace

int RunStressCommand(const StressArgs& args, std::ostream& out,
                     std::ostream& err) {
  if (args.progress != "auto" && args.progress != "on" &&
      args.progress != "off") {
    return BadInput(
        err, fmt::format("--progress '{}': auto, on or off", args.progress));
  }
  absl::StatusOr<StressOptions> options = MakeOptions(args);
  if (!options.ok()) return BadInput(err, options.status().message());
  const bool progress = args.progress == "on" ||
                        (args.progress == "auto" && isatty(STDERR_FILENO));
  if (progress) {
    options->progress = [&err](int64_t ops) {
      fmt::print(err, "\rstress: {} operations", ops);
      err.flush();
    };
  }
  absl::StatusOr<StressReport> report = RunStress(*options);
  if (progress) fmt::print(err, "\n");
  if (!report.ok()) return BadInput(err, report.status().message());
  const StressReport& r = *report;
  fmt::print(out,
             "{} operations in {:.2f} s ({:.0f}/s): {} refused for lack of "
             "blocks, {} prefix hits, {} forks, {} truncates, {} decode "
             "batches, {} releases, {} resets\n",
             r.ops, r.seconds, r.seconds > 0 ? r.ops / r.seconds : 0.0,
             r.exhausted, r.hits, r.forks, r.truncates, r.decode_batches,
             r.releases, r.resets);
  if (r.failure.has_value()) {
    fmt::print(out, "FAILED at {}\n", *r.failure);
    if (!r.log_path.empty()) {
      fmt::print(out, "call log kept: {}\nreplay it: pagekv replay-log {}\n",
                 r.log_path, r.log_path);
    }
    return kStressFailed;
  }
  fmt::print(out, "passed: every operation matched the reference model\n");
  if (!r.log_path.empty()) fmt::print(out, "call log: {}\n", r.log_path);
  return kStressPassed;
}

void AddStressCommand(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<StressArgs>();
  CLI::App* cmd = app.add_subcommand(
      "stress",
      "Randomized manager operations against a reference model on your "
      "configuration; keeps the call log of a failing run");
  cmd->add_option("--groups", a->groups,
                  "KV-cache groups: comma list of full / window:N / chunk:N / "
                  "state:none[:SPEC] / state:align[:SPEC[:BLOCK]]")
      ->capture_default_str();
  cmd->add_option("--block-size", a->block_size, "Tokens per block")
      ->capture_default_str();
  cmd->add_option("--num-blocks", a->num_blocks,
                  "Pool size in blocks (with the null block)")
      ->capture_default_str();
  cmd->add_option("--policy", a->policy, "Eviction policy")
      ->capture_default_str();
  cmd->add_option("--prefix-caching", a->prefix_caching, "on or off")
      ->capture_default_str();
  cmd->add_option("--ops", a->ops, "Operations to run (0 = no limit)");
  cmd->add_option("--seconds", a->seconds, "Seconds to run (0 = no limit)");
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  cmd->add_option("--verify-every", a->verify_every,
                  "Verify() and check the reference every N operations")
      ->capture_default_str();
  cmd->add_option("--fork-percent", a->fork_percent)->capture_default_str();
  cmd->add_option("--truncate-percent", a->truncate_percent)
      ->capture_default_str();
  cmd->add_option("--release-percent", a->release_percent)
      ->capture_default_str();
  cmd->add_option("--add-percent", a->add_percent)->capture_default_str();
  cmd->add_option("--decode-batch-percent", a->decode_batch_percent)
      ->capture_default_str();
  cmd->add_option("--bad-call-percent", a->bad_call_percent)
      ->capture_default_str();
  cmd->add_option("--lookahead-percent", a->lookahead_percent,
                  "Percent of reserves with lookahead slots")
      ->capture_default_str();
  cmd->add_option("--max-lookahead", a->max_lookahead)->capture_default_str();
  cmd->add_option("--log", a->log, "Call log of the run (kept on failure)")
      ->capture_default_str();
  cmd->add_flag("--keep-log", a->keep_log, "Keep the log of a passing run");
  cmd->add_option("--progress", a->progress, "auto, on or off")
      ->capture_default_str();
  cmd->callback([a, exit_code] {
    *exit_code = RunStressCommand(*a, std::cout, std::cerr);
  });
}

}  // namespace pagekv::tools
