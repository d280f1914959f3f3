#include "cluster_flags.h"

#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "cli_util.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "pagekv/cost/hardware_spec.h"

namespace pagekv::tools {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// A finite number >= 0, or InvalidArgument naming the flag.
absl::StatusOr<double> ParseNonNegative(const char* flag,
                                        const std::string& text) {
  double v = 0;
  if (!absl::SimpleAtod(text, &v) || !(v >= 0) || !std::isfinite(v)) {
    return absl::InvalidArgumentError(
        fmt::format("{} must be a finite number >= 0, got '{}'", flag, text));
  }
  return v;
}

// The routers `text` names ("all" = every router), each checked.
absl::StatusOr<std::vector<std::string>> ParseRouters(const std::string& text) {
  const std::vector<std::string> known = cluster::RouterNames();
  if (text.empty()) return std::vector<std::string>{"round-robin"};
  if (text == "all") return known;
  std::vector<std::string> out;
  for (const std::string& name : SplitList(text)) {
    cluster::RouterConfig c;
    c.name = name;
    if (absl::Status s = c.Validate(); !s.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("--router: {}", std::string(s.message())));
    }
    out.push_back(name);
  }
  return out;
}

// --sweep rate=1,2,4 -> {1, 2, 4}.
absl::StatusOr<std::vector<double>> ParseSweep(const std::string& text) {
  std::vector<double> rates;
  if (text.empty()) return rates;
  if (!absl::StartsWith(text, "rate=")) {
    return absl::InvalidArgumentError(fmt::format(
        "--sweep must be rate=X,Y,... (arrival-rate multipliers), got '{}'",
        text));
  }
  for (const std::string& item : SplitList(text.substr(5))) {
    absl::StatusOr<double> r = ParsePositiveFlag("--sweep rate", item);
    if (!r.ok()) return r.status();
    rates.push_back(*r);
  }
  return rates;
}

// One --instance-specs entry applied to a copy of `base`.
absl::StatusOr<SimulatorConfig> SpecEntry(const std::string& path, size_t i,
                                          const nlohmann::json& e,
                                          const SimulatorConfig& base) {
  const std::string where =
      fmt::format("--instance-specs '{}' entry {}", path, i);
  if (!e.is_object()) {
    return absl::InvalidArgumentError(where + ": must be an object");
  }
  SimulatorConfig c = base;
  for (const auto& [key, value] : e.items()) {
    if (key == "count") continue;
    if (key == "hardware" && value.is_string()) {
      absl::StatusOr<HardwareSpec> hw =
          ResolveHardwareSpec(value.get<std::string>());
      if (!hw.ok()) {
        return absl::InvalidArgumentError(fmt::format(
            "{}: hardware: {}", where, std::string(hw.status().message())));
      }
      c.hardware = *hw;
    } else if (key == "kv_memory_gib" && value.is_number() &&
               value.get<double>() > 0) {
      c.kv_memory_bytes = value.get<double>() * kGiB;
    } else if (key == "max_batch_tokens" && value.is_number_integer() &&
               value.get<int64_t>() >= 1) {
      c.scheduler.max_batch_tokens = value.get<int64_t>();
    } else if (key == "max_num_seqs" && value.is_number_integer() &&
               value.get<int64_t>() >= 1 && value.get<int64_t>() <= 1 << 30) {
      c.scheduler.max_num_seqs = value.get<int32_t>();
    } else {
      return absl::InvalidArgumentError(fmt::format(
          "{}: bad field '{}' = {} (known: count, hardware, kv_memory_gib > "
          "0, max_batch_tokens >= 1, max_num_seqs >= 1)",
          where, key, value.dump()));
    }
  }
  if (absl::Status s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: {}", where, std::string(s.message())));
  }
  return c;
}

