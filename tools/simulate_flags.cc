#include "simulate_flags.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "fmt/format.h"
#include "pagekv/cost/capacity.h"
#include "pagekv/cost/model_spec.h"

namespace pagekv::tools {

absl::StatusOr<std::vector<AllocatorKind>> ParseAllocatorList(
    const std::string& name) {
  if (name == "all") {
    return std::vector<AllocatorKind>{AllocatorKind::kPaged,
                                      AllocatorKind::kMax, AllocatorKind::kPow2,
                                      AllocatorKind::kOracle};
  }
  if (name == "paper") {
    return std::vector<AllocatorKind>{
        AllocatorKind::kPaged, AllocatorKind::kOrcaMax,
        AllocatorKind::kOrcaPow2, AllocatorKind::kOrcaOracle};
  }
  absl::StatusOr<AllocatorKind> kind = ParseAllocatorKind(name);
  if (!kind.ok()) {
    return absl::InvalidArgumentError(fmt::format(
        "{} (or all, paper)", std::string(kind.status().message())));
  }
  return std::vector<AllocatorKind>{*kind};
}

std::string RequestsCsv(const std::vector<SimulationReport>& reports) {
  std::string s =
      "allocator,id,arrival_s,first_token_s,finish_s,ttft_s,tpot_s,e2e_s,"
      "prompt_tokens,output_tokens,hit_tokens,preemptions,rejected\n";
  for (const SimulationReport& r : reports) {
    const std::string_view name = AllocatorKindName(r.allocator);
    for (const RequestResult& q : r.requests) {
      const bool done = !q.rejected && q.finish_s >= 0;
      auto t = [done](double v) {
        return done ? fmt::format("{}", v) : std::string();
      };
      s += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{}\n", name, q.id,
                       q.arrival_s, t(q.first_token_s), t(q.finish_s),
                       t(q.ttft_s()), t(q.tpot_s()), t(q.e2e_s()),
                       q.prompt_tokens, q.output_tokens, q.hit_tokens,
                       q.preemptions, q.rejected ? 1 : 0);
    }
  }
  return s;
}

void AddSimulateFlags(CLI::App* sim, SimulateFlags* flags) {
  sim->add_option("--requests-csv", flags->requests_csv,
                  "Write one row per request (arrival, TTFT, TPOT, E2E, "
                  "preemptions) to FILE, or - for stdout");
  sim->add_option("--preempt-mode", flags->preempt_mode,
                  "recompute (default) or swap (KV copied to host memory over "
                  "the hardware's host link and back)");
  sim->add_option("--admission", flags->admission,
                  "chunked (default: decodes and prefill chunks share steps), "
                  "prefill-first (prefill steps alone, as vLLM v0) or "
                  "guaranteed (admit only when the request's maximum fits: "
                  "never preempt)");
  sim->add_option("--chunked-prefill", flags->chunked_prefill,
                  "on (default) or off: prompts never split, a request joins "
                  "a step only when its whole prompt fits the budget (vLLM "
                  "before chunked prefill; needs --max-model-len <= "
                  "--max-batch-tokens)");
  sim->add_option("--concurrency", flags->concurrency,
                  "Closed loop: N clients, each sending its next request when "
                  "the previous one ends (default 0: the workload's arrivals)");
  sim->add_option("--window", flags->window,
                  "START:END seconds: steady-state window for the mean memory "
                  "shares, mean batch and latency summaries (requests arriving "
                  "in it)");
  sim->add_option("--tp", flags->tp,
                  "Tensor-parallel degree (divides the attention heads; KV "
                  "heads are replicated when it exceeds them)");
  sim->add_option("--max-model-len", flags->max_model_len,
                  "Engine's max context (<= the model's): longer requests are "
                  "rejected, the max allocators reserve it");
  sim->add_option("--gpu-memory-utilization", flags->gpu_memory_utilization,
                  "Fraction of device memory for weights + KV, in (0, 1] "
                  "(instead of --kv-memory-gib)");
  sim->add_option("--kv-dtype", flags->kv_dtype,
                  "KV cache dtype (e.g. fp8); default the model's");
  sim->add_option("--weight-dtype", flags->weight_dtype,
                  "Weight dtype (e.g. int4); default the model's");
}

