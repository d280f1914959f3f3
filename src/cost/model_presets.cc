// Model presets. Shapes come from each model's published config.json on the
// Hugging Face Hub (or the paper named), parameter counts from the model
// card. Weight and KV dtypes are the released checkpoint's.
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "cost/str_util.h"
#include "pagekv/cost/model_spec.h"

namespace pagekv {
namespace {

// Hybrid models, each beside its full-attention twin (the same shape with
// every layer attending to the whole context), so `pagekv plan` and
// `pagekv simulate` can show what the hybrid layers save. Their layers come
// in groups of equal size, as vLLM's hybrid manager groups them (one pool
// block per group holds the same number of layers).
void AddHybridPresets(std::vector<ModelSpec>* presets) {
  // Qwen/Qwen3-Next-80B-A3B-Instruct config.json: 48 layers, one gated
  // attention layer (16 heads, 2 KV heads of 256) every 4 (full_attention_
  // interval 4), the others Gated DeltaNet linear attention with 32 value
  // heads and 16 key heads of 128 and a 4-wide convolution; 512 experts,
  // 10 per token; 80B total, 3B active; 256k context. A linear layer's state
  // per sequence: 32 * 128 * 128 recurrent + (2 * 16 * 128 + 32 * 128) * 3
  // convolution elements, bf16: 1,097,728 bytes.
  ModelSpec qwen{.name = "qwen3-next-80b-a3b",
                 .num_layers = 48,
                 .hidden_size = 2048,
                 .num_attention_heads = 16,
                 .num_kv_heads = 2,
                 .head_dim = 256,
                 .intermediate_size = 512,
                 .num_params = 80e9,
                 .active_params = 3e9,
                 .num_experts = 512,
                 .experts_per_token = 10,
                 .weight_dtype = DType::kBf16,
                 .kv_dtype = DType::kBf16,
                 .max_context = 262144};
  constexpr double kDeltaNetState = (32.0 * 128 * 128 + 8192.0 * 3) * 2;
  qwen.layer_groups = {{.name = "attention", .num_layers = 12}};
  for (const char* name : {"linear_a", "linear_b", "linear_c"}) {
    qwen.layer_groups.push_back(
        LayerGroupSpec{.name = name,
                       .num_layers = 12,
                       .state_bytes_per_layer = kDeltaNetState});
  }
  ModelSpec qwen_full = qwen;
  qwen_full.name = "qwen3-next-80b-a3b-all-attention";
  qwen_full.layer_groups.clear();
  presets->push_back(std::move(qwen));
  presets->push_back(std::move(qwen_full));

  // meta-llama/Llama-4-Scout-17B-16E config.json (text_config): 48 layers,
  // 40 heads, 8 KV heads of 128, attention_chunk_size 8192 with every 4th
  // layer global (no RoPE); 16 experts, 1 per token plus a shared expert;
  // 109B total, 17B active; 10M context.
  ModelSpec scout{.name = "llama-4-scout-17b-16e",
                  .num_layers = 48,
                  .hidden_size = 5120,
                  .num_attention_heads = 40,
                  .num_kv_heads = 8,
                  .head_dim = 128,
                  .intermediate_size = 8192,
                  .num_params = 109e9,
                  .active_params = 17e9,
                  .num_experts = 16,
                  .experts_per_token = 1,
                  .weight_dtype = DType::kBf16,
                  .kv_dtype = DType::kBf16,
                  .max_context = 10485760};
  scout.layer_groups = {{.name = "global", .num_layers = 12}};
  for (const char* name : {"chunked_a", "chunked_b", "chunked_c"}) {
    scout.layer_groups.push_back(LayerGroupSpec{
        .name = name, .num_layers = 12, .attention_chunk_size = 8192});
  }
  ModelSpec scout_full = scout;
  scout_full.name = "llama-4-scout-17b-16e-all-global";
  scout_full.layer_groups.clear();
  presets->push_back(std::move(scout));
  presets->push_back(std::move(scout_full));
}

// Meta's Llama 2 and Llama 3 dense models.
void AddLlamaPresets(std::vector<ModelSpec>* presets) {
  // meta-llama/Llama-2-7b-hf config.json; Touvron et al. 2023, "Llama 2"
  // (arXiv:2307.09288), Table 1. 6.74B parameters, MHA, 4k context.
  presets->push_back(ModelSpec{.name = "llama-2-7b",
                               .num_layers = 32,
                               .hidden_size = 4096,
                               .num_attention_heads = 32,
                               .num_kv_heads = 32,
                               .head_dim = 128,
                               .intermediate_size = 11008,
                               .num_params = 6.74e9,
                               .weight_dtype = DType::kFp16,
                               .kv_dtype = DType::kFp16,
                               .max_context = 4096});

  // meta-llama/Llama-2-13b-hf config.json; Llama 2 paper. 13.0B, MHA.
  presets->push_back(ModelSpec{.name = "llama-2-13b",
                               .num_layers = 40,
                               .hidden_size = 5120,
                               .num_attention_heads = 40,
                               .num_kv_heads = 40,
                               .head_dim = 128,
                               .intermediate_size = 13824,
                               .num_params = 13.02e9,
                               .weight_dtype = DType::kFp16,
                               .kv_dtype = DType::kFp16,
                               .max_context = 4096});

  // meta-llama/Meta-Llama-3-8B config.json and model card: 8.03B, GQA with
  // 8 KV heads, 8k context.
  presets->push_back(ModelSpec{.name = "llama-3-8b",
                               .num_layers = 32,
                               .hidden_size = 4096,
                               .num_attention_heads = 32,
                               .num_kv_heads = 8,
                               .head_dim = 128,
                               .intermediate_size = 14336,
                               .num_params = 8.03e9,
                               .weight_dtype = DType::kBf16,
                               .kv_dtype = DType::kBf16,
                               .max_context = 8192});

  // meta-llama/Meta-Llama-3-70B config.json and model card: 70.6B, GQA.
  presets->push_back(ModelSpec{.name = "llama-3-70b",
                               .num_layers = 80,
                               .hidden_size = 8192,
                               .num_attention_heads = 64,
                               .num_kv_heads = 8,
                               .head_dim = 128,
                               .intermediate_size = 28672,
                               .num_params = 70.55e9,
                               .weight_dtype = DType::kBf16,
                               .kv_dtype = DType::kBf16,
                               .max_context = 8192});
}

// Other dense models: Mistral (sliding window), Qwen 2.5, OPT.
void AddOtherDensePresets(std::vector<ModelSpec>* presets) {
  // mistralai/Mistral-7B-v0.1 config.json ("sliding_window": 4096 on every
  // layer); Jiang et al. 2023, "Mistral 7B" (arXiv:2310.06825). 7.24B.
  presets->push_back(ModelSpec{
      .name = "mistral-7b",
      .num_layers = 32,
      .hidden_size = 4096,
      .num_attention_heads = 32,
      .num_kv_heads = 8,
      .head_dim = 128,
      .intermediate_size = 14336,
      .num_params = 7.24e9,
      .weight_dtype = DType::kBf16,
      .kv_dtype = DType::kBf16,
      .layer_groups = {LayerGroupSpec{
          .name = "sliding", .num_layers = 32, .sliding_window = 4096}},
      .max_context = 32768});

  // Qwen/Qwen2.5-7B config.json and model card: 7.61B, 28 layers, GQA with
  // 4 KV heads, 32k native context (128k with YaRN).
  presets->push_back(ModelSpec{.name = "qwen2.5-7b",
                               .num_layers = 28,
                               .hidden_size = 3584,
                               .num_attention_heads = 28,
                               .num_kv_heads = 4,
                               .head_dim = 128,
                               .intermediate_size = 18944,
                               .num_params = 7.61e9,
                               .weight_dtype = DType::kBf16,
                               .kv_dtype = DType::kBf16,
                               .max_context = 32768});

  // facebook/opt-13b config.json; Zhang et al. 2022, "OPT" (arXiv:
  // 2205.01068), Table 1: 40 layers, 40 heads, d_model 5120, 2k context.
  // The model the PagedAttention (vLLM) paper evaluates on one A100.
  presets->push_back(ModelSpec{.name = "opt-13b",
                               .num_layers = 40,
                               .hidden_size = 5120,
                               .num_attention_heads = 40,
                               .num_kv_heads = 40,
                               .head_dim = 128,
                               .intermediate_size = 20480,
                               .num_params = 12.85e9,
                               .weight_dtype = DType::kFp16,
                               .kv_dtype = DType::kFp16,
                               .max_context = 2048});
}

// Mixture-of-experts models: Mixtral, DeepSeek-V3 (MLA).
void AddMoePresets(std::vector<ModelSpec>* presets) {
  // mistralai/Mixtral-8x7B-v0.1 config.json; Jiang et al. 2024, "Mixtral of
  // Experts" (arXiv:2401.04088): 46.7B total, 12.9B active, 8 experts, top-2.
  presets->push_back(ModelSpec{.name = "mixtral-8x7b",
                               .num_layers = 32,
                               .hidden_size = 4096,
                               .num_attention_heads = 32,
                               .num_kv_heads = 8,
                               .head_dim = 128,
                               .intermediate_size = 14336,
                               .num_params = 46.7e9,
                               .active_params = 12.9e9,
                               .num_experts = 8,
                               .experts_per_token = 2,
                               .weight_dtype = DType::kBf16,
                               .kv_dtype = DType::kBf16,
                               .max_context = 32768});

  // deepseek-ai/DeepSeek-V3 config.json; DeepSeek-AI 2024, "DeepSeek-V3
  // Technical Report" (arXiv:2412.19437): 671B total, 37B active, 61 layers,
  // 128 heads, MLA with kv_lora_rank 512 and qk_rope_head_dim 64 (576
  // cached elements per token per layer), v_head_dim 128, 256 routed experts
  // with 8 per token, FP8 weights, 128k context.
  presets->push_back(ModelSpec{.name = "deepseek-v3",
                               .num_layers = 61,
                               .hidden_size = 7168,
                               .num_attention_heads = 128,
                               .num_kv_heads = 128,
                               .head_dim = 128,
                               .intermediate_size = 2048,
                               .mla_kv_lora_rank = 512,
                               .mla_rope_head_dim = 64,
                               .num_params = 671e9,
                               .active_params = 37e9,
                               .num_experts = 256,
                               .experts_per_token = 8,
                               .weight_dtype = DType::kFp8,
                               .kv_dtype = DType::kBf16,
                               .max_context = 131072});
}

std::vector<ModelSpec> BuildPresets() {
  std::vector<ModelSpec> presets;
  AddLlamaPresets(&presets);
  AddOtherDensePresets(&presets);
  AddMoePresets(&presets);
  AddHybridPresets(&presets);
  return presets;
}

const std::vector<ModelSpec>& Presets() {
  static const auto* const presets = new std::vector<ModelSpec>(BuildPresets());
  return *presets;
}

}  // namespace

absl::StatusOr<ModelSpec> FindModelPreset(std::string_view name) {
  const std::string wanted = internal::ToLower(name);
  for (const ModelSpec& spec : Presets()) {
    if (spec.name == wanted) return spec;
  }
  return absl::NotFoundError(internal::Cat(
      "unknown model preset '", name,
      "' (known: ", absl::StrJoin(ModelPresetNames(), ", "), ")"));
}

std::vector<std::string> ModelPresetNames() {
  std::vector<std::string> names;
  for (const ModelSpec& spec : Presets()) names.push_back(spec.name);
  return names;
}

}  // namespace pagekv
