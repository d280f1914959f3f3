#include "pagekv/vllm/block_pool.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/prefetch.h"

namespace pagekv::vllm {

VllmBlockPool::VllmBlockPool(int32_t num_blocks, int32_t block_size,
                             bool enable_caching, bool enable_events,
                             bool reuse_uncached_first)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      enable_caching_(enable_caching),
      enable_events_(enable_events),
      uncached_first_(reuse_uncached_first),
      prev_(num_blocks + 2, -1),
      next_(num_blocks + 2, -1),
      ref_cnt_(num_blocks, 0),
      meta_(num_blocks),
      tokens_(static_cast<size_t>(num_blocks) * block_size, 0),
      vkey_inline_(static_cast<size_t>(num_blocks) * kInlineKey),
      map_(enable_caching ? num_blocks : 0) {
  PAGEKV_CHECK(num_blocks >= 1, "a vLLM pool needs the null block, got {}",
               num_blocks);
  PAGEKV_CHECK(block_size >= 1, "block_size must be positive, got {}",
               block_size);
  for (int32_t sentinel : {num_blocks_, num_blocks_ + 1}) {
    prev_[sentinel] = next_[sentinel] = sentinel;
  }
  // Block 0 is the null block: vLLM pops it off the fresh queue for good.
  for (int32_t b = 1; b < num_blocks_; ++b) QueueAppend(b);
}

double VllmBlockPool::Usage() const {
  const int32_t total = num_blocks_ - 1;
  if (total == 0) return 0.0;
  return 1.0 - static_cast<double>(num_free_) / total;
}

std::vector<int32_t> VllmBlockPool::FreeQueue() const {
  std::vector<int32_t> out;
  out.reserve(num_free_);
  for (int32_t sentinel : {num_blocks_ + 1, num_blocks_}) {
    for (int32_t b = next_[sentinel]; b != sentinel; b = next_[b]) {
      out.push_back(b);
    }
  }
  return out;
}

void VllmBlockPool::QueueRemove(int32_t b) {
  PAGEKV_DCHECK(next_[b] >= 0, "block {} is not in the free queue", b);
  next_[prev_[b]] = next_[b];
  prev_[next_[b]] = prev_[b];
  prev_[b] = next_[b] = -1;
  --num_free_;
}

uint64_t VllmBlockPool::MemoryFootprint(int32_t num_blocks, int32_t block_size,
                                        bool enable_caching) {
  const auto n = static_cast<uint64_t>(num_blocks);
  return 2 * (n + 2) * sizeof(int32_t)  // prev_, next_
         + n * sizeof(int32_t)          // ref_cnt_
         + n * sizeof(Meta) +
         n * static_cast<uint64_t>(block_size) *
             sizeof(TokenId)  // meta_, tokens_
         + n * kInlineKey     // vkey_inline_
         + KeyTable::BytesFor(enable_caching ? num_blocks : 0);
}

int32_t VllmBlockPool::Front() const {
  const int32_t uncached = next_[num_blocks_ + 1];
  return uncached != num_blocks_ + 1 ? uncached : next_[num_blocks_];
}

void VllmBlockPool::QueueAppend(int32_t b) {
  AppendTo(uncached_first_ && !meta_[b].cached ? num_blocks_ + 1 : num_blocks_,
           b);
}

void VllmBlockPool::AppendTo(int32_t sentinel, int32_t b) {
  const int32_t last = prev_[sentinel];
  next_[last] = b;
  prev_[b] = last;
  next_[b] = sentinel;
  prev_[sentinel] = b;
  ++num_free_;
}

absl::Status VllmBlockPool::GetNewBlocks(int32_t n, std::vector<int32_t>* out) {
  if (n > num_free_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Cannot get ", n, " free blocks from the pool (", num_free_, " free)"));
  }
  const size_t first = out->size();
  for (int32_t i = 0; i < n; ++i) {
    const int32_t b = Front();
    QueueRemove(b);
    PAGEKV_DCHECK(ref_cnt_[b] == 0, "free block {} has ref {}", b, ref_cnt_[b]);
    ref_cnt_[b] = 1;
    out->push_back(b);
    internal::Prefetch(&meta_[b]);
  }
  if (metrics_on_) {
    for (size_t i = first; i < out->size(); ++i) {
      if (enable_caching_) Metric(MetricEvent::Kind::kEvicted, (*out)[i]);
      Metric(MetricEvent::Kind::kAllocated, (*out)[i]);
    }
  }
  if (!enable_caching_) return absl::OkStatus();
  // Evicting after the pops changes nothing (a popped block is out of the
  // queue) and lets the map lookups overlap.
  const absl::Span<const int32_t> got(out->data() + first, n);
  for (int32_t i = 0; i < n; ++i) {
    if (i + kPrefetch < n) {
      const Meta& ahead = meta_[got[i + kPrefetch]];
      if (ahead.cached) PrefetchSlot(ahead.key, ahead.group);
    }
    MaybeEvict(got[i]);
  }
  return absl::OkStatus();
}

void VllmBlockPool::Touch(absl::Span<const int32_t> blocks) {
  for (int32_t b : blocks) {
    if (ref_cnt_[b] == 0 && b != 0) QueueRemove(b);
    ++ref_cnt_[b];
    if (metrics_on_) Metric(MetricEvent::Kind::kAccessed, b);
  }
}

void VllmBlockPool::FreeBlocks(absl::Span<const int32_t> blocks) {
  // vLLM drops every reference first, then queues the zeros in order; a
  // block listed twice is queued once (on its last mention reaching 0 the
  // first pass already counted both).
  for (int32_t b : blocks) --ref_cnt_[b];
  for (int32_t b : blocks) {
    if (ref_cnt_[b] == 0 && b != 0 && next_[b] < 0) QueueAppend(b);
  }
}

void VllmBlockPool::FreeBlocksReversed(absl::Span<const int32_t> blocks) {
  for (int32_t b : blocks) --ref_cnt_[b];
  for (size_t i = blocks.size(); i-- > 0;) {
    const int32_t b = blocks[i];
    if (ref_cnt_[b] == 0 && b != 0 && next_[b] < 0) QueueAppend(b);
  }
}

int32_t VllmBlockPool::FindCached(uint64_t key, int32_t group,
                                  uint64_t parent_key,
                                  const TokenId* tokens) const {
  for (int32_t b = map_.Find(key, group); b >= 0; b = meta_[b].dup_next) {
    if (meta_[b].parent_key != parent_key) continue;
    if (std::memcmp(tokens_.data() + static_cast<size_t>(b) * block_size_,
                    tokens, sizeof(TokenId) * block_size_) != 0) {
      continue;
    }
    return b;
  }
  return -1;
}

void VllmBlockPool::PrefetchSlot(uint64_t key, int32_t group) const {
  internal::Prefetch(map_.SlotAddress(key, group));
}

void VllmBlockPool::PrefetchBlock(uint64_t key, int32_t group) const {
  const int32_t b = map_.Find(key, group);
  if (b < 0) return;
  internal::Prefetch(&meta_[b]);
  internal::Prefetch(tokens_.data() + static_cast<size_t>(b) * block_size_);
}

std::string VllmBlockPool::VllmKey(int32_t b) const {
  if (meta_[b].vkey_len == 255) return vkey_long_.at(b);
  return std::string(vkey_inline_.data() + static_cast<size_t>(b) * kInlineKey,
                     meta_[b].vkey_len);
}

void VllmBlockPool::SetVllmKey(int32_t b, absl::string_view key) {
  if (key.size() > kInlineKey) {
    meta_[b].vkey_len = 255;
    vkey_long_[b] = std::string(key);
    return;
  }
  meta_[b].vkey_len = static_cast<uint8_t>(key.size());
  std::memcpy(vkey_inline_.data() + static_cast<size_t>(b) * kInlineKey,
              key.data(), key.size());
}

int32_t VllmBlockPool::FindByVllmKey(const std::string& vllm_key,
                                     int32_t group) const {
  for (int32_t b = 1; b < num_blocks_; ++b) {
    if (meta_[b].cached && meta_[b].group == group && VllmKey(b) == vllm_key) {
      // The map's oldest block under the same key is what vLLM returns.
      return map_.Find(meta_[b].key, group);
    }
  }
  return -1;
}

void VllmBlockPool::CacheFullBlocks(const CacheSource& src,
                                    absl::Span<const int32_t> blocks,
                                    int32_t num_cached, int32_t num_full,
                                    int32_t group) {
  if (num_cached >= num_full) return;
  PAGEKV_CHECK(static_cast<int64_t>(src.keys.size()) >= num_full &&
                   static_cast<int64_t>(src.vllm_keys->size()) >= num_full,
               "caching {} blocks needs as many block hashes (have {} keys, "
               "{} vLLM keys)",
               num_full, src.keys.size(), src.vllm_keys->size());
  PAGEKV_CHECK(src.vllm_keys->first_kept() <=
                   static_cast<size_t>(std::max(num_cached - 1, 0)),
               "caching from block {} reads vLLM keys from {}, but the "
               "request keeps them from {} on",
               num_cached, std::max(num_cached - 1, 0),
               src.vllm_keys->first_kept());
  VllmEvent ev;
  const int32_t end = std::min<int32_t>(num_full, blocks.size());
  for (int32_t i = num_cached; i < end; ++i) {
    if (i + kPrefetch < end) {
      PrefetchSlot(src.keys[i + kPrefetch], group);
      internal::Prefetch(&meta_[blocks[i + kPrefetch]]);
    }
    const int32_t b = blocks[i];
    if (b == 0) continue;
    Meta& m = meta_[b];
    PAGEKV_CHECK(!m.cached, "block {} is already cached", b);
    m.cached = 1;
    ++num_cached_;
    m.key = src.keys[i];
    m.parent_key = i == 0 ? src.root_key : src.keys[i - 1];
    m.group = group;
    std::memcpy(tokens_.data() + static_cast<size_t>(b) * block_size_,
                src.tokens.data() + static_cast<size_t>(i) * block_size_,
                sizeof(TokenId) * block_size_);
    SetVllmKey(b, (*src.vllm_keys)[i]);
    Link(b);
    if (enable_events_) {
      ev.block_hashes.emplace_back((*src.vllm_keys)[i]);
      ev.block_starts.push_back(static_cast<int64_t>(i) * block_size_);
    }
  }
  if (!enable_events_) return;
  ev.type = VllmEvent::Type::kBlockStored;
  ev.group = group;
  ev.block_size = block_size_;
  ev.owner = src.owner;
  if (num_cached > 0) {
    ev.parent_block_hash = std::string((*src.vllm_keys)[num_cached - 1]);
  }
  const size_t first = static_cast<size_t>(num_cached) * block_size_;
  const size_t last =
      std::min(src.tokens.size(), static_cast<size_t>(num_full) * block_size_);
  ev.token_ids.assign(src.tokens.begin() + first, src.tokens.begin() + last);
  events_.push_back(std::move(ev));
}

void VllmBlockPool::Link(int32_t b) {
  const int32_t head = map_.Insert(meta_[b].key, meta_[b].group, b);
  PAGEKV_CHECK(head != KeyTable::kFull, "the key table is full ({} entries)",
               map_.size());
  meta_[b].dup_next = -1;
  if (head == KeyTable::kInserted) return;
  int32_t last = head;
  while (meta_[last].dup_next >= 0) last = meta_[last].dup_next;
  meta_[last].dup_next = b;
}

void VllmBlockPool::Unlink(int32_t b) {
  Meta& m = meta_[b];
  const int32_t head = map_.Find(m.key, m.group);
  PAGEKV_CHECK(head >= 0, "cached block {} is missing from the map", b);
  if (head == b) {
    if (m.dup_next < 0) {
      map_.Erase(m.key, m.group);
    } else {
      map_.Replace(m.key, m.group, m.dup_next);
    }
  } else {
    int32_t prev = head;
    while (meta_[prev].dup_next != b) {
      PAGEKV_CHECK(meta_[prev].dup_next >= 0,
                   "cached block {} is missing from its key's chain", b);
      prev = meta_[prev].dup_next;
    }
    meta_[prev].dup_next = m.dup_next;
  }
  m.dup_next = -1;
}

void VllmBlockPool::MaybeEvict(int32_t b) {
  Meta& m = meta_[b];
  if (!m.cached) return;
  Unlink(b);
  --num_cached_;
  ++num_evictions_;
  m.cached = 0;
  if (uncached_first_ && next_[b] >= 0) {
    // A free block that lost its content joins the uncached list.
    QueueRemove(b);
    AppendTo(num_blocks_ + 1, b);
  }
  if (enable_events_) {
    VllmEvent ev;
    ev.type = VllmEvent::Type::kBlockRemoved;
    ev.group = m.group;
    ev.block_hashes.push_back(VllmKey(b));
    events_.push_back(std::move(ev));
  }
  if (m.vkey_len == 255) vkey_long_.erase(b);
  m.vkey_len = 0;
  m.group = -1;
}

absl::Status VllmBlockPool::EvictBlocks(absl::Span<const int32_t> blocks) {
  for (int32_t b : blocks) {
    if (b < 0 || b >= num_blocks_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Invalid block_id ", b, " (the pool has ", num_blocks_,
          " blocks): a KV connector reported a block the scheduler never "
          "allocated"));
    }
  }
  for (int32_t b : blocks) {
    if (metrics_on_) Metric(MetricEvent::Kind::kEvicted, b);
    MaybeEvict(b);
  }
  return absl::OkStatus();
}

