#include "simulate_command.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "fmt/format.h"
#include "fmt/ostream.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"
#include "pagekv/net/event_publisher.h"
#include "pagekv/sim/default_workload.h"
#include "pagekv/sim/simulator.h"
#include "pagekv/sim/trace_reader.h"
#include "simulate_report.h"

namespace pagekv::tools {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
// KV memory for the built-in workload: tight enough that paging preempts now
// and then and the contiguous baselines run small batches.
constexpr double kDefaultWorkloadKvGiB = 20;

int BadInput(std::ostream& err, const std::string& message) {
  err << "pagekv simulate: " << message << "\n";
  return kSimulateBadInput;
}

bool ParseInt(const std::string& flag, const std::string& text, int64_t min,
              int64_t* out, std::string* error) {
  if (!absl::SimpleAtoi(text, out) || *out < min) {
    *error =
        fmt::format("{} must be an integer >= {}, got '{}'", flag, min, text);
    return false;
  }
  return true;
}

bool ParsePositive(const std::string& flag, const std::string& text,
                   double* out, std::string* error) {
  if (!absl::SimpleAtod(text, out) || !std::isfinite(*out) || *out <= 0) {
    *error = fmt::format("{} must be a number > 0, got '{}'", flag, text);
    return false;
  }
  return true;
}

bool ParseOnOff(const std::string& flag, const std::string& text, bool* out,
                std::string* error) {
  if (text == "on") {
    *out = true;
  } else if (text == "off") {
    *out = false;
  } else {
    *error = fmt::format("{} must be on or off, got '{}'", flag, text);
    return false;
  }
  return true;
}

// Writes `text` to `path`, or to `out` for "-". Returns false after a
// message on `err`.
bool WriteOutput(const std::string& flag, const std::string& path,
                 const std::string& text, std::ostream& out,
                 std::ostream& err) {
  if (path == "-") {
    out << text;
    return true;
  }
  std::ofstream file(path, std::ios::binary);
  file << text;
  file.close();
  if (!file) {
    err << "pagekv simulate: " << flag << ": cannot write '" << path << "'\n";
    return false;
  }
  return true;
}

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

}  // namespace

