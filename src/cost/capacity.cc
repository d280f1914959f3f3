#include "pagekv/cost/capacity.h"

#include <algorithm>
#include <cmath>

#include "cost/str_util.h"
#include "fmt/format.h"
#include "pagekv/kv_cache_config.h"

namespace pagekv {
namespace {

std::string Gib(double bytes) {
  return fmt::format("{:.2f} GiB", bytes / (1024.0 * 1024.0 * 1024.0));
}

// Pages one sequence of `tokens` tokens holds in `group`: all of them for
// full attention; for a window, the pages covering the last `window` tokens
// plus the page the next token goes into (what a manager keeps resident).
int64_t GroupPages(const LayerGroupSpec& group, int64_t tokens,
                   int32_t block_size) {
  const int64_t all = (tokens + block_size - 1) / block_size;
  if (group.attention_chunk_size > 0) {
    // At most a chunk, plus the page the next token goes into.
    const int64_t chunk_pages =
        (group.attention_chunk_size + block_size - 1) / block_size + 1;
    return std::min(all, chunk_pages);
  }
  if (group.sliding_window <= 0) return all;
  const int64_t window_pages =
      (group.sliding_window - 1 + block_size - 1) / block_size + 1;
  return std::min(all, window_pages);
}

absl::Status CheckModelAndOptions(const ModelSpec& model,
                                  const CapacityOptions& options) {
  if (absl::Status s = model.Validate(); !s.ok()) return s;
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  return CheckTensorParallel(model, options.tensor_parallel);
}

}  // namespace

absl::Status CheckTensorParallel(const ModelSpec& model,
                                 int32_t tensor_parallel) {
  if (tensor_parallel < 1) {
    return absl::InvalidArgumentError(
        internal::Cat("tensor_parallel must be >= 1, got ", tensor_parallel));
  }
  if (model.num_attention_heads % tensor_parallel != 0) {
    return absl::InvalidArgumentError(internal::Cat(
        "tensor_parallel ", tensor_parallel, " does not divide the ",
        model.num_attention_heads, " attention heads of '", model.name, "'"));
  }
  return absl::OkStatus();
}

absl::Status CapacityOptions::Validate() const {
  if (tensor_parallel < 1) {
    return absl::InvalidArgumentError(
        internal::Cat("capacity: field 'tensor_parallel' must be >= 1, got ",
                      tensor_parallel));
  }
  if (block_size < 1 || block_size > kMaxBlockSize) {
    return absl::InvalidArgumentError(
        internal::Cat("capacity: field 'block_size' must be in [1, ",
                      kMaxBlockSize, "], got ", block_size));
  }
  if (!(kv_memory_bytes >= 0) || !std::isfinite(kv_memory_bytes)) {
    return absl::InvalidArgumentError(
        internal::Cat("capacity: field 'kv_memory_bytes' must be >= 0, got ",
                      kv_memory_bytes));
  }
  if (!(gpu_memory_utilization > 0 && gpu_memory_utilization <= 1)) {
    return absl::InvalidArgumentError(internal::Cat(
        "capacity: field 'gpu_memory_utilization' must be in (0, 1], got ",
        gpu_memory_utilization));
  }
  if (!(activation_reserve_bytes >= 0)) {
    return absl::InvalidArgumentError(internal::Cat(
        "capacity: field 'activation_reserve_bytes' must be >= 0, got ",
        activation_reserve_bytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<double> KvBytesPerToken(const ModelSpec& model,
                                       int32_t tensor_parallel) {
  if (absl::Status s = model.Validate(); !s.ok()) return s;
  if (absl::Status s = CheckTensorParallel(model, tensor_parallel); !s.ok()) {
    return s;
  }
  return model.KvBytesPerToken(tensor_parallel);
}

absl::StatusOr<int64_t> PagesPerSequence(int64_t tokens, int32_t block_size) {
  if (tokens < 0) {
    return absl::InvalidArgumentError(
        internal::Cat("tokens must be >= 0, got ", tokens));
  }
  if (block_size <= 0) {
    return absl::InvalidArgumentError(
        internal::Cat("block_size must be > 0, got ", block_size));
  }
  return (tokens + block_size - 1) / block_size;
}

absl::StatusOr<double> SequenceKvBytes(const ModelSpec& model,
                                       int64_t context_tokens,
                                       const CapacityOptions& options) {
  if (absl::Status s = CheckModelAndOptions(model, options); !s.ok()) return s;
  if (context_tokens < 0) {
    return absl::InvalidArgumentError(
        internal::Cat("context_tokens must be >= 0, got ", context_tokens));
  }
  const double per_layer =
      model.KvBytesPerTokenPerLayer(options.tensor_parallel);
  double bytes = 0;
  for (const LayerGroupSpec& g : model.EffectiveLayerGroups()) {
    if (g.is_state()) continue;  // counted below, whatever the context
    bytes +=
        static_cast<double>(GroupPages(g, context_tokens, options.block_size)) *
        options.block_size * g.num_layers * per_layer;
  }
  return bytes + model.StateBytesPerSequence(options.tensor_parallel);
}

absl::StatusOr<double> KvMemoryBudget(const ModelSpec& model,
                                      const HardwareSpec& hardware,
                                      const CapacityOptions& options) {
  if (absl::Status s = CheckModelAndOptions(model, options); !s.ok()) return s;
  if (absl::Status s = hardware.Validate(); !s.ok()) return s;
  if (options.tensor_parallel > hardware.num_devices) {
    return absl::InvalidArgumentError(internal::Cat(
        "tensor_parallel ", options.tensor_parallel, " exceeds the ",
        hardware.num_devices, " devices of '", hardware.name, "'"));
  }
  if (options.kv_memory_bytes > 0) return options.kv_memory_bytes;
  const double usable = hardware.hbm_bytes * options.gpu_memory_utilization;
  const double weights = model.WeightBytes() / options.tensor_parallel;
  const double left = usable - weights - options.activation_reserve_bytes;
  if (left <= 0) {
    return absl::FailedPreconditionError(internal::Cat(
        "weights do not fit: model '", model.name, "' needs ", Gib(weights),
        " of weights per device (tensor_parallel=", options.tensor_parallel,
        ") plus ", Gib(options.activation_reserve_bytes), " reserved, but '",
        hardware.name, "' at gpu_memory_utilization=",
        options.gpu_memory_utilization, " gives ", Gib(usable),
        "; raise --tp, quantize the weights or use a larger device"));
  }
  return left;
}

absl::StatusOr<int64_t> MaxKvTokens(const ModelSpec& model,
                                    const HardwareSpec& hardware,
                                    const CapacityOptions& options) {
  absl::StatusOr<double> budget = KvMemoryBudget(model, hardware, options);
  if (!budget.ok()) return budget.status();
  const double page_bytes =
      options.block_size * model.KvBytesPerToken(options.tensor_parallel);
  return static_cast<int64_t>(std::floor(*budget / page_bytes)) *
         options.block_size;
}

absl::StatusOr<int64_t> MaxConcurrency(const ModelSpec& model,
                                       const HardwareSpec& hardware,
                                       const CapacityOptions& options,
                                       int64_t context_tokens) {
  if (context_tokens <= 0) {
    return absl::InvalidArgumentError(
        internal::Cat("context_tokens must be > 0, got ", context_tokens));
  }
  absl::StatusOr<double> budget = KvMemoryBudget(model, hardware, options);
  if (!budget.ok()) return budget.status();
  absl::StatusOr<double> per_seq =
      SequenceKvBytes(model, context_tokens, options);
  if (!per_seq.ok()) return per_seq.status();
  return static_cast<int64_t>(std::floor(*budget / *per_seq));
}

absl::StatusOr<int64_t> MaxContext(const ModelSpec& model,
                                   const HardwareSpec& hardware,
                                   const CapacityOptions& options,
                                   int64_t concurrency) {
  if (concurrency <= 0) {
    return absl::InvalidArgumentError(
        internal::Cat("concurrency must be > 0, got ", concurrency));
  }
  absl::StatusOr<double> budget = KvMemoryBudget(model, hardware, options);
  if (!budget.ok()) return budget.status();
  const double per_seq_budget = *budget / static_cast<double>(concurrency);
  auto fits = [&](int64_t tokens) {
    return *SequenceKvBytes(model, tokens, options) <= per_seq_budget;
  };
  const int64_t bs = options.block_size;
  if (!fits(bs)) {
    return absl::FailedPreconditionError(internal::Cat(
        "not even one page of ", bs, " tokens per sequence fits for ",
        concurrency, " sequences in ", Gib(*budget), " of KV memory"));
  }
  // Bytes per sequence grow monotonically with its length (and stop growing
  // once every group is window-limited), so search in whole pages.
  const int64_t cap =
      model.max_context > 0 ? model.max_context : int64_t{1} << 40;
  int64_t lo = 1;             // pages known to fit
  int64_t hi = cap / bs + 1;  // pages that may not fit
  if (fits(hi * bs)) return cap;
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (fits(mid * bs) ? lo : hi) = mid;
  }
  return std::min(lo * bs, cap);
}

}  // namespace pagekv
