#include "report/html_charts.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "report/html_svg.h"
#include "report/report_util.h"

namespace pagekv::tools::report {
namespace {

constexpr std::array<const char*, 4> kSeriesColors = {"#1971c2", "#e8590c",
                                                      "#2f9e44", "#9c36b5"};
// Baseline of the legend row, under the title.
constexpr double kLegendY = 36;

const char* SeriesColor(size_t k) {
  return kSeriesColors[k % kSeriesColors.size()];
}

LegendEntries PartsLegend() {
  LegendEntries legend;
  for (const Part& p : kParts) legend.emplace_back(p.label, p.color);
  return legend;
}

std::string Polyline(const std::string& pts, const char* color) {
  return fmt::format(
      "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" "
      "stroke-width=\"1.5\"/>\n",
      pts, color);
}

// The sorted latencies of the completed requests of one run.
std::vector<double> SortedLatencies(
    const SimulationReport& r,
    const std::function<double(const RequestResult&)>& get) {
  std::vector<double> v;
  for (const RequestResult& q : r.requests) {
    if (q.rejected || q.finish_s < 0) continue;
    if (const double x = get(q); x >= 0) v.push_back(x);
  }
  std::sort(v.begin(), v.end());
  return v;
}

// The polyline of one CDF of latencies `v` (seconds), drawn in units of
// `scale` seconds^-1 and clipped at the frame's right edge, with at most
// ~400 points.
std::string CdfLine(const Frame& f, const std::vector<double>& v, double scale,
                    const char* color) {
  std::string pts;
  const size_t step = std::max<size_t>(1, v.size() / 400);
  for (size_t i = 0; i < v.size(); i += step) {
    const double x = std::min(v[i] * scale, f.x1);
    pts += fmt::format("{:.1f},{:.1f} ", f.X(x),
                       f.Y(100.0 * static_cast<double>(i + 1) /
                           static_cast<double>(v.size())));
  }
  pts += fmt::format("{:.1f},{:.1f}", f.X(std::min(v.back() * scale, f.x1)),
                     f.Y(100));
  return Polyline(pts, color);
}

// One stacked bar of the six shares `v` at height y, `w` pixels for 100%.
std::string StackedBar(const std::array<double, 6>& v, double left, double y,
                       double w, double bar) {
  std::string s;
  double x = left;
  for (size_t p = 0; p < kParts.size(); ++p) {
    const double bw = v[p] * w;
    if (bw <= 0) continue;
    s += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{}\" "
        "fill=\"{}\"><title>{} {}</title></rect>\n",
        x, y, bw, bar, kParts[p].color, kParts[p].label, Pct(v[p]));
    x += bw;
  }
  return s;
}

// The x axis of a CDF chart, in units of 1/scale seconds: linear from 0 to
// the largest p99 rounded up to a tick; or, when the series lie orders of
// magnitude apart (the largest p99 over 20x the smallest median, which a
// linear axis would squash onto the y axis), log from the power of ten below
// the smallest 1st percentile to the one above the largest p99. The tail
// beyond the axis is clipped.
void CdfAxis(const std::vector<std::vector<double>>& all, double scale,
             Frame& f) {
  double p99 = 0, min_p50 = 1e300, min_p1 = 1e300;
  for (const auto& v : all) {
    if (v.empty()) continue;
    p99 = std::max(p99, v[(v.size() * 99) / 100]);
    min_p50 = std::min(min_p50, v[v.size() / 2]);
    min_p1 = std::min(min_p1, v[v.size() / 100]);
  }
  f.log_x = min_p1 > 0 && p99 > 20 * min_p50;
  if (!f.log_x) {
    f.x0 = 0;
    f.x1 = RoundUp(p99 * scale);
    return;
  }
  f.x0 = std::pow(10, std::floor(std::log10(min_p1 * scale)));
  f.x1 = std::max(10 * f.x0, std::pow(10, std::ceil(std::log10(p99 * scale))));
}

constexpr const char* kPreemptColor = "#212529";
constexpr const char* kRejectColor = "#0b7285";

// Marks on a time chart: a tick down from the top at each sample in which
// preemptions happened, a cross on the time axis at each rejected arrival
// (one per pixel column, so a burst of thousands stays cheap). Adds the
// legend entries of the kinds drawn.
std::string EventMarks(const SimulationReport& r, const Frame& f,
                       LegendEntries* legend) {
  std::string s;
  int64_t before = 0;
  for (const TimelinePoint& p : r.timeline) {
    if (p.preemptions > before) {
      const double x = f.X(p.time_s);
      s += fmt::format(
          "<line class=\"preempt\" x1=\"{0:.1f}\" y1=\"{1:.1f}\" "
          "x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\" "
          "stroke-width=\"1.5\"><title>{4} preemptions by {5:.2f} s</title>"
          "</line>\n",
          x, f.Y(100), f.Y(92), kPreemptColor, p.preemptions, p.time_s);
    }
    before = p.preemptions;
  }
  if (!s.empty()) legend->emplace_back("preemption", kPreemptColor);
  std::string crosses;
  double last_x = -1;
  for (const RequestResult& q : r.requests) {
    if (!q.rejected) continue;
    const double x = f.X(q.arrival_s);
    if (x - last_x < 1) continue;
    last_x = x;
    const double y = f.Y(0) - 4;
    crosses += fmt::format(
        "<path class=\"reject\" d=\"M{:.1f},{:.1f}l6,6m0,-6l-6,6\" "
        "stroke=\"{}\" stroke-width=\"1.5\" fill=\"none\"><title>request "
        "{} rejected at {:.2f} s</title></path>\n",
        x - 3, y - 3, kRejectColor, q.id, q.arrival_s);
  }
  if (!crosses.empty()) legend->emplace_back("rejection", kRejectColor);
  return s + crosses;
}

}  // namespace

