// The rules of vLLM's single-type managers that depend on a group's kind
// and nothing else (vllm/v1/core/single_type_kv_cache_manager.py): how many
// leading tokens a group no longer reads, the per-request admission cap,
// how many token slots a group allocates for, and the spec checks. The
// manager's per-kind steps that need its state (Mamba's align mode, the
// per-step cache record) are VllmManager members in group_kinds.cc; the hit
// searches are in cache_hit.cc.
//
// clang-format off
//   kind            skipped tokens (of n computed)   admission cap (blocks)
//   full            0                                none
//   sliding window  max(0, n - window + 1)           cdiv(min(window-1+B, L), bs) + 1
//   chunked local   n / chunk * chunk                cdiv(min(chunk+B, L), bs)
//   mamba           max(0, n - 1)                    none
//   (B = max_num_batched_tokens, L = max_model_len)
// clang-format on
#ifndef PAGEKV_VLLM_GROUP_KINDS_H_
#define PAGEKV_VLLM_GROUP_KINDS_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "pagekv/block_math.h"
#include "pagekv/vllm/manager.h"

namespace pagekv::vllm {

// get_num_skipped_tokens: the leading tokens the group no longer attends to
// once `num_computed` tokens are computed; >= 0 (vLLM's Mamba returns -1 for
// 0 tokens, which every caller treats as 0).
int64_t SkippedTokens(const GroupSpec& g, int64_t num_computed);

// max_admission_blocks_per_request for the groups that recycle blocks
// (sliding window, chunked local); -1 for the others (no cap).
int32_t AdmissionCap(const GroupSpec& g, int64_t max_num_batched_tokens,
                     int64_t max_model_len);

// The token slots a group allocates blocks for when the request needs
// `num_tokens`: a Mamba group outside align mode adds its speculative
// blocks' worth. (Align mode has its own rule, MambaAllocateAligned.)
int64_t SlotTokens(const GroupSpec& g, int64_t num_tokens);

// Whether the group is a Mamba group in align mode.
inline bool IsAlignedMamba(const GroupSpec& g) {
  return g.kind == GroupKind::kMamba &&
         g.mamba_cache_mode == MambaCacheMode::kAlign;
}

// Checks groups[i] of `config`: InvalidArgument for a bad field,
// Unimplemented for what pagekv.vllm does not support (another block size
// than hash_block_size with caching on; the eagle drop on a chunked-local
// group, which vLLM asserts against).
absl::Status ValidateGroup(const ManagerConfig& config, size_t i);

}  // namespace pagekv::vllm

#endif  // PAGEKV_VLLM_GROUP_KINDS_H_
