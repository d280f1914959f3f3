#include "pagekv/cost/model_spec.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <tuple>

#include "core/check.h"
#include "cost/str_util.h"

namespace pagekv {

double BytesPerElement(DType dtype) {
  switch (dtype) {
    case DType::kFp32:
      return 4;
    case DType::kFp16:
    case DType::kBf16:
      return 2;
    case DType::kFp8:
    case DType::kInt8:
      return 1;
    case DType::kInt4:
      return 0.5;
  }
  return 0;
}

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFp32:
      return "fp32";
    case DType::kFp16:
      return "fp16";
    case DType::kBf16:
      return "bf16";
    case DType::kFp8:
      return "fp8";
    case DType::kInt8:
      return "int8";
    case DType::kInt4:
      return "int4";
  }
  return "unknown";
}

absl::StatusOr<DType> ParseDType(std::string_view name) {
  const std::string n = internal::ToLower(name);
  if (n == "fp32" || n == "float32" || n == "float") return DType::kFp32;
  if (n == "fp16" || n == "float16" || n == "half") return DType::kFp16;
  if (n == "bf16" || n == "bfloat16") return DType::kBf16;
  if (n == "fp8" || n == "fp8_e4m3" || n == "fp8_e5m2") return DType::kFp8;
  if (n == "int8") return DType::kInt8;
  if (n == "int4") return DType::kInt4;
  return absl::InvalidArgumentError(
      internal::Cat("unknown dtype '", name,
                    "' (expected fp32, fp16, bf16, fp8, int8 or int4)"));
}

