#include "core/eviction/priority_policy.h"

#include <bit>

#include "core/check.h"
#include "fmt/format.h"

namespace pagekv::internal {

void PriorityPolicy::Init(uint32_t num_blocks) {
  num_blocks_ = num_blocks;
  prev_.resize(num_blocks + kNumPriorities);
  next_.resize(num_blocks + kNumPriorities);
  for (uint32_t p = 0; p < kNumPriorities; ++p) {
    prev_[sentinel(p)] = next_[sentinel(p)] = sentinel(p);
    count_[p] = 0;
  }
  nonempty_[0] = nonempty_[1] = 0;
  prio_.assign(num_blocks, kAbsent);
  seq_.assign(num_blocks, 0);
  expiring_.Init(num_blocks);
  decayed_.Init(num_blocks);
  next_seq_ = 0;
  size_ = 0;
}

void PriorityPolicy::PushBack(uint32_t id, uint32_t priority) {
  uint32_t s = sentinel(priority);
  uint32_t last = prev_[s];
  prev_[id] = last;
  next_[id] = s;
  next_[last] = id;
  prev_[s] = id;
  prio_[id] = static_cast<uint8_t>(priority);
  if (count_[priority]++ == 0)
    nonempty_[priority / 64] |= 1ull << priority % 64;
}

void PriorityPolicy::Unlink(uint32_t id) {
  uint32_t priority = prio_[id];
  next_[prev_[id]] = next_[id];
  prev_[next_[id]] = prev_[id];
  if (--count_[priority] == 0) {
    nonempty_[priority / 64] &= ~(1ull << priority % 64);
  }
  if (expiring_.contains(id)) expiring_.Remove(id);
}

void PriorityPolicy::Remove(uint32_t id) {
  if (prio_[id] == kDecayed) {
    decayed_.Remove(id);
  } else {
    Unlink(id);
  }
  prio_[id] = kAbsent;
  --size_;
}

void PriorityPolicy::OnEvictable(BlockId block, const EvictionHints& hints) {
  uint32_t id = block.value();
  PAGEKV_CHECK(id < num_blocks_ && prio_[id] == kAbsent,
               "priority: OnEvictable({}) on a block that is already "
               "evictable or out of range",
               id);
  PAGEKV_CHECK(hints.priority >= kMinRetentionPriority &&
                   hints.priority <= kMaxRetentionPriority,
               "priority: block {} released with retention priority {}, "
               "outside [{}, {}]",
               id, hints.priority, kMinRetentionPriority,
               kMaxRetentionPriority);
  seq_[id] = next_seq_++;
  ++size_;
  const bool expires = hints.priority != kDefaultRetentionPriority &&
                       hints.priority_expiry_us >= 0;
  if (expires && hints.priority_expiry_us <= hints.now_us) {
    // Already decayed; it is the newest block, so the default list's tail
    // is its release-order position.
    PushBack(id, kDefaultRetentionPriority);
    return;
  }
  PushBack(id, static_cast<uint32_t>(hints.priority));
  if (expires) expiring_.Push(id, hints.priority_expiry_us);
}

void PriorityPolicy::OnReused(BlockId block) {
  uint32_t id = block.value();
  PAGEKV_CHECK(id < num_blocks_ && prio_[id] != kAbsent,
               "priority: OnReused({}) on a block that is not evictable", id);
  Remove(id);
}

void PriorityPolicy::Decay(int64_t now_us) {
  while (!expiring_.empty() && expiring_.TopKey() <= now_us) {
    uint32_t id = expiring_.Top();
    Unlink(id);  // also pops it from expiring_
    prio_[id] = kDecayed;
    decayed_.Push(id, seq_[id]);
  }
}

// Cost: the decay loop (usually one heap-top comparison), one
// count-trailing-zeros over two words, and an O(1) unlink.
BlockId PriorityPolicy::PickVictim(int64_t now_us) {
  PAGEKV_CHECK(size_ > 0, "priority: PickVictim on an empty evictable set");
  Decay(now_us);
  uint64_t mask[2] = {nonempty_[0], nonempty_[1]};
  if (!decayed_.empty()) {
    mask[kDefaultRetentionPriority / 64] |= 1ull
                                            << kDefaultRetentionPriority % 64;
  }
  uint32_t priority =
      mask[0] != 0 ? std::countr_zero(mask[0]) : 64 + std::countr_zero(mask[1]);
  uint32_t victim = next_[sentinel(priority)];
  if (priority == kDefaultRetentionPriority && !decayed_.empty() &&
      (count_[priority] == 0 || decayed_.TopKey() < seq_[victim])) {
    victim = decayed_.Top();
  }
  Remove(victim);
  return BlockId(victim);
}

absl::Status PriorityPolicy::Verify() const {
  if (absl::Status s = expiring_.Verify(); !s.ok()) return s;
  if (absl::Status s = decayed_.Verify(); !s.ok()) return s;
  uint32_t total = 0;
  for (uint32_t p = 0; p < kNumPriorities; ++p) {
    uint32_t n = 0;
    int64_t last = -1;
    for (uint32_t id = next_[sentinel(p)], prev = sentinel(p);
         id != sentinel(p); prev = id, id = next_[id]) {
      if (id >= num_blocks_ || prio_[id] != p || prev_[id] != prev) {
        return absl::InternalError(fmt::format(
            "priority: list {} broken at block {} (marked priority {})", p, id,
            id < num_blocks_ ? prio_[id] : -1));
      }
      if (seq_[id] <= last) {
        return absl::InternalError(fmt::format(
            "priority: list {} out of release order at block {}", p, id));
      }
      last = seq_[id];
      bool expiring = expiring_.contains(id);
      if (expiring && p == kDefaultRetentionPriority) {
        return absl::InternalError(fmt::format(
            "priority: block {} at the default priority waits to decay", id));
      }
      if (++n > count_[p]) {
        return absl::InternalError(
            fmt::format("priority: list {} longer than its count", p));
      }
    }
    bool bit = (nonempty_[p / 64] >> (p % 64)) & 1;
    if (n != count_[p] || bit != (n > 0)) {
      return absl::InternalError(fmt::format(
          "priority: list {} holds {} blocks, count {}, non-empty bit {}", p, n,
          count_[p], bit));
    }
    total += n;
  }
  uint32_t decayed = 0, expiring = 0;
  for (uint32_t id = 0; id < num_blocks_; ++id) {
    if ((prio_[id] == kDecayed) != decayed_.contains(id)) {
      return absl::InternalError(fmt::format(
          "priority: block {} decayed mark disagrees with the heap", id));
    }
    if (expiring_.contains(id) && prio_[id] >= kNumPriorities) {
      return absl::InternalError(fmt::format(
          "priority: block {} waits to decay but is on no list", id));
    }
    decayed += prio_[id] == kDecayed;
    expiring += expiring_.contains(id);
    if (prio_[id] == kDecayed && decayed_.key(id) != seq_[id]) {
      return absl::InternalError(
          fmt::format("priority: decayed block {} keyed {} but released at {}",
                      id, decayed_.key(id), seq_[id]));
    }
  }
  if (total + decayed != size_ || expiring != expiring_.size()) {
    return absl::InternalError(fmt::format(
        "priority: size {} but {} listed + {} decayed; {} expiring vs heap "
        "of {}",
        size_, total, decayed, expiring, expiring_.size()));
  }
  return absl::OkStatus();
}

}  // namespace pagekv::internal
