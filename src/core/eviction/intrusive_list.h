// IntrusiveList: a doubly linked list of block ids kept in two flat arrays.
//
//   prev_[id], next_[id]   links of `id`; slot `num_blocks` is the sentinel,
//                          so an empty list is sentinel <-> sentinel.
//   linked_[id]            1 iff `id` is on the list (checkable membership).
//
// Push/remove/pop are O(1) with no allocation; the arrays are sized once. Used
// by the LRU-ordered eviction policies (one list per queue or priority).
#ifndef PAGEKV_CORE_EVICTION_INTRUSIVE_LIST_H_
#define PAGEKV_CORE_EVICTION_INTRUSIVE_LIST_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "core/check.h"
#include "fmt/format.h"

namespace pagekv::internal {

class IntrusiveList {
 public:
  IntrusiveList() { Init(0); }

  void Init(uint32_t num_blocks) {
    sentinel_ = num_blocks;
    prev_.assign(num_blocks + 1, sentinel_);
    next_.assign(num_blocks + 1, sentinel_);
    linked_.assign(num_blocks, 0);
    size_ = 0;
  }

  // Bytes Init(n) allocates per id (prev, next, linked).
  static constexpr uint64_t kBytesPerId =
      2 * sizeof(uint32_t) + sizeof(uint8_t);

  bool empty() const { return size_ == 0; }
  uint32_t size() const { return size_; }
  bool contains(uint32_t id) const { return linked_[id] != 0; }
  // Oldest element. REQUIRES: !empty().
  uint32_t front() const { return next_[sentinel_]; }
  // Follows the list from oldest to newest; next(back) == end().
  uint32_t begin() const { return next_[sentinel_]; }
  uint32_t end() const { return sentinel_; }
  uint32_t next(uint32_t id) const { return next_[id]; }

  // Appends `id` as the newest element. REQUIRES: !contains(id).
  void PushBack(uint32_t id) {
    PAGEKV_DCHECK(!contains(id), "block {} is already on the list", id);
    uint32_t last = prev_[sentinel_];
    prev_[id] = last;
    next_[id] = sentinel_;
    next_[last] = id;
    prev_[sentinel_] = id;
    linked_[id] = 1;
    ++size_;
  }

  // REQUIRES: contains(id).
  void Remove(uint32_t id) {
    PAGEKV_DCHECK(contains(id), "block {} is not on the list", id);
    next_[prev_[id]] = next_[id];
    prev_[next_[id]] = prev_[id];
    linked_[id] = 0;
    --size_;
  }

  // Removes and returns the oldest element. REQUIRES: !empty().
  uint32_t PopFront() {
    uint32_t id = front();
    Remove(id);
    return id;
  }

  // Walks the list both ways and checks links, membership flags and size.
  absl::Status Verify() const {
    uint32_t count = 0;
    for (uint32_t id = next_[sentinel_], prev = sentinel_; id != sentinel_;
         prev = id, id = next_[id]) {
      if (id > sentinel_ || !linked_[id] || prev_[id] != prev) {
        return absl::InternalError(
            fmt::format("intrusive list broken at block {}", id));
      }
      if (++count > size_) {
        return absl::InternalError("intrusive list longer than its size");
      }
    }
    uint32_t flagged = 0;
    for (uint8_t f : linked_) flagged += f;
    if (count != size_ || flagged != size_) {
      return absl::InternalError(
          fmt::format("intrusive list size {} but {} linked, {} flagged", size_,
                      count, flagged));
    }
    return absl::OkStatus();
  }

 private:
  uint32_t sentinel_ = 0;
  std::vector<uint32_t> prev_;
  std::vector<uint32_t> next_;
  std::vector<uint8_t> linked_;
  uint32_t size_ = 0;  // == number of ids with linked_ set
};

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_EVICTION_INTRUSIVE_LIST_H_
