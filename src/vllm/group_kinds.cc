// Per-kind rules of vLLM's single-type managers (see group_kinds.h) and
// the Mamba manager's own steps.
//
// A Mamba group keeps one recurrent state per request instead of KV per
// token, so its table is mostly null blocks: the block holding the running
// state sits at index cdiv(computed, block_size) - 1, earlier entries are
// null (or, with prefix caching, cached checkpoints the pool may evict).
//
//   none / all:  allocate as a full-attention group would for num_tokens +
//                num_speculative_blocks * block_size tokens, and free every
//                block before the one holding the state of the last computed
//                token (remove_skipped_blocks, whose token count first drops
//                num_speculative_blocks, as vLLM's does).
//   align:       allocate for the main model's tokens only (no lookahead),
//                one new state block per step (1 + num_speculative_blocks
//                on the first), moving the previous step's speculative
//                blocks up to the new state position; the state block of the
//                step before is freed one step later, once the copy from it
//                is done (last_state).
//
// With prefix caching on, a hit on a state block cached during this step is
// refused (the allocation fails as if the pool were short) until
// NewStepStarts, because the copy into it may not have happened yet.
#include "vllm/group_kinds.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "pagekv/vllm/manager.h"
#include "vllm/manager_state.h"

namespace pagekv::vllm {

int64_t SkippedTokens(const GroupSpec& g, int64_t num_computed) {
  switch (g.kind) {
    case GroupKind::kFullAttention:
      return 0;
    case GroupKind::kSlidingWindow:
      return std::max<int64_t>(0, num_computed - g.sliding_window + 1);
    case GroupKind::kChunkedLocal:
      return num_computed / g.attention_chunk_size * g.attention_chunk_size;
    case GroupKind::kMamba:
      return std::max<int64_t>(0, num_computed - 1);
  }
  return 0;
}

int32_t AdmissionCap(const GroupSpec& g, int64_t max_num_batched_tokens,
                     int64_t max_model_len) {
  if (g.kind == GroupKind::kSlidingWindow) {
    const int64_t tokens = std::min<int64_t>(
        g.sliding_window - 1 + max_num_batched_tokens, max_model_len);
    return static_cast<int32_t>(CeilDiv(tokens, g.block_size) + 1);
  }
  if (g.kind == GroupKind::kChunkedLocal) {
    const int64_t tokens = std::min<int64_t>(
        g.attention_chunk_size + max_num_batched_tokens, max_model_len);
    return static_cast<int32_t>(CeilDiv(tokens, g.block_size));
  }
  return -1;
}

int64_t SlotTokens(const GroupSpec& g, int64_t num_tokens) {
  if (g.kind != GroupKind::kMamba || IsAlignedMamba(g)) return num_tokens;
  return num_tokens +
         static_cast<int64_t>(g.block_size) * g.num_speculative_blocks;
}

absl::Status ValidateGroup(const ManagerConfig& config, size_t i) {
  const GroupSpec& g = config.groups[i];
  if (g.block_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv_cache_groups[", i,
                     "].block_size must be positive, got ", g.block_size));
  }
  if (config.enable_caching && g.block_size != config.hash_block_size) {
    return absl::UnimplementedError(absl::StrCat(
        "kv_cache_groups[", i, "].block_size = ", g.block_size,
        " differs from hash_block_size = ", config.hash_block_size,
        ": groups of different block sizes are supported only with prefix "
        "caching off"));
  }
  if (g.kind == GroupKind::kSlidingWindow && g.sliding_window < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv_cache_groups[", i, "].sliding_window must be ",
                     "positive, got ", g.sliding_window));
  }
  if (g.kind == GroupKind::kChunkedLocal && g.attention_chunk_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv_cache_groups[", i, "].attention_chunk_size must be ",
                     "positive, got ", g.attention_chunk_size));
  }
  if (g.kind == GroupKind::kMamba && g.num_speculative_blocks < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kv_cache_groups[", i, "].num_speculative_blocks must be >= 0, got ",
        g.num_speculative_blocks));
  }
  if (g.kind == GroupKind::kChunkedLocal && config.enable_caching &&
      config.use_eagle) {
    // The eagle drop reaches this group if it is flagged or none is.
    bool any_flagged = false;
    for (const GroupSpec& o : config.groups) any_flagged |= o.is_eagle_group;
    if (g.is_eagle_group || !any_flagged) {
      return absl::UnimplementedError(absl::StrCat(
          "kv_cache_groups[", i, "] is chunked local attention with eagle: ",
          "vLLM does not support prefix caching for eagle + chunked local "
          "attention either"));
    }
  }
  return absl::OkStatus();
}

bool VllmManager::CachedThisStep(int32_t g, int32_t block) const {
  if (block == 0 || !pool_.IsCached(block)) return false;
  return cached_this_step_[g].contains(pool_.VllmKey(block));
}

void VllmManager::MambaNoteCached(int32_t g, const Request& r, int32_t from,
                                  int32_t to) {
  const std::vector<int32_t>& blocks = r.groups[g].blocks;
  to = std::min<int32_t>(to, static_cast<int32_t>(blocks.size()));
  for (int32_t i = std::max(from, 0); i < to; ++i) {
    if (blocks[i] != 0) cached_this_step_[g].insert(pool_.VllmKey(blocks[i]));
  }
}

