#include "simulate_command.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli_util.h"
#include "cluster_command.h"
#include "fmt/format.h"
#include "fmt/ostream.h"
#include "memory_check.h"
#include "pagekv/cost/capacity.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/net/event_publisher.h"
#include "pagekv/sim/default_workload.h"
#include "pagekv/sim/shared_prefix_workload.h"
#include "pagekv/sim/simulator.h"
#include "pagekv/sim/trace_reader.h"
#include "simulate_flags.h"
#include "simulate_report.h"

namespace pagekv::tools {
namespace {

constexpr char kCommand[] = "simulate";
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
// KV memory for the built-in workload: tight enough that paging preempts now
// and then and the contiguous baselines run small batches.
constexpr double kDefaultWorkloadKvGiB = 20;

// A progress bar on a terminal, drawn only once a run has taken a second.
class ProgressBar {
 public:
  ProgressBar(std::ostream& err, std::string label)
      : err_(err),
        label_(std::move(label)),
        start_(std::chrono::steady_clock::now()) {}
  ~ProgressBar() {
    if (drawn_) err_ << "\r" << std::string(60, ' ') << "\r" << std::flush;
  }
  void Update(double fraction) {
    const auto elapsed = std::chrono::steady_clock::now() - start_;
    if (elapsed < std::chrono::seconds(1)) return;
    drawn_ = true;
    const int filled = static_cast<int>(fraction * 30);
    err_ << "\r" << label_ << " [" << std::string(filled, '#')
         << std::string(30 - filled, ' ') << "] "
         << static_cast<int>(fraction * 100) << "%" << std::flush;
  }

