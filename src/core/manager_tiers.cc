// The host-tier side of ManagerState and KVCacheManager: extending a prefix
// walk into the host tier, loading host hits on admission, and the engine's
// transfer calls. The tier itself is core/host_tier.h; the hooks elsewhere
// are one line each (store triggers in manager_prefix.cc, admission in
// manager_reserve.cc, Verify, Stats, Reset).
#include "core/call_recorder.h"
#include "core/manager_state.h"
#include "core/status_macros.h"
#include "fmt/format.h"

namespace pagekv {
namespace internal {

void ManagerState::ExtendToHost(absl::Span<const TokenId> tokens,
                                absl::Span<const uint64_t> keys,
                                const BlockHashExtras& extras, const Walk& walk,
                                std::vector<uint32_t>* out) const {
  if (host == nullptr || tokens.empty()) return;
  const size_t limit = (tokens.size() - 1) / config.block_size;
  const size_t from = static_cast<size_t>(walk.num_blocks);
  if (from >= limit || keys.size() < limit) return;
  host->ExtendWalk(keys, hasher.RootKey(extras), tokens, from, limit, out);
}

PrefixMatch ManagerState::MatchOf(absl::Span<const TokenId> tokens,
                                  absl::Span<const uint64_t> keys,
                                  const BlockHashExtras& extras,
                                  const Walk& walk) const {
  PrefixMatch match{.num_tokens = walk.num_blocks * config.block_size,
                    .num_blocks = static_cast<int32_t>(walk.num_blocks),
                    .num_evictable_blocks = walk.num_evictable,
                    .num_host_blocks = 0};
  if (host == nullptr) return match;
  // Per-thread scratch: MatchPrefix(prompt) may run on several threads.
  thread_local std::vector<uint32_t> hits;
  hits.clear();
  ExtendToHost(tokens, keys, extras, walk, &hits);
  match.num_host_blocks = static_cast<int32_t>(hits.size());
  match.num_blocks += match.num_host_blocks;
  match.num_tokens = int64_t{match.num_blocks} * config.block_size;
  return match;
}

void ManagerState::CountHostQuery(const Sequence& s, size_t host_hits) {
  if (s.num_known() > 0) {
    const size_t limit = static_cast<size_t>(s.num_known() - 1) /
                         static_cast<size_t>(config.block_size);
    host->CountLookups(
        absl::MakeConstSpan(s.keys).first(std::min(limit, s.keys.size())));
  }
  if (s.options.resumed_after_preemption || host_hits == 0) return;
  host->AddHits(host_hits, config.block_size);
}

void ManagerState::LoadHostHits(Sequence& s,
                                absl::Span<const uint32_t> host_hits) {
  if (host_hits.empty()) return;
  const uint32_t bs = static_cast<uint32_t>(config.block_size);
  scratch.resize(host_hits.size());
  absl::Status st =
      pool->Allocate(absl::MakeSpan(scratch), EvictionNow(host_hits.size()));
  PAGEKV_CHECK(st.ok(),
               "host-hit allocation failed after the capacity check "
               "passed: {}",
               st.ToString());
  std::vector<BlockId>& table = s.tables[0];
  PAGEKV_DCHECK(static_cast<int64_t>(table.size()) * bs == s.num_computed(),
                "host hits must follow the GPU hit directly");
  for (size_t i = 0; i < host_hits.size(); ++i) {
    const BlockId b = scratch[i];
    fills.Clear(b);
    SetFill(b, bs);
    table.push_back(b);
    host->AddLoad(host_hits[i], b);
  }
  blocks_allocated += host_hits.size();
  s.hot->num_computed += static_cast<int32_t>(host_hits.size() * bs);
  s.SyncTableMirror();
}

}  // namespace internal

namespace {
absl::Status NoHostTier() {
  return absl::FailedPreconditionError(
      "no host tier: set KVCacheConfig::host_tier to use transfers");
}
}  // namespace

std::vector<TransferOrder> KVCacheManager::DrainTransfers() {
  if (state_->host == nullptr) return {};
  return state_->host->DrainOrders();
}

absl::Status KVCacheManager::CompleteLoad(uint32_t host_block) {
  if (state_->host == nullptr) return NoHostTier();
  PAGEKV_EXPENSIVE_VERIFY(*state_);
  PAGEKV_RETURN_IF_ERROR(state_->host->CompleteLoad(host_block));
  PAGEKV_EXPENSIVE_VERIFY(*state_);
  return absl::OkStatus();
}

absl::Status KVCacheManager::CompleteStore(uint32_t host_block, bool success) {
  if (state_->host == nullptr) return NoHostTier();
  PAGEKV_EXPENSIVE_VERIFY(*state_);
  PAGEKV_RETURN_IF_ERROR(state_->host->CompleteStore(host_block, success));
  PAGEKV_EXPENSIVE_VERIFY(*state_);
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> KVCacheManager::ImportHostBlock(
    absl::Span<const TokenId> tokens, const BlockHashExtras& extras) {
  internal::ManagerState& st = *state_;
  if (st.host == nullptr) return NoHostTier();
  const size_t bs = static_cast<size_t>(block_size());
  if (tokens.empty() || tokens.size() % bs != 0) {
    return absl::InvalidArgumentError(fmt::format(
        "ImportHostBlock: {} tokens is not a whole number of {}-token blocks",
        tokens.size(), bs));
  }
  std::vector<uint64_t> keys;
  st.hasher.ExtendKeys(tokens, extras, &keys);
  const size_t n = keys.size();
  internal::StoreSource src{kNullBlock,
                            keys[n - 1],
                            n == 1 ? st.hasher.RootKey(extras) : keys[n - 2],
                            n == 1,
                            tokens.subspan((n - 1) * bs, bs),
                            extras.lora_id,
                            extras.cache_salt};
  if (st.host->Contains(src.key)) {
    return absl::AlreadyExistsError(fmt::format(
        "ImportHostBlock: key {:#x} is already in the host tier", src.key));
  }
  PAGEKV_EXPENSIVE_VERIFY(st);
  const uint32_t h =
      st.host->IssueStore(src, TransferOrder::When::kBeforeKernels);
  if (h == 0) {
    return absl::ResourceExhaustedError(
        "ImportHostBlock: every host block is pending or pinned");
  }
  st.host->CountImport();
  PAGEKV_EXPENSIVE_VERIFY(st);
  return h;
}

}  // namespace pagekv
