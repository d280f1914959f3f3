// A shared-prefix workload: the synthetic traffic published routing
// benchmarks describe (SGLang's "generated shared prefix" dataset, llm-d's
// prefix-aware routing runs): `num_groups` groups, each with its own shared
// prefix (a system prompt or document) of `shared_prefix_tokens`; each group
// has `users_per_group` users who each ask `questions_per_user` questions of
// `question_tokens` unique tokens after the prefix, answered with
// `output_tokens`. Requests come in a seeded random order (every group
// interleaved with the others), with Poisson arrivals at `rate_per_s`, or
// ramped: the rate grows linearly from `ramp_start_rate_per_s` for the first
// request to `rate_per_s` for the last.
//
// Thread-safety: plain values; the generator shares no state between calls.
#ifndef PAGEKV_SIM_SHARED_PREFIX_WORKLOAD_H_
#define PAGEKV_SIM_SHARED_PREFIX_WORKLOAD_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/sim/workload.h"

namespace pagekv {

struct SharedPrefixOptions {
  uint64_t seed = 1;
  int32_t num_groups = 8;               // >= 1
  int32_t shared_prefix_tokens = 2048;  // >= 1
  int32_t users_per_group = 16;         // >= 1
  int32_t questions_per_user = 4;       // >= 1
  int32_t question_tokens = 128;        // >= 1
  int32_t output_tokens = 256;          // >= 1
  double rate_per_s = 8;                // > 0
  // > 0 for a ramp from this rate to rate_per_s; 0 = constant rate.
  double ramp_start_rate_per_s = 0;  // >= 0

  // The requests it makes: groups * users * questions.
  int64_t num_requests() const;

  // OK, or InvalidArgument naming the field and value (also when the
  // request count exceeds 10^7).
  absl::Status Validate() const;
};

// Returns the workload (named "shared-prefix"); the same options always give
// the same workload. InvalidArgument when options.Validate() fails.
absl::StatusOr<Workload> MakeSharedPrefixWorkload(
    const SharedPrefixOptions& options);

}  // namespace pagekv

#endif  // PAGEKV_SIM_SHARED_PREFIX_WORKLOAD_H_
