#include "report/html_svg.h"

#include <cmath>
#include <string>

#include "fmt/format.h"

namespace pagekv::tools::report {

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

double Frame::X(double x) const {
  return left + (x1 > x0 ? (x - x0) / (x1 - x0) : 0) * w;
}

double Frame::Y(double y) const {
  return top + h - (y1 > y0 ? (y - y0) / (y1 - y0) : 0) * h;
}

std::string Frame::Open(const std::string& title, const std::string& xlabel,
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

std::string Frame::Tick(double v) {
  if (v != 0 && std::fabs(v) < 0.01) return fmt::format("{:.1e}", v);
  if (std::fabs(v) >= 1000) return fmt::format("{:.0f}", v);
  return fmt::format("{:.3g}", v);
}

std::string Legend(const LegendEntries& kv, double x, double y) {
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

}  // namespace pagekv::tools::report