// The instances from --instance-specs (a JSON array of entries, each with
// an optional count), over `base`.
absl::StatusOr<std::vector<SimulatorConfig>> ReadSpecs(
    const std::string& path, const SimulatorConfig& base) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        fmt::format("--instance-specs: cannot read '{}'", path));
  }
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.is_array() || doc.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "--instance-specs '{}': not a non-empty JSON array of instance "
        "entries",
        path));
  }
  std::vector<SimulatorConfig> out;
  for (size_t i = 0; i < doc.size(); ++i) {
    absl::StatusOr<SimulatorConfig> c = SpecEntry(path, i, doc[i], base);
    if (!c.ok()) return c.status();
    int64_t count = 1;
    if (doc[i].contains("count")) {
      const nlohmann::json& n = doc[i]["count"];
      if (!n.is_number_integer() || n.get<int64_t>() < 1 ||
          n.get<int64_t>() > 64) {
        return absl::InvalidArgumentError(fmt::format(
            "--instance-specs '{}' entry {}: count must be an integer in "
            "1..64, got {}",
            path, i, n.dump()));
      }
      count = n.get<int64_t>();
    }
    out.insert(out.end(), static_cast<size_t>(count), *c);
  }
  return out;
}

absl::StatusOr<std::vector<SimulatorConfig>> MakeInstances(
    const ClusterFlags& f, const SimulatorConfig& base) {
  std::vector<SimulatorConfig> instances;
  if (!f.instance_specs.empty()) {
    absl::StatusOr<std::vector<SimulatorConfig>> specs =
        ReadSpecs(f.instance_specs, base);
    if (!specs.ok()) return specs.status();
    instances = *std::move(specs);
  }
  int64_t n = instances.empty() ? 1 : static_cast<int64_t>(instances.size());
  if (!f.instances.empty()) {
    absl::StatusOr<int64_t> given =
        ParseIntFlag("--instances", f.instances, 1, 64);
    if (!given.ok()) return given.status();
    if (!instances.empty() && *given != n) {
      return absl::InvalidArgumentError(fmt::format(
          "--instances {} but --instance-specs '{}' describes {} instances",
          *given, f.instance_specs, n));
    }
    n = *given;
  }
  if (instances.empty()) instances.assign(static_cast<size_t>(n), base);
  if (instances.size() > 64) {
    return absl::InvalidArgumentError(
        fmt::format("--instance-specs '{}' describes {} instances (at most 64)",
                    f.instance_specs, instances.size()));
  }
  return instances;
}

// The router knobs shared by every run.
absl::Status ParseRouterKnobs(const ClusterFlags& f, cluster::RouterConfig* r,
                              cluster::ClusterConfig* c) {
  if (!f.scorer.empty()) r->scorer = f.scorer;
  struct Number {
    const char* flag;
    const std::string& text;
    double* out;
  };
  double delay = 0, transfer = 0;
  for (const Number& n :
       {Number{"--w-prefix", f.w_prefix, &r->w_prefix},
        Number{"--w-load", f.w_load, &r->w_load},
        Number{"--prefill-scale", f.prefill_scale, &r->prefill_scale},
        Number{"--load-bound", f.load_bound, &r->load_bound},
        Number{"--event-delay", f.event_delay, &delay},
        Number{"--transfer-gbps", f.transfer_gbps, &transfer}}) {
    if (n.text.empty()) continue;
    absl::StatusOr<double> v = ParseNonNegative(n.flag, n.text);
    if (!v.ok()) return v.status();
    *n.out = *v;
  }
  c->event_delay_s = delay;
  c->transfer_bytes_per_s = transfer * 1e9;
  if (!f.affinity_blocks.empty()) {
    absl::StatusOr<int64_t> v =
        ParseIntFlag("--affinity-blocks", f.affinity_blocks, 0, 1 << 20);
    if (!v.ok()) return v.status();
    r->affinity_blocks = static_cast<int32_t>(*v);
  }
  if (!f.router_seed.empty()) {
    absl::StatusOr<int64_t> v = ParseIntFlag("--router-seed", f.router_seed, 0);
    if (!v.ok()) return v.status();
    r->seed = static_cast<uint64_t>(*v);
  }
  if (absl::Status s = r->Validate(); !s.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("router: {}", std::string(s.message())));
  }
  return absl::OkStatus();
}

