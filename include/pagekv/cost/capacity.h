// Capacity planning: how many KV tokens, sequences and how much context fit.
//
// Everything is per device of a tensor-parallel group: each device holds its
// shard of the weights and of every token's KV (KV heads split, replicated
// when there are fewer KV heads than devices; an MLA latent is replicated).
// Memory is allocated in whole pages of `block_size` tokens, so a sequence
// of T tokens holds ceil(T / block_size) pages in a full-attention group and
// at most the pages covering its window in a sliding-window group.
//
// Thread-safety: pure functions.
#ifndef PAGEKV_COST_CAPACITY_H_
#define PAGEKV_COST_CAPACITY_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"

namespace pagekv {

struct CapacityOptions {
  int32_t tensor_parallel = 1;  // >= 1
  int32_t block_size = 16;      // in [1, kMaxBlockSize], tokens per page
  // KV memory per device. > 0: use exactly this budget. 0: derive it as
  // hbm_bytes * gpu_memory_utilization - weights per device - reserve.
  double kv_memory_bytes = 0;
  double gpu_memory_utilization = 0.9;  // in (0, 1]
  // Per device memory kept for activations, graphs and workspace.
  double activation_reserve_bytes = 0;  // >= 0

  // Returns OK, or InvalidArgument naming the bad field.
  absl::Status Validate() const;
};

// OK when `tensor_parallel` >= 1 divides the model's attention heads (each
// device gets whole query heads); InvalidArgument naming both otherwise.
// KV heads need not divide: with more devices than KV heads each device
// holds a replica of one (ModelSpec::KvBytesPerToken), as engines do. Every
// capacity and cost entry point taking a tensor-parallel degree checks it,
// so `pagekv plan` and `pagekv simulate` share the rule.
absl::Status CheckTensorParallel(const ModelSpec& model,
                                 int32_t tensor_parallel);

// Returns the KV bytes of one token on one device of `tensor_parallel`
// devices, over all layers. Errors if the spec or tp is invalid.
absl::StatusOr<double> KvBytesPerToken(const ModelSpec& model,
                                       int32_t tensor_parallel = 1);

// Returns ceil(tokens / block_size), or InvalidArgument for tokens < 0 or
// block_size <= 0.
absl::StatusOr<int64_t> PagesPerSequence(int64_t tokens, int32_t block_size);

// Returns the KV bytes one sequence of `context_tokens` tokens holds on one
// device, in whole pages per layer group (windows respected).
absl::StatusOr<double> SequenceKvBytes(const ModelSpec& model,
                                       int64_t context_tokens,
                                       const CapacityOptions& options);

// Returns the KV memory budget of one device: options.kv_memory_bytes if
// set, else what is left after weights. FailedPrecondition if the weights
// (plus reserve) do not fit, naming both sizes.
absl::StatusOr<double> KvMemoryBudget(const ModelSpec& model,
                                      const HardwareSpec& hardware,
                                      const CapacityOptions& options);

// Returns the number of token slots the budget holds, in whole pages:
// floor(budget / page_bytes) * block_size, where a page costs block_size
// tokens of every layer (all groups).
absl::StatusOr<int64_t> MaxKvTokens(const ModelSpec& model,
                                    const HardwareSpec& hardware,
                                    const CapacityOptions& options);

// Returns how many sequences of `context_tokens` tokens fit at once.
// REQUIRES (else InvalidArgument): context_tokens > 0.
absl::StatusOr<int64_t> MaxConcurrency(const ModelSpec& model,
                                       const HardwareSpec& hardware,
                                       const CapacityOptions& options,
                                       int64_t context_tokens);

// Returns the longest context (a multiple of block_size for full-attention
// models) that `concurrency` sequences can each hold at once, capped at
// model.max_context when that is set. FailedPrecondition if not even one
// page per sequence fits.
// REQUIRES (else InvalidArgument): concurrency > 0.
absl::StatusOr<int64_t> MaxContext(const ModelSpec& model,
                                   const HardwareSpec& hardware,
                                   const CapacityOptions& options,
                                   int64_t concurrency);

}  // namespace pagekv

#endif  // PAGEKV_COST_CAPACITY_H_