 private:
  std::ostream& err_;
  std::string label_;
  std::chrono::steady_clock::time_point start_;
  bool drawn_ = false;
};

// --kv-events: a publisher fed after every simulated step (config.on_step).
absl::StatusOr<std::unique_ptr<net::EventPublisher>> StartKvEvents(
    const SimulateArgs& args, SimulatorConfig& config, std::ostream& err) {
  net::EventPublisherConfig pc;
  pc.endpoint = args.kv_events;
  pc.replay_endpoint = args.kv_events_replay;
  auto publisher = net::EventPublisher::Create(pc);
  if (!publisher.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--kv-events: ", publisher.status().message()));
  }
  err << "pagekv simulate: publishing KV events on " << (*publisher)->endpoint()
      << ((*publisher)->replay_endpoint().empty()
              ? std::string()
              : ", replay on " + (*publisher)->replay_endpoint())
      << "\n";
  net::EventPublisher* pub = publisher->get();
  const auto start = std::chrono::steady_clock::now();
  const bool realtime = args.kv_events_realtime;
  config.on_step = [pub, start, realtime](KVCacheManager& m, double now_s) {
    if (realtime) {
      std::this_thread::sleep_until(
          start +
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
              std::chrono::duration<double>(now_s)));
    }
    pub->PublishFrom(m);
  };
  return publisher;
}

// The validated numbers and switches, read before anything else.
struct SimulateNumbers {
  int32_t block_size = 0;
  int64_t max_batch_tokens = 0;
  int64_t max_num_seqs = 0;
  int64_t max_requests = 0;
  int64_t seed = 0;
  double rate_scale = 1;
  bool prefix_caching = true;
  bool gate = false;
  PreemptionPolicy preemption = PreemptionPolicy::kLastAdmitted;
  double timeline_interval = 0;  // 0 = automatic
  int32_t copies = 1;
  std::optional<uint64_t> max_memory;  // bytes, from --max-memory-gib
};

// Assigns *out from a parse, or returns its error from the caller.
#define PAGEKV_CLI_ASSIGN(out, expr)            \
  do {                                          \
    auto parsed_ = (expr);                      \
    if (!parsed_.ok()) return parsed_.status(); \
    out = *parsed_;                             \
  } while (false)

absl::StatusOr<SimulateNumbers> ParseNumbers(const SimulateArgs& args) {
  SimulateNumbers n;
  PAGEKV_CLI_ASSIGN(n.block_size,
                    ParseBlockSizeFlag("--block-size", args.block_size));
  PAGEKV_CLI_ASSIGN(n.max_batch_tokens, ParseIntFlag("--max-batch-tokens",
                                                     args.max_batch_tokens, 1));
  PAGEKV_CLI_ASSIGN(
      n.max_num_seqs,
      ParseIntFlag("--max-num-seqs", args.max_num_seqs, 1, 1 << 30));
  PAGEKV_CLI_ASSIGN(n.max_requests,
                    ParseIntFlag("--max-requests", args.max_requests, 0));
  PAGEKV_CLI_ASSIGN(n.seed, ParseIntFlag("--seed", args.seed, 0));
  PAGEKV_CLI_ASSIGN(n.rate_scale,
                    ParsePositiveFlag("--rate-scale", args.rate_scale));
  PAGEKV_CLI_ASSIGN(n.prefix_caching,
                    ParseOnOffFlag("--prefix-caching", args.prefix_caching));
  PAGEKV_CLI_ASSIGN(
      n.gate, ParseOnOffFlag("--full-prompt-gate", args.full_prompt_gate));
  absl::StatusOr<PreemptionPolicy> preemption =
      ParsePreemptionPolicy(args.preemption);
  if (!preemption.ok()) {
    return absl::InvalidArgumentError(fmt::format(
        "--preemption: {}", std::string(preemption.status().message())));
  }
  n.preemption = *preemption;
  if (!args.timeline_interval.empty()) {
    PAGEKV_CLI_ASSIGN(
        n.timeline_interval,
        ParsePositiveFlag("--timeline-interval", args.timeline_interval));
  }
  PAGEKV_CLI_ASSIGN(
      n.copies, ParseIntFlag("--repeat", args.repeat, 1, kMaxWorkloadCopies));
  PAGEKV_CLI_ASSIGN(n.max_memory, ParseMaxMemoryFlag(args.max_memory_gib));
  return n;
}

#undef PAGEKV_CLI_ASSIGN

// The allocators to compare, and a check of --format, before any file is
// read.
absl::StatusOr<std::vector<AllocatorKind>> ParseAllocators(
    const SimulateArgs& args) {
  const bool default_workload = args.workload == "default";
  const std::string name = !args.allocator.empty()
                               ? args.allocator
                               : (default_workload ? "all" : "paged");
  absl::StatusOr<std::vector<AllocatorKind>> allocators =
      ParseAllocatorList(name);
  if (!allocators.ok()) {
    return absl::InvalidArgumentError(fmt::format(
        "--allocator: {}", std::string(allocators.status().message())));
  }
  if (!args.format.empty()) {
    if (absl::StatusOr<TraceFormat> f = ParseTraceFormat(args.format);
        !f.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("--format: {}", std::string(f.status().message())));
    }
  }
  return allocators;
}

// The simulator's configuration from the specs and the numbers, validated.
absl::StatusOr<SimulatorConfig> MakeConfig(const SimulateArgs& args,
                                           const SimulateNumbers& n) {
  SimulatorConfig config;
  absl::StatusOr<ModelSpec> model = ResolveModelSpec(args.model);
  if (!model.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("--model: {}", std::string(model.status().message())));
  }
  absl::StatusOr<HardwareSpec> hardware = ResolveHardwareSpec(args.hardware);
  if (!hardware.ok()) {
    return absl::InvalidArgumentError(fmt::format(
        "--hardware: {}", std::string(hardware.status().message())));
  }
  config.model = *model;
  config.hardware = *hardware;
  if (!args.kv_memory_gib.empty()) {
    absl::StatusOr<double> gib =
        ParsePositiveFlag("--kv-memory-gib", args.kv_memory_gib);
    if (!gib.ok()) return gib.status();
    config.kv_memory_bytes = *gib * kGiB;
  } else if (args.workload == "default") {
    config.kv_memory_bytes = kDefaultWorkloadKvGiB * kGiB;
  }
  config.block_size = n.block_size;
  config.eviction_policy = args.policy;
  config.enable_prefix_caching = n.prefix_caching;
  config.scheduler.max_batch_tokens = n.max_batch_tokens;
  config.scheduler.max_num_seqs = static_cast<int32_t>(n.max_num_seqs);
  config.scheduler.preemption_policy = n.preemption;
  config.scheduler.require_full_prompt_fit = n.gate;
  config.timeline_interval_s = n.timeline_interval;
  if (absl::Status s = ApplySimulateFlags(args.fidelity,
                                          !args.kv_memory_gib.empty(), &config);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ApplyTierFlags(args.tiers, &config); !s.ok()) return s;
  if (!args.record_log.empty()) {
    config.call_log.mode = CallLogOptions::Mode::kFile;
    config.call_log.path = args.record_log;
  }
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  return config;
}

