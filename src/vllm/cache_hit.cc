// VllmManager's prefix-cache hit search: find_longest_cache_hit of vLLM's
// FullAttentionManager, SlidingWindowManager, ChunkedLocalAttentionManager
// and MambaManager, and the unitary and hybrid coordinators that combine
// them. With caching on all groups share one block size, so the hit
// alignment is that block size and the hybrid LCM equals it.
//
// clang-format off
//   kind           scans                      a hit of L tokens holds
//   full           left to right              the L / bs blocks
//   sliding window right to left, stops at    nulls, then the last
//                  the first full window      cdiv(window - 1, bs) blocks
//   chunked local  left to right from the     nulls up to the chunk start,
//                  chunk of max_length        then the chunk's cached blocks
//   mamba          right to left, stops at    nulls, then the one block
//                  the first cached block     holding the state at L
// clang-format on
#include <algorithm>

#include "core/check.h"
#include "pagekv/block_math.h"
#include "pagekv/vllm/manager.h"
#include "vllm/group_kinds.h"
#include "vllm/manager_state.h"

namespace pagekv::vllm {
namespace {

// How many blocks ahead of a left-to-right walk FindFull prefetches.
constexpr int64_t kSlotAhead = 16;
constexpr int64_t kBlockAhead = 8;

}  // namespace

bool VllmManager::CachedAt(const AttnGroup& ag, const Request& r, int64_t i,
                           std::vector<int32_t>* found) const {
  if (i >= static_cast<int64_t>(r.keys.size())) return false;
  const int32_t bs = config_.hash_block_size;
  const uint64_t parent = i == 0 ? r.root_key : r.keys[i - 1];
  const TokenId* tokens = r.tokens.data() + i * bs;
  found->clear();
  for (int32_t g : ag.group_ids) {
    const int32_t b = pool_.FindCached(r.keys[i], g, parent, tokens);
    if (b < 0) return false;
    found->push_back(b);
  }
  return true;
}

void VllmManager::FindFull(const AttnGroup& ag, Request& r, int64_t max_length,
                           bool eagle,
                           std::vector<std::vector<int32_t>>* hit) const {
  const int32_t bs = ag.spec.block_size;
  const size_t n = ag.group_ids.size();
  hit->assign(n, {});
  const int64_t max_blocks =
      std::min<int64_t>(max_length / bs, static_cast<int64_t>(r.keys.size()));
  std::vector<int32_t> found;
  for (int64_t i = 0; i < max_blocks; ++i) {
    // Two stages ahead: a slot far ahead, the block of a nearer one.
    for (int32_t g : ag.group_ids) {
      if (i + kSlotAhead < max_blocks) {
        pool_.PrefetchSlot(r.keys[i + kSlotAhead], g);
      }
      if (i + kBlockAhead < max_blocks) {
        pool_.PrefetchBlock(r.keys[i + kBlockAhead], g);
      }
    }
    if (!CachedAt(ag, r, i, &found)) break;
    for (size_t k = 0; k < n; ++k) (*hit)[k].push_back(found[k]);
  }
  if (eagle && !(*hit)[0].empty()) {
    for (auto& list : *hit) list.pop_back();
  }
}

void VllmManager::FindSliding(const AttnGroup& ag, Request& r,
                              int64_t max_length, bool eagle,
                              std::vector<std::vector<int32_t>>* hit) const {
  const int32_t bs = ag.spec.block_size;
  const size_t n = ag.group_ids.size();
  // Blocks a hit must end with: the window before the next token.
  int64_t needed = CeilDiv(ag.spec.sliding_window - 1, bs);
  if (eagle) ++needed;
  const int64_t max_blocks = std::max<int64_t>(max_length / bs, 0);
  hit->assign(n, std::vector<int32_t>(max_blocks, 0));
  int64_t contiguous = 0;
  bool match = false;
  std::vector<int32_t> found;
  for (int64_t i = max_blocks - 1; i >= 0; --i) {
    if (CachedAt(ag, r, i, &found)) {
      for (size_t k = 0; k < n; ++k) (*hit)[k][i] = found[k];
      if (++contiguous >= needed) {
        for (auto& list : *hit) list.resize(i + contiguous);
        match = true;
        break;
      }
    } else {
      contiguous = 0;
    }
  }
  // Without a full window, the run from block 0 is still a hit.
  if (!match) {
    for (auto& list : *hit) list.resize(contiguous);
  }
  if (eagle && !(*hit)[0].empty()) {
    for (auto& list : *hit) list.pop_back();
  }
}

void VllmManager::FindChunked(const AttnGroup& ag, Request& r,
                              int64_t max_length,
                              std::vector<std::vector<int32_t>>* hit) const {
  const int32_t bs = ag.spec.block_size;
  const int64_t chunk = ag.spec.attention_chunk_size;
  const int64_t max_blocks = std::max<int64_t>(max_length / bs, 0);
  // Tokens before the chunk of the next token need no KV: nulls.
  const int64_t start = max_length > 0 ? max_length / chunk * chunk : 0;
  hit->assign(ag.group_ids.size(), std::vector<int32_t>(start / bs, 0));
  std::vector<int32_t> found;
  for (int64_t i = start / bs; i < max_blocks; ++i) {
    if (!CachedAt(ag, r, i, &found)) break;
    for (size_t k = 0; k < found.size(); ++k) (*hit)[k].push_back(found[k]);
  }
}

void VllmManager::FindMamba(const AttnGroup& ag, Request& r, int64_t max_length,
                            std::vector<std::vector<int32_t>>* hit) const {
  const int32_t bs = ag.spec.block_size;
  hit->assign(ag.group_ids.size(), {});
  std::vector<int32_t> found;
  // The last cached state wins; the blocks before it are not needed.
  for (int64_t i = max_length / bs - 1; i >= 0; --i) {
    if (!CachedAt(ag, r, i, &found)) continue;
    for (size_t k = 0; k < found.size(); ++k) {
      (*hit)[k].assign(i, 0);
      (*hit)[k].push_back(found[k]);
    }
    return;
  }
}

void VllmManager::FindIn(const AttnGroup& ag, Request& r, int64_t max_length,
                         bool eagle,
                         std::vector<std::vector<int32_t>>* hit) const {
  switch (ag.spec.kind) {
    case GroupKind::kFullAttention:
      return FindFull(ag, r, max_length, eagle, hit);
    case GroupKind::kSlidingWindow:
      return FindSliding(ag, r, max_length, eagle, hit);
    case GroupKind::kChunkedLocal:
      // Validate() refused eagle here, as vLLM asserts.
      return FindChunked(ag, r, max_length, hit);
    case GroupKind::kMamba:
      // vLLM's Mamba search takes use_eagle but ignores it.
      return FindMamba(ag, r, max_length, hit);
  }
}

int64_t VllmManager::FindLongestCacheHit(
    ReqHandle h, int64_t max_length, std::vector<std::vector<int32_t>>* hit) {
  const int32_t num_groups = this->num_groups();
  hit->assign(num_groups, {});
  if (!config_.enable_caching || max_length <= 0) return 0;
  Request& r = Req(h);
  SyncKeys(r);
  std::vector<std::vector<int32_t>> part;
  auto search = [&](const AttnGroup& ag, int64_t len, bool eagle) {
    FindIn(ag, r, len, eagle, &part);
    for (size_t k = 0; k < ag.group_ids.size(); ++k) {
      (*hit)[ag.group_ids[k]] = std::move(part[k]);
    }
    return static_cast<int64_t>((*hit)[ag.group_ids[0]].size()) *
           ag.spec.block_size;
  };
  if (num_groups == 1) {
    return search(attn_groups_[0], max_length, attn_groups_[0].eagle);
  }
  // vLLM's HybridKVCacheCoordinator: each attention group accepts or
  // shortens the candidate length until none shortens it.
  const size_t na = attn_groups_.size();
  const bool simple =
      na == 2 && attn_groups_[0].spec.kind == GroupKind::kFullAttention;
  std::vector<uint8_t> searched(na, 0), eagle_done(na, 0);
  int64_t hit_length = max_length;
  while (true) {
    int64_t curr = hit_length;
    for (size_t idx = 0; idx < na; ++idx) {
      const AttnGroup& ag = attn_groups_[idx];
      const int32_t bs = ag.spec.block_size;
      if (ag.spec.kind == GroupKind::kFullAttention && searched[idx]) {
        curr = curr / bs * bs;  // downward-closed: trim, do not search again
        continue;
      }
      const bool eagle = ag.eagle && !eagle_done[idx];
      const int64_t len = eagle ? std::min(curr + bs, max_length) : curr;
      const int64_t got = search(ag, len, eagle);
      searched[idx] = 1;
      if (eagle) {
        eagle_done[idx] = 1;
      } else if (got < curr) {
        std::fill(eagle_done.begin(), eagle_done.end(), 0);
      }
      curr = got;
    }
    if (curr >= hit_length) break;
    hit_length = curr;
    if (simple) break;
  }
  const AttnGroup& first = attn_groups_[0];
  if (first.spec.kind == GroupKind::kFullAttention) {
    const size_t keep = hit_length / first.spec.block_size;
    for (int32_t g : first.group_ids) {
      if ((*hit)[g].size() > keep) (*hit)[g].resize(keep);
    }
  }
  return hit_length;
}

}  // namespace pagekv::vllm
