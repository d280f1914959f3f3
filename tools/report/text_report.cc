// PrintSummary: the readable summary `pagekv simulate` prints.
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "fmt/ostream.h"
#include "pagekv/sim/sim_allocator.h"
#include "report/report_util.h"
#include "simulate_report.h"

namespace pagekv::tools {
namespace {

using report::Name;
using report::Pct;
using report::Seconds;

std::string Latency(const LatencySummary& l) {
  if (l.count == 0) return "-";
  return fmt::format("p50 {}  p90 {}  p99 {}  mean {}  max {}", Seconds(l.p50),
                     Seconds(l.p90), Seconds(l.p99), Seconds(l.mean),
                     Seconds(l.max));
}

void PrintSetup(const RunDescription& run, std::ostream& out) {
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
             run.model, run.hardware, run.kv_memory_bytes / report::kGiB,
             run.block_size, run.eviction_policy,
             run.prefix_caching ? "on" : "off", run.max_batch_tokens,
             run.max_num_seqs, run.preemption_policy,
             run.full_prompt_gate ? "on" : "off");
}

// Requests, throughput, latencies and batch sizes of one run.
void PrintRequests(const SimulationReport& r, std::ostream& out) {
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
}

// Memory shares, first out-of-memory events and prefix hits of one run.
void PrintMemory(const SimulationReport& r, std::ostream& out) {
  fmt::print(out, "KV memory    {:>14} {:>9} {:>14} {:>14} {:>7} {:>7}\n",
             "token states", "reserved", "internal frag", "external frag",
             "cached", "free");
  for (const auto& [label, shares] :
       {std::pair{"mean", r.mean_memory}, std::pair{"peak", r.peak_memory}}) {
    const auto v = report::Values(shares);
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
}

// One row per allocator: memory shares, batch, first OOM, throughput, tails.
void PrintComparison(const std::vector<SimulationReport>& reports,
                     std::ostream& out) {
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
    const auto v = report::Values(c.mean_memory);
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

}  // namespace

void PrintSummary(const RunDescription& run,
                  const std::vector<SimulationReport>& reports,
                  std::ostream& out) {
  PrintSetup(run, out);
  if (reports.empty()) return;
  const SimulationReport& r = reports.front();
  fmt::print(out, "\n== Allocator {} ==\n", Name(r));
  PrintRequests(r, out);
  PrintMemory(r, out);
  if (reports.size() < 2) return;
  PrintComparison(reports, out);
}

}  // namespace pagekv::tools
