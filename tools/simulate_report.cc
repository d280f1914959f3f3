#include "simulate_report.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "fmt/ostream.h"
#include "pagekv/sim/sim_allocator.h"

namespace pagekv::tools {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string Name(const SimulationReport& r) {
  return std::string(AllocatorKindName(r.allocator));
}

std::string Seconds(double s) {
  if (s < 0) return "never";
  if (s < 1e-3) return fmt::format("{:.1f} us", s * 1e6);
  if (s < 1) return fmt::format("{:.1f} ms", s * 1e3);
  return fmt::format("{:.2f} s", s);
}

std::string Pct(double x) { return fmt::format("{:.1f}%", 100 * x); }

std::string Latency(const LatencySummary& l) {
  if (l.count == 0) return "-";
  return fmt::format("p50 {}  p90 {}  p99 {}  mean {}  max {}", Seconds(l.p50),
                     Seconds(l.p90), Seconds(l.p99), Seconds(l.mean),
                     Seconds(l.max));
}

// The six shares in report order, with names and colours.
struct Part {
  const char* key;
  const char* label;
  const char* color;
};
constexpr std::array<Part, 6> kParts = {{
    {"token_states", "token states", "#2b8a3e"},
    {"reserved", "reserved", "#74c0fc"},
    {"internal_fragmentation", "internal frag.", "#f08c00"},
    {"external_fragmentation", "external frag.", "#e03131"},
    {"cached", "cached", "#ae3ec9"},
    {"free", "free", "#dee2e6"},
}};

std::array<double, 6> Values(const MemoryShares& s) {
  return {s.token_states,           s.reserved, s.internal_fragmentation,
          s.external_fragmentation, s.cached,   s.free};
}

std::array<double, 6> Values(const MemoryBreakdown& m) {
  return Values(SharesOf(m));
}

// HTML-escapes text.
std::string Esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

constexpr std::array<const char*, 4> kSeriesColors = {"#1971c2", "#e8590c",
                                                      "#2f9e44", "#9c36b5"};

// A chart frame: x in [x0, x1], y in [y0, y1] mapped to a w x h plot area
// with margins, axes with a few ticks and labels.
struct Frame {
  double x0, x1, y0, y1;
  double w = 760, h = 220;
  double left = 60, right = 20, top = 30, bottom = 40;

  double X(double x) const {
    return left + (x1 > x0 ? (x - x0) / (x1 - x0) : 0) * w;
  }
  double Y(double y) const {
    return top + h - (y1 > y0 ? (y - y0) / (y1 - y0) : 0) * h;
  }
  std::string Open(const std::string& title, const std::string& xlabel,
                   const std::string& ylabel) const {
    std::string s = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" "
        "height=\"{1}\" viewBox=\"0 0 {0} {1}\" role=\"img\">\n"
        "<title>{2}</title>\n"
        "<text x=\"{3}\" y=\"18\" class=\"t\">{2}</text>\n",
        left + w + right, top + h + bottom, Esc(title), left);
    s += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" class=\"ax\"/>"
        "<line x1=\"{0}\" y1=\"{3}\" x2=\"{0}\" y2=\"{1}\" class=\"ax\"/>\n",
        left, top + h, left + w, top);
    for (int i = 0; i <= 4; ++i) {
      const double xv = x0 + (x1 - x0) * i / 4;
      const double yv = y0 + (y1 - y0) * i / 4;
      s += fmt::format(
          "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"k\" "
          "text-anchor=\"middle\">{}</text>\n",
          X(xv), top + h + 14, Tick(xv));
      s += fmt::format(
          "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"k\" "
          "text-anchor=\"end\">{}</text>\n",
          left - 4, Y(yv) + 4, Tick(yv));
    }
    s += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"k\" "
        "text-anchor=\"middle\">{}</text>\n",
        left + w / 2, top + h + 32, Esc(xlabel));
    s += fmt::format(
        "<text x=\"12\" y=\"{:.1f}\" class=\"k\" text-anchor=\"middle\" "
        "transform=\"rotate(-90 12 {:.1f})\">{}</text>\n",
        top + h / 2, top + h / 2, Esc(ylabel));
    return s;
  }
  static std::string Tick(double v) {
    if (v != 0 && std::fabs(v) < 0.01) return fmt::format("{:.1e}", v);
    if (std::fabs(v) >= 1000) return fmt::format("{:.0f}", v);
    return fmt::format("{:.3g}", v);
  }
};

