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

LegendEntries PartsLegend() {
  LegendEntries legend;
  for (const Part& p : kParts) legend.emplace_back(p.label, p.color);
  return legend;
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

// The polyline of one CDF, clipped at xmax, with at most ~400 points.
std::string CdfLine(const Frame& f, const std::vector<double>& v, double xmax,
                    const char* color) {
  std::string pts;
  const size_t step = std::max<size_t>(1, v.size() / 400);
  for (size_t i = 0; i < v.size(); i += step) {
    const double x = std::min(v[i], xmax);
    pts += fmt::format("{:.1f},{:.1f} ", f.X(x),
                       f.Y(100.0 * static_cast<double>(i + 1) /
                           static_cast<double>(v.size())));
  }
  pts += fmt::format("{:.1f},{:.1f}", f.X(std::min(v.back(), xmax)), f.Y(100));
  return fmt::format(
      "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" "
      "stroke-width=\"1.5\"/>\n",
      pts, color);
}

}  // namespace

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
  s += Legend(PartsLegend(), f.left + 240, 18);
  return s + "</svg>\n";
}

std::string LinesChart(const std::vector<SimulationReport>& reports,
                       const std::string& title, const std::string& ylabel,
                       const std::function<double(const TimelinePoint&)>& get) {
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
  LegendEntries legend;
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

// x runs up to the largest p99 (the tail beyond is clipped).
std::string CdfChart(const std::vector<SimulationReport>& reports,
                     const std::string& title,
                     const std::function<double(const RequestResult&)>& get) {
  std::vector<std::vector<double>> all;
  double xmax = 0;
  for (const auto& r : reports) {
    std::vector<double> v = SortedLatencies(r, get);
    if (!v.empty()) xmax = std::max(xmax, v[(v.size() * 99) / 100]);
    all.push_back(std::move(v));
  }
  if (xmax <= 0) xmax = 1;
  Frame f{0, xmax, 0, 100};
  std::string s = f.Open(title, "seconds", "% of requests");
  LegendEntries legend;
  for (size_t k = 0; k < all.size(); ++k) {
    const char* color = kSeriesColors[k % kSeriesColors.size()];
    legend.emplace_back(Name(reports[k]), color);
    if (!all[k].empty()) s += CdfLine(f, all[k], xmax, color);
  }
  s += Legend(legend, f.left + 360, 18);
  return s + "</svg>\n";
}

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
  s += Legend(PartsLegend(), left, 34);
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

std::string FigureBars(
    const std::vector<SimulationReport>& reports, const std::string& title,
    const std::function<double(const SimulationReport&)>& get) {
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

}  // namespace pagekv::tools::report
