// The cluster run's summary, JSON and CSV (cluster_report.h).
#include "cluster_report.h"

#include <algorithm>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "fmt/ostream.h"
#include "nlohmann/json.hpp"
#include "report/report_util.h"

namespace pagekv::tools {
namespace {

using cluster::ClusterReport;
using cluster::InstanceSummary;
using json = nlohmann::ordered_json;
using report::Pct;
using report::Seconds;

json Latency(const LatencySummary& l) {
  return {{"count", l.count}, {"mean", l.mean}, {"p50", l.p50},
          {"p90", l.p90},     {"p99", l.p99},   {"max", l.max}};
}

double MaxPeakKv(const ClusterReport& r) {
  double m = 0;
  for (const InstanceSummary& s : r.instances) m = std::max(m, s.peak_kv_usage);
  return m;
}

json Summary(const ClusterReport& r) {
  json j;
  j["router"] = r.router;
  if (!r.scorer.empty()) j["scorer"] = r.scorer;
  j["num_instances"] = r.num_instances;
  j["global_cache"] = r.global_cache;
  j["event_delay_s"] = r.event_delay_s;
  j["num_requests"] = r.num_requests;
  j["completed"] = r.completed;
  j["rejected"] = r.rejected;
  j["preemptions"] = r.preemptions;
  j["makespan_s"] = r.makespan_s;
  j["request_throughput"] = r.request_throughput;
  j["output_throughput"] = r.output_throughput;
  j["total_throughput"] = r.total_throughput;
  j["ttft_s"] = Latency(r.ttft);
  j["tpot_s"] = Latency(r.tpot);
  j["e2e_s"] = Latency(r.e2e);
  j["prefix_hit_rate"] = r.prefix_hit_rate;
  j["remote_hit_share"] = r.remote_hit_share;
  j["transferred_blocks"] = r.transferred_blocks;
  j["transfer_s"] = r.transfer_s;
  j["imbalance"] = r.imbalance;
  j["max_peak_kv_usage"] = MaxPeakKv(r);
  j["affinity_hits"] = r.affinity_hits;
  j["affinity_breaks"] = r.affinity_breaks;
  j["guarded_decisions"] = r.guarded_decisions;
  j["event_batches"] = r.event_batches;
  j["unresolved_blocks"] = r.unresolved_blocks;
  return j;
}

json Instances(const ClusterReport& r) {
  json a = json::array();
  for (const InstanceSummary& s : r.instances) {
    a.push_back({{"routed", s.routed},
                 {"completed", s.completed},
                 {"rejected", s.rejected},
                 {"preemptions", s.preemptions},
                 {"steps", s.steps},
                 {"busy_s", s.busy_s},
                 {"prefix_hit_rate", s.prefix_hit_rate},
                 {"mean_kv_usage", s.mean_kv_usage},
                 {"peak_kv_usage", s.peak_kv_usage},
                 {"ttft_s", Latency(s.ttft)},
                 {"tpot_s", Latency(s.tpot)}});
  }
  return a;
}

json Timeline(const ClusterReport& r) {
  json t;
  t["interval_s"] = r.timeline_interval_s;
  json time = json::array(), kv = json::array(), hit = json::array(),
       queued = json::array(), running = json::array();
  for (const cluster::ClusterTimelinePoint& p : r.timeline) {
    time.push_back(p.time_s);
    kv.push_back(p.kv_usage);
    hit.push_back(p.hit_rate);
    queued.push_back(p.queued);
    running.push_back(p.running);
  }
  t["time_s"] = time;
  t["kv_usage"] = kv;
  t["hit_rate"] = hit;
  t["queued"] = queued;
  t["running"] = running;
  return t;
}

std::string LatencyCell(const LatencySummary& l, bool p90) {
  if (l.count == 0) return "-";
  return Seconds(p90 ? l.p90 : l.p50);
}

void PrintRouterTable(const std::vector<ClusterReport>& reports,
                      std::ostream& out) {
  fmt::print(out,
             "{:<14} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>9} "
             "{:>7}\n",
             "router", "req/s", "out tok/s", "TTFT p50", "TTFT p90", "TPOT p50",
             "TPOT p90", "hit", "imbalance", "peak KV");
  for (const ClusterReport& r : reports) {
    fmt::print(out,
               "{:<14} {:>9.2f} {:>10.0f} {:>10} {:>10} {:>10} {:>10} {:>8} "
               "{:>9.2f} {:>7}\n",
               r.router + (r.scorer == "cost" ? "/cost" : ""),
               r.request_throughput, r.output_throughput,
               LatencyCell(r.ttft, false), LatencyCell(r.ttft, true),
               LatencyCell(r.tpot, false), LatencyCell(r.tpot, true),
               Pct(r.prefix_hit_rate), r.imbalance, Pct(MaxPeakKv(r)));
  }
}

void PrintInstances(const ClusterReport& r, std::ostream& out) {
  fmt::print(out, "Instances ({}):\n", r.router);
  fmt::print(out, "  {:>4} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>10}\n", "#",
             "routed", "completed", "preempt", "hit", "mean KV", "peak KV",
             "TTFT p90");
  for (size_t i = 0; i < r.instances.size(); ++i) {
    const InstanceSummary& s = r.instances[i];
    fmt::print(out, "  {:>4} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>10}\n", i,
               s.routed, s.completed, s.preemptions, Pct(s.prefix_hit_rate),
               Pct(s.mean_kv_usage), Pct(s.peak_kv_usage),
               LatencyCell(s.ttft, true));
  }
}

void PrintSweep(const ClusterResults& r, std::ostream& out) {
  fmt::print(
      out, "Sweep{}:\n",
      r.slo_ttft_p90 > 0 || r.slo_tpot_p90 > 0
          ? fmt::format(" (SLO: TTFT p90 <= {}, TPOT p90 <= {})",
                        r.slo_ttft_p90 > 0 ? Seconds(r.slo_ttft_p90) : "-",
                        r.slo_tpot_p90 > 0 ? Seconds(r.slo_tpot_p90) : "-")
          : "");
  fmt::print(out,
             "  {:<14} {:>6} {:>9} {:>9} {:>10} {:>10} {:>10} {:>8} {:>4}\n",
             "router", "rate", "offered", "req/s", "out tok/s", "TTFT p90",
             "TPOT p90", "hit", "SLO");
  for (const SweepPoint& p : r.sweep) {
    const ClusterReport& c = p.report;
    fmt::print(out,
               "  {:<14} {:>5}x {:>9.2f} {:>9.2f} {:>10.0f} {:>10} {:>10} "
               "{:>8} {:>4}\n",
               p.router, p.rate_scale, p.offered_rps, c.request_throughput,
               c.output_throughput, LatencyCell(c.ttft, true),
               LatencyCell(c.tpot, true), Pct(c.prefix_hit_rate),
               p.meets_slo ? "ok" : "miss");
  }
  if (r.slo_ttft_p90 > 0 || r.slo_tpot_p90 > 0) {
    for (const cluster::ClusterConfig& c : r.configs) {
      const std::optional<double> best = MaxRateUnderSlo(r, c.router.name);
      fmt::print(out, "  max rate under SLO, {}: {}\n", c.router.name,
                 best ? fmt::format("{}x", *best) : "none of the rates");
    }
  }
}

}  // namespace

std::optional<double> MaxRateUnderSlo(const ClusterResults& r,
                                      const std::string& router) {
  std::optional<double> best;
  std::vector<const SweepPoint*> points;
  for (const SweepPoint& p : r.sweep) {
    if (p.router == router) points.push_back(&p);
  }
  std::sort(points.begin(), points.end(),
            [](const SweepPoint* a, const SweepPoint* b) {
              return a->rate_scale < b->rate_scale;
            });
  for (const SweepPoint* p : points) {
    if (!p->meets_slo) break;
    best = p->rate_scale;
  }
  return best;
}

void PrintClusterSummary(const ClusterResults& r, std::ostream& out) {
  const WorkloadStats& w = r.run.workload_stats;
  const cluster::ClusterConfig& c = r.configs.front();
  fmt::print(out,
             "Workload  {}: {} requests over {:.1f} s, mean prompt {:.0f}, "
             "mean output {:.0f}\n",
             r.run.workload, w.num_requests, w.duration_s, w.mean_prompt_tokens,
             w.mean_output_tokens);
  fmt::print(out,
             "Cluster   {} instances of {} (instance 0: {}, KV {:.2f} GiB), "
             "block {}, global cache {}, event delay {}\n",
             c.instances.size(), r.run.model, c.instances.front().hardware.name,
             r.run.kv_memory_bytes / report::kGiB, r.run.block_size,
             c.global_cache ? "on" : "off", Seconds(c.event_delay_s));
  if (!r.reports.empty()) {
    PrintRouterTable(r.reports, out);
    for (const ClusterReport& rep : r.reports) {
      if (rep.global_cache) {
        fmt::print(out,
                   "Global cache ({}): {} blocks copied ({} of prompt tokens), "
                   "{} of copy time\n",
                   rep.router, rep.transferred_blocks,
                   Pct(rep.remote_hit_share), Seconds(rep.transfer_s));
      }
    }
    for (const ClusterReport& rep : r.reports) PrintInstances(rep, out);
  }
  if (!r.sweep.empty()) PrintSweep(r, out);
}

std::string ClusterJson(const ClusterResults& r) {
  json j;
  j["schema_version"] = 1;
  j["workload"] = {
      {"name", r.run.workload},
      {"num_requests", r.run.workload_stats.num_requests},
      {"duration_s", r.run.workload_stats.duration_s},
      {"mean_prompt_tokens", r.run.workload_stats.mean_prompt_tokens},
      {"mean_output_tokens", r.run.workload_stats.mean_output_tokens}};
  const cluster::ClusterConfig& c = r.configs.front();
  json inst = json::array();
  for (const SimulatorConfig& s : c.instances) {
    inst.push_back({{"hardware", s.hardware.name},
                    {"kv_memory_bytes", s.kv_memory_bytes},
                    {"max_batch_tokens", s.scheduler.max_batch_tokens},
                    {"max_num_seqs", s.scheduler.max_num_seqs}});
  }
  j["cluster"] = {{"model", r.run.model},
                  {"block_size", r.run.block_size},
                  {"num_instances", c.instances.size()},
                  {"instances", inst},
                  {"global_cache", c.global_cache},
                  {"event_delay_s", c.event_delay_s},
                  {"affinity_blocks", c.router.affinity_blocks},
                  {"load_bound", c.router.load_bound},
                  {"w_prefix", c.router.w_prefix},
                  {"w_load", c.router.w_load}};
  json runs = json::array();
  for (const ClusterReport& rep : r.reports) {
    json one = Summary(rep);
    one["instances"] = Instances(rep);
    one["timeline"] = Timeline(rep);
    runs.push_back(std::move(one));
  }
  j["runs"] = runs;
  if (!r.sweep.empty()) {
    json points = json::array();
    for (const SweepPoint& p : r.sweep) {
      json one = Summary(p.report);
      one["rate_scale"] = p.rate_scale;
      one["offered_rps"] = p.offered_rps;
      one["meets_slo"] = p.meets_slo;
      points.push_back(std::move(one));
    }
    json best = json::object();
    for (const cluster::ClusterConfig& cc : r.configs) {
      const std::optional<double> m = MaxRateUnderSlo(r, cc.router.name);
      best[cc.router.name] = m ? json(*m) : json(nullptr);
    }
    j["sweep"] = {{"slo_ttft_p90_s", r.slo_ttft_p90},
                  {"slo_tpot_p90_s", r.slo_tpot_p90},
                  {"points", points},
                  {"max_rate_under_slo", best}};
  }
  return j.dump(2) + "\n";
}

std::string ClusterTimelineCsv(const ClusterResults& r) {
  std::string out = "router,time_s,instance,kv_usage,running,queued,hit_rate\n";
  for (const ClusterReport& rep : r.reports) {
    for (const cluster::ClusterTimelinePoint& p : rep.timeline) {
      for (size_t i = 0; i < p.kv_usage.size(); ++i) {
        out += fmt::format("{},{},{},{},{},{},{}\n", rep.router, p.time_s, i,
                           p.kv_usage[i], p.running[i], p.queued[i],
                           p.hit_rate[i]);
      }
    }
  }
  return out;
}

std::string ClusterRoutesCsv(const ClusterResults& r) {
  std::string out =
      "router,id,instance,arrival_s,ttft_s,tpot_s,hit_tokens,rejected\n";
  for (const ClusterReport& rep : r.reports) {
    for (size_t k = 0; k < rep.requests.size(); ++k) {
      const RequestResult& q = rep.requests[k];
      const bool done = !q.rejected && q.finish_s >= 0;
      out += fmt::format("{},{},{},{},{},{},{},{}\n", rep.router, q.id,
                         rep.routed_to[k], q.arrival_s,
                         done ? fmt::format("{}", q.ttft_s()) : "",
                         done ? fmt::format("{}", q.tpot_s()) : "",
                         q.hit_tokens, q.rejected ? 1 : 0);
    }
  }
  return out;
}

}  // namespace pagekv::tools
