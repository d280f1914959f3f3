// VllmManager: allocation, caching, freeing (vLLM's KVCacheManager,
// coordinator and single-type managers; the hit search is in cache_hit.cc).
#include "pagekv/vllm/manager.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "pagekv/block_math.h"
#include "vllm/group_kinds.h"
#include "vllm/manager_state.h"

namespace pagekv::vllm {
namespace {

const std::vector<int32_t>& EmptyList() {
  static const std::vector<int32_t>* empty = new std::vector<int32_t>();
  return *empty;
}

}  // namespace

absl::Status ManagerConfig::Validate() const {
  if (num_blocks < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_blocks must be at least 1, got ", num_blocks));
  }
  if (groups.empty()) {
    return absl::InvalidArgumentError("kv_cache_groups is empty");
  }
  if (hash_block_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "hash_block_size must be positive, got ", hash_block_size));
  }
  if (max_model_len < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_model_len must be positive, got ", max_model_len));
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    if (absl::Status s = ValidateGroup(*this, i); !s.ok()) return s;
  }
  return absl::OkStatus();
}

VllmManager::VllmManager(const ManagerConfig& config)
    : config_(config),
      pool_(config.num_blocks, config.hash_block_size, config.enable_caching,
            config.enable_kv_cache_events, config.reuse_uncached_first),
      hasher_(config.hash_block_size, config.hash_seed),
      groups_(config.groups),
      group_entries_(config.groups.size(), 0),
      new_block_ids_(config.groups.size()),
      cached_this_step_(config.groups.size()) {
  PAGEKV_CHECK(config.Validate().ok(), "invalid config: {}",
               config.Validate().ToString());
  const int64_t batched = config.max_num_batched_tokens > 0
                              ? config.max_num_batched_tokens
                              : config.max_model_len;
  bool any_eagle = false;
  for (const GroupSpec& g : groups_) any_eagle |= g.is_eagle_group;
  for (size_t i = 0; i < groups_.size(); ++i) {
    const GroupSpec& g = groups_[i];
    // Eagle's last-block drop: the flagged groups, or all when none is.
    eagle_groups_.push_back(config.use_eagle &&
                            (g.is_eagle_group || !any_eagle));
    admission_cap_.push_back(AdmissionCap(g, batched, config.max_model_len));
    auto same = std::find_if(
        attn_groups_.begin(), attn_groups_.end(),
        [&](const AttnGroup& a) { return a.spec.spec_class == g.spec_class; });
    if (same == attn_groups_.end()) {
      attn_groups_.push_back(AttnGroup{g, {}, false});
      same = attn_groups_.end() - 1;
    }
    same->group_ids.push_back(static_cast<int32_t>(i));
    same->eagle |= eagle_groups_.back() != 0;
  }
  // Full attention first (a stable sort, as vLLM's sorted()).
  std::stable_sort(attn_groups_.begin(), attn_groups_.end(),
                   [](const AttnGroup& a, const AttnGroup& b) {
                     return a.spec.kind == GroupKind::kFullAttention &&
                            b.spec.kind != GroupKind::kFullAttention;
                   });
}

VllmManager::~VllmManager() = default;

ReqHandle VllmManager::AddRequest(const BlockHashExtras& extras) {
  std::unique_ptr<Request> r;
  if (spare_.empty()) {
    r = std::make_unique<Request>();
  } else {
    r = std::move(spare_.back());
    spare_.pop_back();
    r->Clear();
  }
  r->extras = extras;
  r->root_key = hasher_.RootKey(extras);
  r->groups.resize(groups_.size());
  ReqHandle h;
  if (!free_handles_.empty()) {
    h = free_handles_.back();
    free_handles_.pop_back();
  } else {
    h = static_cast<ReqHandle>(requests_.size());
    requests_.emplace_back();
  }
  r->handle = h;
  requests_[h] = std::move(r);
  return h;
}

int64_t VllmManager::AppendTokens(ReqHandle h,
                                  absl::Span<const TokenId> tokens) {
  Request& r = Req(h);
  if (tokens.size() == 1) {
    r.tokens.push_back(tokens[0]);  // the decode step's one token
  } else {
    r.tokens.insert(r.tokens.end(), tokens.begin(), tokens.end());
  }
  return static_cast<int64_t>(r.tokens.size());
}

