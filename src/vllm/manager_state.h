// VllmManager's private per-request and per-attention-group state.
#ifndef PAGEKV_VLLM_MANAGER_STATE_H_
#define PAGEKV_VLLM_MANAGER_STATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/check.h"
#include "pagekv/block_hash.h"
#include "pagekv/vllm/manager.h"

namespace pagekv::vllm {

// vLLM's req_to_blocks[request_id] and num_cached_block[request_id] for one
// group. vLLM's req_to_blocks is a defaultdict, so some reads create an
// entry, and the entry count is what get_num_common_prefix_blocks compares
// ref counts against: `exists` mirrors that.
struct VllmManager::GroupState {
  std::vector<int32_t> blocks;
  int32_t num_cached = -1;  // -1: not in num_cached_block (not running)
  bool exists = false;
  // Mamba align mode only (vLLM's last_state_block_idx and
  // _allocated_block_reqs): the index in `blocks` of the state block the
  // previous allocation saved the running state in (-1: none), freed once
  // the request has moved past it; and whether the group has allocated for
  // this request since it was added.
  int32_t last_state = -1;
  bool state_allocated = false;
};

struct VllmManager::Request {
  ReqHandle handle = -1;
  std::vector<TokenId> tokens;
  BlockHashExtras extras;
  uint64_t root_key = 0;
  std::vector<uint64_t> keys;  // one per full block of tokens
  KeyList vkeys;               // the request's block_hashes
  std::vector<GroupState> groups;

  // Empties every field and keeps the buffers' capacity.
  void Clear() {
    handle = -1;
    tokens.clear();
    root_key = 0;
    keys.clear();
    vkeys.Reset();
    for (GroupState& g : groups) {
      g.blocks.clear();
      g = GroupState{std::move(g.blocks)};
    }
  }
};

// A freed request is kept for reuse while fewer than this many are and its
// token buffer holds at most kMaxSpareTokens.
inline constexpr size_t kMaxSpare = 8;
inline constexpr size_t kMaxSpareTokens = size_t{1} << 20;

// Groups whose specs are equal, searched together (one hit for all).
struct VllmManager::AttnGroup {
  GroupSpec spec;
  std::vector<int32_t> group_ids;
  bool eagle = false;
};

// In this header so that every file of the manager inlines it.
inline VllmManager::Request& VllmManager::Req(ReqHandle h) const {
  PAGEKV_CHECK(h >= 0 && h < static_cast<ReqHandle>(requests_.size()) &&
                   requests_[h] != nullptr,
               "unknown request handle {}", h);
  return *requests_[h];
}

}  // namespace pagekv::vllm

#endif  // PAGEKV_VLLM_MANAGER_STATE_H_
