// ClusterIndex: which instances (engines) hold which prefix blocks, learned
// from their KV events, and how long a prompt's cached prefix is on each.
//
// Keys are computed here from the events' token ids with the engines' own
// hasher (pagekv/block_hash.h: same block size, seed, chaining, LoRA id and
// cache salt in the root), exactly as BlockHasher::ExtendKeys does for a
// prompt, so a Score() query needs only tokens. Engine block hashes serve
// only to find a block again: each instance keeps engine hash -> key, which
// BlockRemoved events and parent_block_hash look up.
//
//   key -> Holders { mask of instances per medium, refs[(instance, medium)] }
//   instance -> { (engine hash, medium) -> key, refs }
//
// Duplicate stores and removes are reference counted. A BlockStored whose
// parent hash the instance does not know cannot be keyed: its blocks are
// skipped and counted (never keyed wrongly). Only KV-cache group 0 (or nil)
// is indexed; other groups' events are counted and ignored. Multimodal
// items are not carried by the events: a block with items is keyed as text.
//
// Thread-safety: thread-compatible (const methods may run concurrently).
#ifndef PAGEKV_NET_CLUSTER_INDEX_H_
#define PAGEKV_NET_CLUSTER_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pagekv/block_hash.h"
#include "pagekv/net/wire.h"

namespace pagekv::net {

using InstanceId = uint32_t;

// Media a block can sit on; the event's medium string names one ("GPU" or
// nil is 0). At most kMaxMedia distinct names.
inline constexpr int kMaxMedia = 4;
// Instances per index (bit masks of 64).
inline constexpr int kMaxInstances = 64;

struct ClusterIndexConfig {
  // The engines' hashing parameters: keys match theirs only if equal.
  int32_t block_size = 16;
  uint64_t hash_seed = 0;
  BlockHashFn block_hash_fn = &Xxh3BlockHash;

  absl::Status Validate() const;
};

// One instance's result for a prompt.
struct InstanceScore {
  InstanceId instance = 0;
  // The longest run of the prompt's first blocks the instance holds on any
  // medium, and on each medium alone (indexed as media()).
  int32_t blocks = 0;
  absl::InlinedVector<int32_t, kMaxMedia> blocks_by_medium;
};

struct ClusterIndexStats {
  uint64_t batches_applied = 0;
  uint64_t blocks_stored = 0;
  uint64_t blocks_removed = 0;
  uint64_t clears = 0;             // AllBlocksCleared and ClearInstance
  uint64_t unresolved_blocks = 0;  // parent hash unknown: skipped
  uint64_t unknown_removes = 0;    // removal of a hash the instance lacks
  uint64_t other_group_blocks = 0;
  uint64_t bad_batches = 0;  // rejected whole by Apply
};

class ClusterIndex {
 public:
  static absl::StatusOr<std::unique_ptr<ClusterIndex>> Create(
      ClusterIndexConfig config);

  // Registers an instance under a unique name. InvalidArgument if the name
  // is taken or kMaxInstances are registered.
  absl::StatusOr<InstanceId> AddInstance(const std::string& name);
  // Drops the instance's entries and forgets it (its id may be reused).
  absl::Status RemoveInstance(InstanceId instance);
  // Drops the instance's entries (a restart, a resync).
  absl::Status ClearInstance(InstanceId instance);

  // Applies `batch` from `instance`, events in order. All or nothing: a
  // batch with a block size other than the config's, an unknown medium
  // beyond kMaxMedia, or an unknown instance is InvalidArgument and changes
  // nothing.
  absl::Status Apply(InstanceId instance, const WireBatch& batch);

  // For every registered instance, the longest cached prefix of `prompt`
  // (full blocks only) for a request with `extras`. Hashes the prompt.
  std::vector<InstanceScore> Score(absl::Span<const TokenId> prompt,
                                   const BlockHashExtras& extras = {}) const;
  // The same from precomputed keys (BlockHasher::ExtendKeys).
  std::vector<InstanceScore> ScoreKeys(absl::Span<const uint64_t> keys) const;

  // The keys `instance` holds (any medium), sorted. Empty if unknown.
  std::vector<uint64_t> Keys(InstanceId instance) const;
  // Blocks (engine hash, medium entries) `instance` holds.
  int64_t NumBlocks(InstanceId instance) const;
  int64_t NumKeys() const { return static_cast<int64_t>(holders_.size()); }
  const std::vector<std::string>& media() const { return media_; }
  std::vector<InstanceId> instances() const;
  const std::string& name(InstanceId instance) const;
  const ClusterIndexStats& stats() const { return stats_; }
  const BlockHasher& hasher() const { return hasher_; }

  // Every instance entry's key has a holder with the instance's bit and the
  // same reference total, every holder bit has entries, and no holder is
  // empty. O(entries).
  absl::Status Verify() const;

 private:
  struct Ref {
    uint16_t instance;
    uint8_t medium;
    uint32_t count;
  };
  struct Holders {
    uint64_t mask[kMaxMedia] = {};  // bit i: instance i holds it on medium m
    absl::InlinedVector<Ref, 2> refs;
  };
  struct Entry {
    uint64_t key;
    uint32_t count;  // stores minus removes of this (hash, medium)
  };
  struct Instance {
    std::string name;
    bool live = false;
    // (engine hash, medium) -> key; the medium sits in the top bits of a
    // second word so the map key is one 128-bit pair.
    absl::flat_hash_map<std::pair<uint64_t, uint8_t>, Entry> entries;
  };

  explicit ClusterIndex(ClusterIndexConfig config);
  absl::StatusOr<int> MediumOf(const std::optional<std::string>& name,
                               std::vector<std::string>* added) const;
  void Store(InstanceId inst, const WireBlockStored& e, uint8_t medium);
  void Remove(InstanceId inst, const WireBlockRemoved& e, uint8_t medium);
  void AddRef(uint64_t key, InstanceId inst, uint8_t medium);
  void DropRef(uint64_t key, InstanceId inst, uint8_t medium, uint32_t count);
  void DropInstance(InstanceId inst);

  ClusterIndexConfig config_;
  BlockHasher hasher_;
  std::vector<std::string> media_;
  std::vector<Instance> instances_;
  absl::flat_hash_map<uint64_t, Holders> holders_;
  ClusterIndexStats stats_;
};

}  // namespace pagekv::net

#endif  // PAGEKV_NET_CLUSTER_INDEX_H_