TimeRange SharedTimeRange(const std::vector<SimulationReport>& reports) {
  TimeRange t{0, -1e300};
  for (const SimulationReport& r : reports) {
    for (const TimelinePoint& p : r.timeline) {
      t.t0 = std::min(t.t0, p.time_s);
      t.t1 = std::max(t.t1, p.time_s);
    }
    for (const RequestResult& q : r.requests) {
      if (q.rejected) t.t1 = std::max(t.t1, q.arrival_s);
    }
  }
  if (t.t1 < t.t0) t.t1 = t.t0;
  return t;
}

std::string MemoryChart(const SimulationReport& r, const TimeRange& range) {
  const auto& tl = r.timeline;
  if (tl.empty()) return "";
  Frame f{range.t0, range.t1, 0, 100};
  std::string s =
      f.Open("area", fmt::format("KV memory over time: {}", Name(r)),
             "time (s)", "% of KV memory");
  s += "<g class=\"marks\">\n";
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
  LegendEntries legend = PartsLegend();
  s += EventMarks(r, f, &legend);
  s += "</g>\n" + Legend(legend, f.left, kLegendY);
  return s + "</svg>\n";
}

std::string LinesChart(const std::vector<SimulationReport>& reports,
                       const TimeRange& range, const std::string& title,
                       const std::string& ylabel,
                       const std::function<double(const TimelinePoint&)>& get) {
  double ymax = 1;
  bool any = false;
  for (const auto& r : reports) {
    for (const auto& p : r.timeline) {
      ymax = std::max(ymax, get(p));
      any = true;
    }
  }
  if (!any) return "";
  Frame f{range.t0, range.t1, 0, RoundUp(ymax)};
  std::string s = f.Open("lines", title, "time (s)", ylabel);
  s += "<g class=\"marks\">\n";
  LegendEntries legend;
  for (size_t k = 0; k < reports.size(); ++k) {
    std::string pts;
    for (const auto& p : reports[k].timeline) {
      pts += fmt::format("{:.1f},{:.1f} ", f.X(p.time_s), f.Y(get(p)));
    }
    s += Polyline(pts, SeriesColor(k));
    legend.emplace_back(Name(reports[k]), SeriesColor(k));
  }
  s += "</g>\n" + Legend(legend, f.left, kLegendY);
  return s + "</svg>\n";
}

