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
  if (hit_align == 0 || tokens.empty()) return;
  // The last known token is always computed, so at most (n - 1) / bs blocks,
  // and a hit is a multiple of the alignment (align blocks).
  const size_t align = static_cast<size_t>(hit_align) / bs;
  size_t limit = (tokens.size() - 1) / bs / align * align;
  if (limit == 0) return;
  if (keys.size() < limit) {
    hasher.ExtendKeys(tokens.subspan(0, limit * bs), extras, &keys);
  }
  const HitQuery q{keys, tokens, hasher.RootKey(extras), bs};

  // Full attention: the longest chain from the root, each block verified
  // against its parent block's identity.
  for (size_t g = 0; g < num_groups; ++g) {
    if (groups[g].spec.kind != KVCacheGroupSpec::Kind::kFullAttention) {
      continue;
    }
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
          !index.Matches(b, prev, q.parent_key(i), q.tokens_of(i)))
        break;
      out.push_back(b);
      prev = b;
    }
    limit = i / align * align;
  }

  // The other kinds each serve the longest aligned hit up to the limit
  // (group_rules.h); one lowering it may lower another's, so repeat to a
  // fixed point. The length only falls, so this ends.
  bool changed = true;
  while (changed) {
    changed = false;
    for (size_t g = 0; g < num_groups && limit > 0; ++g) {
      const Group& group = groups[g];
      if (group.spec.kind == KVCacheGroupSpec::Kind::kFullAttention) continue;
      const size_t l = group.is_state()
                           ? StateHit(group.rule, *group.index, q, limit, align,
                                      fresh, &walk->blocks[g])
                           : WindowedHit(group.rule, *group.index, q, limit,
                                         align, &walk->blocks[g]);
      if (l < limit) {
        limit = l;
        changed = true;
      }
    }
  }
  FinishWalk(limit, walk);
}

void ManagerState::FinishWalk(size_t limit, Walk* walk) const {
  // Every group's hit is the common limit: trim full groups, and re-derive
  // the other kinds' tables for the final limit (their last walk may have
  // been for a longer candidate).
  const int64_t end = static_cast<int64_t>(limit) * config.block_size;
  walk->num_blocks = static_cast<int64_t>(limit);
  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<BlockId>& out = walk->blocks[g];
    const GroupRule& rule = groups[g].rule;
    if (limit == 0) {
      out.clear();
      walk->dropped[g] = 0;
      continue;
    }
    if (rule.is_state()) {
      // The walk that set the limit found this checkpoint; others only
      // confirmed it, so the table is for `end` already.
      const size_t entry = static_cast<size_t>(rule.StateIndex(end));
      PAGEKV_DCHECK(out.size() == entry + 1, "state hit table of {} for {}",
                    out.size(), end);
      walk->dropped[g] = static_cast<uint32_t>(entry);
    } else {
      out.resize(std::min(out.size(), limit));
      if (rule.windowed()) {
        const size_t start = static_cast<size_t>(rule.ReadStartBlock(end));
        for (size_t i = 0; i < start; ++i) out[i] = kNullBlock;
        walk->dropped[g] = static_cast<uint32_t>(start);
      }
    }
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
  if (any_state) SyncStateSharing(s);
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
  if (hit_align == 0) return;
  if (any_state) IndexStateCheckpoints(s);
  const size_t full = static_cast<size_t>(s.num_computed()) / bs;
  if (full <= s.num_indexed) return;
  EnsureKeys(s, full);
  const uint64_t root = hasher.RootKey(s.options.hash_extras);
  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].is_state()) continue;
    const GroupRule& rule = groups[g].rule;
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
      // A block no aligned hit reads is never worth keeping.
      if (!rule.CanServeHit(static_cast<int64_t>(i), hit_align)) continue;
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
      // A child of an unindexed parent could never be reached by a walk,
      // unless the parent was left out for serving no hit: a windowed run
      // may start at the child (checked by parent key and tokens).
      if (parent != kNullBlock && !index.contains(parent)) {
        if (rule.CanServeHit(static_cast<int64_t>(i) - 1, hit_align)) continue;
        parent = kNullBlock;
      }
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

void ManagerState::IndexStateCheckpoints(Sequence& s) {
  const int64_t c = s.num_computed();
  if (c == 0 || c % hit_align != 0) return;
  const size_t bs = static_cast<size_t>(config.block_size);
  const size_t last = static_cast<size_t>(c) / bs - 1;  // the key's block
  EnsureKeys(s, last + 1);
  const uint64_t parent_key =
      last == 0 ? hasher.RootKey(s.options.hash_extras) : s.keys[last - 1];
  const auto tokens = absl::MakeConstSpan(s.tokens.data() + last * bs, bs);
  for (size_t g = 0; g < groups.size(); ++g) {
    const GroupRule& rule = groups[g].rule;
    if (!rule.is_state() || !rule.state_align) continue;
    PrefixIndex& index = *groups[g].index;
    const BlockId b = s.tables[g][static_cast<size_t>(rule.StateIndex(c))];
    if (index.contains(b)) continue;
    // A checkpoint has no parent in the tree: a walk probes it alone.
    if (!index.Insert(b, s.keys[last], kNullBlock, parent_key, tokens)) {
      continue;
    }
    pool->SetKeepsContent(b, true);
    s.hot->state_shared = true;  // the state block is cached now
    fresh[b.value()] = 1;
    fresh_list.push_back(b);
    if (!config.enable_kv_events) continue;
    BlockStoredEvent e;
    if (last > 0) e.parent_key = parent_key;
    e.block_size = config.block_size;
    e.lora_id = s.options.hash_extras.lora_id;
    e.cache_salt = s.options.hash_extras.cache_salt;
    e.group = GroupId(static_cast<uint32_t>(g));
    e.block_keys.push_back(s.keys[last]);
    e.token_ids.assign(tokens.begin(), tokens.end());
    events.emplace_back(std::move(e));
  }
}

void ManagerState::EndStep() {
  for (BlockId b : fresh_list) fresh[b.value()] = 0;
  fresh_list.clear();
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