void VllmManager::AppendVllmKey(ReqHandle h, absl::string_view key) {
  Req(h).vkeys.Append(key);
}

int64_t VllmManager::NumTokens(ReqHandle h) const {
  return static_cast<int64_t>(Req(h).tokens.size());
}

int64_t VllmManager::NumVllmKeys(ReqHandle h) const {
  return static_cast<int64_t>(Req(h).vkeys.size());
}

void VllmManager::ResetVllmKeys(ReqHandle h, int64_t not_kept) {
  PAGEKV_CHECK(not_kept >= 0, "negative count of keys not kept: {}", not_kept);
  Req(h).vkeys.Reset(static_cast<size_t>(not_kept));
}

int64_t VllmManager::FirstKeptVllmKey(ReqHandle h) const {
  return static_cast<int64_t>(Req(h).vkeys.first_kept());
}

bool VllmManager::IsRunning(ReqHandle h) const {
  const Request& r = Req(h);
  return !r.groups.empty() && r.groups[0].num_cached >= 0;
}

int32_t VllmManager::NumRequests() const {
  return static_cast<int32_t>(requests_.size() - free_handles_.size());
}

void VllmManager::SyncKeys(Request& r) {
  hasher_.ExtendKeys(r.tokens, r.extras, &r.keys);
}

int64_t VllmManager::NumSkippedTokens(int32_t g, int64_t computed) const {
  return SkippedTokens(groups_[g], computed);
}

int64_t VllmManager::BlocksToAllocate(int32_t g, Request& r, int64_t num_tokens,
                                      int64_t main_tokens,
                                      absl::Span<const int32_t> new_computed,
                                      int64_t total_computed,
                                      bool admission_cap) const {
  const GroupState& s = r.groups[g];
  const GroupSpec& spec = groups_[g];
  if (spec.kind == GroupKind::kMamba) {
    // A hit on a state cached this step waits for the next step: ask for
    // more blocks than the pool has.
    if (!new_computed.empty() && CachedThisStep(g, new_computed.back())) {
      return config_.num_blocks + 1;
    }
    if (IsAlignedMamba(spec)) {
      return MambaAlignedBlocksToAllocate(g, r, main_tokens, new_computed);
    }
  }
  const int32_t bs = spec.block_size;
  int64_t required = CeilDiv(SlotTokens(spec, num_tokens), bs);
  if (admission_cap && admission_cap_[g] >= 0) {
    required = std::min<int64_t>(required, admission_cap_[g]);
  }
  const int64_t held = static_cast<int64_t>(s.blocks.size());
  if (s.num_cached >= 0) return std::max<int64_t>(required - held, 0);
  const int64_t skipped = NumSkippedTokens(g, total_computed) / bs;
  const int64_t local = static_cast<int64_t>(new_computed.size()) + held;
  const int64_t fresh =
      std::max<int64_t>(required - std::max(skipped, local), 0);
  // Hit blocks waiting in the free queue leave it when touched.
  const size_t skip_new =
      static_cast<size_t>(std::max<int64_t>(0, skipped - held));
  int64_t evictable = 0;
  for (size_t i = skip_new; i < new_computed.size(); ++i) {
    const int32_t b = new_computed[i];
    evictable += b != 0 && pool_.RefCnt(b) == 0;
  }
  return fresh + evictable;
}

int64_t VllmManager::BlocksToAllocateAll(Request& r, const AllocateArgs& a,
                                         int64_t num_tokens,
                                         int64_t main_tokens,
                                         int64_t total_computed,
                                         bool admission_cap) const {
  int64_t total = 0;
  for (int32_t g = 0; g < num_groups(); ++g) {
    const auto& nc = a.new_computed ? (*a.new_computed)[g] : EmptyList();
    total += BlocksToAllocate(g, r, num_tokens, main_tokens, nc, total_computed,
                              admission_cap);
  }
  return total;
}

