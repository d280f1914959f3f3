// Snapshots of a manager's cached set as BlockStored events, for consumers
// that resync (see pagekv/net/event_publisher.h).
#ifndef PAGEKV_NET_SNAPSHOT_H_
#define PAGEKV_NET_SNAPSHOT_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "pagekv/block_hash.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/kv_events.h"

namespace pagekv::net::internal {

// Root key -> (lora id, cache salt).
using RootMap = absl::flat_hash_map<uint64_t, std::pair<uint64_t, uint64_t>>;

// Records the root of every chain-opening BlockStored in `events`.
void LearnRoots(const std::vector<KVEvent>& events, const BlockHasher& hasher,
                RootMap* roots);

// The manager's indexed blocks as BlockStored events, each a run of a chain,
// parents first. A first block names no parent and carries its root's lora
// id and salt; a block whose parent (or root) is unknown names its parent
// key, which a consumer cannot resolve, so it skips the block rather than
// key it wrongly.
std::vector<KVEvent> SnapshotEvents(const KVCacheManager& manager,
                                    const RootMap& roots);

}  // namespace pagekv::net::internal

#endif  // PAGEKV_NET_SNAPSHOT_H_
