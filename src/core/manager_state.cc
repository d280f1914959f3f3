#include "core/manager_state.h"

#include <algorithm>
#include <bit>

#include "core/check.h"
#include "fmt/format.h"

namespace pagekv::internal {
namespace {

constexpr size_t kPrefetchDistance = 4;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

ManagerState::ManagerState(KVCacheConfig config_in,
                           std::unique_ptr<BlockPool> pool_in)
    : config(std::move(config_in)),
      clock(config.clock != nullptr ? config.clock : &SteadyClock()),
      pool(std::move(pool_in)),
      hasher(config.block_size, config.hash_seed, config.block_hash_fn),
      fill(pool->num_blocks() + 1, 0) {
  for (const KVCacheGroupSpec& spec : config.groups) {
    Group g;
    g.spec = spec;
    if (config.enable_prefix_caching) {
      g.index = std::make_unique<PrefixIndex>(pool->num_blocks() + 1,
                                              config.block_size);
    }
    groups.push_back(std::move(g));
  }
  single_full_group = groups.size() == 1 && !groups[0].sliding();
  pool->set_eviction_listener(this);
  if (std::has_single_bit(static_cast<uint32_t>(config.block_size))) {
    block_shift = std::countr_zero(static_cast<uint32_t>(config.block_size));
  }
}

// --- sequence slots ---------------------------------------------------------

absl::StatusOr<Sequence*> ManagerState::Lookup(SeqId seq) {
  if (FindHot(seq) == nullptr) {
    return absl::InvalidArgumentError(fmt::format(
        "unknown sequence {} (never added, or released)", seq.value()));
  }
  return slots[seq.value() & 0xffffffffu].get();
}

absl::StatusOr<const Sequence*> ManagerState::Lookup(SeqId seq) const {
  auto s = const_cast<ManagerState*>(this)->Lookup(seq);
  if (!s.ok()) return s.status();
  return *s;
}

SeqId ManagerState::NewSequence(Sequence** out) {
  uint32_t slot;
  if (!free_slots.empty()) {
    slot = free_slots.back();
    free_slots.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots.size());
    if ((slot >> kHotChunkBits) == hot_chunks.size()) {
      hot_chunks.push_back(std::make_unique<SeqHot[]>(kHotChunk));
    }
    slots.push_back(std::make_unique<Sequence>());
    slots.back()->hot = &Hot(slot);
    slots.back()->slot = slot;
  }
  Sequence& s = *slots[slot];
  s.hot->live = true;
  s.tables.resize(groups.size());
  s.dropped.assign(groups.size(), 0);
  ++num_sequences;
  *out = &s;
  return SeqId((uint64_t{s.hot->generation} << 32) | slot);
}

void ManagerState::FreeSequence(SeqId seq) {
  const uint32_t slot = static_cast<uint32_t>(seq.value() & 0xffffffffu);
  Sequence& s = *slots[slot];
  // Clear but keep capacity: a reused slot allocates nothing.
  SeqHot& h = *s.hot;
  h.live = false;
  ++h.generation;
  h.num_known = 0;
  h.num_computed = 0;
  s.options = SequenceOptions();
  s.tokens.clear();
  s.keys.clear();
  s.num_indexed = 0;
  for (auto& table : s.tables) table.clear();
  SyncTableMirror(s);
  --num_sequences;
  free_slots.push_back(slot);
}

// --- prefix matching --------------------------------------------------------

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
    int64_t first =
        static_cast<int64_t>(l * bs) - (group.spec.sliding_window - 1);
    return first <= 0 ? 0 : static_cast<size_t>(first) / bs;
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
        BlockId next = kNullBlock;
        for (size_t i = l; i-- > start;) {
          BlockId b = index.Find(keys[i]);
          if (b == kNullBlock ||
              !index.Matches(b, kNullBlock, parent_key(i), tokens_of(i))) {
            missing = i;
            break;
          }
          out[i] = b;
          next = b;
        }
        (void)next;
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
  s.hot->num_computed =
      static_cast<int32_t>(walk.num_blocks * config.block_size);
  s.num_indexed = static_cast<size_t>(walk.num_blocks);
  SyncTableMirror(s);
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

// --- reserving --------------------------------------------------------------

int64_t ManagerState::BlocksForReserve(const Sequence& s, int64_t num_new,
                                       int64_t num_lookahead) const {
  const int64_t bs = config.block_size;
  const int64_t c = s.num_computed();
  const int64_t target = CeilDiv(c + num_new + num_lookahead, bs);
  int64_t need = 0;
  for (const std::vector<BlockId>& table : s.tables) {
    const int64_t size = static_cast<int64_t>(table.size());
    if (target > size) need += target - size;
    if (num_new == 0) continue;
    // Blocks written this step that others share must be copied first.
    const int64_t last = std::min(size, CeilDiv(c + num_new, bs));
    for (int64_t j = c / bs; j < last; ++j) {
      if (pool->ref_count(table[j]) > 1) ++need;
    }
  }
  return need;
}

void ManagerState::AddSharedWrites(const Sequence& s, int64_t num_new,
                                   SharedWrites& writes) const {
  const int64_t bs = config.block_size;
  const int64_t c = s.num_computed();
  for (const std::vector<BlockId>& table : s.tables) {
    const int64_t last =
        std::min<int64_t>(table.size(), CeilDiv(c + num_new, bs));
    for (int64_t j = c / bs; j < last; ++j) {
      if (pool->ref_count(table[j]) > 1) writes.Add(table[j], s.slot);
    }
  }
}

void ManagerState::DoReserve(Sequence& s, int64_t num_new,
                             int64_t num_lookahead) {
  const int64_t bs = config.block_size;
  const int64_t c = s.num_computed();
  const int64_t target = CeilDiv(c + num_new + num_lookahead, bs);
  const int64_t write_end = CeilDiv(c + num_new, bs);
  int64_t now_us = -1;
  auto now = [&] {
    if (now_us < 0) now_us = clock->NowMicros();
    return now_us;
  };

  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<BlockId>& table = s.tables[g];
    // Copy-on-write: a block about to be written must be private and must
    // not be published in the index (its content is about to change).
    if (num_new > 0) {
      const int64_t last = std::min<int64_t>(table.size(), write_end);
      for (int64_t j = c / bs; j < last; ++j) {
        BlockId b = table[j];
        if (pool->ref_count(b) > 1) {
          BlockId copy;
          absl::Status st = pool->Allocate(absl::MakeSpan(&copy, 1), now());
          PAGEKV_CHECK(st.ok(),
                       "copy-on-write allocation failed after the "
                       "capacity check passed: {}",
                       st.ToString());
          fill[copy.value()] = 0;
          SetFill(copy, fill[b.value()]);
          copies.push_back({b, copy, GroupId(static_cast<uint32_t>(g))});
          ReleaseBlock(b, kNullBlock, s, now());
          table[j] = copy;
          ++cow_copies;
          ++blocks_allocated;
        } else if (pool->KeepsContent(b)) {
          UnindexBlock(g, b);
        }
      }
    }
    const int64_t size = static_cast<int64_t>(table.size());
    if (target > size) {
      scratch.resize(static_cast<size_t>(target - size));
      absl::Status st = pool->Allocate(absl::MakeSpan(scratch), now());
      PAGEKV_CHECK(st.ok(),
                   "allocation failed after the capacity check "
                   "passed: {}",
                   st.ToString());
      for (BlockId b : scratch) {
        fill[b.value()] = 0;
        table.push_back(b);
      }
      blocks_allocated += scratch.size();
    }
    for (int64_t j = c / bs; j < write_end; ++j) {
      SetFill(table[j],
              static_cast<uint32_t>(std::min(bs, c + num_new - j * bs)));
    }
  }
  s.hot->num_computed = static_cast<int32_t>(c + num_new);
  IndexFullBlocks(s);
  ReleaseOutOfWindow(s, c);
  SyncTableMirror(s);
}