bool VllmBlockPool::ResetPrefixCache() {
  if (num_blocks_ - num_free_ != 1) return false;
  map_.Clear();
  num_cached_ = 0;
  const std::vector<int32_t> order = FreeQueue();
  for (Meta& m : meta_) m = Meta();
  vkey_long_.clear();
  if (uncached_first_) {
    for (int32_t b : order) {
      QueueRemove(b);
      QueueAppend(b);
    }
  }
  if (enable_events_) {
    VllmEvent ev;
    ev.type = VllmEvent::Type::kAllBlocksCleared;
    events_.push_back(std::move(ev));
  }
  if (metrics_on_) Metric(MetricEvent::Kind::kReset, -1);
  return true;
}

std::vector<VllmEvent> VllmBlockPool::TakeEvents() {
  std::vector<VllmEvent> out;
  out.swap(events_);
  return out;
}

absl::Status VllmBlockPool::Verify() const {
  int32_t linked = 0;
  for (int32_t sentinel : {num_blocks_, num_blocks_ + 1}) {
    for (int32_t b = next_[sentinel]; b != sentinel; b = next_[b]) {
      if (b <= 0 || b >= num_blocks_ || prev_[next_[b]] != b) {
        return absl::InternalError(absl::StrCat("free queue broken at ", b));
      }
      if (ref_cnt_[b] != 0) {
        return absl::InternalError(
            absl::StrCat("queued block ", b, " has ref ", ref_cnt_[b]));
      }
      if (uncached_first_ && sentinel == num_blocks_ + 1 && meta_[b].cached) {
        return absl::InternalError(
            absl::StrCat("cached block ", b, " is on the uncached list"));
      }
      if (++linked > num_blocks_) {
        return absl::InternalError("free queue has a cycle");
      }
    }
  }
  if (linked != num_free_) {
    return absl::InternalError(absl::StrCat("free queue links ", linked,
                                            " blocks, count says ", num_free_));
  }
  if (absl::Status s = map_.Verify(); !s.ok()) return s;
  size_t in_map = 0;
  absl::Status chains = absl::OkStatus();
  map_.ForEach([&](uint64_t key, int32_t group, int32_t head) {
    for (int32_t b = head; b >= 0 && chains.ok(); b = meta_[b].dup_next) {
      const Meta& m = meta_[b];
      if (!m.cached || m.key != key || m.group != group) {
        chains = absl::InternalError(
            absl::StrCat("map lists block ", b, " under a key it lacks"));
      } else if (++in_map > static_cast<size_t>(num_blocks_)) {
        chains = absl::InternalError("a key's chain has a cycle");
      }
    }
  });
  if (!chains.ok()) return chains;
  size_t flagged = 0;
  for (int32_t b = 0; b < num_blocks_; ++b) {
    flagged += meta_[b].cached;
    if (next_[b] < 0 && b != 0 && ref_cnt_[b] <= 0) {
      return absl::InternalError(
          absl::StrCat("block ", b, " is neither free nor referenced"));
    }
  }
  if (flagged != in_map || static_cast<int64_t>(flagged) != num_cached_) {
    return absl::InternalError(absl::StrCat(flagged, " blocks flagged cached, ",
                                            in_map, " in the map, count says ",
                                            num_cached_));
  }
  return absl::OkStatus();
}

}  // namespace pagekv::vllm