// Rough bytes the simulation keeps per request and allocator: scheduler
// entry, latency samples and the report's per-request figures.
constexpr uint64_t kSimBytesPerRequest = 256;

// Estimates the simulation of `copies` copies of `workload` and checks it
// before anything large is allocated: the trace copies, the paged pool and
// index (KVCacheManager::MemoryFootprint of the pool the simulator sizes
// from the KV memory), and per-request state for each allocator.
absl::Status CheckSimulateMemory(const Workload& workload,
                                 const SimulatorConfig& config,
                                 const SimulateNumbers& n, double kv_bytes,
                                 size_t num_allocators) {
  MemoryEstimate e;
  e.advice =
      "use a smaller --repeat or --max-requests, or less --kv-memory-gib";
  const auto copies = static_cast<uint64_t>(n.copies);
  e.Add(copies > 1 ? fmt::format("trace x{}", copies) : "trace",
        WorkloadBytes(workload) * copies);
  const int32_t groups = config.model.num_layer_groups();
  absl::StatusOr<double> per_token = KvBytesPerToken(config.model, 1);
  if (per_token.ok() && *per_token > 0) {
    KVCacheConfig kv;
    const double pages = std::floor(kv_bytes / (*per_token * n.block_size));
    kv.num_blocks = static_cast<int64_t>(std::min(pages * groups + 1, 4e9));
    kv.block_size = n.block_size;
    kv.groups.assign(static_cast<size_t>(groups),
                     KVCacheGroupSpec::FullAttention());
    kv.enable_prefix_caching = n.prefix_caching;
    kv.eviction_policy = config.eviction_policy;
    absl::StatusOr<uint64_t> pool = KVCacheManager::MemoryFootprint(kv);
    if (pool.ok()) e.Add("pool and index", *pool);
  }
  e.Add("requests", workload.requests.size() * copies * num_allocators *
                        kSimBytesPerRequest);
  return CheckMemory(e, n.max_memory, AvailableMemoryBytes());
}

// The workload, whole or not at all.
absl::StatusOr<Workload> LoadWorkload(const SimulateArgs& args,
                                      const SimulateNumbers& n) {
  WorkloadOptions options;
  options.rate_scale = n.rate_scale;
  options.max_requests = n.max_requests;
  absl::StatusOr<Workload> workload;
  if (args.workload == "default") {
    DefaultWorkloadOptions d;
    d.seed = static_cast<uint64_t>(n.seed);
    workload = MakeDefaultWorkload(d);
    if (workload.ok()) {
      workload = ApplyWorkloadOptions(*std::move(workload), options);
    }
  } else if (args.workload == "shared-prefix") {
    absl::StatusOr<SharedPrefixOptions> sp =
        ParseSharedPrefixFlags(args.cluster, static_cast<uint64_t>(n.seed));
    if (!sp.ok()) return sp.status();
    workload = MakeSharedPrefixWorkload(*sp);
    if (workload.ok()) {
      workload = ApplyWorkloadOptions(*std::move(workload), options);
    }
  } else {
    workload = ReadWorkload(args.workload, args.format, options);
  }
  if (!workload.ok()) {
    return absl::InvalidArgumentError(fmt::format(
        "--workload: {}", std::string(workload.status().message())));
  }
  return workload;
}