std::string Legend(const std::vector<std::pair<std::string, std::string>>& kv,
                   double x, double y) {
  std::string s;
  for (const auto& [label, color] : kv) {
    s += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"10\" height=\"10\" "
        "fill=\"{}\"/><text x=\"{:.1f}\" y=\"{:.1f}\" class=\"k\">{}</text>\n",
        x, y - 9, color, x + 14, y, Esc(label));
    x += 24 + 7.0 * static_cast<double>(label.size());
  }
  return s;
}

// Stacked area of the memory shares over time.
std::string MemoryChart(const SimulationReport& r) {
  const auto& tl = r.timeline;
  if (tl.empty()) return "";
  Frame f{tl.front().time_s, tl.back().time_s, 0, 100};
  std::string s = f.Open(fmt::format("KV memory over time: {}", Name(r)),
                         "time (s)", "% of KV memory");
  std::vector<double> lower(tl.size(), 0);
  for (size_t p = 0; p < kParts.size(); ++p) {
    std::string top_pts, bottom_pts;
    std::vector<double> upper(tl.size());
    for (size_t i = 0; i < tl.size(); ++i) {
      upper[i] = lower[i] + 100 * Values(tl[i].memory)[p];
      top_pts +=
          fmt::format("{:.1f},{:.1f} ", f.X(tl[i].time_s), f.Y(upper[i]));
    }
    for (size_t i = tl.size(); i-- > 0;) {
      bottom_pts +=
          fmt::format("{:.1f},{:.1f} ", f.X(tl[i].time_s), f.Y(lower[i]));
    }
    s += fmt::format("<polygon points=\"{}{}\" fill=\"{}\"/>\n", top_pts,
                     bottom_pts, kParts[p].color);
    lower = std::move(upper);
  }
  std::vector<std::pair<std::string, std::string>> legend;
  for (const Part& p : kParts) legend.emplace_back(p.label, p.color);
  s += Legend(legend, f.left + 240, 18);
  return s + "</svg>\n";
}

// Lines of a per-step quantity over time, one per allocator.
template <typename Get>
std::string LinesChart(const std::vector<SimulationReport>& reports,
                       const std::string& title, const std::string& ylabel,
                       Get get) {
  double t0 = 1e300, t1 = -1e300, ymax = 1;
  for (const auto& r : reports) {
    for (const auto& p : r.timeline) {
      t0 = std::min(t0, p.time_s);
      t1 = std::max(t1, p.time_s);
      ymax = std::max(ymax, get(p));
    }
  }
  if (t0 > t1) return "";
  Frame f{t0, t1, 0, ymax * 1.05};
  std::string s = f.Open(title, "time (s)", ylabel);
  std::vector<std::pair<std::string, std::string>> legend;
  for (size_t k = 0; k < reports.size(); ++k) {
    const char* color = kSeriesColors[k % kSeriesColors.size()];
    std::string pts;
    for (const auto& p : reports[k].timeline) {
      pts += fmt::format("{:.1f},{:.1f} ", f.X(p.time_s), f.Y(get(p)));
    }
    s += fmt::format(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" "
        "stroke-width=\"1.5\"/>\n",
        pts, color);
    legend.emplace_back(Name(reports[k]), color);
  }
  s += Legend(legend, f.left + 360, 18);
  return s + "</svg>\n";
}

// Empirical CDFs of a per-request latency, one line per allocator, x up to
// the largest p99 (the tail beyond is clipped).
template <typename Get>
std::string CdfChart(const std::vector<SimulationReport>& reports,
                     const std::string& title, Get get) {
  std::vector<std::vector<double>> all;
  double xmax = 0;
  for (const auto& r : reports) {
    std::vector<double> v;
    for (const RequestResult& q : r.requests) {
      if (q.rejected || q.finish_s < 0) continue;
      if (const double x = get(q); x >= 0) v.push_back(x);
    }
    std::sort(v.begin(), v.end());
    if (!v.empty()) xmax = std::max(xmax, v[(v.size() * 99) / 100]);
    all.push_back(std::move(v));
  }
  if (xmax <= 0) xmax = 1;
  Frame f{0, xmax, 0, 100};
  std::string s = f.Open(title, "seconds", "% of requests");
  std::vector<std::pair<std::string, std::string>> legend;
  for (size_t k = 0; k < all.size(); ++k) {
    const auto& v = all[k];
    const char* color = kSeriesColors[k % kSeriesColors.size()];
    legend.emplace_back(Name(reports[k]), color);
    if (v.empty()) continue;
    std::string pts;
    const size_t step = std::max<size_t>(1, v.size() / 400);
    for (size_t i = 0; i < v.size(); i += step) {
      const double x = std::min(v[i], xmax);
      pts += fmt::format("{:.1f},{:.1f} ", f.X(x),
                         f.Y(100.0 * static_cast<double>(i + 1) /
                             static_cast<double>(v.size())));
    }
    pts +=
        fmt::format("{:.1f},{:.1f}", f.X(std::min(v.back(), xmax)), f.Y(100));
    s += fmt::format(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" "
        "stroke-width=\"1.5\"/>\n",
        pts, color);
  }
  s += Legend(legend, f.left + 360, 18);
  return s + "</svg>\n";
}