void ManagerState::AppendNewBlock(Sequence& s) {
  PAGEKV_DCHECK(s.tables.size() == 1, "the decode fast path has one group");
  BlockId b;
  absl::Status st = pool->Allocate(absl::MakeSpan(&b, 1), EvictionNow(1));
  PAGEKV_CHECK(st.ok(), "allocation failed after the capacity check passed: {}",
               st.ToString());
  fill[b.value()] = 0;
  s.tables[0].push_back(b);
  ++blocks_allocated;
  ++s.hot->num_blocks;
  s.hot->last_block = b;
}

void ManagerState::IndexFilled(absl::Span<const uint32_t> filled) {
  const size_t bs = static_cast<size_t>(config.block_size);
  for (const uint32_t slot : filled) {
    const Sequence& s = *slots[slot];
    const size_t full = static_cast<size_t>(s.num_computed()) / bs;
    EnsureKeys(s, full);
    for (const Group& group : groups) group.index->Prefetch(s.keys[full - 1]);
  }
  for (const uint32_t slot : filled) IndexFullBlocks(*slots[slot]);
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

void ManagerState::ReleaseOutOfWindow(Sequence& s, int64_t first_new) {
  const int64_t bs = config.block_size;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!groups[g].sliding()) continue;
    // The step's first new token attends from first_new - (window - 1):
    // blocks wholly before that are no longer read by anyone in this step.
    const int64_t lo = first_new - (groups[g].spec.sliding_window - 1);
    if (lo <= 0) continue;
    const uint32_t drop_to = static_cast<uint32_t>(lo / bs);
    if (drop_to <= s.dropped[g]) continue;
    std::vector<BlockId>& table = s.tables[g];
    const int64_t now_us = clock->NowMicros();
    for (uint32_t j = drop_to; j-- > s.dropped[g];) {
      BlockId parent = j > 0 ? table[j - 1] : kNullBlock;
      ReleaseBlock(table[j], parent, s, now_us);
      table[j] = kNullBlock;
    }
    s.dropped[g] = drop_to;
  }
}