RunDescription Describe(const Workload& workload, const SimulatorConfig& config,
                        const SimulateNumbers& n, double kv_bytes) {
  return DescribeRun(workload, config, kv_bytes, n.rate_scale, n.max_requests,
                     static_cast<uint64_t>(n.seed));
}

// Simulates each allocator in turn. A bad setting found by the simulator is
// InvalidArgument / FailedPrecondition; anything else is an internal error.
absl::StatusOr<std::vector<SimulationReport>> SimulateAll(
    const Workload& workload, SimulatorConfig config,
    const std::vector<AllocatorKind>& allocators, bool progress,
    std::ostream& err) {
  std::vector<SimulationReport> reports;
  for (AllocatorKind kind : allocators) {
    config.allocator = kind;
    std::unique_ptr<ProgressBar> bar;
    if (progress) {
      bar = std::make_unique<ProgressBar>(
          err, fmt::format("simulate {:<6}", AllocatorKindName(kind)));
      config.progress = [b = bar.get()](double f) { b->Update(f); };
    }
    absl::StatusOr<SimulationReport> report = Simulate(workload, config);
    config.progress = nullptr;
    if (!report.ok()) return report.status();
    reports.push_back(*std::move(report));
  }
  return reports;
}

// The summary on `out` (unless JSON or CSV takes it), then the files.
absl::Status WriteReports(const SimulateArgs& args, const RunDescription& run,
                          const std::vector<SimulationReport>& reports,
                          std::ostream& out) {
  const bool stdout_taken =
      args.json == "-" || args.csv == "-" || args.fidelity.requests_csv == "-";
  if (!stdout_taken) PrintSummary(run, reports, out);
  if (!args.json.empty()) {
    absl::Status s =
        WriteOutput("--json", args.json, ReportJson(run, reports), out);
    if (!s.ok()) return s;
  }
  if (!args.csv.empty()) {
    absl::Status s = WriteOutput("--csv", args.csv, TimelineCsv(reports), out);
    if (!s.ok()) return s;
  }
  if (!args.fidelity.requests_csv.empty()) {
    absl::Status st = WriteOutput("--requests-csv", args.fidelity.requests_csv,
                                  RequestsCsv(reports), out);
    if (!st.ok()) return st;
  }
  if (!args.html.empty()) {
    return WriteOutput("--html", args.html, ReportHtml(run, reports), out);
  }
  return absl::OkStatus();
}

// With a host tier: the paged run again without it, and the tier section
// comparing the two (on `out` unless JSON or CSV takes it).
absl::Status CompareWithoutTiers(const SimulateArgs& args,
                                 const Workload& workload,
                                 SimulatorConfig config,
                                 const std::vector<SimulationReport>& reports,
                                 std::ostream& out) {
  if (!config.host_tier.enabled()) return absl::OkStatus();
  if (args.json == "-" || args.csv == "-" ||
      args.fidelity.requests_csv == "-") {
    return absl::OkStatus();
  }
  for (const SimulationReport& with : reports) {
    if (with.allocator != AllocatorKind::kPaged) continue;
    config.allocator = AllocatorKind::kPaged;
    config.host_tier = HostTierConfig{};
    config.call_log = CallLogOptions{};
    config.on_step = nullptr;
    absl::StatusOr<SimulationReport> without = Simulate(workload, config);
    if (!without.ok()) return without.status();
    PrintTierSummary(with, *without, out);
  }
  return absl::OkStatus();
}

}  // namespace