// Horizontal stacked bars of the mean memory shares, one per allocator.
std::string ComparisonBars(const std::vector<SimulationReport>& reports) {
  const double left = 80, w = 660, bar = 26, gap = 12, top = 40;
  const double height = top + reports.size() * (bar + gap) + 20;
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" "
      "height=\"{1}\" viewBox=\"0 0 {0} {1}\" role=\"img\">\n"
      "<title>Mean KV memory by allocator</title>\n"
      "<text x=\"{2}\" y=\"18\" class=\"t\">Mean KV memory by "
      "allocator</text>\n",
      left + w + 20, height, left);
  std::vector<std::pair<std::string, std::string>> legend;
  for (const Part& p : kParts) legend.emplace_back(p.label, p.color);
  s += Legend(legend, left, 34);
  for (size_t k = 0; k < reports.size(); ++k) {
    const double y = top + 8 + k * (bar + gap);
    s += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"k\" "
        "text-anchor=\"end\">{}</text>\n",
        left - 6, y + bar / 2 + 4, Name(reports[k]));
    double x = left;
    const auto v = Values(reports[k].mean_memory);
    for (size_t p = 0; p < kParts.size(); ++p) {
      const double bw = v[p] * w;
      if (bw <= 0) continue;
      s += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{}\" "
          "fill=\"{}\"><title>{} {}</title></rect>\n",
          x, y, bw, bar, kParts[p].color, kParts[p].label, Pct(v[p]));
      x += bw;
    }
  }
  return s + "</svg>\n";
}

// Vertical bars of one figure per allocator.
template <typename Get>
std::string FigureBars(const std::vector<SimulationReport>& reports,
                       const std::string& title, Get get) {
  double ymax = 0;
  for (const auto& r : reports) ymax = std::max(ymax, get(r));
  if (ymax <= 0) ymax = 1;
  const double w = 340, h = 180, left = 60, top = 30;
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" "
      "height=\"{1}\" viewBox=\"0 0 {0} {1}\" role=\"img\">\n"
      "<title>{2}</title>\n<text x=\"{3}\" y=\"18\" class=\"t\">{2}</text>\n",
      left + w + 10, top + h + 30, Esc(title), left);
  s += fmt::format(
      "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" class=\"ax\"/>\n",
      left, top + h, left + w);
  const double slot =
      w / static_cast<double>(std::max<size_t>(1, reports.size()));
  for (size_t k = 0; k < reports.size(); ++k) {
    const double v = get(reports[k]);
    const double bh = v / ymax * h;
    const double x = left + k * slot + slot * 0.2;
    s += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
        "fill=\"{}\"/>\n",
        x, top + h - bh, slot * 0.6, bh, kSeriesColors[k % 4]);
    s += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"k\" "
        "text-anchor=\"middle\">{}</text>\n",
        x + slot * 0.3, top + h - bh - 4, Frame::Tick(v));
    s += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"k\" "
        "text-anchor=\"middle\">{}</text>\n",
        x + slot * 0.3, top + h + 16, Name(reports[k]));
  }
  return s + "</svg>\n";
}

}  // namespace