std::string CdfChart(const std::vector<SimulationReport>& reports,
                     const std::string& name,
                     const std::function<double(const RequestResult&)>& get) {
  std::vector<std::vector<double>> all;
  double p99 = 0;
  for (const auto& r : reports) {
    all.push_back(SortedLatencies(r, get));
    if (!all.back().empty()) {
      p99 = std::max(p99, all.back()[(all.back().size() * 99) / 100]);
    }
  }
  const bool ms = p99 < 1;
  const double scale = ms ? 1e3 : 1;
  Frame f{0, 1, 0, 100};
  CdfAxis(all, scale, f);
  const std::string xlabel = fmt::format("{} ({}{})", name, ms ? "ms" : "s",
                                         f.log_x ? ", log scale" : "");
  std::string s = f.Open("cdf", name + " (CDF)", xlabel, "% of requests");
  s += "<g class=\"marks\">\n";
  LegendEntries legend;
  for (size_t k = 0; k < all.size(); ++k) {
    legend.emplace_back(Name(reports[k]), SeriesColor(k));
    if (!all[k].empty()) s += CdfLine(f, all[k], scale, SeriesColor(k));
  }
  s += "</g>\n" + Legend(legend, f.left, kLegendY);
  return s + "</svg>\n";
}

std::string ComparisonBars(const std::vector<SimulationReport>& reports) {
  const double left = 80, w = 660, bar = 26, gap = 12, top = 48;
  const double bottom = top + reports.size() * (bar + gap);
  std::string s = OpenSvg("hbars", left + w + 20, bottom + 40,
                          "Mean KV memory by allocator", left);
  s += Legend(PartsLegend(), left, kLegendY);
  s += "<g class=\"marks\">\n";
  for (size_t k = 0; k < reports.size(); ++k) {
    const double y = top + k * (bar + gap);
    s += StackedBar(Values(reports[k].mean_memory), left, y, w, bar);
  }
  s += "</g>\n";
  for (size_t k = 0; k < reports.size(); ++k) {
    s += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"k cat\" "
        "text-anchor=\"end\">{}</text>\n",
        left - 6, top + k * (bar + gap) + bar / 2 + 4, Name(reports[k]));
  }
  const Ticks xt = RoundTicks(0, 100, 5);
  for (const double v : xt.values) {
    s += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"k xtick\" "
        "text-anchor=\"middle\">{}</text>\n",
        left + v / 100 * w, bottom + 8, xt.Label(v));
  }
  s += fmt::format(
      "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"k xlabel\" "
      "text-anchor=\"middle\">% of KV memory (time-weighted mean)</text>\n",
      left + w / 2, bottom + 26);
  return s + "</svg>\n";
}

std::string FigureBars(
    const std::vector<SimulationReport>& reports, const std::string& title,
    const std::string& ylabel,
    const std::function<double(const SimulationReport&)>& get) {
  double ymax = 0;
  for (const auto& r : reports) ymax = std::max(ymax, get(r));
  Frame f{0, 1, 0, RoundUp(ymax)};
  f.w = 320, f.h = 180, f.top = 40, f.right = 10, f.bottom = 30;
  std::string s = OpenSvg("vbars", f.left + f.w + f.right,
                          f.top + f.h + f.bottom, title, f.left);
  s += f.YAxis(ylabel);
  const double slot =
      f.w / static_cast<double>(std::max<size_t>(1, reports.size()));
  std::string marks, labels;
  for (size_t k = 0; k < reports.size(); ++k) {
    const double v = get(reports[k]);
    const double x = f.left + k * slot + slot * 0.2;
    const double y = f.Y(v);
    marks += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
        "fill=\"{}\"/>\n",
        x, y, slot * 0.6, f.top + f.h - y, SeriesColor(k));
    labels += fmt::format(
        "<text x=\"{0:.1f}\" y=\"{1:.1f}\" class=\"k value\" "
        "text-anchor=\"middle\">{2}</text>\n"
        "<text x=\"{0:.1f}\" y=\"{3:.1f}\" class=\"k cat\" "
        "text-anchor=\"middle\">{4}</text>\n",
        x + slot * 0.3, y - 4, Frame::Value(v), f.top + f.h + 16,
        Name(reports[k]));
  }
  return s + "<g class=\"marks\">\n" + marks + "</g>\n" + labels + "</svg>\n";
}

}  // namespace pagekv::tools::report
