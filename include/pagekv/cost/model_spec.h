// ModelSpec: the shape of a transformer as far as memory and bandwidth care.
//
// A spec holds what decides how many bytes a token's KV cache takes and how
// many bytes and FLOPs a step moves: layers, heads (MHA/GQA/MQA), head size,
// an MLA latent where the model compresses K and V (DeepSeek-V2/V3), layer
// groups with sliding windows, parameter counts (total and active, for MoE)
// and the dtypes of weights and KV cache. Presets for public models are
// looked up by name; custom specs load from JSON (see docs/cost-model.md).
//
// Thread-safety: specs are plain values; the preset table is immutable.
#ifndef PAGEKV_COST_MODEL_SPEC_H_
#define PAGEKV_COST_MODEL_SPEC_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/kv_cache_config.h"

namespace pagekv {

// Element types of weights and KV cache.
enum class DType { kFp32, kFp16, kBf16, kFp8, kInt8, kInt4 };

// Returns the storage size of one element, in bytes (0.5 for int4).
double BytesPerElement(DType dtype);

// Returns the lower-case name: "fp32", "fp16", "bf16", "fp8", "int8", "int4".
std::string_view DTypeName(DType dtype);

// Parses a dtype name (case-insensitive; also accepts "float16", "half",
// "bfloat16", "float32", "fp8_e4m3", "fp8_e5m2"). Error names the value.
absl::StatusOr<DType> ParseDType(std::string_view name);

// Layers that share one attention pattern, hence one KV-cache group in the
// manager. Footprint group g corresponds to ModelSpec::layer_groups[g].
//
// The kinds (at most one of the three fields below is set):
//   full attention     none set
//   sliding window     sliding_window > 0: a query reads the last window
//   chunked local      attention_chunk_size > 0: a query reads its chunk
//   state              state_bytes_per_layer > 0: Mamba / linear attention,
//                      a fixed-size state per sequence instead of KV; the
//                      group holds no per-token KV
struct LayerGroupSpec {
  std::string name = "full";
  int32_t num_layers = 0;  // > 0
  // Tokens a query attends to; 0 = full attention.
  int32_t sliding_window = 0;
  // Chunked local attention (Llama 4): a query at position p attends to
  // [p - p % chunk, p]. 0 = not chunked.
  int32_t attention_chunk_size = 0;
  // A state group: bytes of one layer's recurrent state (SSM state plus
  // convolution state) of one sequence, over all heads (split over tensor
  // parallel ranks). 0 = an attention group.
  double state_bytes_per_layer = 0;
  // A state group: whether its state is checkpointed for prefix caching.
  StateCacheMode state_cache_mode = StateCacheMode::kAlign;

  bool is_state() const { return state_bytes_per_layer > 0; }
  // The manager's group for these layers.
  KVCacheGroupSpec KVCacheGroup() const;
};

struct ModelSpec {
  std::string name = {};
  int32_t num_layers = 0;           // > 0
  int32_t hidden_size = 0;          // > 0
  int32_t num_attention_heads = 0;  // > 0, query heads
  // KV heads: == num_attention_heads for MHA, fewer for GQA, 1 for MQA.
  // REQUIRES: divides num_attention_heads. Ignored for KV size under MLA.
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;           // > 0, per-head size of K and V
  int32_t intermediate_size = 0;  // MLP size (per expert for MoE); info only
  // MLA (multi-head latent attention): one latent of kv_lora_rank elements
  // plus a decoupled RoPE key of rope_head_dim elements per token per layer,
  // shared by all heads. 0 = not MLA.
  int32_t mla_kv_lora_rank = 0;
  int32_t mla_rope_head_dim = 0;
  // Parameter counts. active_params = params used per token (0 = all).
  double num_params = 0;  // > 0
  double active_params = 0;
  // MoE: routed experts and experts chosen per token (0 = dense model).
  int32_t num_experts = 0;
  int32_t experts_per_token = 0;
  DType weight_dtype = DType::kBf16;
  DType kv_dtype = DType::kBf16;
  // Quantized KV formats keep scales next to the data: kv_scale_bytes per
  // kv_scale_group_size elements (e.g. an fp16 scale and zero point per head
  // per token: group = head_dim, 4 bytes). 0 = no per-block scales.
  int32_t kv_scale_group_size = 0;
  int32_t kv_scale_bytes = 0;
  // Layer groups; empty means one full-attention group of num_layers layers.
  // REQUIRES: layers of all groups sum to num_layers.
  std::vector<LayerGroupSpec> layer_groups = {};
  // Longest supported context (info and planning default). 0 = unknown.
  int64_t max_context = 0;

