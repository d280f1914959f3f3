// VllmManager::AllocateSlots (vLLM's KVCacheManager.allocate_slots) and
// Verify.
//
// The phases, as vLLM's:
//   1. with full_sequence_must_fit, fail if the whole request cannot fit;
//   2. free the blocks a group no longer reads (outside a sliding window,
//      before the current chunk, old Mamba states; kept even when the
//      allocation then fails, as vLLM);
//   3. fail if the new and touched-evictable blocks exceed the free ones
//      (or a Mamba hit was cached during this step);
//   4. take the hit blocks (and blocks for connector tokens);
//   5. allocate blocks for the new and lookahead tokens;
//   6. cache the full blocks of finalized tokens.
// Argument faults are found before phase 1, so a rejected call changes
// nothing.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "pagekv/vllm/manager.h"
#include "vllm/manager_state.h"

namespace pagekv::vllm {

namespace {

absl::Status CheckArgs(const ManagerConfig& config, int32_t num_groups,
                       const AllocateArgs& a) {
  if (a.num_new_tokens == 0 && a.num_external_computed_tokens == 0) {
    return absl::InvalidArgumentError(
        "num_new_tokens must be greater than 0 when there are no external "
        "computed tokens");
  }
  if (a.num_new_tokens < 0 || a.num_new_computed_tokens < 0 ||
      a.num_lookahead_tokens < 0 || a.num_external_computed_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token counts must be non-negative (num_new_tokens=", a.num_new_tokens,
        ", num_new_computed_tokens=", a.num_new_computed_tokens,
        ", num_lookahead_tokens=", a.num_lookahead_tokens,
        ", num_external_computed_tokens=", a.num_external_computed_tokens,
        ")"));
  }
  if (a.new_computed == nullptr) return absl::OkStatus();
  if (static_cast<int32_t>(a.new_computed->size()) != num_groups) {
    return absl::InvalidArgumentError(
        absl::StrCat("new_computed_blocks has ", a.new_computed->size(),
                     " groups, the manager ", num_groups));
  }
  for (const auto& list : *a.new_computed) {
    for (int32_t b : list) {
      if (b < 0 || b >= config.num_blocks) {
        return absl::InvalidArgumentError(
            absl::StrCat("new_computed_blocks names block ", b,
                         " outside the pool of ", config.num_blocks));
      }
      if (b != 0 && !config.enable_caching) {
        return absl::InvalidArgumentError(
            "new_computed_blocks must be empty when prefix caching is off");
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<bool> VllmManager::AllocateSlots(
    ReqHandle h, const AllocateArgs& a,
    std::vector<std::vector<int32_t>>* new_blocks) {
  Request& r = Req(h);
  if (absl::Status s = CheckArgs(config_, num_groups(), a); !s.ok()) return s;
  const bool take_computed =
      a.new_computed != nullptr || a.num_external_computed_tokens > 0;
  for (int32_t g = 0; g < num_groups(); ++g) {
    const GroupState& s = r.groups[g];
    const bool has_new = a.new_computed && !(*a.new_computed)[g].empty();
    if (has_new && s.num_cached >= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a running request (", s.blocks.size(), " blocks in group ", g,
          ") cannot take new computed blocks"));
    }
    if (take_computed && s.num_cached < 0 && !s.blocks.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the request holds ", s.blocks.size(), " blocks in group ", g,
          " but is not running; new computed blocks need an empty request"));
    }
  }
  const int64_t local = a.num_computed_tokens + a.num_new_computed_tokens;
  const int64_t total_computed =
      std::min(local + a.num_external_computed_tokens, config_.max_model_len);
  const int64_t to_cache =
      std::min(total_computed + a.num_new_tokens, a.num_tokens);
  const bool caching = config_.enable_caching && !a.delay_cache_blocks;
  if (caching && !CanCache(r, to_cache)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "caching ", to_cache / config_.hash_block_size,
        " blocks needs as many block_hashes and their tokens; the request "
        "has ",
        r.vkeys.size(), " hashes and ", r.tokens.size(), " tokens"));
  }
  const int64_t main_model = total_computed + a.num_new_tokens;
  const int64_t need_slot =
      std::min(main_model + a.num_lookahead_tokens, config_.max_model_len);
  if (!take_computed && !a.full_sequence_must_fit &&
      NothingToAllocate(r, total_computed, need_slot, caching ? to_cache : 0)) {
    new_blocks->resize(num_groups());
    for (auto& list : *new_blocks) list.clear();
    return true;
  }
  if (a.full_sequence_must_fit) {
    const int64_t full = std::min(a.num_tokens, config_.max_model_len);
    if (BlocksToAllocateAll(r, a, full, full, total_computed, true) >
        pool_.NumFreeBlocks()) {
      return false;
    }
  }
  for (int32_t g = 0; g < num_groups(); ++g) {
    RemoveSkippedGroup(g, r, total_computed);
  }
  if (BlocksToAllocateAll(r, a, need_slot, main_model,
                          local + a.num_external_computed_tokens,
                          false) > pool_.NumFreeBlocks()) {
    return false;
  }
  if (take_computed) {
    for (int32_t g = 0; g < num_groups(); ++g) {
      const auto& nc =
          a.new_computed ? (*a.new_computed)[g] : std::vector<int32_t>();
      AllocateNewComputed(g, r, nc, local, a.num_external_computed_tokens);
    }
  }
  new_blocks->resize(num_groups());
  for (int32_t g = 0; g < num_groups(); ++g) {
    (*new_blocks)[g].clear();
    AllocateNew(g, r, need_slot, main_model, &(*new_blocks)[g]);
  }
  if (caching) {
    for (int32_t g = 0; g < num_groups(); ++g) CacheGroup(g, r, to_cache);
  }
  return true;
}