void VllmManager::NewStepStarts() {
  for (auto& keys : cached_this_step_) keys.clear();
}

int64_t VllmManager::MambaAlignedBlocksToAllocate(
    int32_t g, const Request& r, int64_t main_tokens,
    absl::Span<const int32_t> new_computed) const {
  const GroupSpec& spec = groups_[g];
  const GroupState& s = r.groups[g];
  const int64_t required =
      CeilDiv(main_tokens, spec.block_size) + spec.num_speculative_blocks;
  int64_t fresh = required - static_cast<int64_t>(new_computed.size()) -
                  static_cast<int64_t>(s.blocks.size());
  if (fresh > 0) {
    // One new state block per step; the first step also takes the
    // speculative blocks, later ones reuse them.
    fresh = s.state_allocated ? 1 : 1 + spec.num_speculative_blocks;
  }
  int64_t evictable = 0;
  for (int32_t b : new_computed) evictable += b != 0 && pool_.RefCnt(b) == 0;
  return fresh + evictable;
}

void VllmManager::MambaAllocateAligned(int32_t g, Request& r,
                                       int64_t main_tokens,
                                       std::vector<int32_t>* out) {
  const GroupSpec& spec = groups_[g];
  const int32_t num_spec = spec.num_speculative_blocks;
  GroupState& s = r.groups[g];
  std::vector<int32_t>& blocks = s.blocks;
  const int64_t required = CeilDiv(main_tokens, spec.block_size) + num_spec;
  const int64_t prev = static_cast<int64_t>(blocks.size());
  if (required == prev) return;
  PAGEKV_CHECK(required > prev,
               "a Mamba group needs {} blocks but holds {} (align mode never "
               "shrinks)",
               required, prev);
  // The running state was saved in the last block before the speculative
  // ones (or, right after a hit, in the hit block).
  if (s.state_allocated) {
    s.last_state = static_cast<int32_t>(prev - 1 - num_spec);
  } else if (prev > 0) {
    s.last_state = static_cast<int32_t>(prev - 1);
  }
  const int64_t state_index = required - num_spec - 1;
  if (prev < state_index) blocks.resize(state_index, 0);
  if (s.state_allocated) {
    // The speculative blocks move up behind the new state block.
    for (int64_t i = prev - num_spec; i < prev && i < state_index; ++i) {
      const int32_t moved = blocks[i];
      blocks[i] = 0;
      blocks.push_back(moved);
    }
  }
  const int64_t n = required - static_cast<int64_t>(blocks.size());
  PAGEKV_CHECK(n >= 0 && n <= (s.state_allocated ? 1 : 1 + num_spec),
               "a Mamba step would allocate {} blocks", n);
  const absl::Status got = pool_.GetNewBlocks(static_cast<int32_t>(n), &blocks);
  PAGEKV_CHECK(got.ok(),
               "the free-block check admitted {} blocks it cannot give", n);
  s.state_allocated = true;
  out->assign(blocks.begin() + prev, blocks.end());
}

void VllmManager::MambaRemoveSkipped(int32_t g, Request& r,
                                     int64_t total_computed) {
  const GroupSpec& spec = groups_[g];
  // Draft tokens of the last step may be rejected: assume they all are.
  // (vLLM subtracts the number of speculative blocks from a token count.)
  const int64_t computed =
      std::max<int64_t>(0, total_computed - spec.num_speculative_blocks);
  RemoveSkippedBase(g, r, SkippedTokens(spec, computed));
  if (!IsAlignedMamba(spec)) return;
  GroupState& s = r.groups[g];
  if (s.last_state < 0 ||
      s.last_state >= CeilDiv(computed, spec.block_size) - 1) {
    return;
  }
  PAGEKV_DCHECK(s.last_state < static_cast<int32_t>(s.blocks.size()),
                "last state index {} outside the table of {}", s.last_state,
                s.blocks.size());
  const int32_t b = s.blocks[s.last_state];
  if (b == 0) return;
  s.blocks[s.last_state] = 0;
  pool_.FreeBlocks(absl::MakeConstSpan(&b, 1));
}

absl::Status VllmManager::VerifyKinds() const {
  for (int32_t g = 0; g < num_groups(); ++g) {
    if (groups_[g].kind != GroupKind::kMamba && !cached_this_step_[g].empty()) {
      return absl::InternalError(absl::StrCat(
          "group ", g, " is not Mamba but records blocks cached this step"));
    }
  }
  for (const auto& r : requests_) {
    if (!r) continue;
    for (int32_t g = 0; g < num_groups(); ++g) {
      const GroupSpec& spec = groups_[g];
      const GroupState& s = r->groups[g];
      const int32_t size = static_cast<int32_t>(s.blocks.size());
      if (!IsAlignedMamba(spec) && (s.last_state != -1 || s.state_allocated)) {
        return absl::InternalError(absl::StrCat(
            "request ", r->handle, " has Mamba align state in group ", g));
      }
      if (s.last_state >= size) {
        return absl::InternalError(absl::StrCat(
            "request ", r->handle, " group ", g, ": last state index ",
            s.last_state, " outside its table of ", size));
      }
      if (s.state_allocated && size < 1 + spec.num_speculative_blocks) {
        return absl::InternalError(absl::StrCat(
            "request ", r->handle, " group ", g, " holds ", size,
            " blocks, fewer than its state and speculative blocks"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace pagekv::vllm
