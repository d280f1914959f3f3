#include "pagekv/cost/bandwidth_model.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/check.h"
#include "cost/str_util.h"
#include "pagekv/cost/capacity.h"
#include "pagekv/cost/compute_model.h"

namespace pagekv {
namespace {

// Sum over j in [first, last] of min(j, window), window 0 = unbounded: the
// keys attended by queries at positions first..last (1-based, causal).
double AttendedPairs(int64_t first, int64_t last, int64_t window) {
  if (last < first) return 0;
  auto sum_range = [](double a, double b) { return (a + b) * (b - a + 1) / 2; };
  if (window <= 0 || last <= window) return sum_range(first, last);
  if (first >= window) return static_cast<double>(last - first + 1) * window;
  return sum_range(first, window) + static_cast<double>(last - window) * window;
}

// The keys attended by queries at positions first..last (1-based, causal)
// under chunked local attention: query j sees the keys of its own chunk up
// to itself, ((j - 1) % chunk) + 1 of them. Sums whole chunks in closed form.
double ChunkedPairs(int64_t first, int64_t last, int64_t chunk) {
  if (last < first) return 0;
  auto prefix = [chunk](int64_t n) {  // sum over j in [1, n]
    const double full = static_cast<double>(n / chunk);
    const double rest = static_cast<double>(n % chunk);
    return full * chunk * (chunk + 1) / 2 + rest * (rest + 1) / 2;
  };
  return prefix(last) - prefix(first - 1);
}

}  // namespace

absl::Status BandwidthModelOptions::Validate() const {
  if (tensor_parallel < 1) {
    return absl::InvalidArgumentError(internal::Cat(
        "bandwidth model: field 'tensor_parallel' must be >= 1, got ",
        tensor_parallel));
  }
  if (!(activation_bytes > 0)) {
    return absl::InvalidArgumentError(internal::Cat(
        "bandwidth model: field 'activation_bytes' must be > 0, got ",
        activation_bytes));
  }
  return absl::OkStatus();
}

BandwidthModel::BandwidthModel(ModelSpec model, HardwareSpec hardware,
                               BandwidthModelOptions options)
    : model_(std::move(model)),
      hardware_(std::move(hardware)),
      options_(options) {}

absl::StatusOr<BandwidthModel> BandwidthModel::Create(
    ModelSpec model, HardwareSpec hardware, BandwidthModelOptions options) {
  if (absl::Status s = model.Validate(); !s.ok()) return s;
  if (absl::Status s = hardware.Validate(); !s.ok()) return s;
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  if (absl::Status s = CheckTensorParallel(model, options.tensor_parallel);
      !s.ok()) {
    return s;
  }
  if (options.tensor_parallel > hardware.num_devices) {
    return absl::InvalidArgumentError(internal::Cat(
        "bandwidth model: tensor_parallel ", options.tensor_parallel,
        " exceeds the ", hardware.num_devices, " devices of '", hardware.name,
        "'"));
  }
  if (options.tensor_parallel > 1 && !(hardware.interconnect_bandwidth > 0)) {
    return absl::InvalidArgumentError(internal::Cat(
        "bandwidth model: tensor_parallel ", options.tensor_parallel,
        " needs hardware '", hardware.name, "' to set interconnect_bandwidth"));
  }
  return BandwidthModel(std::move(model), std::move(hardware), options);
}

absl::StatusOr<BandwidthModel> BandwidthModel::FromNames(
    std::string_view model, std::string_view hardware,
    BandwidthModelOptions options) {
  absl::StatusOr<ModelSpec> m = ResolveModelSpec(model);
  if (!m.ok()) return m.status();
  absl::StatusOr<HardwareSpec> h = ResolveHardwareSpec(hardware);
  if (!h.ok()) return h.status();
  return Create(*std::move(m), *std::move(h), options);
}

namespace {

// What a step moves and computes, before it is turned into time: Add()
// each sequence of the step.
class StepTraffic {
 public:
  StepTraffic(const ModelSpec& model, const BandwidthModelOptions& options,
              int32_t block_size)
      : model_(model),
        options_(options),
        block_size_(block_size),
        kv_bytes_per_layer_(
            model.KvBytesPerTokenPerLayer(options.tensor_parallel)),
        // Attention FLOPs per (query, key) pair per layer on one device:
        // QK^T and PV are each 2 * heads * dim; MLA's query/key carry the
        // RoPE part too.
        flops_per_pair_(
            2.0 *
            std::ceil(static_cast<double>(model.num_attention_heads) /
                      options.tensor_parallel) *
            (2.0 * model.head_dim + model.mla_rope_head_dim)) {}

