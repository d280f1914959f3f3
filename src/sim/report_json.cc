#include "pagekv/sim/report_json.h"

#include <string>
#include <utility>
#include <vector>

#include "core/check.h"
#include "nlohmann/json.hpp"
#include "pagekv/sim/sim_allocator.h"

namespace pagekv {
namespace {

nlohmann::ordered_json SharesJson(const MemoryShares& s) {
  nlohmann::ordered_json j;
  j["token_states"] = s.token_states;
  j["reserved"] = s.reserved;
  j["internal_fragmentation"] = s.internal_fragmentation;
  j["external_fragmentation"] = s.external_fragmentation;
  j["cached"] = s.cached;
  j["free"] = s.free;
  j["free_while_waiting"] = s.free_while_waiting;
  return j;
}

nlohmann::ordered_json LatencyJson(const LatencySummary& l) {
  return {{"count", l.count}, {"mean", l.mean}, {"p50", l.p50},
          {"p90", l.p90},     {"p99", l.p99},   {"max", l.max}};
}

nlohmann::ordered_json PrefixJson(const SimulationReport& r) {
  return {{"hit_rate", r.prefix_hit_rate},
          {"queries", r.prefix.queries},
          {"query_tokens", r.prefix.query_tokens},
          {"hit_tokens", r.prefix.hit_tokens},
          {"resumed_hit_rate", r.resumed_prefix_hit_rate},
          {"resumed_queries", r.prefix.resumed_queries},
          {"resumed_query_tokens", r.prefix.resumed_query_tokens},
          {"resumed_hit_tokens", r.prefix.resumed_hit_tokens}};
}

// The host tier's figures (SimulationReport::tier).
nlohmann::ordered_json TierJson(const TierReport& t) {
  nlohmann::ordered_json o;
  o["gpu_hit_rate"] = t.gpu_hit_rate;
  o["host_hit_rate"] = t.host_hit_rate;
  o["host_hit_tokens"] = t.host_hit_tokens;
  o["loaded_host_tokens"] = t.loaded_host_tokens;
  o["recomputed_host_tokens"] = t.recomputed_host_tokens;
  o["stored_blocks"] = t.stored_blocks;
  o["bytes_loaded"] = t.bytes_loaded;
  o["bytes_stored"] = t.bytes_stored;
  o["load_s"] = t.load_s;
  o["store_link_s"] = t.store_link_s;
  o["store_overhead_s"] = t.store_overhead_s;
  o["host_capacity_blocks"] = t.host.capacity_blocks;
  o["host_evictions"] = t.host.evictions;
  o["host_stores_dropped"] = t.host.stores_dropped;
  o["host_stores_filtered"] = t.host.stores_filtered;
  return o;
}

nlohmann::ordered_json ResultJson(const SimulationReport& r) {
  nlohmann::ordered_json o;
  o["allocator"] = std::string(AllocatorKindName(r.allocator));
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
  o["prefix_cache"] = PrefixJson(r);
  nlohmann::ordered_json rej = nlohmann::ordered_json::array();
  for (const Rejection& x : r.rejections) {
    rej.push_back({{"request_id", x.request_id}, {"reason", x.reason}});
  }
  o["rejections"] = std::move(rej);
  o["timeline_interval_s"] = r.timeline_interval_s;
  if (r.tier.enabled) o["tiers"] = TierJson(r.tier);
  return o;
}

nlohmann::ordered_json ReplayFigures(const ReplayRun& run) {
  const ReplayResult& r = run.result;
  nlohmann::ordered_json j;
  j["policy"] = run.policy;
  j["capacity_blocks"] = run.capacity_blocks;
  j["infinite_capacity"] = run.infinite_capacity;
  j["requests"] = r.requests;
  j["skipped_requests"] = r.skipped_requests;
  j["skipped_prompt_tokens"] = r.skipped_prompt_tokens;
  j["prompt_tokens"] = r.prompt_tokens;
  j["hit_tokens"] = r.hit_tokens;
  j["hit_rate_tokens"] = r.HitRateTokens();
  j["query_blocks"] = r.query_blocks;
  j["hit_blocks"] = r.hit_blocks;
  j["hit_rate_blocks"] = r.HitRateBlocks();
  j["evictions"] = r.evictions;
  j["cached_blocks_at_end"] = r.cached_blocks;
  if (run.host_blocks > 0) {
    j["host_blocks"] = run.host_blocks;
    j["host_hit_tokens"] = r.host_hit_tokens;
    j["host_hit_rate_tokens"] = r.HostHitRateTokens();
    j["host_stores"] = r.host_stores;
    j["host_evictions"] = r.host_evictions;
  }
  j["replay_seconds"] = r.seconds;
  return j;
}

}  // namespace

RunDescription DescribeRun(const Workload& workload,
                           const SimulatorConfig& config,
                           double kv_memory_bytes, double rate_scale,
                           int64_t max_requests, uint64_t seed) {
  RunDescription run;
  run.workload = workload.name;
  run.workload_stats = workload.Stats();
  run.model = config.model.name;
  run.hardware = config.hardware.name;
  run.kv_memory_bytes = kv_memory_bytes;
  run.block_size = config.block_size;
  run.eviction_policy = config.eviction_policy;
  run.prefix_caching = config.enable_prefix_caching;
  run.max_batch_tokens = config.scheduler.max_batch_tokens;
  run.max_num_seqs = config.scheduler.max_num_seqs;
  run.preemption_policy =
      std::string(PreemptionPolicyName(config.scheduler.preemption_policy));
  run.full_prompt_gate = config.scheduler.require_full_prompt_fit;
  run.rate_scale = rate_scale;
  run.max_requests = max_requests;
  run.seed = seed;
  return run;
}

std::string SimulationReportJson(const RunDescription& run,
                                 const std::vector<SimulationReport>& reports) {
  nlohmann::ordered_json j;
  j["schema_version"] = 1;
  const WorkloadStats& w = run.workload_stats;
  j["workload"] = {{"name", run.workload},
                   {"num_requests", w.num_requests},
                   {"prompt_tokens", w.prompt_tokens},
                   {"output_tokens", w.output_tokens},
                   {"max_prompt_tokens", w.max_prompt_tokens},
                   {"mean_prompt_tokens", w.mean_prompt_tokens},
                   {"mean_output_tokens", w.mean_output_tokens},
                   {"duration_s", w.duration_s}};
  j["config"] = {{"model", run.model},
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
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  for (const SimulationReport& r : reports) results.push_back(ResultJson(r));
  j["results"] = std::move(results);
  return j.dump(2) + "\n";
}

std::string ReplayReportJson(std::string_view trace, int64_t block_size,
                             const std::vector<ReplayRun>& runs,
                             int64_t copies) {
  PAGEKV_CHECK(!runs.empty(), "ReplayReportJson needs at least one run");
  nlohmann::ordered_json j;
  if (runs.size() == 1) {
    j["trace"] = std::string(trace);
    j["block_size"] = block_size;
    if (copies > 1) j["repeat"] = copies;
    const nlohmann::ordered_json figures = ReplayFigures(runs[0]);
    for (const auto& [key, value] : figures.items()) {
      j[key] = value;
    }
  } else {
    j = nlohmann::ordered_json::array();
    for (const ReplayRun& run : runs) {
      nlohmann::ordered_json row = ReplayFigures(run);
      row["block_size"] = block_size;
      if (copies > 1) row["repeat"] = copies;
      j.push_back(std::move(row));
    }
  }
  return j.dump(2) + "\n";
}

}  // namespace pagekv
