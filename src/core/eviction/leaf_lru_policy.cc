#include "core/eviction/leaf_lru_policy.h"

#include "core/check.h"
#include "fmt/format.h"

namespace pagekv::internal {

void LeafLruPolicy::Init(uint32_t num_blocks) {
  where_.assign(num_blocks, Where::kAbsent);
  parent_.assign(num_blocks, 0);
  children_.assign(num_blocks, 0);
  seq_.assign(num_blocks, 0);
  list_.Init(num_blocks);
  promoted_.Init(num_blocks);
  next_seq_ = 0;
  size_ = 0;
}

void LeafLruPolicy::OnEvictable(BlockId block, const EvictionHints& hints) {
  uint32_t id = block.value();
  uint32_t parent = hints.parent.value();
  PAGEKV_CHECK(id < where_.size() && where_[id] == Where::kAbsent,
               "leaf-lru: OnEvictable({}) on a block that is already "
               "evictable or out of range",
               id);
  PAGEKV_CHECK(parent != id && parent < where_.size(),
               "leaf-lru: block {} given parent {} (itself or out of range)",
               id, parent);
  parent_[id] = parent;
  seq_[id] = next_seq_++;
  if (parent != kNullBlock.value() && children_[parent]++ == 0 &&
      (where_[parent] == Where::kListed ||
       where_[parent] == Where::kPromoted)) {
    // Only reachable when a child is released while its parent is already
    // cached (not under full attention); the parent stops being a leaf.
    Unlink(parent);
    where_[parent] = Where::kParked;
  }
  if (children_[id] == 0) {
    list_.PushBack(id);
    where_[id] = Where::kListed;
  } else {
    where_[id] = Where::kParked;
  }
  ++size_;
}

void LeafLruPolicy::OnReused(BlockId block) {
  uint32_t id = block.value();
  PAGEKV_CHECK(id < where_.size() && where_[id] != Where::kAbsent,
               "leaf-lru: OnReused({}) on a block that is not evictable", id);
  Leave(id);
}

// Cost: one comparison of two sequence numbers, then O(1) for a listed victim
// or O(log p) for a promoted one, plus the parent's count update.
BlockId LeafLruPolicy::PickVictim(int64_t) {
  PAGEKV_CHECK(size_ > 0, "leaf-lru: PickVictim on an empty evictable set");
  PAGEKV_CHECK(!list_.empty() || !promoted_.empty(),
               "leaf-lru: {} evictable blocks but none is a leaf; parent "
               "links form a cycle or a parent id was reused while its "
               "children stayed cached",
               size_);
  uint32_t victim;
  if (promoted_.empty() ||
      (!list_.empty() && seq_[list_.front()] < promoted_.TopKey())) {
    victim = list_.front();
  } else {
    victim = promoted_.Top();
  }
  Leave(victim);
  return BlockId(victim);
}

void LeafLruPolicy::Unlink(uint32_t id) {
  if (where_[id] == Where::kListed) {
    list_.Remove(id);
  } else if (where_[id] == Where::kPromoted) {
    promoted_.Remove(id);
  }
}

void LeafLruPolicy::Leave(uint32_t id) {
  Unlink(id);
  where_[id] = Where::kAbsent;
  --size_;
  uint32_t parent = parent_[id];
  if (parent == kNullBlock.value()) return;
  PAGEKV_DCHECK(children_[parent] > 0,
                "leaf-lru: parent {} of block {} has no evictable child "
                "counted",
                parent, id);
  if (--children_[parent] == 0 && where_[parent] == Where::kParked) {
    promoted_.Push(parent, seq_[parent]);
    where_[parent] = Where::kPromoted;
  }
}

absl::Status LeafLruPolicy::Verify() const {
  if (absl::Status s = list_.Verify(); !s.ok()) return s;
  if (absl::Status s = promoted_.Verify(); !s.ok()) return s;
  const uint32_t n = static_cast<uint32_t>(where_.size());
  std::vector<uint32_t> children(n, 0);
  uint32_t evictable = 0, listed = 0, promoted = 0;
  for (uint32_t id = 0; id < n; ++id) {
    if (where_[id] == Where::kAbsent) continue;
    ++evictable;
    if (parent_[id] != kNullBlock.value()) ++children[parent_[id]];
  }
  for (uint32_t id = 0; id < n; ++id) {
    if (children[id] != children_[id]) {
      return absl::InternalError(fmt::format(
          "leaf-lru: block {} counts {} evictable children, but {} evictable "
          "blocks name it as parent",
          id, children_[id], children[id]));
    }
    Where w = where_[id];
    if (w == Where::kAbsent) continue;
    bool leaf = children[id] == 0;
    if (leaf == (w == Where::kParked)) {
      return absl::InternalError(
          fmt::format("leaf-lru: block {} with {} evictable children is {}", id,
                      children[id], leaf ? "parked" : "a candidate"));
    }
    if ((w == Where::kListed) != list_.contains(id) ||
        (w == Where::kPromoted) != promoted_.contains(id)) {
      return absl::InternalError(fmt::format(
          "leaf-lru: block {} state disagrees with list/heap membership", id));
    }
    if (w == Where::kPromoted && promoted_.key(id) != seq_[id]) {
      return absl::InternalError(
          fmt::format("leaf-lru: promoted block {} keyed {} but released at {}",
                      id, promoted_.key(id), seq_[id]));
    }
    listed += w == Where::kListed;
    promoted += w == Where::kPromoted;
  }
  for (uint32_t id = 0; id < n; ++id) {
    if (where_[id] == Where::kAbsent &&
        (list_.contains(id) || promoted_.contains(id))) {
      return absl::InternalError(fmt::format(
          "leaf-lru: block {} is not evictable but is a candidate", id));
    }
  }
  if (evictable != size_ || listed != list_.size() ||
      promoted != promoted_.size()) {
    return absl::InternalError(fmt::format(
        "leaf-lru: size {} but {} evictable; {} listed vs list of {}; {} "
        "promoted vs heap of {}",
        size_, evictable, listed, list_.size(), promoted, promoted_.size()));
  }
  int64_t last = -1;
  for (uint32_t id = list_.begin(); id != list_.end(); id = list_.next(id)) {
    if (seq_[id] <= last) {
      return absl::InternalError(
          fmt::format("leaf-lru: list out of release order at block {}", id));
    }
    last = seq_[id];
  }
  return absl::OkStatus();
}

}  // namespace pagekv::internal