  // Returns OK, or InvalidArgument naming the first bad field.
  absl::Status Validate() const;

  bool uses_mla() const { return mla_kv_lora_rank > 0; }
  bool is_moe() const { return num_experts > 0; }
  // Returns layer_groups, or the single implicit full-attention group.
  std::vector<LayerGroupSpec> EffectiveLayerGroups() const;
  // The manager's KV-cache groups for this model, one per effective layer
  // group in the same order (a sliding window where the group has one), so
  // footprint group g is layer group g. What the simulator and an embedding
  // engine put in KVCacheConfig::groups.
  std::vector<KVCacheGroupSpec> KVCacheGroups() const;
  int32_t num_layer_groups() const {
    return layer_groups.empty() ? 1 : static_cast<int32_t>(layer_groups.size());
  }

  // Returns the KV elements one token stores in one layer on one of `tp`
  // tensor-parallel devices: 2 * ceil(kv_heads / tp) * head_dim, or the MLA
  // latent (replicated on every device).
  // REQUIRES: tp >= 1.
  double KvElementsPerTokenPerLayer(int32_t tp = 1) const;
  // Returns the KV bytes (data + scales) of one token in one layer on one
  // device of a tensor-parallel group of `tp`.
  double KvBytesPerTokenPerLayer(int32_t tp = 1) const;
  // Returns the KV bytes of one token in layer group `group` on one device.
  // REQUIRES: 0 <= group < num_layer_groups().
  double KvBytesPerToken(int32_t group, int32_t tp) const;
  // Returns the KV bytes of one token over all attention layers on one
  // device (state layers hold no per-token KV).
  double KvBytesPerToken(int32_t tp = 1) const;
  // Returns the bytes of one sequence's states over all state layers on one
  // device: what a state group reads and writes per sequence per step,
  // whatever the context. 0 for a model without state groups.
  double StateBytesPerSequence(int32_t tp = 1) const;
  // Returns the bytes of one pool block of layer group `group` holding
  // `block_size` tokens (a state group's block holds one state).
  double GroupBlockBytes(int32_t group, int32_t block_size,
                         int32_t tp = 1) const;
  bool has_state_groups() const;

  // Returns active_params, or num_params for a dense model.
  double EffectiveActiveParams() const;
  // Returns bytes of all weights (num_params * weight element size).
  double WeightBytes() const;
  // Returns bytes of the weights used by one token.
  double ActiveWeightBytes() const;
  // Returns the bytes of weights one step reads on one device of `tp`, for
  // `tokens` tokens in the step. Dense: all weights. MoE: non-expert weights
  // plus the expected number of distinct experts touched under uniform
  // independent routing, E * (1 - (1 - k/E)^tokens), each of size
  // (total - active) / (E - k).
  // REQUIRES: tokens >= 0, tp >= 1.
  double StepWeightBytes(int64_t tokens, int32_t tp = 1) const;
};

// Returns a copy of `spec` with the KV dtype replaced, and scales set to the
// default for that dtype: int8/int4 keep an fp16 scale and zero point per
// head per token (LMDeploy-style), fp8/fp16/bf16/fp32 have none.
ModelSpec WithKvDtype(ModelSpec spec, DType kv_dtype);

// Returns the preset named `name` (case-insensitive, e.g. "llama-2-7b"), or
// NotFound listing the known names.
absl::StatusOr<ModelSpec> FindModelPreset(std::string_view name);
// Returns the names of all model presets, in a stable order.
std::vector<std::string> ModelPresetNames();

// Parses a JSON object into a spec. Fields are the ModelSpec member names,
// dtypes as strings, "layer_groups" as an array of objects; an optional
// "base" names a preset to start from. Unknown fields are rejected. Errors
// name `source` (a file name, for messages) and the bad field.
absl::StatusOr<ModelSpec> ParseModelSpecJson(std::string_view json_text,
                                             std::string_view source);
// Reads and parses a JSON file. Errors name the file.
absl::StatusOr<ModelSpec> LoadModelSpecFile(const std::string& path);
// Returns the preset called `name_or_file`, or else loads it as a file.
absl::StatusOr<ModelSpec> ResolveModelSpec(std::string_view name_or_file);

}  // namespace pagekv

#endif  // PAGEKV_COST_MODEL_SPEC_H_