void VllmManager::AllocateNewComputed(int32_t g, Request& r,
                                      absl::Span<const int32_t> new_computed,
                                      int64_t local, int64_t external) {
  GroupState& s = r.groups[g];
  if (s.num_cached >= 0) return;  // running: no new hits
  if (!s.exists) {
    s.exists = true;
    ++group_entries_[g];
  }
  const int32_t bs = groups_[g].block_size;
  const int64_t total = local + external;
  const int64_t skipped_tokens = NumSkippedTokens(g, total);
  const int64_t skipped = skipped_tokens / bs;
  if (skipped > 0) {
    new_computed =
        new_computed.subspan(std::min<size_t>(skipped, new_computed.size()));
    external = std::min(total - skipped_tokens, external);
  }
  if (config_.enable_caching) pool_.Touch(new_computed);
  s.blocks.insert(s.blocks.end(), skipped, 0);
  s.blocks.insert(s.blocks.end(), new_computed.begin(), new_computed.end());
  s.num_cached = static_cast<int32_t>(s.blocks.size());
  if (external > 0) {
    const int64_t n =
        CeilDiv(total, bs) - static_cast<int64_t>(s.blocks.size());
    const size_t before = s.blocks.size();
    // Not inside the check: with checks off its condition is not evaluated.
    const absl::Status got =
        pool_.GetNewBlocks(static_cast<int32_t>(n), &s.blocks);
    PAGEKV_CHECK(got.ok(),
                 "the free-block check admitted {} blocks it cannot give", n);
    if (groups_[g].track_new_block_ids) {
      new_block_ids_[g].insert(new_block_ids_[g].end(),
                               s.blocks.begin() + before, s.blocks.end());
    }
  }
}

void VllmManager::AllocateNew(int32_t g, Request& r, int64_t num_tokens,
                              int64_t main_tokens, std::vector<int32_t>* out) {
  GroupState& s = r.groups[g];
  if (!s.exists) {
    s.exists = true;
    ++group_entries_[g];
  }
  const GroupSpec& spec = groups_[g];
  if (IsAlignedMamba(spec)) return MambaAllocateAligned(g, r, main_tokens, out);
  const int64_t n = CeilDiv(SlotTokens(spec, num_tokens), spec.block_size) -
                    static_cast<int64_t>(s.blocks.size());
  if (n <= 0) return;
  const size_t before = s.blocks.size();
  // Not inside the check: with checks off its condition is not evaluated.
  const absl::Status got =
      pool_.GetNewBlocks(static_cast<int32_t>(n), &s.blocks);
  PAGEKV_CHECK(got.ok(),
               "the free-block check admitted {} blocks it cannot give", n);
  out->assign(s.blocks.begin() + before, s.blocks.end());
  if (groups_[g].track_new_block_ids) {
    new_block_ids_[g].insert(new_block_ids_[g].end(), out->begin(), out->end());
  }
}

void VllmManager::CacheGroup(int32_t g, Request& r, int64_t num_tokens) {
  GroupState& s = r.groups[g];
  const int32_t cached = std::max(s.num_cached, 0);
  const int32_t full = static_cast<int32_t>(num_tokens / groups_[g].block_size);
  if (cached >= full) return;
  if (!s.exists) {
    s.exists = true;
    ++group_entries_[g];
  }
  SyncKeys(r);
  CacheSource src{r.tokens, r.keys, r.root_key, &r.vkeys, r.handle};
  pool_.CacheFullBlocks(src, s.blocks, cached, full, g);
  s.num_cached = full;
  if (groups_[g].kind == GroupKind::kMamba) MambaNoteCached(g, r, cached, full);
}

void VllmManager::RemoveSkippedGroup(int32_t g, Request& r,
                                     int64_t total_computed) {
  if (groups_[g].kind == GroupKind::kMamba) {
    return MambaRemoveSkipped(g, r, total_computed);
  }
  RemoveSkippedBase(g, r, NumSkippedTokens(g, total_computed));
}

void VllmManager::RemoveSkippedBase(int32_t g, Request& r,
                                    int64_t skipped_tokens) {
  if (skipped_tokens <= 0) return;
  GroupState& s = r.groups[g];
  if (!s.exists) {
    s.exists = true;
    ++group_entries_[g];
  }
  const int64_t n = std::min<int64_t>(skipped_tokens / groups_[g].block_size,
                                      s.blocks.size());
  scratch_.clear();
  for (int64_t i = n - 1; i >= 0; --i) {
    if (s.blocks[i] == 0) break;  // earlier ones were nulled before
    scratch_.push_back(s.blocks[i]);
    s.blocks[i] = 0;
  }
  pool_.FreeBlocks(scratch_);
}