absl::Status ParseSweepFlags(const ClusterFlags& f, ClusterSetup* setup) {
  absl::StatusOr<std::vector<double>> rates = ParseSweep(f.sweep);
  if (!rates.ok()) return rates.status();
  setup->sweep_rates = *std::move(rates);
  if (!f.slo_ttft_p90.empty()) {
    absl::StatusOr<double> v =
        ParsePositiveFlag("--slo-ttft-p90", f.slo_ttft_p90);
    if (!v.ok()) return v.status();
    setup->slo_ttft_p90 = *v;
  }
  if (!f.slo_tpot_p90.empty()) {
    absl::StatusOr<double> v =
        ParsePositiveFlag("--slo-tpot-p90", f.slo_tpot_p90);
    if (!v.ok()) return v.status();
    setup->slo_tpot_p90 = *v;
  }
  if ((setup->slo_ttft_p90 > 0 || setup->slo_tpot_p90 > 0) &&
      setup->sweep_rates.empty()) {
    return absl::InvalidArgumentError(
        "--slo-ttft-p90 / --slo-tpot-p90 need --sweep rate=...");
  }
  setup->jobs =
      static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
  if (!f.jobs.empty()) {
    absl::StatusOr<int64_t> v = ParseIntFlag("--jobs", f.jobs, 1, 256);
    if (!v.ok()) return v.status();
    setup->jobs = static_cast<int32_t>(*v);
  }
  return absl::OkStatus();
}

}  // namespace

bool ClusterRequested(const ClusterFlags& f) {
  return !f.instances.empty() || !f.instance_specs.empty() ||
         !f.router.empty() || !f.sweep.empty() || f.global_cache;
}

absl::StatusOr<SharedPrefixOptions> ParseSharedPrefixFlags(
    const ClusterFlags& f, uint64_t seed) {
  SharedPrefixOptions o;
  o.seed = seed;
  struct Int {
    const char* flag;
    const std::string& text;
    int32_t* out;
  };
  for (const Int& i :
       {Int{"--sp-groups", f.sp_groups, &o.num_groups},
        Int{"--sp-prefix-tokens", f.sp_prefix_tokens, &o.shared_prefix_tokens},
        Int{"--sp-users", f.sp_users, &o.users_per_group},
        Int{"--sp-questions", f.sp_questions, &o.questions_per_user},
        Int{"--sp-question-tokens", f.sp_question_tokens, &o.question_tokens},
        Int{"--sp-output-tokens", f.sp_output_tokens, &o.output_tokens}}) {
    absl::StatusOr<int64_t> v = ParseIntFlag(i.flag, i.text, 1, 1 << 24);
    if (!v.ok()) return v.status();
    *i.out = static_cast<int32_t>(*v);
  }
  absl::StatusOr<double> rate = ParsePositiveFlag("--sp-rate", f.sp_rate);
  if (!rate.ok()) return rate.status();
  o.rate_per_s = *rate;
  if (!f.sp_ramp_from.empty()) {
    absl::StatusOr<double> from =
        ParsePositiveFlag("--sp-ramp-from", f.sp_ramp_from);
    if (!from.ok()) return from.status();
    o.ramp_start_rate_per_s = *from;
  }
  if (absl::Status s = o.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("--workload shared-prefix: {}", std::string(s.message())));
  }
  return o;
}