  void Add(const SequenceFootprint& seq) {
    Check(seq);
    prefills += seq.is_prefill ? 1 : 0;
    for (int32_t g = 0; g < model_.num_layer_groups(); ++g) {
      AddGroup(seq, g);
    }
  }

  double kv_read = 0;      // bytes of KV pages and states read
  double state_write = 0;  // bytes of states written (KV writes: per token)
  double attn_flops = 0;   // query-key and value work of the attention
  int64_t prefills = 0;

 private:
  void Check(const SequenceFootprint& seq) const {
    PAGEKV_CHECK(
        static_cast<int32_t>(seq.groups.size()) == model_.num_layer_groups(),
        "footprint of sequence {} has {} KV-cache groups but model "
        "'{}' has {} layer groups; configure the manager with the "
        "model's groups",
        seq.seq.value(), seq.groups.size(), model_.name,
        model_.num_layer_groups());
    PAGEKV_CHECK(seq.new_tokens >= 0 && seq.cached_tokens >= 0,
                 "sequence {}: new_tokens ({}) and cached_tokens ({}) must "
                 "be >= 0",
                 seq.seq.value(), seq.new_tokens, seq.cached_tokens);
  }

  void AddGroup(const SequenceFootprint& seq, int32_t g) {
    const GroupFootprint& gf = seq.groups[g];
    const LayerGroupSpec* spec =
        model_.layer_groups.empty() ? nullptr : &model_.layer_groups[g];
    const int32_t layers =
        spec == nullptr ? model_.num_layers : spec->num_layers;
    if (spec != nullptr && spec->is_state()) {
      // A fixed-size state per sequence, read and written once per step
      // whatever the context; no query-key pairs.
      const double state =
          layers * spec->state_bytes_per_layer / options_.tensor_parallel;
      kv_read += gf.pages_read * state;
      state_write += gf.pages_written * state;
      return;
    }
    const double tokens_read =
        options_.granularity == Granularity::kPage
            ? static_cast<double>(gf.pages_read) * block_size_
            : static_cast<double>(gf.context_tokens);
    kv_read += tokens_read * layers * kv_bytes_per_layer_;
    const int64_t first = seq.cached_tokens + 1;
    const int64_t last = seq.cached_tokens + seq.new_tokens;
    const double pairs =
        spec != nullptr && spec->attention_chunk_size > 0
            ? ChunkedPairs(first, last, spec->attention_chunk_size)
            : AttendedPairs(first, last,
                            spec == nullptr ? 0 : spec->sliding_window);
    attn_flops += layers * flops_per_pair_ * pairs;
  }