void PrintSummary(const RunDescription& run,
                  const std::vector<SimulationReport>& reports,
                  std::ostream& out) {
  const WorkloadStats& w = run.workload_stats;
  fmt::print(out,
             "Workload  {}: {} requests over {:.1f} s, {} prompt tokens "
             "(mean {:.0f}, max {}), mean output {:.0f}\n",
             run.workload, w.num_requests, w.duration_s, w.prompt_tokens,
             w.mean_prompt_tokens, w.max_prompt_tokens, w.mean_output_tokens);
  fmt::print(out,
             "Setup     {} on {}, KV memory {:.2f} GiB, block {}, eviction {}, "
             "prefix caching {}\n"
             "          max_batch_tokens {}, max_num_seqs {}, preemption {}, "
             "full-prompt gate {}\n",
             run.model, run.hardware, run.kv_memory_bytes / kGiB,
             run.block_size, run.eviction_policy,
             run.prefix_caching ? "on" : "off", run.max_batch_tokens,
             run.max_num_seqs, run.preemption_policy,
             run.full_prompt_gate ? "on" : "off");
  if (reports.empty()) return;
  const SimulationReport& r = reports.front();
  fmt::print(out, "\n== Allocator {} ==\n", Name(r));
  fmt::print(out,
             "Requests     {} completed, {} rejected, {} preemptions ({} "
             "requests preempted)\n",
             r.completed, r.rejected, r.preemptions, r.preempted_requests);
  for (size_t i = 0; i < r.rejections.size() && i < 3; ++i) {
    fmt::print(out, "  rejected request {}: {}\n", r.rejections[i].request_id,
               r.rejections[i].reason);
  }
  fmt::print(out,
             "Throughput   {:.2f} req/s, {:.0f} output tok/s, {:.0f} total "
             "tok/s over {:.1f} s ({} steps, busy {:.1f} s)\n",
             r.request_throughput, r.output_throughput, r.total_throughput,
             r.makespan_s, r.steps, r.busy_s);
  fmt::print(out, "TTFT         {}\n", Latency(r.ttft));
  fmt::print(out, "TPOT         {}\n", Latency(r.tpot));
  fmt::print(out, "E2E latency  {}\n", Latency(r.e2e));
  fmt::print(out,
             "Batch        {:.1f} sequences/step on average (max {}); running "
             "{:.1f} on average (max {})\n",
             r.mean_batch_size, r.max_batch_size, r.mean_running,
             r.max_running);
  fmt::print(out, "KV memory    {:>14} {:>9} {:>14} {:>14} {:>7} {:>7}\n",
             "token states", "reserved", "internal frag", "external frag",
             "cached", "free");
  for (const auto& [label, shares] :
       {std::pair{"mean", r.mean_memory}, std::pair{"peak", r.peak_memory}}) {
    const auto v = Values(shares);
    fmt::print(out, "  {:<10} {:>14} {:>9} {:>14} {:>14} {:>7} {:>7}\n", label,
               Pct(v[0]), Pct(v[1]), Pct(v[2]), Pct(v[3]), Pct(v[4]),
               Pct(v[5]));
  }
  fmt::print(
      out, "First        preemption {}, admission blocked by memory {}\n",
      Seconds(r.first_preemption_s), Seconds(r.first_admission_blocked_s));
  if (r.allocator == AllocatorKind::kPaged) {
    fmt::print(out,
               "Prefix cache {} of prompt tokens hit ({} of {}); resumed after "
               "preemption: {} ({} of {})\n",
               Pct(r.prefix_hit_rate), r.prefix.hit_tokens,
               r.prefix.query_tokens, Pct(r.resumed_prefix_hit_rate),
               r.prefix.resumed_hit_tokens, r.prefix.resumed_query_tokens);
  }
  if (reports.size() < 2) return;
  fmt::print(out,
             "\n== Allocator comparison (same workload, scheduler and KV "
             "memory) ==\n");
  fmt::print(out,
             "{:<8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8} {:>9} "
             "{:>10} {:>10} {:>10} {:>10}\n",
             "alloc", "tokens", "reserv", "int.frag", "ext.frag", "batch",
             "max run", "preempt", "rejected", "first OOM", "out tok/s",
             "TTFT p99", "TPOT p99");
  for (const SimulationReport& c : reports) {
    const auto v = Values(c.mean_memory);
    double first_oom = c.first_admission_blocked_s;
    if (c.first_preemption_s >= 0 &&
        (first_oom < 0 || c.first_preemption_s < first_oom)) {
      first_oom = c.first_preemption_s;
    }
    fmt::print(out,
               "{:<8} {:>8} {:>8} {:>8} {:>8} {:>8.1f} {:>7} {:>8} {:>9} "
               "{:>10} {:>10.0f} {:>10} {:>10}\n",
               Name(c), Pct(v[0]), Pct(v[1]), Pct(v[2]), Pct(v[3]),
               c.mean_batch_size, c.max_running, c.preemptions, c.rejected,
               Seconds(first_oom), c.output_throughput, Seconds(c.ttft.p99),
               Seconds(c.tpot.p99));
  }
  fmt::print(out,
             "(memory shares are time-weighted means; first OOM = first "
             "preemption or admission blocked by memory)\n");
}