bool VllmManager::AppendAndTryDecode(ReqHandle h, TokenId token,
                                     int64_t* num_tokens) {
  Request& r = Req(h);
  r.tokens.push_back(token);
  const int64_t n = static_cast<int64_t>(r.tokens.size());
  *num_tokens = n;
  // AllocateSlots with num_tokens n, n - 1 computed and 1 new: it caches
  // up to n and needs a slot for n (the max_model_len clamp aside).
  if (n > config_.max_model_len) return false;
  const bool caching = config_.enable_caching;
  if (caching && !CanCache(r, n)) return false;
  return NothingToAllocate(r, n - 1, n, caching ? n : 0);
}

// Whether the request has the vLLM keys and the tokens of every full block
// among its first num_tokens tokens. Without a division in the common case
// (all tokens known).
bool VllmManager::CanCache(const Request& r, int64_t num_tokens) const {
  const int64_t bs = config_.hash_block_size;
  const int64_t keys = static_cast<int64_t>(r.vkeys.size());
  const int64_t tokens = static_cast<int64_t>(r.tokens.size());
  if (num_tokens >= (keys + 1) * bs) return false;
  return num_tokens <= tokens || num_tokens / bs * bs <= tokens;
}

// Whether every phase would do nothing: each group is running, holds the
// slots already, has no block left to drop behind its window and no block
// to cache. Most decode steps are this case. Kinds other than full
// attention and sliding window always take the general path.
bool VllmManager::NothingToAllocate(const Request& r, int64_t total_computed,
                                    int64_t need_slot, int64_t to_cache) const {
  for (int32_t g = 0; g < num_groups(); ++g) {
    const GroupState& s = r.groups[g];
    const GroupSpec& spec = groups_[g];
    if (spec.kind != GroupKind::kFullAttention &&
        spec.kind != GroupKind::kSlidingWindow) {
      return false;
    }
    // Compared as products: this runs for every request of every decode
    // step, and a 64-bit division costs more than the rest of the test.
    const int64_t bs = spec.block_size;
    const int64_t held = static_cast<int64_t>(s.blocks.size());
    if (!s.exists || need_slot > held * bs ||
        to_cache >= (std::max(s.num_cached, 0) + 1) * bs) {
      return false;
    }
    if (spec.kind == GroupKind::kSlidingWindow) {
      const int64_t skipped =
          std::min<int64_t>(NumSkippedTokens(g, total_computed) / bs, held);
      if (skipped > 0 && s.blocks[skipped - 1] != 0) return false;
    }
  }
  return true;
}

absl::Status VllmManager::Verify() const {
  if (absl::Status s = pool_.Verify(); !s.ok()) return s;
  std::vector<int64_t> refs(config_.num_blocks, 0);
  std::vector<int32_t> entries(groups_.size(), 0);
  for (const auto& r : requests_) {
    if (!r) continue;
    for (size_t g = 0; g < groups_.size(); ++g) {
      const GroupState& s = r->groups[g];
      entries[g] += s.exists;
      if (!s.exists && !s.blocks.empty()) {
        return absl::InternalError("a request holds blocks without an entry");
      }
      for (int32_t b : s.blocks) ++refs[b];
    }
  }
  for (int32_t b = 1; b < config_.num_blocks; ++b) {
    if (refs[b] != pool_.RefCnt(b)) {
      return absl::InternalError(absl::StrCat("block ", b, " has ref ",
                                              pool_.RefCnt(b), " but ", refs[b],
                                              " holders"));
    }
  }
  for (size_t g = 0; g < groups_.size(); ++g) {
    if (entries[g] != group_entries_[g]) {
      return absl::InternalError(absl::StrCat("group ", g, " counts ",
                                              group_entries_[g],
                                              " entries, found ", entries[g]));
    }
  }
  return VerifyKinds();
}

}  // namespace pagekv::vllm