int RunSimulate(const SimulateArgs& args, std::ostream& out,
                std::ostream& err) {
  // Numbers and switches first: nothing is read before they are all valid.
  absl::StatusOr<SimulateNumbers> numbers = ParseNumbers(args);
  if (!numbers.ok()) return BadInput(err, kCommand, numbers.status());
  absl::StatusOr<std::vector<AllocatorKind>> allocators = ParseAllocators(args);
  if (!allocators.ok()) {
    return BadInput(err, kCommand, allocators.status());
  }
  absl::StatusOr<SimulatorConfig> config = MakeConfig(args, *numbers);
  if (!config.ok()) return BadInput(err, kCommand, config.status());
  absl::StatusOr<double> kv_bytes = SimulatedKvMemoryBytes(*config);
  if (!kv_bytes.ok()) {
    return BadInput(err, kCommand, kv_bytes.status());
  }
  absl::StatusOr<Workload> workload = LoadWorkload(args, *numbers);
  if (!workload.ok()) return BadInput(err, kCommand, workload.status());
  if (absl::Status s = CheckSimulateMemory(*workload, *config, *numbers,
                                           *kv_bytes, allocators->size());
      !s.ok()) {
    return BadInput(err, kCommand, s);
  }
  if (numbers->copies > 1) {
    workload = RepeatWorkload(*workload, numbers->copies);
    if (!workload.ok()) return BadInput(err, kCommand, workload.status());
  }

  if (ClusterRequested(args.cluster)) {
    if (!args.kv_events.empty()) {
      return BadInput(err, kCommand,
                      "--kv-events publishes one manager; the cluster "
                      "flags keep their instances' events in process");
    }
    if (!args.allocator.empty() && args.allocator != "paged") {
      return BadInput(err, kCommand,
                      "--instances/--router/--sweep simulate the paged "
                      "allocator only; drop --allocator " +
                          args.allocator);
    }
    return RunClusterSimulate(args.cluster,
                              {args.json, args.csv, args.html, args.progress},
                              Describe(*workload, *config, *numbers, *kv_bytes),
                              *workload, *config, out, err);
  }
  std::unique_ptr<net::EventPublisher> publisher;
  if (!args.kv_events.empty()) {
    auto p = StartKvEvents(args, *config, err);
    if (!p.ok()) return BadInput(err, kCommand, p.status());
    publisher = *std::move(p);
  }
  absl::StatusOr<std::vector<SimulationReport>> reports =
      SimulateAll(*workload, *config, *allocators, args.progress, err);
  if (publisher) publisher->Shutdown();  // flushes what is queued
  if (!reports.ok()) {
    if (absl::IsInvalidArgument(reports.status()) ||
        absl::IsFailedPrecondition(reports.status())) {
      return BadInput(err, kCommand, reports.status());
    }
    err << "pagekv simulate: " << reports.status().message() << "\n";
    return kSimulateFailed;
  }
  const RunDescription run = Describe(*workload, *config, *numbers, *kv_bytes);
  absl::Status written = WriteReports(args, run, *reports, out);
  if (!written.ok()) return BadInput(err, kCommand, written);
  if (absl::Status s =
          CompareWithoutTiers(args, *workload, *config, *reports, out);
      !s.ok()) {
    err << "pagekv simulate: " << s.message() << "\n";
    return kSimulateFailed;
  }
  return kSimulateOk;
}

