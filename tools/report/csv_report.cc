// TimelineCsv: the timelines of `pagekv simulate --csv`.
#include <string>
#include <vector>

#include "fmt/format.h"
#include "report/report_util.h"
#include "simulate_report.h"

namespace pagekv::tools {

std::string TimelineCsv(const std::vector<SimulationReport>& reports) {
  using report::kGiB;
  std::string s =
      "allocator,time_s,token_states,reserved,internal_fragmentation,"
      "external_fragmentation,cached,free,kv_used_gib,batch_size,num_decodes,"
      "prefill_tokens,num_running,num_waiting,preemptions\n";
  for (const SimulationReport& r : reports) {
    for (const TimelinePoint& p : r.timeline) {
      const auto v = report::Values(p.memory);
      s += fmt::format(
          "{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{},{},{},"
          "{},{},{}\n",
          report::Name(r), p.time_s, v[0], v[1], v[2], v[3], v[4], v[5],
          static_cast<double>(p.memory.allocated()) * p.memory.bytes_per_slot /
              kGiB,
          p.batch_size, p.num_decodes, p.prefill_tokens, p.num_running,
          p.num_waiting, p.preemptions);
    }
  }
  return s;
}

}  // namespace pagekv::tools
