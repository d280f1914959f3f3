#include "report/report_util.h"

#include <string>

#include "fmt/format.h"
#include "pagekv/sim/sim_allocator.h"

namespace pagekv::tools::report {

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

std::array<double, 6> Values(const MemoryShares& s) {
  return {s.token_states,           s.reserved, s.internal_fragmentation,
          s.external_fragmentation, s.cached,   s.free};
}

std::array<double, 6> Values(const MemoryBreakdown& m) {
  return Values(SharesOf(m));
}

}  // namespace pagekv::tools::report
