#include "core/manager_state.h"

#include <bit>

#include "fmt/format.h"

namespace pagekv::internal {

absl::Status CheckTokenCounts(int64_t num_new, int64_t num_lookahead) {
  if (num_new < 0 || num_lookahead < 0 || num_lookahead > kMaxSequenceTokens) {
    return absl::InvalidArgumentError(fmt::format(
        "token counts must be in [0, 2^31 - 1], got {} new and {} lookahead",
        num_new, num_lookahead));
  }
  return absl::OkStatus();
}

ManagerState::ManagerState(KVCacheConfig config_in,
                           std::unique_ptr<BlockPool> pool_in)
    : config(std::move(config_in)),
      clock(config.clock != nullptr ? config.clock : &SteadyClock()),
      pool(std::move(pool_in)),
      hasher(config.block_size, config.hash_seed, config.block_hash_fn),
      seqs(config.groups.size()),
      fills(pool->num_blocks() + 1) {
  const GroupRules rules = GroupRules::Of(config);
  hit_align = rules.hit_align;
  any_state = rules.any_state;
  if (rules.any_state_align && hit_align > 0) {
    fresh.assign(pool->num_blocks() + 1, 0);
  }
  for (size_t i = 0; i < config.groups.size(); ++i) {
    const KVCacheGroupSpec& spec = config.groups[i];
    Group g;
    g.spec = spec;
    g.rule = rules.rules[i];
    if (config.enable_prefix_caching) {
      g.index = std::make_unique<PrefixIndex>(pool->num_blocks() + 1,
                                              config.block_size);
    }
    groups.push_back(std::move(g));
  }
  single_full_group =
      groups.size() == 1 &&
      groups[0].spec.kind == KVCacheGroupSpec::Kind::kFullAttention;
  fixed_state_groups =
      groups.size() > 1 &&
      groups[0].spec.kind == KVCacheGroupSpec::Kind::kFullAttention;
  for (size_t g = 1; g < groups.size(); ++g) {
    const GroupRule& r = groups[g].rule;
    fixed_state_groups = fixed_state_groups && r.is_state();
    if (r.is_state() && r.state_align) {
      // One checkpoint interval for every aligned group, or no fast path.
      if (state_move_bs == 0) state_move_bs = r.state_bs;
      fixed_state_groups = fixed_state_groups && state_move_bs == r.state_bs;
    }
  }
  if (config.host_tier.enabled()) {
    auto policy = MakeEvictionPolicy(config.host_tier.eviction_policy);
    PAGEKV_CHECK(policy.ok(), "host tier policy passed Validate: {}",
                 policy.status().ToString());
    host = std::make_unique<HostTier>(
        config.host_tier, static_cast<uint32_t>(pool->num_blocks()),
        config.block_size, *std::move(policy), config.enable_kv_events);
  }
  pool->set_eviction_listener(this);
  if (std::has_single_bit(static_cast<uint32_t>(config.block_size))) {
    block_shift = std::countr_zero(static_cast<uint32_t>(config.block_size));
  }
}

void ManagerState::SyncStateSharing(Sequence& s) const {
  bool shared = false;
  for (size_t g = 0; g < groups.size() && !shared; ++g) {
    if (!groups[g].is_state()) continue;
    // The entries from the state entry on (1 + speculative blocks).
    const std::vector<BlockId>& table = s.tables[g];
    for (size_t j = s.dropped[g]; j < table.size(); ++j) {
      if (!pool->IsPrivate(table[j])) {
        shared = true;
        break;
      }
    }
  }
  s.hot->state_shared = shared;
}

}  // namespace pagekv::internal
