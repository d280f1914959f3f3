#include "pagekv/block_pool.h"

#include <algorithm>
#include <limits>

#include "core/check.h"
#include "fmt/format.h"

namespace pagekv {

absl::StatusOr<std::unique_ptr<BlockPool>> BlockPool::Create(
    uint64_t num_blocks, std::unique_ptr<EvictionPolicy> policy) {
  if (num_blocks < 2) {
    return absl::InvalidArgumentError(fmt::format(
        "num_blocks = {}: a pool needs the null block and at least one more",
        num_blocks));
  }
  if (num_blocks >= std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(
        fmt::format("num_blocks = {}: block ids are 32-bit, at most {} blocks",
                    num_blocks, std::numeric_limits<uint32_t>::max() - 1));
  }
  if (policy == nullptr) {
    return absl::InvalidArgumentError("a block pool needs an eviction policy");
  }
  return std::unique_ptr<BlockPool>(
      new BlockPool(static_cast<uint32_t>(num_blocks), std::move(policy)));
}

BlockPool::BlockPool(uint32_t num_blocks,
                     std::unique_ptr<EvictionPolicy> policy)
    : num_blocks_(num_blocks),
      policy_(std::move(policy)),
      meta_(num_blocks),
      free_stack_(num_blocks - 1),
      num_free_(num_blocks - 1) {
  meta_[0].state = BlockState::kNull;
  // Lowest ids on top of the stack, so a fresh pool hands out 1, 2, 3, ...
  for (uint32_t i = 0; i < num_free_; ++i) free_stack_[i] = num_free_ - i;
  policy_->Init(num_blocks);
}

// The inline Allocate handles out.size() <= num_free_; this is the rest.
// Cost: per block a pop and two stores (free path), or a virtual PickVictim
// plus the listener (eviction path).
absl::Status BlockPool::AllocateSlow(absl::Span<BlockId> out, int64_t now_us) {
  if (out.size() > NumAvailable()) {
    return absl::ResourceExhaustedError(
        fmt::format("out of KV blocks: need {}, {} free and {} cached of {}",
                    out.size(), num_free_, NumCached(), num_blocks()));
  }
  // Empty blocks first; then all the victims the policy picks, announced
  // together so the listener can prefetch their index entries (each is a
  // cache miss in a large index) before forgetting them one by one.
  const size_t from_free = std::min<size_t>(num_free_, out.size());
  for (size_t i = 0; i < from_free; ++i) {
    out[i] = BlockId(free_stack_[--num_free_]);
  }
  const absl::Span<BlockId> victims = out.subspan(from_free);
  for (BlockId& victim : victims) {
    victim = policy_->PickVictim(now_us);
    PAGEKV_DCHECK(meta_[victim.value()].state == BlockState::kCached,
                  "policy {} chose block {} which is not cached",
                  policy_->name(), victim.value());
  }
  num_cached_ -= static_cast<uint32_t>(victims.size());
  num_evictions_ += victims.size();
  if (listener_ != nullptr && !victims.empty()) {
    listener_->PrefetchEvicted(victims);
    for (BlockId victim : victims) listener_->OnBlockEvicted(victim);
  }
  for (BlockId block : out) {
    BlockMeta& m = meta_[block.value()];
    m.keeps_content = 0;
    m.state = BlockState::kInUse;
    m.ref_count = 1;
  }
  num_in_use_ += static_cast<uint32_t>(out.size());
  return absl::OkStatus();
}

void BlockPool::Acquire(BlockId block) {
  uint32_t id = block.value();
  if (meta_[id].state == BlockState::kCached) {
    policy_->OnReused(block);
    meta_[id].state = BlockState::kInUse;
    --num_cached_;
    ++num_in_use_;
  } else {
    PAGEKV_CHECK(meta_[id].state == BlockState::kInUse,
                 "Acquire({}) on a block that is neither cached nor in use",
                 id);
  }
  ++meta_[id].ref_count;
}

// The inline Release handles in-use blocks without cached content.
void BlockPool::ReleaseSlow(BlockId block, const EvictionHints& hints) {
  uint32_t id = block.value();
  PAGEKV_CHECK(meta_[id].state == BlockState::kInUse,
               "Release({}) on a block that is not in use (double free?)", id);
  if (--meta_[id].ref_count > 0) return;
  --num_in_use_;
  if (meta_[id].keeps_content) {
    meta_[id].state = BlockState::kCached;
    ++num_cached_;
    policy_->OnEvictable(block, hints);
  } else {
    meta_[id].state = BlockState::kFree;
    free_stack_[num_free_++] = id;
  }
}

void BlockPool::SetKeepsContent(BlockId block, bool keeps) {
  PAGEKV_CHECK(meta_[block.value()].state == BlockState::kInUse,
               "SetKeepsContent({}) on a block that is not in use",
               block.value());
  meta_[block.value()].keeps_content = keeps ? 1 : 0;
}

void BlockPool::DropAllCached() {
  policy_->Init(num_blocks_);
  num_cached_ = 0;
  for (uint32_t id = 1; id < num_blocks_; ++id) {
    if (meta_[id].state != BlockState::kCached) continue;
    meta_[id].keeps_content = 0;
    meta_[id].state = BlockState::kFree;
    free_stack_[num_free_++] = id;
  }
}

absl::Status BlockPool::Verify() const {
  if (meta_[0].state != BlockState::kNull || meta_[0].ref_count != 0 ||
      meta_[0].keeps_content != 0) {
    return absl::InternalError("the null block was handed out or changed");
  }
  uint32_t free = 0, cached = 0, in_use = 0;
  for (uint32_t id = 1; id < num_blocks_; ++id) {
    switch (meta_[id].state) {
      case BlockState::kFree:
        ++free;
        if (meta_[id].ref_count != 0 || meta_[id].keeps_content != 0) {
          return absl::InternalError(
              fmt::format("free block {} has ref count {} or keeps content", id,
                          meta_[id].ref_count));
        }
        break;
      case BlockState::kCached:
        ++cached;
        if (meta_[id].ref_count != 0 || meta_[id].keeps_content == 0) {
          return absl::InternalError(
              fmt::format("cached block {} has ref count {} or no content", id,
                          meta_[id].ref_count));
        }
        break;
      case BlockState::kInUse:
        ++in_use;
        if (meta_[id].ref_count == 0) {
          return absl::InternalError(
              fmt::format("in-use block {} has ref count 0", id));
        }
        break;
      case BlockState::kNull:
        return absl::InternalError(
            fmt::format("block {} is marked as a second null block", id));
    }
  }
  if (free != num_free_ || in_use != num_in_use_ || cached != num_cached_ ||
      cached != policy_->size() || free + cached + in_use != num_blocks()) {
    return absl::InternalError(fmt::format(
        "accounting broken: counted free {} cached {} in use {}, recorded "
        "free {} cached {} in use {}, pool of {}",
        free, cached, in_use, num_free_, NumCached(), num_in_use_,
        num_blocks()));
  }
  std::vector<bool> on_stack(num_blocks_, false);
  for (uint32_t i = 0; i < num_free_; ++i) {
    uint32_t id = free_stack_[i];
    if (id == 0 || id >= num_blocks_ || meta_[id].state != BlockState::kFree ||
        on_stack[id]) {
      return absl::InternalError(
          fmt::format("free stack slot {} holds block {}, which is not free "
                      "or is on the stack twice",
                      i, id));
    }
    on_stack[id] = true;
  }
  return policy_->Verify();
}

}  // namespace pagekv
