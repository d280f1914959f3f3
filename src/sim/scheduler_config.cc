// The scheduler's configuration: the names of its modes and policies (as
// the CLI and reports spell them), their parsing, and
// SchedulerConfig::Validate.
#include <cmath>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fmt/format.h"
#include "pagekv/sim/scheduler.h"

namespace pagekv {

std::string_view PreemptionPolicyName(PreemptionPolicy policy) {
  return policy == PreemptionPolicy::kLastAdmitted ? "last-admitted"
                                                   : "lowest-priority";
}

absl::StatusOr<PreemptionPolicy> ParsePreemptionPolicy(std::string_view name) {
  if (name == "last-admitted") return PreemptionPolicy::kLastAdmitted;
  if (name == "lowest-priority") return PreemptionPolicy::kLowestPriority;
  return absl::InvalidArgumentError(
      fmt::format("unknown preemption policy '{}'; expected last-admitted or "
                  "lowest-priority",
                  std::string(name)));
}

std::string_view PreemptionModeName(PreemptionMode mode) {
  return mode == PreemptionMode::kRecompute ? "recompute" : "swap";
}

std::string_view AdmissionModeName(AdmissionMode mode) {
  switch (mode) {
    case AdmissionMode::kChunked:
      return "chunked";
    case AdmissionMode::kPrefillFirst:
      return "prefill-first";
    case AdmissionMode::kGuaranteed:
      return "guaranteed";
  }
  return "?";
}

absl::StatusOr<PreemptionMode> ParsePreemptionMode(std::string_view name) {
  if (name == "recompute") return PreemptionMode::kRecompute;
  if (name == "swap") return PreemptionMode::kSwap;
  return absl::InvalidArgumentError(
      fmt::format("unknown preemption mode '{}'; expected recompute or swap",
                  std::string(name)));
}

absl::StatusOr<AdmissionMode> ParseAdmissionMode(std::string_view name) {
  for (AdmissionMode m : {AdmissionMode::kChunked, AdmissionMode::kPrefillFirst,
                          AdmissionMode::kGuaranteed}) {
    if (name == AdmissionModeName(m)) return m;
  }
  return absl::InvalidArgumentError(fmt::format(
      "unknown admission mode '{}'; expected chunked, prefill-first or "
      "guaranteed",
      std::string(name)));
}

absl::Status ValidateTierCost(const TierCostConfig& tier);

absl::Status SchedulerConfig::Validate() const {
  if (max_batch_tokens < 1) {
    return absl::InvalidArgumentError(
        fmt::format("SchedulerConfig.max_batch_tokens must be >= 1, got {}",
                    max_batch_tokens));
  }
  if (absl::Status s = ValidateTierCost(tier); !s.ok()) return s;
  if (max_num_seqs < 1) {
    return absl::InvalidArgumentError(fmt::format(
        "SchedulerConfig.max_num_seqs must be >= 1, got {}", max_num_seqs));
  }
  if (max_model_len < 0) {
    return absl::InvalidArgumentError(fmt::format(
        "SchedulerConfig.max_model_len must be >= 0, got {}", max_model_len));
  }
  if (!chunked_prefill &&
      (max_model_len <= 0 || max_model_len > max_batch_tokens)) {
    return absl::InvalidArgumentError(fmt::format(
        "SchedulerConfig: without chunked prefill every request must fit "
        "one step, so max_model_len (--max-model-len) must be in [1, "
        "max_batch_tokens = {}] (--max-batch-tokens), got {}",
        max_batch_tokens, max_model_len));
  }
  if (preemption_mode == PreemptionMode::kSwap &&
      (!(swap_bytes_per_token > 0) || !(host_link_bytes_per_s > 0) ||
       !std::isfinite(swap_bytes_per_token) ||
       !std::isfinite(host_link_bytes_per_s))) {
    return absl::InvalidArgumentError(fmt::format(
        "SchedulerConfig: swap preemption needs swap_bytes_per_token and "
        "host_link_bytes_per_s > 0, got {} and {} (does the hardware have a "
        "host link?)",
        swap_bytes_per_token, host_link_bytes_per_s));
  }
  return absl::OkStatus();
}

}  // namespace pagekv
