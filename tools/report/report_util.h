// Helpers shared by the writers of `pagekv simulate`'s reports (text, JSON,
// CSV, HTML): names, number formats and the six memory shares in report
// order. Private to tools/report/.
#ifndef PAGEKV_TOOLS_REPORT_REPORT_UTIL_H_
#define PAGEKV_TOOLS_REPORT_REPORT_UTIL_H_

#include <array>
#include <string>

#include "pagekv/sim/simulator.h"

namespace pagekv::tools::report {

inline constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// The allocator's name as the CLI spells it ("paged", "max", ...).
std::string Name(const SimulationReport& r);

// A duration with a unit that fits it ("12.3 ms"); "never" when s < 0.
std::string Seconds(double s);

// A share in [0, 1] as a percentage with one decimal ("41.6%").
std::string Pct(double x);

// One of the six shares a memory breakdown is split into.
struct Part {
  const char* key;    // JSON key (docs/simulator.md)
  const char* label;  // short label for charts
  const char* color;  // chart fill
};

// The six shares in report order: token states, reserved, internal and
// external fragmentation, cached, free.
inline constexpr std::array<Part, 6> kParts = {{
    {"token_states", "token states", "#2b8a3e"},
    {"reserved", "reserved", "#74c0fc"},
    {"internal_fragmentation", "internal frag.", "#f08c00"},
    {"external_fragmentation", "external frag.", "#e03131"},
    {"cached", "cached", "#ae3ec9"},
    {"free", "free", "#dee2e6"},
}};

// The shares of `s` (or of the breakdown `m`) in kParts order.
std::array<double, 6> Values(const MemoryShares& s);
std::array<double, 6> Values(const MemoryBreakdown& m);

}  // namespace pagekv::tools::report

#endif  // PAGEKV_TOOLS_REPORT_REPORT_UTIL_H_
