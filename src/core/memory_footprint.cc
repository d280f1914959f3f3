// KVCacheManager::MemoryFootprint: the bytes Create allocates, computed from
// the same per-structure sizes the structures are built with.
#include <cstdint>
#include <memory>

#include "core/group_rules.h"
#include "core/host_tier.h"
#include "core/prefix_index.h"
#include "pagekv/block_pool.h"
#include "pagekv/eviction_policy.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv {

absl::StatusOr<uint64_t> KVCacheManager::MemoryFootprint(
    const KVCacheConfig& config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<EvictionPolicy>> policy =
      MakeEvictionPolicy(config.eviction_policy);
  if (!policy.ok()) return policy.status();
  const auto n = static_cast<uint64_t>(config.num_blocks);
  uint64_t bytes =
      n * (BlockPool::BytesPerBlock() + (*policy)->BytesPerBlock());
  bytes += (n + 1) * sizeof(uint16_t);  // the manager's fill count per block
  const internal::GroupRules rules = internal::GroupRules::Of(config);
  if (rules.any_state_align && rules.hit_align > 0) {
    bytes += n + 1;  // a fresh-checkpoint mark per block
  }
  if (config.enable_prefix_caching) {
    bytes += config.groups.size() *
             internal::PrefixIndex::MemoryBytes(static_cast<uint32_t>(n + 1),
                                                config.block_size);
  }
  if (config.host_tier.enabled()) {
    auto host_policy = MakeEvictionPolicy(config.host_tier.eviction_policy);
    if (!host_policy.ok()) return host_policy.status();
    bytes += internal::HostTier::MemoryBytes(
        static_cast<uint64_t>(config.host_tier.Blocks()), n, config.block_size,
        (*host_policy)->BytesPerBlock());
  }
  return bytes;
}

}  // namespace pagekv
