// SVG building blocks of the HTML report: escaping, a chart frame (axes,
// ticks, labels) and a legend. Private to tools/report/.
#ifndef PAGEKV_TOOLS_REPORT_HTML_SVG_H_
#define PAGEKV_TOOLS_REPORT_HTML_SVG_H_

#include <string>
#include <utility>
#include <vector>

namespace pagekv::tools::report {

// `s` with <, >, & and " replaced by their HTML entities.
std::string Esc(const std::string& s);

// A chart frame: x in [x0, x1], y in [y0, y1] mapped to a w x h plot area
// with margins, axes with a few ticks and labels.
struct Frame {
  double x0, x1, y0, y1;
  double w = 760, h = 220;
  double left = 60, right = 20, top = 30, bottom = 40;

  // Pixel coordinates of a data point.
  double X(double x) const;
  double Y(double y) const;
  // The opening <svg> tag, title, axes, ticks and axis labels; the caller
  // appends the marks and closes with "</svg>\n".
  std::string Open(const std::string& title, const std::string& xlabel,
                   const std::string& ylabel) const;
  // A tick or value label for v.
  static std::string Tick(double v);
};

// (label, colour) pairs.
using LegendEntries = std::vector<std::pair<std::string, std::string>>;

// A row of colour swatches and labels starting at (x, y).
std::string Legend(const LegendEntries& kv, double x, double y);

}  // namespace pagekv::tools::report

#endif  // PAGEKV_TOOLS_REPORT_HTML_SVG_H_