// --kv-events: a publisher fed after every simulated step (config.on_step).
static absl::StatusOr<std::unique_ptr<net::EventPublisher>> StartKvEvents(
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

int RunSimulate(const SimulateArgs& args, std::ostream& out,
                std::ostream& err) {
  std::string error;
  SimulatorConfig config;
  RunDescription run;

  // Numbers and switches first: nothing is read before they are all valid.
  int64_t block_size = 0, max_batch_tokens = 0, max_num_seqs = 0,
          max_requests = 0, seed = 0;
  double rate_scale = 1;
  if (!ParseInt("--block-size", args.block_size, 1, &block_size, &error) ||
      !ParseInt("--max-batch-tokens", args.max_batch_tokens, 1,
                &max_batch_tokens, &error) ||
      !ParseInt("--max-num-seqs", args.max_num_seqs, 1, &max_num_seqs,
                &error) ||
      !ParseInt("--max-requests", args.max_requests, 0, &max_requests,
                &error) ||
      !ParseInt("--seed", args.seed, 0, &seed, &error) ||
      !ParsePositive("--rate-scale", args.rate_scale, &rate_scale, &error)) {
    return BadInput(err, error);
  }
  if (block_size > 1 << 20 || max_num_seqs > (1 << 30)) {
    return BadInput(err, "--block-size or --max-num-seqs is out of range");
  }
  bool prefix_caching = true, gate = false;
  if (!ParseOnOff("--prefix-caching", args.prefix_caching, &prefix_caching,
                  &error) ||
      !ParseOnOff("--full-prompt-gate", args.full_prompt_gate, &gate, &error)) {
    return BadInput(err, error);
  }
  absl::StatusOr<PreemptionPolicy> preemption =
      ParsePreemptionPolicy(args.preemption);
  if (!preemption.ok()) {
    return BadInput(err,
                    fmt::format("--preemption: {}",
                                std::string(preemption.status().message())));
  }
  double timeline_interval = 0;
  if (!args.timeline_interval.empty() &&
      !ParsePositive("--timeline-interval", args.timeline_interval,
                     &timeline_interval, &error)) {
    return BadInput(err, error);
  }
  const bool default_workload = args.workload == "default";
  std::vector<AllocatorKind> allocators;
  const std::string allocator_name = !args.allocator.empty()
                                         ? args.allocator
                                         : (default_workload ? "all" : "paged");
  if (allocator_name == "all") {
    allocators = {AllocatorKind::kPaged, AllocatorKind::kMax,
                  AllocatorKind::kPow2, AllocatorKind::kOracle};
  } else {
    absl::StatusOr<AllocatorKind> kind = ParseAllocatorKind(allocator_name);
    if (!kind.ok()) {
      return BadInput(err, fmt::format("--allocator: {} (or all)",
                                       std::string(kind.status().message())));
    }
    allocators = {*kind};
  }
  if (!args.format.empty()) {
    if (absl::StatusOr<TraceFormat> f = ParseTraceFormat(args.format);
        !f.ok()) {
      return BadInput(
          err, fmt::format("--format: {}", std::string(f.status().message())));
    }
  }

  // Specs.
  absl::StatusOr<ModelSpec> model = ResolveModelSpec(args.model);
  if (!model.ok()) {
    return BadInput(
        err, fmt::format("--model: {}", std::string(model.status().message())));
  }
  absl::StatusOr<HardwareSpec> hardware = ResolveHardwareSpec(args.hardware);
  if (!hardware.ok()) {
    return BadInput(err, fmt::format("--hardware: {}",
                                     std::string(hardware.status().message())));
  }
  config.model = *model;
  config.hardware = *hardware;
  if (!args.kv_memory_gib.empty()) {
    double gib = 0;
    if (!ParsePositive("--kv-memory-gib", args.kv_memory_gib, &gib, &error)) {
      return BadInput(err, error);
    }
    config.kv_memory_bytes = gib * kGiB;
  } else if (default_workload) {
    config.kv_memory_bytes = kDefaultWorkloadKvGiB * kGiB;
  }
  config.block_size = static_cast<int32_t>(block_size);
  config.eviction_policy = args.policy;
  config.enable_prefix_caching = prefix_caching;
  config.scheduler.max_batch_tokens = max_batch_tokens;
  config.scheduler.max_num_seqs = static_cast<int32_t>(max_num_seqs);
  config.scheduler.preemption_policy = *preemption;
  config.scheduler.require_full_prompt_fit = gate;
  config.timeline_interval_s = timeline_interval;
  if (absl::Status s = config.Validate(); !s.ok()) {
    return BadInput(err, std::string(s.message()));
  }
  absl::StatusOr<double> kv_bytes = SimulatedKvMemoryBytes(config);
  if (!kv_bytes.ok()) {
    return BadInput(err, std::string(kv_bytes.status().message()));
  }

  // The workload, whole or not at all.
  WorkloadOptions options;
  options.rate_scale = rate_scale;
  options.max_requests = max_requests;
  absl::StatusOr<Workload> workload;
  if (default_workload) {
    DefaultWorkloadOptions d;
    d.seed = static_cast<uint64_t>(seed);
    workload = MakeDefaultWorkload(d);
    if (workload.ok()) {
      workload = ApplyWorkloadOptions(*std::move(workload), options);
    }
  } else {
    workload = ReadWorkload(args.workload, args.format, options);
  }
  if (!workload.ok()) {
    return BadInput(err, fmt::format("--workload: {}",
                                     std::string(workload.status().message())));
  }

  run.workload = workload->name;
  run.workload_stats = workload->Stats();
  run.model = config.model.name;
  run.hardware = config.hardware.name;
  run.kv_memory_bytes = *kv_bytes;
  run.block_size = config.block_size;
  run.eviction_policy = config.eviction_policy;
  run.prefix_caching = prefix_caching;
  run.max_batch_tokens = max_batch_tokens;
  run.max_num_seqs = config.scheduler.max_num_seqs;
  run.preemption_policy = std::string(PreemptionPolicyName(*preemption));
  run.full_prompt_gate = gate;
  run.rate_scale = rate_scale;
  run.max_requests = max_requests;
  run.seed = static_cast<uint64_t>(seed);

  std::unique_ptr<net::EventPublisher> publisher;
  if (!args.kv_events.empty()) {
    auto p = StartKvEvents(args, config, err);
    if (!p.ok()) return BadInput(err, std::string(p.status().message()));
    publisher = *std::move(p);
  }
  std::vector<SimulationReport> reports;
  for (AllocatorKind kind : allocators) {
    config.allocator = kind;
    std::unique_ptr<ProgressBar> bar;
    if (args.progress) {
      bar = std::make_unique<ProgressBar>(
          err, fmt::format("simulate {:<6}", AllocatorKindName(kind)));
      config.progress = [b = bar.get()](double f) { b->Update(f); };
    }
    absl::StatusOr<SimulationReport> report = Simulate(*workload, config);
    config.progress = nullptr;
    if (!report.ok()) {
      if (absl::IsInvalidArgument(report.status()) ||
          absl::IsFailedPrecondition(report.status())) {
        return BadInput(err, std::string(report.status().message()));
      }
      err << "pagekv simulate: " << report.status().message() << "\n";
      return kSimulateFailed;
    }
    reports.push_back(*std::move(report));
  }
  if (publisher) publisher->Shutdown();  // flushes what is queued

  const bool stdout_taken = args.json == "-" || args.csv == "-";
  if (!stdout_taken) PrintSummary(run, reports, out);
  if (!args.json.empty() &&
      !WriteOutput("--json", args.json, ReportJson(run, reports), out, err)) {
    return kSimulateBadInput;
  }
  if (!args.csv.empty() &&
      !WriteOutput("--csv", args.csv, TimelineCsv(reports), out, err)) {
    return kSimulateBadInput;
  }
  if (!args.html.empty() &&
      !WriteOutput("--html", args.html, ReportHtml(run, reports), out, err)) {
    return kSimulateBadInput;
  }
  return kSimulateOk;
}

void AddSimulateCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<SimulateArgs>();
  CLI::App* sim = app.add_subcommand(
      "simulate",
      "Replay a workload through the scheduler and report latency, "
      "throughput, preemptions and the KV memory breakdown");
  sim->add_option("--workload", args->workload,
                  "'default' (built-in chat + RAG mix) or a trace file")
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
                  "workload, else what the device leaves after the weights)");
  sim->add_option("--block-size", args->block_size, "Tokens per block (paged)")
      ->capture_default_str();
  sim->add_option("--policy", args->policy, "Eviction policy (paged)")
      ->capture_default_str();
  sim->add_option("--prefix-caching", args->prefix_caching, "on or off")
      ->capture_default_str();
  sim->add_option("--allocator", args->allocator,
                  "paged, max, pow2, oracle or all (default: all for the "
                  "default workload, paged for a trace)");
  sim->add_option("--max-batch-tokens", args->max_batch_tokens,
                  "Token budget per step (decodes + prefill chunks)")
      ->capture_default_str();
  sim->add_option("--max-num-seqs", args->max_num_seqs,
                  "Running requests at most")
      ->capture_default_str();
  sim->add_option("--preemption", args->preemption,
                  "Victim policy: last-admitted or lowest-priority")
      ->capture_default_str();
  sim->add_option("--full-prompt-gate", args->full_prompt_gate,
                  "on: admit only when the whole prompt fits")
      ->capture_default_str();
  sim->add_option("--rate-scale", args->rate_scale, "Multiply the arrival rate")
      ->capture_default_str();
  sim->add_option("--max-requests", args->max_requests,
                  "Keep the first N requests (0 = all)")
      ->capture_default_str();
  sim->add_option("--seed", args->seed, "Seed of the default workload")
      ->capture_default_str();
  sim->add_option("--timeline-interval", args->timeline_interval,
                  "Timeline sample interval in seconds (default: automatic)");
  sim->add_option("--json", args->json,
                  "Write the summary as JSON to FILE, or - for stdout");
  sim->add_option("--csv", args->csv,
                  "Write the timeline as CSV to FILE, or - for stdout");
  sim->add_option("--html", args->html, "Write an HTML report to FILE");
  sim->add_option("--kv-events", args->kv_events,
                  "Publish the paged run's KV events on this ZeroMQ PUB "
                  "endpoint (vLLM's format, docs/kv-events.md)");
  sim->add_option("--kv-events-replay", args->kv_events_replay,
                  "ROUTER endpoint for replay and snapshot requests");
  sim->add_flag("--kv-events-realtime", args->kv_events_realtime,
                "Pace the events to simulated time (default: as fast as it "
                "runs)");
  sim->callback([args, exit_code] {
    args->progress = isatty(STDERR_FILENO) != 0;
    *exit_code = RunSimulate(*args, std::cout, std::cerr);
  });
}

}  // namespace pagekv::tools
