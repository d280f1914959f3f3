#include "core/eviction/arc_policy.h"

#include <algorithm>

#include "core/check.h"
#include "fmt/format.h"

namespace pagekv::internal {

void ArcPolicy::Init(uint32_t num_blocks) {
  t1_.Init(num_blocks);
  t2_.Init(num_blocks);
  b1_.Init(num_blocks);
  b2_.Init(num_blocks);
  home_.assign(num_blocks, Home::kNone);
  parent_.assign(num_blocks, 0);
  p_ = 0;
  capacity_ = num_blocks;
  ghost_capacity_ = std::max<uint32_t>(1, num_blocks / 2);
}

void ArcPolicy::OnEvictable(BlockId block, const EvictionHints& hints) {
  const uint32_t id = block.value();
  const uint32_t parent = hints.parent.value();
  PAGEKV_CHECK(id < home_.size() && !t1_.contains(id) && !t2_.contains(id),
               "arc: OnEvictable({}) on a block that is already evictable or "
               "out of range",
               id);
  PAGEKV_CHECK(parent < home_.size(), "arc: block {} given parent {} of {}", id,
               parent, home_.size());
  parent_[id] = parent;
  switch (home_[id]) {
    case Home::kT2:
      t2_.PushBack(id);
      return;
    case Home::kT1:
      t1_.PushBack(id);
      return;
    case Home::kNone:
      break;
  }
  if (parent != kNullBlock.value() && b1_.contains(parent)) {
    p_ = std::min(capacity_,
                  p_ + std::max<uint32_t>(1, b2_.size() / b1_.size()));
    b1_.Remove(parent);
    home_[id] = Home::kT2;
    t2_.PushBack(id);
  } else if (parent != kNullBlock.value() && b2_.contains(parent)) {
    const uint32_t step = std::max<uint32_t>(1, b1_.size() / b2_.size());
    p_ = p_ > step ? p_ - step : 0;
    b2_.Remove(parent);
    home_[id] = Home::kT2;
    t2_.PushBack(id);
  } else {
    home_[id] = Home::kT1;
    t1_.PushBack(id);
  }
}

void ArcPolicy::OnReused(BlockId block) {
  const uint32_t id = block.value();
  if (id < home_.size() && t1_.contains(id)) {
    t1_.Remove(id);
  } else {
    PAGEKV_CHECK(id < home_.size() && t2_.contains(id),
                 "arc: OnReused({}) on a block that is not evictable", id);
    t2_.Remove(id);
  }
  home_[id] = Home::kT2;
}

BlockId ArcPolicy::PickVictim(int64_t) {
  PAGEKV_CHECK(size() > 0, "arc: PickVictim on an empty evictable set");
  const bool from_t1 = !t1_.empty() && (t2_.empty() || t1_.size() > p_);
  const uint32_t id = from_t1 ? t1_.PopFront() : t2_.PopFront();
  Evict(id, from_t1);
  return BlockId(id);
}

void ArcPolicy::Evict(uint32_t id, bool from_t1) {
  home_[id] = Home::kNone;
  // The id will carry new content: an entry for it names a parent that is
  // gone.
  if (b1_.contains(id)) b1_.Remove(id);
  if (b2_.contains(id)) b2_.Remove(id);
  const uint32_t parent = parent_[id];
  if (parent == kNullBlock.value()) return;
  if (from_t1) {
    Remember(b1_, b2_, parent);
  } else {
    Remember(b2_, b1_, parent);
  }
}

void ArcPolicy::Remember(IntrusiveList& ghost, IntrusiveList& other,
                         uint32_t parent) {
  if (other.contains(parent)) other.Remove(parent);
  if (ghost.contains(parent)) ghost.Remove(parent);
  ghost.PushBack(parent);
  if (ghost.size() > ghost_capacity_) ghost.PopFront();
}

absl::Status ArcPolicy::Verify() const {
  for (const IntrusiveList* list : {&t1_, &t2_, &b1_, &b2_}) {
    if (absl::Status s = list->Verify(); !s.ok()) return s;
  }
  if (p_ > capacity_ || b1_.size() > ghost_capacity_ ||
      b2_.size() > ghost_capacity_) {
    return absl::InternalError(fmt::format(
        "arc: target {} of capacity {}, ghosts {} and {} of at most {}", p_,
        capacity_, b1_.size(), b2_.size(), ghost_capacity_));
  }
  for (uint32_t id = 0; id < home_.size(); ++id) {
    const bool in_t1 = t1_.contains(id), in_t2 = t2_.contains(id);
    if ((in_t1 && home_[id] != Home::kT1) ||
        (in_t2 && home_[id] != Home::kT2)) {
      return absl::InternalError(
          fmt::format("arc: block {} is listed away from its home list", id));
    }
    if (b1_.contains(id) && b2_.contains(id)) {
      return absl::InternalError(
          fmt::format("arc: parent {} is on both ghost lists", id));
    }
  }
  return absl::OkStatus();
}

}  // namespace pagekv::internal
