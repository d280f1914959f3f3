#include "core/eviction/s3fifo_policy.h"

#include <algorithm>

#include "core/check.h"
#include "fmt/format.h"

namespace pagekv::internal {

void S3FifoPolicy::Init(uint32_t num_blocks) {
  small_.Init(num_blocks);
  main_.Init(num_blocks);
  ghost_.Init(num_blocks);
  freq_.assign(num_blocks, 0);
  home_.assign(num_blocks, Home::kNone);
  parent_.assign(num_blocks, 0);
  ghost_capacity_ = std::max<uint32_t>(1, num_blocks / 10 * 9);
}

void S3FifoPolicy::OnEvictable(BlockId block, const EvictionHints& hints) {
  uint32_t id = block.value();
  uint32_t parent = hints.parent.value();
  PAGEKV_CHECK(id < home_.size() && !small_.contains(id) && !main_.contains(id),
               "s3fifo: OnEvictable({}) on a block that is already evictable "
               "or out of range",
               id);
  PAGEKV_CHECK(parent < home_.size(), "s3fifo: block {} given parent {} of {}",
               id, parent, home_.size());
  parent_[id] = parent;
  switch (home_[id]) {
    case Home::kMain:
      main_.PushBack(id);
      return;
    case Home::kSmall:
      small_.PushBack(id);
      return;
    case Home::kNone:
      break;
  }
  freq_[id] = 0;
  if (parent != kNullBlock.value() && ghost_.contains(parent)) {
    ghost_.Remove(parent);
    home_[id] = Home::kMain;
    main_.PushBack(id);
  } else {
    home_[id] = Home::kSmall;
    small_.PushBack(id);
  }
}

void S3FifoPolicy::OnReused(BlockId block) {
  uint32_t id = block.value();
  if (id < home_.size() && small_.contains(id)) {
    small_.Remove(id);
  } else {
    PAGEKV_CHECK(id < home_.size() && main_.contains(id),
                 "s3fifo: OnReused({}) on a block that is not evictable", id);
    main_.Remove(id);
  }
  if (freq_[id] < kMaxFreq) ++freq_[id];
}

// Cost: amortized O(1); see the header. Each loop turn either returns, moves
// one block small -> main, or spends one unit of a main block's frequency.
BlockId S3FifoPolicy::PickVictim(int64_t) {
  PAGEKV_CHECK(size() > 0, "s3fifo: PickVictim on an empty evictable set");
  while (true) {
    if (!small_.empty() &&
        (main_.empty() || small_.size() * kSmallRatio >= size())) {
      uint32_t id = small_.PopFront();
      if (freq_[id] > 0) {
        home_[id] = Home::kMain;
        main_.PushBack(id);
        continue;
      }
      Evict(id, /*from_small=*/true);
      return BlockId(id);
    }
    uint32_t id = main_.PopFront();
    if (freq_[id] > 0) {
      --freq_[id];
      main_.PushBack(id);
      continue;
    }
    Evict(id, /*from_small=*/false);
    return BlockId(id);
  }
}

void S3FifoPolicy::Evict(uint32_t id, bool from_small) {
  home_[id] = Home::kNone;
  freq_[id] = 0;
  // The id will carry new content: an entry for it names a parent that is
  // gone.
  if (ghost_.contains(id)) ghost_.Remove(id);
  uint32_t parent = parent_[id];
  if (!from_small || parent == kNullBlock.value()) return;
  if (ghost_.contains(parent)) ghost_.Remove(parent);
  ghost_.PushBack(parent);
  if (ghost_.size() > ghost_capacity_) ghost_.PopFront();
}

absl::Status S3FifoPolicy::Verify() const {
  for (const IntrusiveList* list : {&small_, &main_, &ghost_}) {
    if (absl::Status s = list->Verify(); !s.ok()) return s;
  }
  if (ghost_.size() > ghost_capacity_) {
    return absl::InternalError(
        fmt::format("s3fifo: ghost holds {} entries, capacity {}",
                    ghost_.size(), ghost_capacity_));
  }
  for (uint32_t id = 0; id < home_.size(); ++id) {
    bool in_small = small_.contains(id), in_main = main_.contains(id);
    if (in_small && in_main) {
      return absl::InternalError(
          fmt::format("s3fifo: block {} is on both small and main", id));
    }
    if ((in_small && home_[id] != Home::kSmall) ||
        (in_main && home_[id] != Home::kMain)) {
      return absl::InternalError(fmt::format(
          "s3fifo: block {} is queued away from its home queue", id));
    }
    if (freq_[id] > kMaxFreq || (home_[id] == Home::kNone && freq_[id] != 0)) {
      return absl::InternalError(
          fmt::format("s3fifo: block {} has frequency {} (home {})", id,
                      freq_[id], static_cast<int>(home_[id])));
    }
  }
  return absl::OkStatus();
}

}  // namespace pagekv::internal
