// The prefix side of ManagerState: walking the index for a prompt's longest
// verified prefix, claiming a hit, indexing full blocks (and the KV events
// that announces), and forgetting evicted blocks.
#include <algorithm>

#include "core/manager_state.h"
#include "pagekv/block_math.h"

namespace pagekv::internal {
namespace {

// Index probes run this many blocks ahead of their use (two stages in the
// walk: a key's table slot, then the block it names).
constexpr size_t kPrefetchDistance = 4;

}  // namespace

void ManagerState::EnsureKeys(const Sequence& s, size_t num_blocks) const {
  if (s.keys.size() >= num_blocks) return;
  hasher.ExtendKeys(
      absl::MakeConstSpan(s.tokens.data(), num_blocks * config.block_size),
      s.options.hash_extras, &s.keys);
}

void ManagerState::WalkPrefix(absl::Span<const TokenId> tokens,
                              const BlockHashExtras& extras,
                              std::vector<uint64_t>& keys, Walk* walk) const {
  const size_t bs = static_cast<size_t>(config.block_size);
  const size_t num_groups = groups.size();
  walk->num_blocks = 0;
  walk->num_evictable = 0;
  walk->blocks.resize(num_groups);
  walk->dropped.assign(num_groups, 0);
  for (auto& blocks : walk->blocks) blocks.clear();
  if (!config.enable_prefix_caching || tokens.empty()) return;
  // The last known token is always computed, so at most (n - 1) / bs blocks.
  size_t limit = (tokens.size() - 1) / bs;
  if (limit == 0) return;
  if (keys.size() < limit) {
    hasher.ExtendKeys(tokens.subspan(0, limit * bs), extras, &keys);
  }
  const uint64_t root = hasher.RootKey(extras);
  auto parent_key = [&](size_t i) { return i == 0 ? root : keys[i - 1]; };
  auto tokens_of = [&](size_t i) {
    return absl::MakeConstSpan(tokens.data() + i * bs, bs);
  };

  // Full attention: the longest chain from the root, each block verified
  // against its parent block's identity.
  for (size_t g = 0; g < num_groups; ++g) {
    if (groups[g].sliding()) continue;
    const PrefixIndex& index = *groups[g].index;
    std::vector<BlockId>& out = walk->blocks[g];
    BlockId prev = kNullBlock;
    size_t i = 0;
    for (; i < limit; ++i) {
      // Two stages ahead: the table slot of a key, then (the slot having
      // arrived) the metadata and tokens of the block it names.
      if (i + 2 * kPrefetchDistance < limit) {
        index.Prefetch(keys[i + 2 * kPrefetchDistance]);
      }
      if (i + kPrefetchDistance < limit) {
        const BlockId ahead = index.Peek(keys[i + kPrefetchDistance]);
        if (ahead != kNullBlock) index.PrefetchBlock(ahead, /*tokens=*/true);
      }
      BlockId b = index.Find(keys[i]);
      if (b == kNullBlock ||
          !index.Matches(b, prev, parent_key(i), tokens_of(i)))
        break;
      out.push_back(b);
      prev = b;
    }
    limit = i;
  }

  // Sliding window: a hit of L blocks needs only the blocks covering the
  // window before token L * bs. Scan right to left for the largest L <= limit
  // whose window blocks are all cached; each block is probed at most once per
  // scan. Several groups may lower L in turn, so repeat to a fixed point.
  auto window_start = [&](const Group& group, size_t l) -> size_t {
    return static_cast<size_t>(WindowStartBlock(static_cast<int64_t>(l * bs),
                                                group.spec.sliding_window,
                                                static_cast<int64_t>(bs)));
  };
  bool changed = true;
  while (changed) {
    changed = false;
    for (size_t g = 0; g < num_groups && limit > 0; ++g) {
      if (!groups[g].sliding()) continue;
      const PrefixIndex& index = *groups[g].index;
      std::vector<BlockId>& out = walk->blocks[g];
      size_t l = limit;
      while (l > 0) {
        const size_t start = window_start(groups[g], l);
        out.assign(l, kNullBlock);
        size_t missing = l;  // l means none missing
        for (size_t i = l; i-- > start;) {
          BlockId b = index.Find(keys[i]);
          if (b == kNullBlock ||
              !index.Matches(b, kNullBlock, parent_key(i), tokens_of(i))) {
            missing = i;
            break;
          }
          out[i] = b;
        }
        if (missing == l) {
          // Within the run, also verify parent identity link by link.
          for (size_t i = start + 1; i < l; ++i) {
            if (!index.Matches(out[i], out[i - 1], parent_key(i),
                               tokens_of(i))) {
              missing = i;
              break;
            }
          }
        }
        if (missing == l) {
          walk->dropped[g] = static_cast<uint32_t>(start);
          break;
        }
        l = missing;
      }
      if (l == 0) out.clear();
      if (l < limit) {
        limit = l;
        changed = true;
      }
    }
  }
  // Every group's hit is the common limit: trim full groups, and re-derive
  // sliding-window tables for the final limit.
  walk->num_blocks = static_cast<int64_t>(limit);
  for (size_t g = 0; g < num_groups; ++g) {
    std::vector<BlockId>& out = walk->blocks[g];
    out.resize(std::min(out.size(), limit));
    if (groups[g].sliding() && limit > 0) {
      const size_t start = window_start(groups[g], limit);
      for (size_t i = 0; i < start; ++i) out[i] = kNullBlock;
      walk->dropped[g] = static_cast<uint32_t>(start);
    }
    if (limit == 0) walk->dropped[g] = 0;
    for (BlockId b : out) {
      if (b != kNullBlock && pool->state(b) == BlockState::kCached) {
        ++walk->num_evictable;
      }
    }
  }
}

void ManagerState::ClaimHit(Sequence& s, const Walk& walk) {
  for (size_t g = 0; g < groups.size(); ++g) {
    s.tables[g] = walk.blocks[g];
    s.dropped[g] = walk.dropped[g];
    for (BlockId b : s.tables[g]) {
      if (b != kNullBlock) AcquireBlock(b);
    }
  }
  if (host != nullptr) host->OnGpuHits(walk.blocks[0], *groups[0].index);
  s.hot->num_computed =
      static_cast<int32_t>(walk.num_blocks * config.block_size);
  s.num_indexed = static_cast<size_t>(walk.num_blocks);
  s.SyncTableMirror();
}

void ManagerState::CountQuery(const Sequence& s, const Walk& walk) {
  if (!config.enable_prefix_caching) return;
  const uint64_t hit_tokens =
      static_cast<uint64_t>(walk.num_blocks) * config.block_size;
  if (s.options.resumed_after_preemption) {
    ++prefix_stats.resumed_queries;
    prefix_stats.resumed_query_tokens += s.num_known();
    prefix_stats.resumed_hit_tokens += hit_tokens;
    return;
  }
  ++prefix_stats.queries;
  prefix_stats.query_tokens += s.num_known();
  prefix_stats.hit_tokens += hit_tokens;
  prefix_stats.query_blocks += s.num_known() / config.block_size;
  prefix_stats.hit_blocks += static_cast<uint64_t>(walk.num_blocks);
}

void ManagerState::IndexFilled(absl::Span<const uint32_t> filled) {
  const size_t bs = static_cast<size_t>(config.block_size);
  for (const uint32_t slot : filled) {
    const Sequence& s = seqs.at(slot);
    const size_t full = static_cast<size_t>(s.num_computed()) / bs;
    EnsureKeys(s, full);
    for (const Group& group : groups) group.index->Prefetch(s.keys[full - 1]);
  }
  for (const uint32_t slot : filled) IndexFullBlocks(seqs.at(slot));
}

void ManagerState::IndexFullBlocks(Sequence& s) {
  const size_t bs = static_cast<size_t>(config.block_size);
  if (!config.enable_prefix_caching) return;
  const size_t full = static_cast<size_t>(s.num_computed()) / bs;
  if (full <= s.num_indexed) return;
  EnsureKeys(s, full);
  const uint64_t root = hasher.RootKey(s.options.hash_extras);
  for (size_t g = 0; g < groups.size(); ++g) {
    PrefixIndex& index = *groups[g].index;
    std::vector<BlockId>& table = s.tables[g];
    BlockStoredEvent* event = nullptr;
    size_t last_stored = SIZE_MAX;
    for (size_t i = s.num_indexed; i < full; ++i) {
      // The table slot of a key is a cache miss in a large index: start the
      // one a few blocks ahead (a prompt indexes many blocks at once).
      if (i + kPrefetchDistance < full) {
        index.Prefetch(s.keys[i + kPrefetchDistance]);
      }
      BlockId b = table[i];
      if (b == kNullBlock || index.contains(b)) continue;
      const auto tokens = absl::MakeConstSpan(s.tokens.data() + i * bs, bs);
      const uint64_t parent_key = i == 0 ? root : s.keys[i - 1];
      // The parent in the tree is the canonical (indexed) block of the
      // previous key: ours, or an identical one indexed first.
      BlockId parent = i == 0 ? kNullBlock : table[i - 1];
      if (parent != kNullBlock && !index.contains(parent)) {
        BlockId canonical = index.Find(parent_key);
        if (canonical != kNullBlock &&
            index.Matches(
                canonical, kNullBlock, index.parent_key(canonical),
                absl::MakeConstSpan(s.tokens.data() + (i - 1) * bs, bs))) {
          parent = canonical;
        }
      }
      // A child of an unindexed parent could never be reached by a walk.
      if (parent != kNullBlock && !index.contains(parent)) continue;
      if (!index.Insert(b, s.keys[i], parent, parent_key, tokens)) continue;
      pool->SetKeepsContent(b, true);
      if (host != nullptr) {
        host->OnGpuIndexed({b, s.keys[i], parent_key, i == 0, tokens,
                            s.options.hash_extras.lora_id,
                            s.options.hash_extras.cache_salt});
      }
      if (!config.enable_kv_events) continue;
      if (event == nullptr || last_stored + 1 != i) {
        BlockStoredEvent e;
        if (i > 0) e.parent_key = parent_key;
        e.block_size = config.block_size;
        e.lora_id = s.options.hash_extras.lora_id;
        e.cache_salt = s.options.hash_extras.cache_salt;
        e.group = GroupId(static_cast<uint32_t>(g));
        events.emplace_back(std::move(e));
        event = &std::get<BlockStoredEvent>(events.back());
      }
      event->block_keys.push_back(s.keys[i]);
      event->token_ids.insert(event->token_ids.end(), tokens.begin(),
                              tokens.end());
      last_stored = i;
    }
  }
  s.num_indexed = full;
}

void ManagerState::UnindexBlock(size_t group, BlockId block) {
  PrefixIndex& index = *groups[group].index;
  if (config.enable_kv_events) {
    events.emplace_back(BlockRemovedEvent{
        {index.key(block)}, GroupId(static_cast<uint32_t>(group))});
  }
  index.Erase(block);
  pool->SetKeepsContent(block, false);
}

// Two rounds over the victims: their index records, then (the records having
// arrived) the table slots their keys hash to, and their fill entries.
void ManagerState::PrefetchEvicted(absl::Span<const BlockId> blocks) {
  for (const Group& group : groups) {
    if (group.index == nullptr) continue;
    for (BlockId b : blocks) group.index->PrefetchBlock(b, /*tokens=*/false);
  }
  for (const Group& group : groups) {
    if (group.index == nullptr) continue;
    for (BlockId b : blocks) {
      if (group.index->contains(b)) group.index->Prefetch(group.index->key(b));
    }
  }
  for (BlockId b : blocks) fills.Prefetch(b);
}

void ManagerState::OnBlockEvicted(BlockId block) {
  for (size_t g = 0; g < groups.size(); ++g) {
    PrefixIndex* index = groups[g].index.get();
    if (index == nullptr || !index->contains(block)) continue;
    if (host != nullptr) host->OnGpuEvicted(block, *index);
    if (config.enable_kv_events) {
      events.emplace_back(BlockRemovedEvent{{index->key(block)},
                                            GroupId(static_cast<uint32_t>(g))});
    }
    index->Erase(block);
  }
  fills.Clear(block);
}

}  // namespace pagekv::internal
