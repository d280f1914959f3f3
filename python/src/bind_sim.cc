// The sim layer for Python: workloads (traces, the built-in mix, requests
// built in Python), the simulator and the prefix-cache replay. Results come
// back as the JSON documents the CLI writes (pagekv/sim/report_json.h), so
// the keys and values are the CLI's; pagekv/sim.py wraps them.
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "fmt/format.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"
#include "pagekv/sim/cache_replay.h"
#include "pagekv/sim/default_workload.h"
#include "pagekv/sim/report_json.h"
#include "pagekv/sim/simulator.h"
#include "pagekv/sim/trace_reader.h"
#include "pybind11/stl.h"
#include "status.h"

namespace pagekv::python {
namespace {

namespace py = pybind11;
using Release = py::gil_scoped_release;
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kDefaultWorkloadKvGiB = 20;  // as `pagekv simulate`

Request MakeRequest(py::handle prompt, py::handle segments,
                    int32_t output_tokens, double arrival_s, int32_t priority,
                    uint64_t cache_salt) {
  Request r;
  r.output_tokens = output_tokens;
  r.arrival_s = arrival_s;
  r.priority = priority;
  r.cache_salt = cache_salt;
  if (!prompt.is_none() && !segments.is_none()) {
    ThrowInvalid("a Request takes prompt or segments, not both");
  }
  if (!prompt.is_none()) {
    IntArgs<int32_t> t(prompt, "prompt");
    r.tokens.assign(t.span().begin(), t.span().end());
  } else if (!segments.is_none()) {
    for (py::handle s : segments) {
      auto [id, n] = s.cast<std::pair<uint64_t, int32_t>>();
      r.segments.push_back({id, n});
    }
  } else {
    ThrowInvalid("a Request needs prompt (token ids) or segments");
  }
  return r;
}

// A Workload from a list of Requests, with ids 0..n-1; validated.
Workload MakeWorkload(std::vector<Request> requests, std::string name) {
  Workload w;
  w.name = std::move(name);
  w.requests = std::move(requests);
  for (size_t i = 0; i < w.requests.size(); ++i) w.requests[i].id = i;
  Check(w.Validate());
  return w;
}

py::dict StatsDict(const WorkloadStats& s) {
  py::dict d;
  d["num_requests"] = s.num_requests;
  d["prompt_tokens"] = s.prompt_tokens;
  d["output_tokens"] = s.output_tokens;
  d["max_prompt_tokens"] = s.max_prompt_tokens;
  d["mean_prompt_tokens"] = s.mean_prompt_tokens;
  d["mean_output_tokens"] = s.mean_output_tokens;
  d["duration_s"] = s.duration_s;
  return d;
}

void BindWorkload(py::module_& m) {
  py::class_<Request>(m, "Request",
                      "One request: a prompt (token ids, or segments of "
                      "synthesized tokens (content_id, num_tokens) that "
                      "share a prefix when they share content ids), an "
                      "output length and an arrival time in seconds.")
      .def(py::init(&MakeRequest), py::arg("prompt") = py::none(),
           py::kw_only(), py::arg("segments") = py::none(),
           py::arg("output_tokens") = 1, py::arg("arrival_s") = 0.0,
           py::arg("priority") = 0, py::arg("cache_salt") = 0)
      .def_readonly("id", &Request::id)
      .def_readonly("arrival_s", &Request::arrival_s)
      .def_readonly("output_tokens", &Request::output_tokens)
      .def_readonly("priority", &Request::priority)
      .def_readonly("cache_salt", &Request::cache_salt)
      .def_property_readonly("prompt_tokens", &Request::PromptTokens)
      .def(
          "prompt",
          [](const Request& r) {
            std::vector<TokenId> t;
            r.MaterializePrompt(&t);
            return t;
          },
          "The prompt's token ids.");
  py::class_<Workload>(m, "Workload",
                       "Requests in arrival order (a trace, the built-in "
                       "mix, or built in Python).")
      .def(py::init(&MakeWorkload), py::arg("requests"),
           py::arg("name") = "python",
           "Validates the requests (arrivals non-decreasing, output >= 1, "
           "...); raises InvalidArgument naming the request and field.")
      .def_static(
          "read",
          [](const std::string& path, const std::string& format,
             double rate_scale, double start_s, double end_s,
             int64_t max_requests) {
            WorkloadOptions o{rate_scale, start_s, end_s, max_requests};
            absl::StatusOr<Workload> w;
            {
              Release release;
              w = ReadWorkload(path, format, o);
            }
            return Value(std::move(w));  // raises with the GIL held
          },
          py::arg("path"), py::arg("format") = "", py::kw_only(),
          py::arg("rate_scale") = 1.0, py::arg("start_s") = 0.0,
          py::arg("end_s") = std::numeric_limits<double>::infinity(),
          py::arg("max_requests") = 0,
          "Reads a trace (mooncake, azure or jsonl; guessed when format is "
          "empty). Errors name the file, line and field.")
      .def_static(
          "default",
          [](uint64_t seed, int32_t num_requests) {
            DefaultWorkloadOptions o;
            o.seed = seed;
            o.num_requests = num_requests;
            return Value(MakeDefaultWorkload(o));
          },
          py::arg("seed") = 1, py::arg("num_requests") = 2000,
          "The built-in chat + RAG mix (what `pagekv simulate` runs).")
      .def_readonly("name", &Workload::name)
      .def_readonly("requests", &Workload::requests)
      .def("stats", [](const Workload& w) { return StatsDict(w.Stats()); })
      .def("__len__", [](const Workload& w) { return w.requests.size(); });
}

struct SimArgs {
  std::string model, hardware;
  std::optional<double> kv_memory_gib;
  int32_t block_size = 16;
  std::string policy;
  bool prefix_caching = true;
  std::vector<std::string> allocators;
  int64_t max_batch_tokens = 8192;
  int32_t max_num_seqs = 256;
  std::string preemption;
  bool full_prompt_gate = false;
  double rate_scale = 1;
  int64_t max_requests = 0;
  uint64_t seed = 1;
  double timeline_interval = 0;
};

py::dict Columns(const SimulationReport& r) {
  std::vector<double> t, arrival, ttft, finish;
  std::vector<int64_t> used, cached, freed, batch, waiting, prompt, output;
  for (const TimelinePoint& p : r.timeline) {
    t.push_back(p.time_s);
    used.push_back(p.memory.allocated());
    cached.push_back(p.memory.cached);
    freed.push_back(p.memory.free);
    batch.push_back(p.batch_size);
    waiting.push_back(p.num_waiting);
  }
  for (const RequestResult& q : r.requests) {
    arrival.push_back(q.arrival_s);
    ttft.push_back(q.first_token_s);
    finish.push_back(q.finish_s);
    prompt.push_back(q.prompt_tokens);
    output.push_back(q.output_tokens);
  }
  py::dict timeline, requests, d;
  timeline["time_s"] = t;
  timeline["allocated_slots"] = used;
  timeline["cached_slots"] = cached;
  timeline["free_slots"] = freed;
  timeline["batch_size"] = batch;
  timeline["num_waiting"] = waiting;
  requests["arrival_s"] = arrival;
  requests["first_token_s"] = ttft;
  requests["finish_s"] = finish;
  requests["prompt_tokens"] = prompt;
  requests["output_tokens"] = output;
  d["timeline"] = timeline;
  d["requests"] = requests;
  return d;
}

// Runs the simulation like `pagekv simulate`; returns (report JSON, one
// dict of timeline and request columns per allocator).
py::tuple RunSimulation(const Workload& input, bool is_default,
                        const SimArgs& a) {
  SimulatorConfig config;
  config.model = Value(ResolveModelSpec(a.model));
  config.hardware = Value(ResolveHardwareSpec(a.hardware));
  if (a.kv_memory_gib) {
    if (!(*a.kv_memory_gib > 0) || !std::isfinite(*a.kv_memory_gib)) {
      ThrowInvalid(fmt::format("kv_memory_gib must be a number > 0, got {}",
                               *a.kv_memory_gib));
    }
    config.kv_memory_bytes = *a.kv_memory_gib * kGiB;
  } else if (is_default) {
    config.kv_memory_bytes = kDefaultWorkloadKvGiB * kGiB;
  }
  config.block_size = a.block_size;
  config.eviction_policy = a.policy;
  config.enable_prefix_caching = a.prefix_caching;
  config.scheduler.max_batch_tokens = a.max_batch_tokens;
  config.scheduler.max_num_seqs = a.max_num_seqs;
  config.scheduler.preemption_policy =
      Value(ParsePreemptionPolicy(a.preemption));
  config.scheduler.require_full_prompt_fit = a.full_prompt_gate;
  config.timeline_interval_s = a.timeline_interval;
  Check(config.Validate());
  const double kv_bytes = Value(SimulatedKvMemoryBytes(config));
  std::vector<AllocatorKind> kinds;
  for (const std::string& name : a.allocators) {
    kinds.push_back(Value(ParseAllocatorKind(name)));
  }
  WorkloadOptions options;
  options.rate_scale = a.rate_scale;
  options.max_requests = a.max_requests;
  Workload workload = Value(ApplyWorkloadOptions(input, options));

  const RunDescription run = DescribeRun(workload, config, kv_bytes,
                                         a.rate_scale, a.max_requests, a.seed);

  std::vector<SimulationReport> reports;
  absl::Status failed;
  {
    Release release;
    for (AllocatorKind kind : kinds) {
      config.allocator = kind;
      absl::StatusOr<SimulationReport> r = Simulate(workload, config);
      if (!r.ok()) {
        failed = r.status();
        break;
      }
      reports.push_back(*std::move(r));
    }
  }
  Check(failed);
  py::list columns;
  for (const SimulationReport& r : reports) columns.append(Columns(r));
  return py::make_tuple(SimulationReportJson(run, reports), columns);
}

std::string ReplayCache(const Workload& w, int32_t block_size,
                        const std::vector<std::optional<int64_t>>& capacities,
                        const std::vector<std::string>& policies) {
  if (block_size < 1 || block_size > (1 << 20)) {
    ThrowInvalid(
        fmt::format("block_size must be in [1, 1048576], got {}", block_size));
  }
  if (capacities.empty() || policies.empty()) {
    ThrowInvalid("replay_cache needs at least one capacity and one policy");
  }
  for (const std::optional<int64_t>& c : capacities) {
    for (const std::string& policy : policies) {
      if (!c && policy == kVllmOrderPolicy) {
        ThrowInvalid(
            "replay_cache: policy 'vllm' takes block counts only, not None "
            "(vLLM evicts cached blocks while uncached ones wait, so the "
            "size at which the other policies never evict is not enough)");
      }
    }
  }
  std::vector<ReplayRun> runs;
  absl::Status failed;
  {
    Release release;
    const int64_t inf = InfiniteCapacityBlocks(w, block_size);
    for (const std::optional<int64_t>& c : capacities) {
      for (const std::string& policy : policies) {
        const int64_t blocks = c ? *c : inf;
        absl::StatusOr<ReplayResult> r =
            ReplayWorkload(w, {block_size, blocks, policy});
        if (!r.ok()) {
          failed = r.status();
          break;
        }
        runs.push_back({policy, blocks, !c.has_value(), *r});
      }
      if (!failed.ok()) break;
    }
  }
  Check(failed);
  return ReplayReportJson(w.name, block_size, runs);
}

}  // namespace

void BindSim(py::module_& m) {
  BindWorkload(m);
  py::class_<SimArgs>(m, "_SimArgs")
      .def(py::init<>())
      .def_readwrite("model", &SimArgs::model)
      .def_readwrite("hardware", &SimArgs::hardware)
      .def_readwrite("kv_memory_gib", &SimArgs::kv_memory_gib)
      .def_readwrite("block_size", &SimArgs::block_size)
      .def_readwrite("policy", &SimArgs::policy)
      .def_readwrite("prefix_caching", &SimArgs::prefix_caching)
      .def_readwrite("allocators", &SimArgs::allocators)
      .def_readwrite("max_batch_tokens", &SimArgs::max_batch_tokens)
      .def_readwrite("max_num_seqs", &SimArgs::max_num_seqs)
      .def_readwrite("preemption", &SimArgs::preemption)
      .def_readwrite("full_prompt_gate", &SimArgs::full_prompt_gate)
      .def_readwrite("rate_scale", &SimArgs::rate_scale)
      .def_readwrite("max_requests", &SimArgs::max_requests)
      .def_readwrite("seed", &SimArgs::seed)
      .def_readwrite("timeline_interval", &SimArgs::timeline_interval);
  m.def("_simulate", &RunSimulation, py::arg("workload"), py::arg("is_default"),
        py::arg("args"), "See pagekv.simulate.");
  m.def("_replay_cache", &ReplayCache, py::arg("workload"),
        py::arg("block_size"), py::arg("capacities"), py::arg("policies"),
        "See pagekv.replay_cache.");
  m.def("trace_format_names", [] {
    return std::vector<std::string>{"mooncake", "azure", "jsonl"};
  });
}

}  // namespace pagekv::python
