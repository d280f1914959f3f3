// ClusterHtml: the self-contained page of a cluster run (cluster_report.h).
#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "cluster_report.h"
#include "fmt/format.h"
#include "report/html_svg.h"
#include "report/report_util.h"

namespace pagekv::tools {
namespace {

using cluster::ClusterReport;
using report::Esc;
using report::Frame;
using report::LegendEntries;
using report::Pct;
using report::Seconds;

constexpr std::array<const char*, 8> kColors = {"#1971c2", "#e8590c", "#2f9e44",
                                                "#9c36b5", "#c92a2a", "#0c8599",
                                                "#5c940d", "#862e9c"};
constexpr double kLegendY = 36;

const char* Color(size_t k) { return kColors[k % kColors.size()]; }

constexpr const char* kHead =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, "
    "initial-scale=1\">\n"
    "<title>pagekv cluster report</title>\n<style>\n"
    "body{font-family:sans-serif;margin:24px;color:#212529;max-width:1120px}"
    "\ntable{border-collapse:collapse;font-size:13px}"
    "td,th{border:1px solid #ced4da;padding:3px 8px;text-align:right;"
    "white-space:nowrap}"
    "th{background:#f1f3f5}td:first-child{text-align:left}\n"
    ".scroll,.chart{overflow-x:auto}.chart{margin:12px 0}\n"
    "svg{display:block}.t{font-size:14px;font-weight:bold}"
    ".k{font-size:11px;fill:#495057}.ax{stroke:#495057;stroke-width:1}"
    ".grid{stroke:#e9ecef;stroke-width:1}\n"
    "</style>\n</head>\n<body>\n<h1>pagekv simulate: cluster</h1>\n";

std::string Box(const std::string& svg) {
  return "<div class=\"chart\">\n" + svg + "</div>\n";
}

// One line per instance of `value(point, instance)` over the timeline.
template <typename Get>
std::string InstanceLines(const ClusterReport& r, const std::string& kind,
                          const std::string& title, double y1, Get value) {
  if (r.timeline.empty()) return "";
  Frame f{r.timeline.front().time_s,
          std::max(r.timeline.back().time_s, r.timeline.front().time_s + 1), 0,
          y1};
  std::string s = f.Open(kind, title, "time (s)", "%");
  s += "<g class=\"marks\">\n";
  LegendEntries legend;
  const size_t n = r.timeline.front().kv_usage.size();
  const size_t step = std::max<size_t>(1, r.timeline.size() / 400);
  for (size_t i = 0; i < n; ++i) {
    std::string pts;
    for (size_t k = 0; k < r.timeline.size(); k += step) {
      const auto& p = r.timeline[k];
      pts += fmt::format("{:.1f},{:.1f} ", f.X(p.time_s),
                         f.Y(std::min(y1, 100 * value(p, i))));
    }
    s += fmt::format(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" "
        "stroke-width=\"1.5\"/>\n",
        pts, Color(i));
    if (n <= 16) legend.emplace_back(fmt::format("#{}", i), Color(i));
  }
  s += "</g>\n" + report::Legend(legend, f.left, kLegendY) + "</svg>\n";
  return Box(s);
}

// Requests routed to each instance, as bars.
std::string RoutedBars(const ClusterReport& r) {
  double top = 1;
  for (const auto& s : r.instances) top = std::max(top, double(s.routed));
  Frame f{0, 1, 0, report::RoundUp(top)};
  f.h = 180;
  f.top = 40;
  f.bottom = 30;
  std::string s = report::OpenSvg(
      "bars", f.left + f.w + f.right, f.top + f.h + f.bottom,
      Esc("requests routed per instance (" + r.router + ")"), f.left);
  s += f.YAxis("requests") + "<g class=\"marks\">\n";
  const double slot = f.w / static_cast<double>(r.instances.size());
  for (size_t i = 0; i < r.instances.size(); ++i) {
    const double v = static_cast<double>(r.instances[i].routed);
    const double x = f.left + slot * static_cast<double>(i) + slot * 0.15;
    s += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
        "fill=\"{}\"/>\n<text class=\"cat k\" x=\"{:.1f}\" y=\"{:.1f}\" "
        "text-anchor=\"middle\">#{}</text>\n<text class=\"value k\" "
        "x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
        x, f.Y(v), slot * 0.7, f.Y(0) - f.Y(v), Color(i), x + slot * 0.35,
        f.Y(0) + 14, i, x + slot * 0.35, f.Y(v) - 3, Frame::Value(v));
  }
  return Box(s + "</g>\n</svg>\n");
}

// p90 TTFT against the rate multiplier, one line per router.
std::string SweepChart(const ClusterResults& r) {
  double x1 = 0, y1 = 0;
  for (const SweepPoint& p : r.sweep) {
    x1 = std::max(x1, p.rate_scale);
    y1 = std::max(y1, p.report.ttft.p90);
  }
  Frame f{0, report::RoundUp(x1), 0, report::RoundUp(y1)};
  std::string s =
      f.Open("sweep", "p90 TTFT against arrival rate", "rate (x)", "s");
  s += "<g class=\"marks\">\n";
  LegendEntries legend;
  for (size_t k = 0; k < r.configs.size(); ++k) {
    const std::string& name = r.configs[k].router.name;
    std::string pts;
    for (const SweepPoint& p : r.sweep) {
      if (p.router != name) continue;
      pts += fmt::format("{:.1f},{:.1f} ", f.X(p.rate_scale),
                         f.Y(p.report.ttft.p90));
    }
    s += fmt::format(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" "
        "stroke-width=\"1.5\"/>\n",
        pts, Color(k));
    legend.emplace_back(name, Color(k));
  }
  s += "</g>\n" + report::Legend(legend, f.left, kLegendY) + "</svg>\n";
  return Box(s);
}

std::string Table(const std::vector<ClusterReport>& reports) {
  std::string s =
      "<div class=\"scroll\"><table>\n<tr><th>router</th><th>req/s</th>"
      "<th>out tok/s</th><th>TTFT p50</th><th>TTFT p90</th><th>TTFT p99</th>"
      "<th>TPOT p90</th><th>hit rate</th><th>imbalance</th>"
      "<th>preemptions</th></tr>\n";
  for (const ClusterReport& r : reports) {
    s += fmt::format(
        "<tr><td>{}</td><td>{:.2f}</td><td>{:.0f}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{:.2f}</td><td>{}</td></tr>\n",
        Esc(r.router), r.request_throughput, r.output_throughput,
        Seconds(r.ttft.p50), Seconds(r.ttft.p90), Seconds(r.ttft.p99),
        Seconds(r.tpot.p90), Pct(r.prefix_hit_rate), r.imbalance,
        r.preemptions);
  }
  return s + "</table></div>\n";
}

}  // namespace