  const ModelSpec& model_;
  const BandwidthModelOptions& options_;
  const int32_t block_size_;
  const double kv_bytes_per_layer_;
  const double flops_per_pair_;
};

}  // namespace

// Cost: O(sequences * groups), no allocation. Called once per simulated step.
StepCost BandwidthModel::Estimate(const StepFootprint& footprint) const {
  StepCost cost;
  if (footprint.sequences.empty()) return cost;
  PAGEKV_CHECK(footprint.block_size > 0,
               "footprint.block_size must be > 0, got {}",
               footprint.block_size);
  StepTraffic traffic(model_, options_, footprint.block_size);
  for (const SequenceFootprint& seq : footprint.sequences) traffic.Add(seq);
  const int32_t tp = options_.tensor_parallel;
  const int64_t tokens = footprint.TotalNewTokens();
  cost.weight_bytes = model_.StepWeightBytes(tokens, tp);
  cost.kv_read_bytes = traffic.kv_read;
  // Per-token KV of the attention layers, plus each sequence's new states.
  cost.kv_write_bytes =
      static_cast<double>(tokens) * model_.KvBytesPerToken(tp) +
      traffic.state_write;
  cost.bytes = cost.weight_bytes + cost.kv_read_bytes + cost.kv_write_bytes;
  cost.flops =
      2.0 * model_.EffectiveActiveParams() * static_cast<double>(tokens) / tp +
      traffic.attn_flops;
  cost.memory_seconds =
      cost.bytes / (hardware_.hbm_bandwidth * hardware_.memory_efficiency);
  cost.compute_seconds = ComputeSeconds(
      hardware_, model_.weight_dtype, cost.flops, std::max<int64_t>(tokens, 1));
  cost.bound = cost.compute_seconds > cost.memory_seconds ? Bound::kCompute
                                                          : Bound::kMemory;
  cost.overhead_seconds =
      FixedOverheadSeconds(hardware_, traffic.prefills, model_.num_layers);
  if (tp > 1) {
    // Two all-reduces per layer (after attention and after the MLP) of the
    // step's activations.
    const double message = static_cast<double>(tokens) * model_.hidden_size *
                           options_.activation_bytes;
    cost.overhead_seconds +=
        2.0 * model_.num_layers * AllReduceSeconds(hardware_, tp, message);
  }
  cost.seconds =
      CombineRoofline(hardware_, cost.memory_seconds, cost.compute_seconds) +
      cost.overhead_seconds;
  cost.arithmetic_intensity = cost.bytes > 0 ? cost.flops / cost.bytes : 0;
  return cost;
}

namespace {

GroupFootprint GroupFor(const LayerGroupSpec& group, int64_t context_after,
                        int64_t first_new, int32_t block_size) {
  return MakeGroupFootprint(group.KVCacheGroup(), context_after,
                            context_after - first_new, block_size);
}

}  // namespace

StepFootprint UniformDecodeFootprint(const ModelSpec& model, int32_t batch,
                                     int64_t context_tokens,
                                     int32_t block_size) {
  PAGEKV_CHECK(batch >= 0 && context_tokens >= 0 && block_size > 0,
               "bad decode footprint: batch {}, context {}, block size {}",
               batch, context_tokens, block_size);
  StepFootprint fp;
  fp.block_size = block_size;
  const std::vector<LayerGroupSpec> groups = model.EffectiveLayerGroups();
  SequenceFootprint seq;
  seq.new_tokens = 1;
  seq.cached_tokens = context_tokens;
  for (const LayerGroupSpec& g : groups) {
    seq.groups.push_back(
        GroupFor(g, context_tokens + 1, context_tokens, block_size));
  }
  fp.sequences.reserve(batch);
  for (int32_t i = 0; i < batch; ++i) {
    seq.seq = SeqId(static_cast<uint64_t>(i) + 1);
    fp.sequences.push_back(seq);
  }
  return fp;
}

StepFootprint PrefillFootprint(const ModelSpec& model, int64_t prompt_tokens,
                               int64_t cached_tokens, int32_t block_size) {
  PAGEKV_CHECK(prompt_tokens > 0 && cached_tokens >= 0 &&
                   cached_tokens < prompt_tokens && block_size > 0,
               "bad prefill footprint: prompt {}, cached {}, block size {}",
               prompt_tokens, cached_tokens, block_size);
  StepFootprint fp;
  fp.block_size = block_size;
  SequenceFootprint seq;
  seq.seq = SeqId(1);
  seq.new_tokens = static_cast<int32_t>(prompt_tokens - cached_tokens);
  seq.cached_tokens = cached_tokens;
  seq.is_prefill = true;
  for (const LayerGroupSpec& g : model.EffectiveLayerGroups()) {
    seq.groups.push_back(GroupFor(g, prompt_tokens, cached_tokens, block_size));
  }
  fp.sequences.push_back(std::move(seq));
  return fp;
}

}  // namespace pagekv