namespace {

absl::Status Bad(const ModelSpec& spec, std::string_view field,
                 std::string_view what) {
  return absl::InvalidArgumentError(internal::Cat(
      "model spec '", spec.name, "': field '", field, "' ", what));
}

// Bounds on what a spec may claim. They are far beyond any real model (the
// largest have ~2e12 parameters, ~100 layers, dimensions ~2e4, 1e7-token
// contexts) and keep every derived figure finite and the integer arithmetic
// on them (heads rounded up per device, latent + rope sizes, context search
// in pages) inside its type.
constexpr int32_t kMaxDimension = 1 << 24;
constexpr double kMaxParams = 1e15;
constexpr int64_t kMaxContext = int64_t{1} << 40;

// Returns an error naming `field` unless min <= value <= kMaxDimension.
absl::Status CheckDimension(const ModelSpec& spec, std::string_view field,
                            int64_t value, int64_t min) {
  if (value >= min && value <= kMaxDimension) return absl::OkStatus();
  return Bad(spec, field,
             internal::Cat("must be in [", min, ", ", kMaxDimension, "], got ",
                           value));
}

// The dimensions, the KV heads and the MLA ranks.
absl::Status ValidateShape(const ModelSpec& m) {
  for (const auto& [field, value, min] : {
           std::tuple<std::string_view, int32_t, int32_t>{"num_layers",
                                                          m.num_layers, 1},
           {"hidden_size", m.hidden_size, 1},
           {"num_attention_heads", m.num_attention_heads, 1},
           {"head_dim", m.head_dim, 1},
           {"intermediate_size", m.intermediate_size, 0},
           {"mla_kv_lora_rank", m.mla_kv_lora_rank, 0},
       }) {
    if (absl::Status s = CheckDimension(m, field, value, min); !s.ok()) {
      return s;
    }
  }
  if (m.num_kv_heads <= 0 || m.num_kv_heads > m.num_attention_heads ||
      m.num_attention_heads % m.num_kv_heads != 0) {
    return Bad(m, "num_kv_heads",
               internal::Cat("must be > 0 and divide num_attention_heads (",
                             m.num_attention_heads, "), got ", m.num_kv_heads));
  }
  if (m.mla_rope_head_dim < 0 || m.mla_rope_head_dim > kMaxDimension ||
      (m.mla_rope_head_dim > 0 && !m.uses_mla())) {
    return Bad(m, "mla_rope_head_dim",
               internal::Cat("must be in [0, ", kMaxDimension,
                             "] and needs mla_kv_lora_rank > 0, got ",
                             m.mla_rope_head_dim));
  }
  return absl::OkStatus();
}

// Parameter counts and the mixture of experts.
absl::Status ValidateParams(const ModelSpec& m) {
  if (!(m.num_params > 0 && m.num_params <= kMaxParams)) {  // false for NaN
    return Bad(
        m, "num_params",
        internal::Cat("must be in (0, ", kMaxParams, "], got ", m.num_params));
  }
  if (!(m.active_params >= 0 && m.active_params <= m.num_params)) {
    return Bad(
        m, "active_params",
        internal::Cat("must be in [0, num_params], got ", m.active_params));
  }
  if (absl::Status s = CheckDimension(m, "num_experts", m.num_experts, 0);
      !s.ok()) {
    return s;
  }
  if (m.is_moe()) {
    if (m.experts_per_token <= 0 || m.experts_per_token >= m.num_experts) {
      return Bad(m, "experts_per_token",
                 internal::Cat("must be in [1, num_experts) for a MoE model, "
                               "got ",
                               m.experts_per_token));
    }
    if (!(m.active_params > 0) || m.active_params >= m.num_params) {
      return Bad(m, "active_params",
                 internal::Cat("must be in (0, num_params) for a MoE model, "
                               "got ",
                               m.active_params));
    }
  } else if (m.experts_per_token != 0) {
    return Bad(m, "experts_per_token",
               internal::Cat("must be 0 without num_experts, got ",
                             m.experts_per_token));
  }
  return absl::OkStatus();
}

// The KV cache's quantization scales and the context bound.
absl::Status ValidateKvScales(const ModelSpec& m) {
  if (absl::Status s =
          CheckDimension(m, "kv_scale_group_size", m.kv_scale_group_size, 0);
      !s.ok()) {
    return s;
  }
  if (m.kv_scale_bytes < 0 || m.kv_scale_bytes > kMaxDimension ||
      (m.kv_scale_bytes > 0) != (m.kv_scale_group_size > 0)) {
    return Bad(m, "kv_scale_bytes",
               internal::Cat("must be in [0, ", kMaxDimension,
                             "] and set together with kv_scale_group_size, "
                             "got ",
                             m.kv_scale_bytes));
  }
  if (m.max_context < 0 || m.max_context > kMaxContext) {
    return Bad(m, "max_context",
               internal::Cat("must be in [0, 2^40], got ", m.max_context));
  }
  return absl::OkStatus();
}

// One layer group's kind and sizes.
absl::Status ValidateLayerGroup(const ModelSpec& m, size_t i) {
  const LayerGroupSpec& g = m.layer_groups[i];
  const std::string at = internal::Cat("layer_groups[", i, "]");
  if (g.num_layers <= 0) {
    return Bad(m, at + ".num_layers",
               internal::Cat("must be > 0, got ", g.num_layers));
  }
  if (g.sliding_window < 0) {
    return Bad(m, at + ".sliding_window",
               internal::Cat("must be >= 0, got ", g.sliding_window));
  }
  if (g.attention_chunk_size < 0) {
    return Bad(m, at + ".attention_chunk_size",
               internal::Cat("must be >= 0, got ", g.attention_chunk_size));
  }
  if (!(g.state_bytes_per_layer >= 0) ||
      !std::isfinite(g.state_bytes_per_layer)) {
    return Bad(m, at + ".state_bytes_per_layer",
               internal::Cat("must be >= 0, got ", g.state_bytes_per_layer));
  }
  const int kinds =
      (g.sliding_window > 0) + (g.attention_chunk_size > 0) + g.is_state();
  if (kinds > 1) {
    return Bad(m, at,
               "set at most one of sliding_window, attention_chunk_size "
               "and state_bytes_per_layer");
  }
  return absl::OkStatus();
}

// Each layer group's kind and sizes, and that they cover every layer.
absl::Status ValidateLayerGroups(const ModelSpec& m) {
  if (m.layer_groups.empty()) return absl::OkStatus();
  int64_t layers = 0;
  for (size_t i = 0; i < m.layer_groups.size(); ++i) {
    if (absl::Status s = ValidateLayerGroup(m, i); !s.ok()) return s;
    layers += m.layer_groups[i].num_layers;
  }
  if (layers != m.num_layers) {
    return Bad(m, "layer_groups",
               internal::Cat("layers sum to ", layers, " but num_layers is ",
                             m.num_layers));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ModelSpec::Validate() const {
  if (name.empty()) return Bad(*this, "name", "must not be empty");
  for (auto check :
       {ValidateShape, ValidateParams, ValidateKvScales, ValidateLayerGroups}) {
    if (absl::Status s = check(*this); !s.ok()) return s;
  }
  return absl::OkStatus();
}

KVCacheGroupSpec LayerGroupSpec::KVCacheGroup() const {
  if (is_state()) return KVCacheGroupSpec::State(state_cache_mode);
  if (attention_chunk_size > 0) {
    return KVCacheGroupSpec::ChunkedLocal(attention_chunk_size);
  }
  if (sliding_window > 0)
    return KVCacheGroupSpec::SlidingWindow(sliding_window);
  return KVCacheGroupSpec::FullAttention();
}

std::vector<KVCacheGroupSpec> ModelSpec::KVCacheGroups() const {
  std::vector<KVCacheGroupSpec> groups;
  for (const LayerGroupSpec& g : EffectiveLayerGroups()) {
    groups.push_back(g.KVCacheGroup());
  }
  return groups;
}

std::vector<LayerGroupSpec> ModelSpec::EffectiveLayerGroups() const {
  if (!layer_groups.empty()) return layer_groups;
  return {LayerGroupSpec{.name = "full", .num_layers = num_layers}};
}

double ModelSpec::KvElementsPerTokenPerLayer(int32_t tp) const {
  PAGEKV_CHECK(tp >= 1, "tensor parallel degree must be >= 1, got {}", tp);
  if (uses_mla()) {
    // One latent shared by all heads; every tensor-parallel rank keeps it.
    return static_cast<double>(mla_kv_lora_rank) + mla_rope_head_dim;
  }
  const int32_t heads_per_device = (num_kv_heads + tp - 1) / tp;
  return 2.0 * heads_per_device * head_dim;
}

double ModelSpec::KvBytesPerTokenPerLayer(int32_t tp) const {
  const double elements = KvElementsPerTokenPerLayer(tp);
  double bytes = elements * BytesPerElement(kv_dtype);
  if (kv_scale_group_size > 0) {
    bytes += std::ceil(elements / kv_scale_group_size) * kv_scale_bytes;
  }
  return bytes;
}

double ModelSpec::KvBytesPerToken(int32_t group, int32_t tp) const {
  PAGEKV_CHECK(group >= 0 && group < num_layer_groups(),
               "layer group {} out of range: model '{}' has {} groups", group,
               name, num_layer_groups());
  if (layer_groups.empty()) return num_layers * KvBytesPerTokenPerLayer(tp);
  const LayerGroupSpec& g = layer_groups[group];
  return g.is_state() ? 0 : g.num_layers * KvBytesPerTokenPerLayer(tp);
}

double ModelSpec::KvBytesPerToken(int32_t tp) const {
  int32_t layers = num_layers;
  for (const LayerGroupSpec& g : layer_groups) {
    if (g.is_state()) layers -= g.num_layers;
  }
  return layers * KvBytesPerTokenPerLayer(tp);
}

double ModelSpec::StateBytesPerSequence(int32_t tp) const {
  PAGEKV_CHECK(tp >= 1, "tensor parallel degree must be >= 1, got {}", tp);
  double bytes = 0;
  for (const LayerGroupSpec& g : layer_groups) {
    if (g.is_state()) bytes += g.num_layers * g.state_bytes_per_layer / tp;
  }
  return bytes;
}

double ModelSpec::GroupBlockBytes(int32_t group, int32_t block_size,
                                  int32_t tp) const {
  PAGEKV_CHECK(group >= 0 && group < num_layer_groups(),
               "layer group {} out of range: model '{}' has {} groups", group,
               name, num_layer_groups());
  if (!layer_groups.empty() && layer_groups[group].is_state()) {
    const LayerGroupSpec& g = layer_groups[group];
    return g.num_layers * g.state_bytes_per_layer / tp;
  }
  return block_size * KvBytesPerToken(group, tp);
}

bool ModelSpec::has_state_groups() const {
  for (const LayerGroupSpec& g : layer_groups) {
    if (g.is_state()) return true;
  }
  return false;
}

double ModelSpec::EffectiveActiveParams() const {
  return active_params > 0 ? active_params : num_params;
}

double ModelSpec::WeightBytes() const {
  return num_params * BytesPerElement(weight_dtype);
}

double ModelSpec::ActiveWeightBytes() const {
  return EffectiveActiveParams() * BytesPerElement(weight_dtype);
}

double ModelSpec::StepWeightBytes(int64_t tokens, int32_t tp) const {
  PAGEKV_CHECK(tokens >= 0, "tokens must be >= 0, got {}", tokens);
  PAGEKV_CHECK(tp >= 1, "tensor parallel degree must be >= 1, got {}", tp);
  double params = num_params;
  if (is_moe()) {
    const double e = num_experts;
    const double k = experts_per_token;
    const double per_expert = (num_params - active_params) / (e - k);
    const double shared = active_params - k * per_expert;
    // Expected distinct experts touched when each token picks k of e
    // uniformly and independently.
    const double touched =
        e * (1.0 - std::pow(1.0 - k / e, static_cast<double>(tokens)));
    params = shared + touched * per_expert;
  }
  return params * BytesPerElement(weight_dtype) / tp;
}

ModelSpec WithKvDtype(ModelSpec spec, DType kv_dtype) {
  spec.kv_dtype = kv_dtype;
  if (kv_dtype == DType::kInt8 || kv_dtype == DType::kInt4) {
    spec.kv_scale_group_size =
        spec.uses_mla() ? spec.mla_kv_lora_rank + spec.mla_rope_head_dim
                        : spec.head_dim;
    spec.kv_scale_bytes = 4;  // fp16 scale + fp16 zero point
  } else {
    spec.kv_scale_group_size = 0;
    spec.kv_scale_bytes = 0;
  }
  return spec;
}

}  // namespace pagekv