void VllmManager::RemoveSkippedBlocks(ReqHandle h, int64_t total_computed) {
  Request& r = Req(h);
  for (int32_t g = 0; g < num_groups(); ++g) {
    RemoveSkippedGroup(g, r, total_computed);
  }
}

namespace {

absl::Status CheckCacheable(int64_t full, int32_t block_size, size_t vkeys,
                            size_t tokens) {
  if (full > static_cast<int64_t>(vkeys) ||
      full * block_size > static_cast<int64_t>(tokens)) {
    return absl::FailedPreconditionError(
        absl::StrCat("caching ", full,
                     " blocks needs as many block_hashes and their "
                     "tokens; the request has ",
                     vkeys, " hashes and ", tokens, " tokens"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status VllmManager::CacheBlocks(ReqHandle h,
                                      int64_t num_computed_tokens) {
  if (!config_.enable_caching) return absl::OkStatus();
  Request& r = Req(h);
  const int32_t bs = config_.hash_block_size;
  if (absl::Status s = CheckCacheable(num_computed_tokens / bs, bs,
                                      r.vkeys.size(), r.tokens.size());
      !s.ok()) {
    return s;
  }
  for (int32_t g = 0; g < num_groups(); ++g) {
    CacheGroup(g, r, num_computed_tokens);
  }
  return absl::OkStatus();
}

absl::Status VllmManager::CacheFullBlocks(ReqHandle h,
                                          absl::Span<const int32_t> blocks,
                                          int32_t num_cached, int32_t num_full,
                                          int32_t group) {
  Request& r = Req(h);
  if (group < 0 || group >= num_groups()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kv_cache_group_id ", group, " outside [0, ", num_groups(), ")"));
  }
  if (num_cached >= num_full) return absl::OkStatus();
  const int32_t bs = config_.hash_block_size;
  if (absl::Status s =
          CheckCacheable(num_full, bs, r.vkeys.size(), r.tokens.size());
      !s.ok()) {
    return s;
  }
  const int32_t end = std::min<int32_t>(num_full, blocks.size());
  for (int32_t i = std::max(num_cached, 0); i < end; ++i) {
    const int32_t b = blocks[i];
    if (b < 0 || b >= config_.num_blocks || (b != 0 && pool_.IsCached(b))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "blocks[", i, "] = ", b, " is out of range or already cached"));
    }
  }
  SyncKeys(r);
  pool_.CacheFullBlocks(
      CacheSource{r.tokens, r.keys, r.root_key, &r.vkeys, r.handle}, blocks,
      num_cached, num_full, group);
  return absl::OkStatus();
}

void VllmManager::Free(ReqHandle h) {
  Request& r = Req(h);
  for (int32_t g = 0; g < num_groups(); ++g) {
    GroupState& s = r.groups[g];
    if (!s.exists) continue;
    pool_.FreeBlocksReversed(s.blocks);
    --group_entries_[g];
  }
  if (spare_.size() < kMaxSpare && r.tokens.capacity() <= kMaxSpareTokens) {
    spare_.push_back(std::move(requests_[h]));
  } else {
    requests_[h].reset();
  }
  free_handles_.push_back(h);
}

const std::vector<int32_t>& VllmManager::Blocks(ReqHandle h,
                                                int32_t group) const {
  return Req(h).groups[group].blocks;
}

std::vector<int32_t> VllmManager::NumCommonPrefixBlocks(ReqHandle h) {
  std::vector<int32_t> out(num_groups(), 0);
  if (!config_.enable_caching) return out;
  Request& r = Req(h);
  for (int32_t g = 0; g < num_groups(); ++g) {
    if (groups_[g].kind != GroupKind::kFullAttention) continue;
    GroupState& s = r.groups[g];
    if (!s.exists) {
      s.exists = true;
      ++group_entries_[g];
    }
    for (int32_t b : s.blocks) {
      if (pool_.RefCnt(b) != group_entries_[g]) break;
      ++out[g];
    }
  }
  return out;
}

std::vector<int32_t> VllmManager::TakeNewBlockIds() {
  std::vector<int32_t> out;
  for (auto& ids : new_block_ids_) {
    out.insert(out.end(), ids.begin(), ids.end());
    ids.clear();
  }
  return out;
}

}  // namespace pagekv::vllm
