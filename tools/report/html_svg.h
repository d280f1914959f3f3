// SVG building blocks of the HTML report: escaping, round axis ticks, a chart
// frame (axes, grid, ticks, labels) and a legend. Private to tools/report/.
//
// Every chart is marked up for tests/browser/check_reports.py: the <svg> has
// class "chart" and a data-kind, the title is text.t, the axis labels
// text.xlabel / text.ylabel, the ticks text.xtick / text.ytick, the legend
// g.legend > g.item, the drawn data sits in g.marks, and bar charts label
// their bars text.cat (category) and text.value.
#ifndef PAGEKV_TOOLS_REPORT_HTML_SVG_H_
#define PAGEKV_TOOLS_REPORT_HTML_SVG_H_

#include <string>
#include <utility>
#include <vector>

namespace pagekv::tools::report {

// `s` with <, >, & and " replaced by their HTML entities.
std::string Esc(const std::string& s);

// Round ticks for an axis over [lo, hi]: multiples of `step`, which is 1, 2
// or 5 times a power of ten, chosen so that about `target` ticks fall in the
// range.
struct Ticks {
  double step = 1;
  std::vector<double> values;  // the multiples of step in [lo, hi]
  // `v` formatted with as many decimals as the step needs ("0.25", "40").
  std::string Label(double v) const;
};
// REQUIRES: hi >= lo, target >= 1.
Ticks RoundTicks(double lo, double hi, int target = 5);

// The smallest multiple of the round step for [0, hi] that is >= hi: an axis
// maximum that ends on a tick. Returns 1 when hi <= 0.
double RoundUp(double hi, int target = 5);

// A chart with axes: x in [x0, x1], y in [y0, y1] mapped to a w x h plot area
// with margins. The top margin leaves a row for the title and one for the
// legend. With log_x, x is on a log scale (REQUIRES: 0 < x0 < x1, both
// powers of ten) with a tick at each power of ten.
struct Frame {
  double x0, x1, y0, y1;
  double w = 760, h = 220;
  double left = 60, right = 20, top = 48, bottom = 40;
  bool log_x = false;

  // Pixel coordinates of a data point (x clamped to x0 on a log scale).
  double X(double x) const;
  double Y(double y) const;
  // The opening <svg> tag, title, grid, axes, round ticks and axis labels;
  // the caller appends a g.marks, a legend and "</svg>\n".
  std::string Open(const std::string& kind, const std::string& title,
                   const std::string& xlabel, const std::string& ylabel) const;
  // Only the y axis (ticks, grid, label), for bar charts.
  std::string YAxis(const std::string& ylabel) const;
  // A bar's value label (three significant digits, integers from 1000).
  static std::string Value(double v);
};

// The <svg class="chart"> tag and title of a chart of `width` x `height`;
// `attrs` are extra attributes for the tag (" data-xscale=\"log\"").
std::string OpenSvg(const std::string& kind, double width, double height,
                    const std::string& title, double title_x,
                    const std::string& attrs = "");

// (label, colour) pairs.
using LegendEntries = std::vector<std::pair<std::string, std::string>>;

// A g.legend: a row of colour swatches and labels starting at (x, y).
std::string Legend(const LegendEntries& kv, double x, double y);

}  // namespace pagekv::tools::report

#endif  // PAGEKV_TOOLS_REPORT_HTML_SVG_H_