absl::StatusOr<ClusterSetup> ParseClusterFlags(const ClusterFlags& f,
                                               const SimulatorConfig& base) {
  if (base.call_log.mode != CallLogOptions::Mode::kOff) {
    return absl::InvalidArgumentError(
        "--record-log records one manager's calls; it does not combine "
        "with the cluster flags");
  }
  if (base.window_start_s > 0 || std::isfinite(base.window_end_s)) {
    return absl::InvalidArgumentError(
        "--window is not supported with the cluster flags (the cluster "
        "report covers the whole run)");
  }
  ClusterSetup setup;
  if (absl::Status s = ParseSweepFlags(f, &setup); !s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> routers = ParseRouters(f.router);
  if (!routers.ok()) return routers.status();
  absl::StatusOr<std::vector<SimulatorConfig>> instances =
      MakeInstances(f, base);
  if (!instances.ok()) return instances.status();
  cluster::ClusterConfig c;
  c.instances = *std::move(instances);
  c.global_cache = f.global_cache;
  if (absl::Status s = ParseRouterKnobs(f, &c.router, &c); !s.ok()) return s;
  c.timeline_interval_s = base.timeline_interval_s;
  for (const std::string& name : *routers) {
    c.router.name = name;
    if (absl::Status s = c.Validate(); !s.ok()) return s;
    setup.runs.push_back(c);
  }
  return setup;
}

void AddClusterFlags(CLI::App* sim, ClusterFlags* f) {
  const std::string g = "Cluster (issue 16, docs/cluster.md)";
  auto opt = [&](const char* name, std::string& v, const char* help) {
    return sim->add_option(name, v, help)->group(g);
  };
  opt("--instances", f->instances, "Simulate N instances behind a router")
      ->check(IntInRange(1, 64));
  opt("--instance-specs", f->instance_specs,
      "JSON array of per-instance overrides: {count, hardware, "
      "kv_memory_gib, max_batch_tokens, max_num_seqs}");
  opt("--router", f->router,
      "round-robin, random, least-loaded, prefix, approx-prefix, a comma "
      "list, or all");
  opt("--scorer", f->scorer, "prefix router: llm-d (default) or cost");
  opt("--w-prefix", f->w_prefix,
      "llm-d scorer: weight of the cached share (3)");
  opt("--w-load", f->w_load, "llm-d scorer: weight of the load (2)");
  opt("--prefill-scale", f->prefill_scale,
      "cost scorer: weight of uncovered prefill blocks (1)");
  opt("--router-seed", f->router_seed, "Seed of the random router (1)");
  opt("--event-delay", f->event_delay,
      "Seconds before a KV event reaches the prefix router's index (0)");
  opt("--affinity-blocks", f->affinity_blocks,
      "Session affinity: requests sharing their first N blocks stick (0 = "
      "off)");
  opt("--load-bound", f->load_bound,
      "Skip instances with more than X times the mean in-flight requests, "
      "plus one (0 = off)");
  sim->add_flag("--global-cache", f->global_cache,
                "A prefix cached on another instance is copied over instead "
                "of recomputed")
      ->group(g);
  opt("--transfer-gbps", f->transfer_gbps,
      "Global cache copy bandwidth in GB/s (default: the hardware "
      "interconnect)");
  opt("--routes-csv", f->routes_csv,
      "Write one row per request (instance, latency, hits) to FILE or -");
  opt("--sweep", f->sweep,
      "rate=X,Y,...: rerun at these arrival-rate multipliers, in parallel");
  opt("--slo-ttft-p90", f->slo_ttft_p90, "Sweep SLO on p90 TTFT (seconds)");
  opt("--slo-tpot-p90", f->slo_tpot_p90, "Sweep SLO on p90 TPOT (seconds)");
  opt("--jobs", f->jobs, "Sweep threads (default: the machine's cores)");
  const std::string sp = "Shared-prefix workload (--workload shared-prefix)";
  auto spo = [&](const char* name, std::string& v, const char* help) {
    sim->add_option(name, v, help)->group(sp)->capture_default_str();
  };
  spo("--sp-groups", f->sp_groups, "Groups, each with its own shared prefix");
  spo("--sp-prefix-tokens", f->sp_prefix_tokens, "Shared prefix tokens");
  spo("--sp-users", f->sp_users, "Users per group");
  spo("--sp-questions", f->sp_questions, "Questions per user");
  spo("--sp-question-tokens", f->sp_question_tokens, "Tokens per question");
  spo("--sp-output-tokens", f->sp_output_tokens, "Output tokens per answer");
  spo("--sp-rate", f->sp_rate, "Poisson arrival rate (requests/s)");
  sim->add_option("--sp-ramp-from", f->sp_ramp_from,
                  "Ramp the rate linearly from this (requests/s) to --sp-rate")
      ->group(sp);
}

}  // namespace pagekv::tools
