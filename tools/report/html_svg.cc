#include "report/html_svg.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "fmt/format.h"

namespace pagekv::tools::report {
namespace {

// 1, 2 or 5 x 10^k, the smallest such step giving at most `target` steps.
double RoundStep(double span, int target) {
  if (!(span > 0)) return 1;
  const double raw = span / target;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0}) {
    if (m * magnitude >= raw * (1 - 1e-9)) return m * magnitude;
  }
  return 10 * magnitude;
}

// Ticks of a log axis: each power of ten in [x0, x1].
Ticks LogTicks(double x0, double x1) {
  Ticks t;
  for (double e = std::round(std::log10(x0)); e <= std::log10(x1) + 1e-9; ++e) {
    t.values.push_back(std::pow(10, e));
  }
  return t;
}

}  // namespace

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

std::string Ticks::Label(double v) const {
  const int decimals =
      std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  if (std::fabs(v) < step * 1e-6) v = 0;  // no "-0"
  return fmt::format("{:.{}f}", v, decimals);
}

Ticks RoundTicks(double lo, double hi, int target) {
  Ticks t;
  t.step = RoundStep(hi - lo, target);
  const double first = std::ceil(lo / t.step - 1e-9);
  const double last = std::floor(hi / t.step + 1e-9);
  for (double k = first; k <= last; ++k) t.values.push_back(k * t.step);
  return t;
}

double RoundUp(double hi, int target) {
  if (!(hi > 0)) return 1;
  const double step = RoundStep(hi, target);
  return std::ceil(hi / step - 1e-9) * step;
}

double Frame::X(double x) const {
  if (log_x) {
    const double lo = std::log10(x0);
    return left +
           (std::log10(std::max(x, x0)) - lo) / (std::log10(x1) - lo) * w;
  }
  return left + (x1 > x0 ? (x - x0) / (x1 - x0) : 0) * w;
}

double Frame::Y(double y) const {
  return top + h - (y1 > y0 ? (y - y0) / (y1 - y0) : 0) * h;
}

std::string OpenSvg(const std::string& kind, double width, double height,
                    const std::string& title, double title_x,
                    const std::string& attrs) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" "
      "data-kind=\"{4}\"{5} width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" role=\"img\">\n<title>{2}</title>\n"
      "<text x=\"{3}\" y=\"18\" class=\"t\">{2}</text>\n",
      width, height, Esc(title), title_x, kind, attrs);
}

std::string Frame::YAxis(const std::string& ylabel) const {
  std::string s;
  const Ticks yt = RoundTicks(y0, y1, 5);
  for (const double v : yt.values) {
    s += fmt::format(
        "<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" "
        "class=\"grid\"/><text x=\"{3}\" y=\"{4:.1f}\" class=\"k ytick\" "
        "text-anchor=\"end\">{5}</text>\n",
        left, Y(v), left + w, left - 4, Y(v) + 4, yt.Label(v));
  }
  s += fmt::format(
      "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" class=\"ax\"/>"
      "<line x1=\"{0}\" y1=\"{3}\" x2=\"{0}\" y2=\"{1}\" class=\"ax\"/>\n",
      left, top + h, left + w, top);
  s += fmt::format(
      "<text x=\"12\" y=\"{0:.1f}\" class=\"k ylabel\" text-anchor=\"middle\" "
      "transform=\"rotate(-90 12 {0:.1f})\">{1}</text>\n",
      top + h / 2, Esc(ylabel));
  return s;
}

std::string Frame::Open(const std::string& kind, const std::string& title,
                        const std::string& xlabel,
                        const std::string& ylabel) const {
  std::string s = OpenSvg(kind, left + w + right, top + h + bottom, title, left,
                          log_x ? " data-xscale=\"log\"" : "");
  s += YAxis(ylabel);
  // About one tick per 100 px.
  const Ticks xt = log_x ? LogTicks(x0, x1) : RoundTicks(x0, x1, 8);
  for (const double v : xt.values) {
    // A log axis labels each power of ten with the decimals it needs.
    const std::string label = log_x ? Ticks{v, {}}.Label(v) : xt.Label(v);
    s += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"k xtick\" "
        "text-anchor=\"middle\">{}</text>\n",
        X(v), top + h + 18, label);
  }
  s += fmt::format(
      "<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"k xlabel\" "
      "text-anchor=\"middle\">{}</text>\n",
      left + w / 2, top + h + 34, Esc(xlabel));
  return s;
}

std::string Frame::Value(double v) {
  if (v != 0 && std::fabs(v) < 0.01) return fmt::format("{:.1e}", v);
  if (std::fabs(v) >= 1000) return fmt::format("{:.0f}", v);
  return fmt::format("{:.3g}", v);
}

std::string Legend(const LegendEntries& kv, double x, double y) {
  std::string s = "<g class=\"legend\">\n";
  for (const auto& [label, color] : kv) {
    s += fmt::format(
        "<g class=\"item\"><rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"10\" "
        "height=\"10\" fill=\"{}\"/><text x=\"{:.1f}\" y=\"{:.1f}\" "
        "class=\"k\">{}</text></g>\n",
        x, y - 9, color, x + 14, y, Esc(label));
    x += 24 + 7.0 * static_cast<double>(label.size());
  }
  return s + "</g>\n";
}

}  // namespace pagekv::tools::report