// The run's options: workload, specs, scheduler and sizes.
void AddRunOptions(CLI::App* sim, SimulateArgs* args) {
  sim->add_option(
         "--workload", args->workload,
         "'default' (built-in chat + RAG mix), 'shared-prefix' (--sp-* "
         "flags) or a trace file")
      ->capture_default_str();
  sim->add_option("--format", args->format,
                  "Trace format: mooncake, azure or jsonl (default: guess)");
  sim->add_option("--model", args->model, "Model preset name or JSON file")
      ->capture_default_str();
  sim->add_option("--hardware", args->hardware,
                  "Hardware preset name or JSON file")
      ->capture_default_str();
  sim->add_option("--kv-memory-gib", args->kv_memory_gib,
                  "KV memory per device in GiB (default: 20 for the default "
                  "workload, else what the device leaves after the weights)")
      ->check(PositiveNumber());
  sim->add_option("--block-size", args->block_size, "Tokens per block (paged)")
      ->capture_default_str()
      ->check(BlockSizeValidator());
  sim->add_option("--policy", args->policy, "Eviction policy (paged)")
      ->capture_default_str();
  sim->add_option("--prefix-caching", args->prefix_caching, "on or off")
      ->capture_default_str()
      ->check(OnOff());
  sim->add_option("--allocator", args->allocator,
                  "paged, max, pow2, oracle, orca-max, orca-pow2, "
                  "orca-oracle, all (paged, max, pow2, oracle) or paper "
                  "(paged and the orca-* baselines); default: all for the "
                  "default workload, paged for a trace");
  sim->add_option("--max-batch-tokens", args->max_batch_tokens,
                  "Token budget per step (decodes + prefill chunks)")
      ->capture_default_str()
      ->check(IntInRange(1));
  sim->add_option("--max-num-seqs", args->max_num_seqs,
                  "Running requests at most")
      ->capture_default_str()
      ->check(IntInRange(1, 1 << 30));
  sim->add_option("--preemption", args->preemption,
                  "Victim policy: last-admitted or lowest-priority")
      ->capture_default_str();
  sim->add_option("--full-prompt-gate", args->full_prompt_gate,
                  "on: admit only when the whole prompt fits")
      ->capture_default_str()
      ->check(OnOff());
  sim->add_option("--rate-scale", args->rate_scale, "Multiply the arrival rate")
      ->capture_default_str()
      ->check(PositiveNumber());
  sim->add_option("--max-requests", args->max_requests,
                  "Keep the first N requests (0 = all)")
      ->capture_default_str()
      ->check(IntInRange(0));
  sim->add_option("--seed", args->seed, "Seed of the default workload")
      ->capture_default_str()
      ->check(IntInRange(0));
  sim->add_option("--timeline-interval", args->timeline_interval,
                  "Timeline sample interval in seconds (default: automatic)")
      ->check(PositiveNumber());
}

// Where the reports go; --repeat and the memory limit.
void AddOutputOptions(CLI::App* sim, SimulateArgs* args) {
  sim->add_option("--json", args->json,
                  "Write the summary as JSON to FILE, or - for stdout");
  sim->add_option("--csv", args->csv,
                  "Write the timeline as CSV to FILE, or - for stdout");
  sim->add_option("--html", args->html, "Write an HTML report to FILE");
  sim->add_option(
         "--repeat", args->repeat,
         "Simulate K shifted copies of the workload that share nothing")
      ->capture_default_str()
      ->check(IntInRange(1, kMaxWorkloadCopies));
  sim->add_option("--max-memory-gib", args->max_memory_gib,
                  "Refuse a run estimated to need more memory (GiB); the "
                  "machine's available memory is always a limit")
      ->check(PositiveNumber());
  sim->add_option("--record-log", args->record_log,
                  "Record the paged run's manager calls to FILE (see "
                  "pagekv replay-log)");
  sim->add_option("--kv-events", args->kv_events,
                  "Publish the paged run's KV events on this ZeroMQ PUB "
                  "endpoint (vLLM's format, docs/kv-events.md)");
  sim->add_option("--kv-events-replay", args->kv_events_replay,
                  "ROUTER endpoint for replay and snapshot requests");
  sim->add_flag("--kv-events-realtime", args->kv_events_realtime,
                "Pace the events to simulated time (default: as fast as it "
                "runs)");
}

void AddSimulateCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<SimulateArgs>();
  CLI::App* sim = app.add_subcommand(
      "simulate",
      "Replay a workload through the scheduler and report latency, "
      "throughput, preemptions and the KV memory breakdown");
  AddRunOptions(sim, args.get());
  AddOutputOptions(sim, args.get());
  AddSimulateFlags(sim, &args->fidelity);
  AddClusterFlags(sim, &args->cluster);
  AddTierFlags(sim, &args->tiers);
  sim->callback([args, exit_code] {
    args->progress = isatty(STDERR_FILENO) != 0;
    *exit_code = RunSimulate(*args, std::cout, std::cerr);
  });
}

}  // namespace pagekv::tools