std::string ReportJson(const RunDescription& run,
                       const std::vector<SimulationReport>& reports) {
  return SimulationReportJson(run, reports);
}

std::string TimelineCsv(const std::vector<SimulationReport>& reports) {
  std::string s =
      "allocator,time_s,token_states,reserved,internal_fragmentation,"
      "external_fragmentation,cached,free,kv_used_gib,batch_size,num_decodes,"
      "prefill_tokens,num_running,num_waiting,preemptions\n";
  for (const SimulationReport& r : reports) {
    for (const TimelinePoint& p : r.timeline) {
      const auto v = Values(p.memory);
      s += fmt::format(
          "{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{},{},{},"
          "{},{},{}\n",
          Name(r), p.time_s, v[0], v[1], v[2], v[3], v[4], v[5],
          static_cast<double>(p.memory.allocated()) * p.memory.bytes_per_slot /
              kGiB,
          p.batch_size, p.num_decodes, p.prefill_tokens, p.num_running,
          p.num_waiting, p.preemptions);
    }
  }
  return s;
}

std::string ReportHtml(const RunDescription& run,
                       const std::vector<SimulationReport>& reports) {
  std::string s =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>pagekv simulate report</title>\n<style>\n"
      "body{font-family:sans-serif;margin:24px;color:#212529;max-width:900px}"
      "\ntable{border-collapse:collapse;font-size:13px}"
      "td,th{border:1px solid #ced4da;padding:3px 8px;text-align:right}"
      "th{background:#f1f3f5}td:first-child{text-align:left}\n"
      "svg{display:block;margin:12px 0}.t{font-size:14px;font-weight:bold}"
      ".k{font-size:11px;fill:#495057}.ax{stroke:#495057;stroke-width:1}\n"
      "</style>\n</head>\n<body>\n<h1>pagekv simulate</h1>\n";
  const WorkloadStats& w = run.workload_stats;
  s += fmt::format(
      "<p>Workload <b>{}</b>: {} requests over {:.1f} s, mean prompt {:.0f} "
      "tokens, mean output {:.0f}. Model <b>{}</b> on <b>{}</b>, KV memory "
      "{:.2f} GiB, block {}, eviction {}, prefix caching {}, max_batch_tokens "
      "{}, max_num_seqs {}.</p>\n",
      Esc(run.workload), w.num_requests, w.duration_s, w.mean_prompt_tokens,
      w.mean_output_tokens, Esc(run.model), Esc(run.hardware),
      run.kv_memory_bytes / kGiB, run.block_size, Esc(run.eviction_policy),
      run.prefix_caching ? "on" : "off", run.max_batch_tokens,
      run.max_num_seqs);
  s += "<h2>Summary</h2>\n<table>\n<tr><th>allocator</th><th>completed</th>"
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
  s += "</table>\n<h2>KV memory over time</h2>\n";
  for (const SimulationReport& r : reports) s += MemoryChart(r);
  s += "<h2>Batch</h2>\n";
  s += LinesChart(
      reports, "Sequences per step", "sequences",
      [](const TimelinePoint& p) { return static_cast<double>(p.batch_size); });
  s += LinesChart(reports, "Waiting requests", "requests",
                  [](const TimelinePoint& p) {
                    return static_cast<double>(p.num_waiting);
                  });
  s += "<h2>Latency distributions</h2>\n";
  s += CdfChart(reports, "TTFT (CDF)",
                [](const RequestResult& q) { return q.ttft_s(); });
  s += CdfChart(reports, "TPOT (CDF)", [](const RequestResult& q) {
    return q.output_tokens > 1 ? q.tpot_s() : -1.0;
  });
  s += "<h2>Allocator comparison</h2>\n";
  s += ComparisonBars(reports);
  s += FigureBars(reports, "Mean batch size (sequences per step)",
                  [](const SimulationReport& r) { return r.mean_batch_size; });
  s +=
      FigureBars(reports, "Output throughput (tokens/s)",
                 [](const SimulationReport& r) { return r.output_throughput; });
  s += "</body>\n</html>\n";
  return s;
}

}  // namespace pagekv::tools
