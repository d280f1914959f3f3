// ReportJson: every summary figure of `pagekv simulate --json`, with the
// stable snake_case keys documented in docs/simulator.md.
#include <string>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"
#include "report/report_util.h"
#include "simulate_report.h"

namespace pagekv::tools {
namespace {

using Json = nlohmann::ordered_json;

Json SharesJson(const MemoryShares& s) {
  Json j;
  const auto v = report::Values(s);
  for (size_t i = 0; i < report::kParts.size(); ++i) {
    j[report::kParts[i].key] = v[i];
  }
  return j;
}

Json LatencyJson(const LatencySummary& l) {
  return {{"count", l.count}, {"mean", l.mean}, {"p50", l.p50},
          {"p90", l.p90},     {"p99", l.p99},   {"max", l.max}};
}

Json WorkloadJson(const RunDescription& run) {
  const WorkloadStats& w = run.workload_stats;
  return {{"name", run.workload},
          {"num_requests", w.num_requests},
          {"prompt_tokens", w.prompt_tokens},
          {"output_tokens", w.output_tokens},
          {"max_prompt_tokens", w.max_prompt_tokens},
          {"mean_prompt_tokens", w.mean_prompt_tokens},
          {"mean_output_tokens", w.mean_output_tokens},
          {"duration_s", w.duration_s}};
}

Json ConfigJson(const RunDescription& run) {
  return {{"model", run.model},
          {"hardware", run.hardware},
          {"kv_memory_bytes", run.kv_memory_bytes},
          {"block_size", run.block_size},
          {"eviction_policy", run.eviction_policy},
          {"prefix_caching", run.prefix_caching},
          {"max_batch_tokens", run.max_batch_tokens},
          {"max_num_seqs", run.max_num_seqs},
          {"preemption_policy", run.preemption_policy},
          {"full_prompt_gate", run.full_prompt_gate},
          {"rate_scale", run.rate_scale},
          {"max_requests", run.max_requests},
          {"seed", run.seed}};
}

Json PrefixCacheJson(const SimulationReport& r) {
  return {{"hit_rate", r.prefix_hit_rate},
          {"queries", r.prefix.queries},
          {"query_tokens", r.prefix.query_tokens},
          {"hit_tokens", r.prefix.hit_tokens},
          {"resumed_hit_rate", r.resumed_prefix_hit_rate},
          {"resumed_queries", r.prefix.resumed_queries},
          {"resumed_query_tokens", r.prefix.resumed_query_tokens},
          {"resumed_hit_tokens", r.prefix.resumed_hit_tokens}};
}

// Counts, throughput and latency of one allocator's run.
void AddRunFigures(const SimulationReport& r, Json& o) {
  o["allocator"] = report::Name(r);
  o["num_requests"] = r.num_requests;
  o["completed"] = r.completed;
  o["rejected"] = r.rejected;
  o["preemptions"] = r.preemptions;
  o["preempted_requests"] = r.preempted_requests;
  o["steps"] = r.steps;
  o["prompt_tokens"] = r.prompt_tokens;
  o["output_tokens"] = r.output_tokens;
  o["computed_prefill_tokens"] = r.computed_prefill_tokens;
  o["makespan_s"] = r.makespan_s;
  o["busy_s"] = r.busy_s;
  o["request_throughput"] = r.request_throughput;
  o["output_throughput"] = r.output_throughput;
  o["total_throughput"] = r.total_throughput;
  o["ttft_s"] = LatencyJson(r.ttft);
  o["tpot_s"] = LatencyJson(r.tpot);
  o["e2e_s"] = LatencyJson(r.e2e);
}

// Memory, batch and prefix-cache figures of one allocator's run.
void AddMemoryFigures(const SimulationReport& r, Json& o) {
  o["capacity_slots"] = r.capacity_slots;
  o["bytes_per_slot"] = r.bytes_per_slot;
  o["kv_memory_bytes"] = r.kv_memory_bytes;
  o["mean_memory"] = SharesJson(r.mean_memory);
  o["peak_memory"] = SharesJson(r.peak_memory);
  o["peak_token_states_share"] = r.peak_token_states_share;
  o["mean_batch_size"] = r.mean_batch_size;
  o["max_batch_size"] = r.max_batch_size;
  o["mean_running"] = r.mean_running;
  o["max_running"] = r.max_running;
  o["first_preemption_s"] = r.first_preemption_s;
  o["first_admission_blocked_s"] = r.first_admission_blocked_s;
  o["prefix_cache"] = PrefixCacheJson(r);
}

Json ResultJson(const SimulationReport& r) {
  Json o;
  AddRunFigures(r, o);
  AddMemoryFigures(r, o);
  Json rej = Json::array();
  for (const Rejection& x : r.rejections) {
    rej.push_back({{"request_id", x.request_id}, {"reason", x.reason}});
  }
  o["rejections"] = std::move(rej);
  o["timeline_interval_s"] = r.timeline_interval_s;
  return o;
}

}  // namespace

std::string ReportJson(const RunDescription& run,
                       const std::vector<SimulationReport>& reports) {
  Json j;
  j["schema_version"] = 1;
  j["workload"] = WorkloadJson(run);
  j["config"] = ConfigJson(run);
  Json results = Json::array();
  for (const SimulationReport& r : reports) results.push_back(ResultJson(r));
  j["results"] = std::move(results);
  return j.dump(2) + "\n";
}

}  // namespace pagekv::tools