void ManagerState::ReleaseTail(Sequence& s, size_t keep_blocks) {
  const int64_t now_us = clock->NowMicros();
  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<BlockId>& table = s.tables[g];
    while (table.size() > keep_blocks) {
      BlockId b = table.back();
      table.pop_back();
      if (b == kNullBlock) continue;
      ReleaseBlock(b, table.empty() ? kNullBlock : table.back(), s, now_us);
    }
    s.dropped[g] = std::min<uint32_t>(s.dropped[g], table.size());
  }
  SyncTableMirror(s);
}

void ManagerState::SyncTableMirror(Sequence& s) {
  const std::vector<BlockId>& table = s.tables[0];
  s.hot->num_blocks = static_cast<uint32_t>(table.size());
  s.hot->last_block = table.empty() ? kNullBlock : table.back();
}

// --- block bookkeeping ------------------------------------------------------

void ManagerState::AcquireBlock(BlockId block) {
  if (pool->state(block) == BlockState::kCached) {
    used_slots += fill[block.value()];
  }
  pool->Acquire(block);
}

void ManagerState::ReleaseBlock(BlockId block, BlockId parent,
                                const Sequence& s, int64_t now_us) {
  EvictionHints hints;
  hints.parent = parent;
  hints.priority = s.options.retention_priority;
  hints.priority_expiry_us = s.options.retention_duration_us < 0
                                 ? -1
                                 : now_us + s.options.retention_duration_us;
  hints.now_us = now_us;
  pool->Release(block, hints);
  if (pool->state(block) != BlockState::kInUse) {
    used_slots -= fill[block.value()];
  }
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

void ManagerState::SetFill(BlockId block, uint32_t new_fill) {
  if (pool->state(block) == BlockState::kInUse) {
    used_slots = used_slots + new_fill - fill[block.value()];
  }
  fill[block.value()] = static_cast<uint16_t>(new_fill);
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
  for (BlockId b : blocks) __builtin_prefetch(&fill[b.value()], 1);
}

void ManagerState::OnBlockEvicted(BlockId block) {
  for (size_t g = 0; g < groups.size(); ++g) {
    PrefixIndex* index = groups[g].index.get();
    if (index == nullptr || !index->contains(block)) continue;
    if (config.enable_kv_events) {
      events.emplace_back(BlockRemovedEvent{{index->key(block)},
                                            GroupId(static_cast<uint32_t>(g))});
    }
    index->Erase(block);
  }
  fill[block.value()] = 0;
}

}  // namespace pagekv::internal
