#include "pagekv/sim/workload.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "fmt/format.h"

namespace pagekv {

uint64_t OutputContentId(const Request& request) {
  return workload_internal::Mix64(request.id ^ 0x6f7574707574ULL) ^
         request.cache_salt;
}

int64_t Request::PromptTokens() const {
  if (!tokens.empty()) return static_cast<int64_t>(tokens.size());
  int64_t total = 0;
  for (const PromptSegment& s : segments) total += s.num_tokens;
  return total;
}

void Request::MaterializePrompt(std::vector<TokenId>* out) const {
  PAGEKV_CHECK(out != nullptr, "MaterializePrompt: out must not be null");
  if (!tokens.empty()) {
    out->insert(out->end(), tokens.begin(), tokens.end());
    return;
  }
  out->reserve(out->size() + static_cast<size_t>(PromptTokens()));
  using workload_internal::kGolden;
  using workload_internal::Mix64;
  for (const PromptSegment& s : segments) {
    // Same computation as SynthesizeToken, with the per-content mix hoisted.
    const uint64_t base = Mix64(s.content_id + kGolden);
    uint64_t state = base;
    for (int32_t i = 0; i < s.num_tokens; ++i) {
      out->push_back(static_cast<TokenId>(Mix64(state) >> 33));
      state += kGolden;
    }
  }
}

WorkloadStats Workload::Stats() const {
  WorkloadStats stats;
  stats.num_requests = static_cast<int64_t>(requests.size());
  for (const Request& r : requests) {
    const int64_t prompt = r.PromptTokens();
    stats.prompt_tokens += prompt;
    stats.output_tokens += r.output_tokens;
    stats.max_prompt_tokens = std::max(stats.max_prompt_tokens, prompt);
  }
  if (!requests.empty()) {
    const double n = static_cast<double>(requests.size());
    stats.mean_prompt_tokens = static_cast<double>(stats.prompt_tokens) / n;
    stats.mean_output_tokens = static_cast<double>(stats.output_tokens) / n;
    stats.duration_s = requests.back().arrival_s - requests.front().arrival_s;
  }
  return stats;
}

absl::Status Workload::Validate() const {
  auto error = [](size_t i, std::string_view what) {
    return absl::InvalidArgumentError(fmt::format("request {}: {}", i, what));
  };
  double previous_arrival = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const Request& r = requests[i];
    if (r.id != i) {
      return error(i,
                   fmt::format("id is {}, expected its position {}", r.id, i));
    }
    if (!std::isfinite(r.arrival_s) || r.arrival_s < 0) {
      return error(
          i, fmt::format("arrival_s {} is not finite and >= 0", r.arrival_s));
    }
    if (r.arrival_s < previous_arrival) {
      return error(i, fmt::format("arrival_s {} is earlier than the previous "
                                  "request's {}",
                                  r.arrival_s, previous_arrival));
    }
    previous_arrival = r.arrival_s;
    if (r.output_tokens < 1) {
      return error(i, fmt::format("output_tokens {} < 1", r.output_tokens));
    }
    if (r.priority < kMinPriority || r.priority > kMaxPriority) {
      return error(i, fmt::format("priority {} is outside [{}, {}]", r.priority,
                                  kMinPriority, kMaxPriority));
    }
    if (r.segments.empty() == r.tokens.empty()) {
      return error(i, "exactly one of segments and tokens must be non-empty");
    }
    for (const PromptSegment& s : r.segments) {
      if (s.num_tokens < 1) {
        return error(i, fmt::format("segment of content {} has {} tokens",
                                    s.content_id, s.num_tokens));
      }
    }
    for (TokenId t : r.tokens) {
      if (t < 0) return error(i, fmt::format("negative token id {}", t));
    }
  }
  return absl::OkStatus();
}

absl::Status WorkloadOptions::Validate() const {
  if (!(rate_scale > 0) || !std::isfinite(rate_scale)) {
    return absl::InvalidArgumentError(
        fmt::format("rate_scale must be finite and > 0, got {}", rate_scale));
  }
  if (!(start_s >= 0) || !std::isfinite(start_s)) {
    return absl::InvalidArgumentError(
        fmt::format("start_s must be finite and >= 0, got {}", start_s));
  }
  if (!(end_s > start_s)) {
    return absl::InvalidArgumentError(
        fmt::format("end_s must be > start_s ({}), got {}", start_s, end_s));
  }
  if (max_requests < 0) {
    return absl::InvalidArgumentError(fmt::format(
        "max_requests must be >= 0 (0 = no limit), got {}", max_requests));
  }
  return absl::OkStatus();
}

absl::StatusOr<Workload> ApplyWorkloadOptions(Workload workload,
                                              const WorkloadOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  std::vector<Request>& requests = workload.requests;
  // Arrivals are non-decreasing, so the window is a contiguous range.
  auto first = std::lower_bound(
      requests.begin(), requests.end(), options.start_s,
      [](const Request& r, double t) { return r.arrival_s < t; });
  auto last = std::lower_bound(
      first, requests.end(), options.end_s,
      [](const Request& r, double t) { return r.arrival_s < t; });
  if (options.max_requests > 0 && last - first > options.max_requests) {
    last = first + options.max_requests;
  }
  if (first == last) {
    return absl::InvalidArgumentError(
        fmt::format("workload \"{}\": no request arrives in [{} s, {} s)",
                    workload.name, options.start_s, options.end_s));
  }
  std::vector<Request> kept(std::make_move_iterator(first),
                            std::make_move_iterator(last));
  for (size_t i = 0; i < kept.size(); ++i) {
    Request& r = kept[i];
    r.id = i;
    r.arrival_s = (r.arrival_s - options.start_s) / options.rate_scale;
  }
  requests = std::move(kept);
  return workload;
}

}  // namespace pagekv