namespace {

absl::Status ParseIntFlag(const char* flag, const std::string& text,
                          int64_t min, int64_t max, int64_t* out) {
  if (!absl::SimpleAtoi(text, out) || *out < min || *out > max) {
    return absl::InvalidArgumentError(fmt::format(
        "{} must be an integer in [{}, {}], got '{}'", flag, min, max, text));
  }
  return absl::OkStatus();
}

// The model and memory flags plan has too.
absl::Status ApplyModelFlags(const SimulateFlags& flags, bool kv_memory_given,
                             SimulatorConfig* config) {
  if (!flags.kv_dtype.empty()) {
    absl::StatusOr<DType> d = ParseDType(flags.kv_dtype);
    if (!d.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("--kv-dtype: {}", std::string(d.status().message())));
    }
    config->model = WithKvDtype(std::move(config->model), *d);
  }
  if (!flags.weight_dtype.empty()) {
    absl::StatusOr<DType> d = ParseDType(flags.weight_dtype);
    if (!d.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("--weight-dtype: {}", std::string(d.status().message())));
    }
    config->model.weight_dtype = *d;
  }
  if (!flags.tp.empty()) {
    int64_t tp = 0;
    if (absl::Status s = ParseIntFlag("--tp", flags.tp, 1, 1 << 16, &tp);
        !s.ok()) {
      return s;
    }
    config->tensor_parallel = static_cast<int32_t>(tp);
    if (absl::Status s = CheckTensorParallel(config->model, tp); !s.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("--tp: {}", std::string(s.message())));
    }
  }
  if (!flags.max_model_len.empty()) {
    const int64_t limit =
        config->model.max_context > 0 ? config->model.max_context : 1LL << 40;
    if (absl::Status s = ParseIntFlag("--max-model-len", flags.max_model_len, 1,
                                      limit, &config->max_model_len);
        !s.ok()) {
      return absl::InvalidArgumentError(fmt::format(
          "{} (the model's max_context)", std::string(s.message())));
    }
  }
  if (!flags.gpu_memory_utilization.empty()) {
    if (kv_memory_given) {
      return absl::InvalidArgumentError(
          "--kv-memory-gib and --gpu-memory-utilization are mutually "
          "exclusive");
    }
    double u = 0;
    if (!absl::SimpleAtod(flags.gpu_memory_utilization, &u) ||
        !(u > 0 && u <= 1)) {
      return absl::InvalidArgumentError(
          fmt::format("--gpu-memory-utilization must be in (0, 1], got '{}'",
                      flags.gpu_memory_utilization));
    }
    config->gpu_memory_utilization = u;
    config->kv_memory_bytes = 0;  // derived from the device
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplySimulateFlags(const SimulateFlags& flags,
                                bool kv_memory_given, SimulatorConfig* config) {
  if (absl::Status s = ApplyModelFlags(flags, kv_memory_given, config);
      !s.ok()) {
    return s;
  }
  if (!flags.preempt_mode.empty()) {
    absl::StatusOr<PreemptionMode> m = ParsePreemptionMode(flags.preempt_mode);
    if (!m.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("--preempt-mode: {}", std::string(m.status().message())));
    }
    config->scheduler.preemption_mode = *m;
  }
  if (!flags.admission.empty()) {
    absl::StatusOr<AdmissionMode> m = ParseAdmissionMode(flags.admission);
    if (!m.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("--admission: {}", std::string(m.status().message())));
    }
    config->scheduler.admission = *m;
  }
  if (!flags.chunked_prefill.empty()) {
    if (flags.chunked_prefill != "on" && flags.chunked_prefill != "off") {
      return absl::InvalidArgumentError(
          fmt::format("--chunked-prefill must be on or off, got '{}'",
                      flags.chunked_prefill));
    }
    config->scheduler.chunked_prefill = flags.chunked_prefill == "on";
  }
  if (!flags.window.empty()) {
    const size_t colon = flags.window.find(':');
    double start = 0, end = std::numeric_limits<double>::infinity();
    const std::string a = flags.window.substr(0, colon);
    const std::string b =
        colon == std::string::npos ? "" : flags.window.substr(colon + 1);
    if (colon == std::string::npos || !absl::SimpleAtod(a, &start) ||
        (!b.empty() && !absl::SimpleAtod(b, &end)) || !(start >= 0) ||
        !std::isfinite(start) || !(end > start)) {
      return absl::InvalidArgumentError(fmt::format(
          "--window must be START:END seconds with 0 <= START < END (END may "
          "be empty: to the end), got '{}'",
          flags.window));
    }
    config->window_start_s = start;
    config->window_end_s = end;
  }
  if (!flags.concurrency.empty()) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(flags.concurrency, &n) || n < 0 || n > (1 << 30)) {
      return absl::InvalidArgumentError(
          fmt::format("--concurrency must be an integer in [0, 2^30], got '{}'",
                      flags.concurrency));
    }
    config->concurrency = static_cast<int32_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace pagekv::tools
