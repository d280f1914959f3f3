// First-fit and buddy placement (see contiguous_arena.h).
#include "sim/contiguous_arena.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "core/check.h"

namespace pagekv::internal {
namespace {

class FirstFitArena final : public ContiguousArena {
 public:
  explicit FirstFitArena(int64_t capacity)
      : capacity_(capacity), free_(capacity) {
    holes_.emplace(0, capacity);
  }

  std::optional<ArenaBlock> Find(int64_t size) const override {
    for (const auto& [offset, len] : holes_) {
      if (len >= size) return ArenaBlock{offset, size};
    }
    return std::nullopt;
  }

  void Take(const ArenaBlock& block) override {
    auto hole = holes_.find(block.offset);
    PAGEKV_CHECK(hole != holes_.end() && hole->second >= block.granted,
                 "no free hole of {} slots at {}", block.granted, block.offset);
    const int64_t hole_len = hole->second;
    holes_.erase(hole);
    if (hole_len > block.granted) {
      holes_.emplace(block.offset + block.granted, hole_len - block.granted);
    }
    free_ -= block.granted;
  }

  void Free(const ArenaBlock& block) override {
    int64_t offset = block.offset;
    int64_t len = block.granted;
    free_ += len;
    auto next = holes_.lower_bound(offset);
    if (next != holes_.begin()) {
      auto prev = std::prev(next);
      PAGEKV_DCHECK(prev->first + prev->second <= offset,
                    "hole [{}, +{}) overlaps the freed region at {}",
                    prev->first, prev->second, offset);
      if (prev->first + prev->second == offset) {
        offset = prev->first;
        len += prev->second;
        holes_.erase(prev);
      }
    }
    if (next != holes_.end() && offset + len == next->first) {
      len += next->second;
      holes_.erase(next);
    }
    holes_.emplace(offset, len);
  }

  int64_t Granted(int64_t size) const override { return size; }
  int64_t FreeSlots() const override { return free_; }
  int64_t LargestFree() const override {
    int64_t largest = 0;
    for (const auto& [offset, len] : holes_) largest = std::max(largest, len);
    return largest;
  }
  int64_t LargestEver() const override { return capacity_; }

  bool Verify() const override {
    int64_t sum = 0, end = -1;
    for (const auto& [offset, len] : holes_) {
      // Disjoint and never adjacent (adjacent holes merge).
      if (len < 1 || offset <= end || offset + len > capacity_) return false;
      end = offset + len;
      sum += len;
    }
    return sum == free_;
  }

 private:
  const int64_t capacity_;
  std::map<int64_t, int64_t> holes_;  // offset -> length, disjoint
  int64_t free_;                      // == sum of hole lengths
};

class BuddyArena final : public ContiguousArena {
 public:
  explicit BuddyArena(int64_t capacity) : free_slots_(capacity) {
    int64_t offset = 0;
    for (int order = 62; order >= 0; --order) {
      const int64_t size = int64_t{1} << order;
      if ((capacity & size) == 0) continue;
      roots_.push_back({offset, order});
      free_.resize(std::max<size_t>(free_.size(), order + 1));
      free_[order].insert(offset);
      offset += size;
    }
  }

  std::optional<ArenaBlock> Find(int64_t size) const override {
    const int order = OrderOf(size);
    for (int j = order; j < static_cast<int>(free_.size()); ++j) {
      if (!free_[j].empty()) {
        return ArenaBlock{*free_[j].begin(), int64_t{1} << order};
      }
    }
    return std::nullopt;
  }

  void Take(const ArenaBlock& block) override {
    const int order = OrderOf(block.granted);
    int j = order;
    while (j < static_cast<int>(free_.size()) &&
           free_[j].count(block.offset) == 0) {
      ++j;
    }
    PAGEKV_CHECK(j < static_cast<int>(free_.size()),
                 "no free buddy block at {} for {} slots", block.offset,
                 block.granted);
    free_[j].erase(block.offset);
    // Split down: the upper halves stay free.
    for (int k = j - 1; k >= order; --k) {
      free_[k].insert(block.offset + (int64_t{1} << k));
    }
    free_slots_ -= block.granted;
  }

  void Free(const ArenaBlock& block) override {
    int order = OrderOf(block.granted);
    int64_t offset = block.offset;
    const int root_order = RootOrderOf(offset);
    free_slots_ += block.granted;
    // Merge with the buddy while it is free, up to the root.
    while (order < root_order) {
      const int64_t buddy = offset ^ (int64_t{1} << order);
      if (free_[order].erase(buddy) == 0) break;
      offset = std::min(offset, buddy);
      ++order;
    }
    free_[order].insert(offset);
  }

  int64_t Granted(int64_t size) const override {
    return int64_t{1} << OrderOf(size);
  }
  int64_t FreeSlots() const override { return free_slots_; }
  int64_t LargestFree() const override {
    for (int j = static_cast<int>(free_.size()) - 1; j >= 0; --j) {
      if (!free_[j].empty()) return int64_t{1} << j;
    }
    return 0;
  }
  int64_t LargestEver() const override {
    return int64_t{1} << roots_.front().order;
  }

  bool Verify() const override {
    int64_t sum = 0;
    for (size_t j = 0; j < free_.size(); ++j) {
      for (int64_t offset : free_[j]) {
        const int64_t size = int64_t{1} << j;
        // Aligned to its size, inside a larger-or-equal root, and its buddy
        // is not free at the same order (it would have merged).
        if (offset % size != 0 || RootOrderOf(offset) < static_cast<int>(j)) {
          return false;
        }
        if (static_cast<int>(j) < RootOrderOf(offset) &&
            free_[j].count(offset ^ size) != 0) {
          return false;
        }
        sum += size;
      }
    }
    return sum == free_slots_;
  }

 private:
  struct Root {
    int64_t offset;
    int order;
  };

  static int OrderOf(int64_t size) {
    return std::bit_width(static_cast<uint64_t>(size - 1));
  }
  int RootOrderOf(int64_t offset) const {
    for (const Root& r : roots_) {
      if (offset < r.offset + (int64_t{1} << r.order)) return r.order;
    }
    PAGEKV_CHECK(false, "offset {} is outside the buddy arena", offset);
    return 0;
  }

  std::vector<Root> roots_;  // the arena's binary expansion, largest first
  // free_[k]: offsets of the free blocks of 2^k slots, each aligned to 2^k.
  std::vector<std::set<int64_t>> free_;
  int64_t free_slots_;  // == sum over free blocks of their sizes
};

}  // namespace

std::unique_ptr<ContiguousArena> MakeFirstFitArena(int64_t capacity) {
  PAGEKV_CHECK(capacity >= 1, "arena capacity {} < 1", capacity);
  return std::make_unique<FirstFitArena>(capacity);
}

std::unique_ptr<ContiguousArena> MakeBuddyArena(int64_t capacity) {
  PAGEKV_CHECK(capacity >= 1 && capacity < (int64_t{1} << 62),
               "buddy arena capacity {} out of range", capacity);
  return std::make_unique<BuddyArena>(capacity);
}

}  // namespace pagekv::internal
