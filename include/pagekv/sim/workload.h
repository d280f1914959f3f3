// The request model the simulator and the cache replay consume: a workload is
// a list of requests in arrival order, each with a prompt (explicit token ids
// or segments of deterministically synthesized tokens) and an output length.
//
// Traces carry lengths and prefix identities, not text. A PromptSegment
// stands for `num_tokens` tokens whose ids are SynthesizeToken(content_id,
// offset): two segments with the same content id hold the same tokens at the
// same offsets, so requests that start with the same segments share a prefix,
// at any block size. Different content ids give unrelated tokens.
//
// Plain value types: not synchronized, safe to read from many threads.
#ifndef PAGEKV_SIM_WORKLOAD_H_
#define PAGEKV_SIM_WORKLOAD_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/types.h"

namespace pagekv {

// Lowest and highest request priority; higher = keep longer / schedule first.
inline constexpr int32_t kMinPriority = 0;
inline constexpr int32_t kMaxPriority = 100;

// A run of prompt tokens synthesized from (content_id, offset), offsets
// 0..num_tokens-1. A shorter segment with the same content id is a prefix of
// a longer one.
struct PromptSegment {
  uint64_t content_id = 0;
  int32_t num_tokens = 0;  // >= 1
};

struct Request {
  uint64_t id = 0;            // position in the workload, 0-based
  double arrival_s = 0;       // seconds since the workload's start; finite,
                              // >= 0 and non-decreasing over the workload
  int32_t output_tokens = 0;  // tokens to generate, >= 1
  int32_t priority = 0;       // kMinPriority..kMaxPriority
  uint64_t cache_salt = 0;    // 0 = none; different salts never share cache
  // The prompt: exactly one of the two is non-empty.
  std::vector<PromptSegment> segments;  // synthesized segments, or
  std::vector<TokenId> tokens;          // explicit token ids (each >= 0)

  // Returns the number of prompt tokens.
  int64_t PromptTokens() const;

  // Appends the prompt's token ids to *out (PromptTokens() of them).
  // REQUIRES: out != nullptr.
  void MaterializePrompt(std::vector<TokenId>* out) const;
};

namespace workload_internal {
// splitmix64's finalizer: a cheap bijective 64-bit mix.
constexpr uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
}  // namespace workload_internal

// Returns the token at `offset` of content `content_id`, in [0, 2^31). The
// same arguments always give the same token, on every platform. Each content
// id seeds its own splitmix64 stream, so two different ids produce unrelated
// token sequences (a block of 16 equal tokens by chance: ~2^-496).
// Cost: two 64-bit mixes (~2 ns); MaterializePrompt hoists the first.
// REQUIRES: offset >= 0.
constexpr TokenId SynthesizeToken(uint64_t content_id, int64_t offset) {
  using workload_internal::kGolden;
  using workload_internal::Mix64;
  const uint64_t base = Mix64(content_id + kGolden);
  return static_cast<TokenId>(
      Mix64(base + static_cast<uint64_t>(offset) * kGolden) >> 33);
}

// Returns the content id of a request's synthesized output tokens: the i-th
// output token is SynthesizeToken(OutputContentId(request), i). Depends on
// the id and the cache salt only, so output tokens of different tenants
// differ too.
uint64_t OutputContentId(const Request& request);

// Summary figures of a workload.
struct WorkloadStats {
  int64_t num_requests = 0;
  int64_t prompt_tokens = 0;      // sum over requests
  int64_t output_tokens = 0;      // sum over requests
  int64_t max_prompt_tokens = 0;  // 0 when empty
  double mean_prompt_tokens = 0;  // 0 when empty
  double mean_output_tokens = 0;  // 0 when empty
  double duration_s = 0;          // last arrival - first arrival, 0 when empty
};

struct Workload {
  std::string name;  // "default", or the trace file's stem
  std::vector<Request> requests;

  // Returns the summary figures.
  WorkloadStats Stats() const;

  // Returns OK when every Request invariant above holds (ids 0..n-1 in
  // order, arrivals finite, >= 0 and non-decreasing, output >= 1, priority in
  // range, exactly one prompt form, segments and tokens valid), otherwise
  // InvalidArgument naming the first offending request and field.
  absl::Status Validate() const;
};

// Selection and scaling applied to a workload after it is read.
// Order: keep requests with start_s <= arrival_s < end_s, shift arrivals so
// start_s becomes 0, divide arrivals by rate_scale, keep the first
// max_requests, renumber ids from 0.
struct WorkloadOptions {
  double rate_scale = 1.0;  // > 0; 2 = twice the arrival rate
  double start_s = 0;       // >= 0, finite
  double end_s = std::numeric_limits<double>::infinity();  // > start_s
  int64_t max_requests = 0;                                // >= 0; 0 = no limit

  // Returns OK when every field is in range, otherwise InvalidArgument
  // naming the field and value.
  absl::Status Validate() const;
};

// Returns `workload` with `options` applied (see WorkloadOptions), or
// InvalidArgument when the options are invalid or select no request.
absl::StatusOr<Workload> ApplyWorkloadOptions(Workload workload,
                                              const WorkloadOptions& options);

// The most copies RepeatWorkload makes.
inline constexpr int32_t kMaxWorkloadCopies = 1 << 16;

// Returns `copies` copies of `workload` one after the other, sharing nothing:
// copy 0 is the workload itself; copy j > 0 has every segment's content id
// and every token prompt's cache salt changed by a per-copy constant (so no
// block of one copy equals a block of another), and its arrivals shifted by
// j * period, where period = the workload's duration plus its mean gap
// between arrivals (1 s for a single request), so arrivals stay
// non-decreasing. Ids are renumbered 0..n*copies-1. A larger trace with the
// original's shape: the prefix hit rate with no eviction is the original's.
// InvalidArgument for copies outside [1, kMaxWorkloadCopies] or an empty
// workload.
absl::StatusOr<Workload> RepeatWorkload(const Workload& workload,
                                        int32_t copies);

}  // namespace pagekv

#endif  // PAGEKV_SIM_WORKLOAD_H_
