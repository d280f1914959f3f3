#include "cluster_command.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "cli_util.h"
#include "cluster_report.h"
#include "fmt/format.h"
#include "pagekv/cluster/cluster_simulator.h"

namespace pagekv::tools {
namespace {

constexpr char kCommand[] = "simulate";

// A progress bar on a terminal, drawn once a run has taken a second; safe
// to update from several threads.
class Progress {
 public:
  Progress(std::ostream& err, std::string label, bool enabled)
      : err_(err),
        label_(std::move(label)),
        enabled_(enabled),
        start_(std::chrono::steady_clock::now()) {}
  ~Progress() {
    if (drawn_) err_ << "\r" << std::string(70, ' ') << "\r" << std::flush;
  }
  void Update(double fraction) {
    if (!enabled_) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (std::chrono::steady_clock::now() - start_ < std::chrono::seconds(1)) {
      return;
    }
    drawn_ = true;
    const int filled = static_cast<int>(std::clamp(fraction, 0.0, 1.0) * 30);
    err_ << "\r" << label_ << " [" << std::string(filled, '#')
         << std::string(30 - filled, ' ') << "] "
         << static_cast<int>(fraction * 100) << "%" << std::flush;
  }

 private:
  std::ostream& err_;
  const std::string label_;
  const bool enabled_;
  const std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  bool drawn_ = false;
};

// Each router in turn on the workload as given.
absl::Status RunRouters(const Workload& workload, bool progress,
                        std::ostream& err, ClusterResults* results) {
  for (cluster::ClusterConfig config : results->configs) {
    Progress bar(err, fmt::format("simulate {:<13}", config.router.name),
                 progress);
    config.progress = [&bar](double f) { bar.Update(f); };
    absl::StatusOr<cluster::ClusterReport> r =
        cluster::SimulateCluster(workload, config);
    if (!r.ok()) return r.status();
    results->reports.push_back(*std::move(r));
  }
  return absl::OkStatus();
}

bool MeetsSlo(const cluster::ClusterReport& r, const ClusterResults& res) {
  if (r.rejected > 0) return false;
  if (res.slo_ttft_p90 > 0 && r.ttft.p90 > res.slo_ttft_p90) return false;
  if (res.slo_tpot_p90 > 0 && r.tpot.p90 > res.slo_tpot_p90) return false;
  return true;
}

// One sweep point: the workload at `rate` times its arrival rate.
absl::StatusOr<SweepPoint> RunPoint(const Workload& workload,
                                    const cluster::ClusterConfig& config,
                                    double rate, const ClusterResults& res) {
  WorkloadOptions o;
  o.rate_scale = rate;
  absl::StatusOr<Workload> scaled = ApplyWorkloadOptions(workload, o);
  if (!scaled.ok()) return scaled.status();
  absl::StatusOr<cluster::ClusterReport> r =
      cluster::SimulateCluster(*scaled, config);
  if (!r.ok()) return r.status();
  SweepPoint p;
  p.router = config.router.name;
  p.rate_scale = rate;
  const WorkloadStats stats = scaled->Stats();
  if (stats.duration_s > 0) {
    p.offered_rps = static_cast<double>(stats.num_requests) / stats.duration_s;
  }
  p.meets_slo = MeetsSlo(*r, res);
  r->requests.clear();
  r->routed_to.clear();
  r->timeline.clear();
  p.report = *std::move(r);
  return p;
}

// Every (router, rate) point on `jobs` threads; results in router-major,
// rate order whatever the threads' timing.
absl::Status RunSweep(const Workload& workload, const ClusterSetup& setup,
                      bool progress, std::ostream& err,
                      ClusterResults* results) {
  const size_t rates = setup.sweep_rates.size();
  const size_t total = results->configs.size() * rates;
  std::vector<absl::StatusOr<SweepPoint>> points(total,
                                                 absl::UnknownError("not run"));
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  Progress bar(err, fmt::format("sweep {} runs", total), progress);
  auto worker = [&] {
    for (size_t k = next++; k < total; k = next++) {
      points[k] = RunPoint(workload, results->configs[k / rates],
                           setup.sweep_rates[k % rates], *results);
      bar.Update(static_cast<double>(++done) / static_cast<double>(total));
    }
  };
  const size_t threads =
      std::min<size_t>(static_cast<size_t>(setup.jobs), total);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  for (absl::StatusOr<SweepPoint>& p : points) {
    if (!p.ok()) return p.status();
    results->sweep.push_back(*std::move(p));
  }
  return absl::OkStatus();
}

absl::Status WriteClusterReports(const ClusterFlags& flags,
                                 const ClusterOutputs& o,
                                 const ClusterResults& r, std::ostream& out) {
  const bool stdout_taken =
      o.json == "-" || o.csv == "-" || flags.routes_csv == "-";
  if (!stdout_taken) PrintClusterSummary(r, out);
  if (!o.json.empty()) {
    if (absl::Status s = WriteOutput("--json", o.json, ClusterJson(r), out);
        !s.ok()) {
      return s;
    }
  }
  if (!o.csv.empty()) {
    if (absl::Status s =
            WriteOutput("--csv", o.csv, ClusterTimelineCsv(r), out);
        !s.ok()) {
      return s;
    }
  }
  if (!flags.routes_csv.empty()) {
    if (absl::Status s = WriteOutput("--routes-csv", flags.routes_csv,
                                     ClusterRoutesCsv(r), out);
        !s.ok()) {
      return s;
    }
  }
  if (!o.html.empty()) {
    return WriteOutput("--html", o.html, ClusterHtml(r), out);
  }
  return absl::OkStatus();
}

}  // namespace

int RunClusterSimulate(const ClusterFlags& flags, const ClusterOutputs& outputs,
                       const RunDescription& run, const Workload& workload,
                       const SimulatorConfig& base, std::ostream& out,
                       std::ostream& err) {
  SimulatorConfig paged = base;
  paged.allocator = AllocatorKind::kPaged;
  absl::StatusOr<ClusterSetup> setup = ParseClusterFlags(flags, paged);
  if (!setup.ok()) return BadInput(err, kCommand, setup.status());
  ClusterResults results;
  results.run = run;
  results.configs = setup->runs;
  results.slo_ttft_p90 = setup->slo_ttft_p90;
  results.slo_tpot_p90 = setup->slo_tpot_p90;
  const absl::Status ran =
      setup->sweep_rates.empty()
          ? RunRouters(workload, outputs.progress, err, &results)
          : RunSweep(workload, *setup, outputs.progress, err, &results);
  if (!ran.ok()) {
    if (absl::IsInvalidArgument(ran) || absl::IsFailedPrecondition(ran)) {
      return BadInput(err, kCommand, ran);
    }
    err << "pagekv simulate: " << ran.message() << "\n";
    return kExitFailed;
  }
  if (absl::Status s = WriteClusterReports(flags, outputs, results, out);
      !s.ok()) {
    return BadInput(err, kCommand, s);
  }
  return kExitOk;
}

}  // namespace pagekv::tools
