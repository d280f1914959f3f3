// ReportHtml: the self-contained page of `pagekv simulate --html`.
#include <string>
#include <vector>

#include "fmt/format.h"
#include "report/html_charts.h"
#include "report/html_svg.h"
#include "report/report_util.h"
#include "simulate_report.h"

namespace pagekv::tools {
namespace {

using report::Esc;
using report::Name;
using report::Pct;
using report::Seconds;

// Charts keep their drawn size (their labels stay legible) and scroll
// sideways inside their box on a screen narrower than they are; so does the
// summary table.
constexpr const char* kHead =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, "
    "initial-scale=1\">\n"
    "<title>pagekv simulate report</title>\n<style>\n"
    "body{font-family:sans-serif;margin:24px;color:#212529;max-width:1120px}"
    "\ntable{border-collapse:collapse;font-size:13px}"
    "td,th{border:1px solid #ced4da;padding:3px 8px;text-align:right;"
    "white-space:nowrap}"
    "th{background:#f1f3f5}td:first-child{text-align:left}\n"
    ".scroll,.chart{overflow-x:auto}.chart{margin:12px 0}"
    ".row{display:flex;flex-wrap:wrap;column-gap:20px}\n"
    "svg{display:block}.t{font-size:14px;font-weight:bold}"
    ".k{font-size:11px;fill:#495057}.ax{stroke:#495057;stroke-width:1}"
    ".grid{stroke:#e9ecef;stroke-width:1}\n"
    "@media (max-width:600px){body{margin:12px}h1{font-size:24px}}\n"
    "</style>\n</head>\n<body>\n<h1>pagekv simulate</h1>\n";

// `svg` in a box that scrolls sideways when the screen is narrower.
std::string Box(const std::string& svg) {
  return svg.empty() ? "" : "<div class=\"chart\">\n" + svg + "</div>\n";
}

std::string Setup(const RunDescription& run) {
  const WorkloadStats& w = run.workload_stats;
  return fmt::format(
      "<p>Workload <b>{}</b>: {} requests over {:.1f} s, mean prompt {:.0f} "
      "tokens, mean output {:.0f}. Model <b>{}</b> on <b>{}</b>, KV memory "
      "{:.2f} GiB, block {}, eviction {}, prefix caching {}, max_batch_tokens "
      "{}, max_num_seqs {}.</p>\n",
      Esc(run.workload), w.num_requests, w.duration_s, w.mean_prompt_tokens,
      w.mean_output_tokens, Esc(run.model), Esc(run.hardware),
      run.kv_memory_bytes / report::kGiB, run.block_size,
      Esc(run.eviction_policy), run.prefix_caching ? "on" : "off",
      run.max_batch_tokens, run.max_num_seqs);
}

std::string SummaryTable(const std::vector<SimulationReport>& reports) {
  std::string s =
      "<h2>Summary</h2>\n<div "
      "class=\"scroll\">\n<table>\n<tr><th>allocator</th><th>completed</th>"
      "<th>rejected</th><th>preemptions</th><th>out tok/s</th>"
      "<th>TTFT p50</th><th>TTFT p99</th><th>TPOT p50</th><th>TPOT p99</th>"
      "<th>mean batch</th><th>token states</th><th>prefix hit</th></tr>\n";
  for (const SimulationReport& r : reports) {
    s += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0f}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1f}</td>"
        "<td>{}</td><td>{}</td></tr>\n",
        Name(r), r.completed, r.rejected, r.preemptions, r.output_throughput,
        Seconds(r.ttft.p50), Seconds(r.ttft.p99), Seconds(r.tpot.p50),
        Seconds(r.tpot.p99), r.mean_batch_size, Pct(r.mean_memory.token_states),
        Pct(r.prefix_hit_rate));
  }
  return s + "</table>\n</div>\n";
}

std::string TimelineSections(const std::vector<SimulationReport>& reports) {
  // One time axis for every chart, so the allocators' timelines line up.
  const report::TimeRange range = report::SharedTimeRange(reports);
  std::string s = "<h2>KV memory over time</h2>\n";
  for (const SimulationReport& r : reports) {
    s += Box(report::MemoryChart(r, range));
  }
  s += "<h2>Batch</h2>\n";
  s += Box(report::LinesChart(reports, range, "Sequences per step", "sequences",
                              [](const TimelinePoint& p) {
                                return static_cast<double>(p.batch_size);
                              }));
  s += Box(report::LinesChart(reports, range, "Waiting requests", "requests",
                              [](const TimelinePoint& p) {
                                return static_cast<double>(p.num_waiting);
                              }));
  return s;
}

std::string LatencySection(const std::vector<SimulationReport>& reports) {
  std::string s = "<h2>Latency distributions</h2>\n";
  s += Box(report::CdfChart(reports, "TTFT",
                            [](const RequestResult& q) { return q.ttft_s(); }));
  s += Box(report::CdfChart(reports, "TPOT", [](const RequestResult& q) {
    return q.output_tokens > 1 ? q.tpot_s() : -1.0;
  }));
  return s;
}

std::string ComparisonSection(const std::vector<SimulationReport>& reports) {
  std::string s = "<h2>Allocator comparison</h2>\n";
  s += Box(report::ComparisonBars(reports));
  s += "<div class=\"row\">\n";
  s += Box(report::FigureBars(
      reports, "Mean batch size (sequences per step)", "sequences",
      [](const SimulationReport& r) { return r.mean_batch_size; }));
  s += Box(report::FigureBars(
      reports, "Output throughput (tokens/s)", "tokens/s",
      [](const SimulationReport& r) { return r.output_throughput; }));
  return s + "</div>\n";
}

}  // namespace

std::string ReportHtml(const RunDescription& run,
                       const std::vector<SimulationReport>& reports) {
  std::string s = kHead;
  s += Setup(run);
  s += SummaryTable(reports);
  s += TimelineSections(reports);
  s += LatencySection(reports);
  s += ComparisonSection(reports);
  s += "</body>\n</html>\n";
  return s;
}

}  // namespace pagekv::tools