std::string ClusterHtml(const ClusterResults& r) {
  std::string s = kHead;
  const cluster::ClusterConfig& c = r.configs.front();
  s += fmt::format(
      "<p>Workload <b>{}</b>: {} requests over {:.1f} s. {} instances of "
      "<b>{}</b> (instance 0 on <b>{}</b>, KV {:.2f} GiB), block {}, global "
      "cache {}, event delay {}.</p>\n",
      Esc(r.run.workload), r.run.workload_stats.num_requests,
      r.run.workload_stats.duration_s, c.instances.size(), Esc(r.run.model),
      Esc(c.instances.front().hardware.name),
      r.run.kv_memory_bytes / report::kGiB, r.run.block_size,
      c.global_cache ? "on" : "off", Seconds(c.event_delay_s));
  if (!r.reports.empty()) {
    s += "<h2>Routers</h2>\n" + Table(r.reports);
    for (const ClusterReport& rep : r.reports) {
      s += "<h2>" + Esc(rep.router) + "</h2>\n";
      s += RoutedBars(rep);
      s += InstanceLines(rep, "kv",
                         "KV usage per instance (" + rep.router + ")", 100,
                         [](const auto& p, size_t i) { return p.kv_usage[i]; });
      s += InstanceLines(
          rep, "hit",
          "prefix hit rate per instance, cumulative (" + rep.router + ")", 100,
          [](const auto& p, size_t i) { return p.hit_rate[i]; });
    }
  }
  if (!r.sweep.empty()) {
    s += "<h2>Sweep</h2>\n" + SweepChart(r);
    std::string rows;
    for (const cluster::ClusterConfig& cc : r.configs) {
      const std::optional<double> m = MaxRateUnderSlo(r, cc.router.name);
      rows +=
          fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", Esc(cc.router.name),
                      m ? fmt::format("{}x", *m) : std::string("-"));
    }
    s += "<table><tr><th>router</th><th>max rate under SLO</th></tr>\n" + rows +
         "</table>\n";
  }
  return s + "</body>\n</html>\n";
}

}  // namespace pagekv::tools
