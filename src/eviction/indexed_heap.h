// IndexedMinHeap: a binary min-heap of block ids keyed by int64, with O(log n)
// removal of any member.
//
//   heap_[0, size_)   the ids, in heap order by key_ (ties broken by id, so
//                     the order is total and deterministic);
//   key_[id]          the id's key while it is a member;
//   pos_[id]          its index in heap_, or kAbsent when not a member.
//
// Push, Pop and Remove are O(log n); Top and contains are O(1). All arrays are
// sized once in Init(), so no call allocates. Used by the eviction policies
// for "oldest by release sequence" and "earliest expiry" orders that an
// append-only list cannot keep.
#ifndef PAGEKV_SRC_EVICTION_INDEXED_HEAP_H_
#define PAGEKV_SRC_EVICTION_INDEXED_HEAP_H_

#include <cstdint>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "check.h"
#include "fmt/format.h"

namespace pagekv::internal {

class IndexedMinHeap {
 public:
  static constexpr uint32_t kAbsent = std::numeric_limits<uint32_t>::max();

  IndexedMinHeap() { Init(0); }

  void Init(uint32_t num_blocks) {
    heap_.assign(num_blocks, 0);
    key_.assign(num_blocks, 0);
    pos_.assign(num_blocks, kAbsent);
    size_ = 0;
  }

  bool empty() const { return size_ == 0; }
  uint32_t size() const { return size_; }
  bool contains(uint32_t id) const { return pos_[id] != kAbsent; }
  // The id with the smallest key. REQUIRES: !empty().
  uint32_t Top() const { return heap_[0]; }
  int64_t TopKey() const { return key_[heap_[0]]; }
  int64_t key(uint32_t id) const { return key_[id]; }

  // REQUIRES: !contains(id).
  void Push(uint32_t id, int64_t key) {
    PAGEKV_DCHECK(!contains(id), "block {} is already in the heap", id);
    key_[id] = key;
    heap_[size_] = id;
    pos_[id] = size_;
    SiftUp(size_++);
  }

  // Removes and returns Top(). REQUIRES: !empty().
  uint32_t Pop() {
    uint32_t id = heap_[0];
    Remove(id);
    return id;
  }

  // REQUIRES: contains(id).
  void Remove(uint32_t id) {
    PAGEKV_DCHECK(contains(id), "block {} is not in the heap", id);
    uint32_t i = pos_[id];
    pos_[id] = kAbsent;
    if (i == --size_) return;
    uint32_t moved = heap_[size_];
    heap_[i] = moved;
    pos_[moved] = i;
    if (i > 0 && Less(moved, heap_[(i - 1) / 2])) {
      SiftUp(i);
    } else {
      SiftDown(i);
    }
  }

  // Checks the heap order, the position index and the member count.
  absl::Status Verify() const {
    uint32_t members = 0;
    for (uint32_t id = 0; id < pos_.size(); ++id) {
      if (pos_[id] == kAbsent) continue;
      ++members;
      if (pos_[id] >= size_ || heap_[pos_[id]] != id) {
        return absl::InternalError(fmt::format(
            "heap position of block {} is {} but that slot holds another id",
            id, pos_[id]));
      }
    }
    if (members != size_) {
      return absl::InternalError(fmt::format(
          "heap holds {} ids but {} have a position", size_, members));
    }
    for (uint32_t i = 1; i < size_; ++i) {
      if (Less(heap_[i], heap_[(i - 1) / 2])) {
        return absl::InternalError(fmt::format(
            "heap order broken: block {} (key {}) below block {} (key {})",
            heap_[i], key_[heap_[i]], heap_[(i - 1) / 2],
            key_[heap_[(i - 1) / 2]]));
      }
    }
    return absl::OkStatus();
  }

 private:
  bool Less(uint32_t a, uint32_t b) const {
    return key_[a] < key_[b] || (key_[a] == key_[b] && a < b);
  }

  void SiftUp(uint32_t i) {
    uint32_t id = heap_[i];
    while (i > 0) {
      uint32_t parent = (i - 1) / 2;
      if (!Less(id, heap_[parent])) break;
      heap_[i] = heap_[parent];
      pos_[heap_[i]] = i;
      i = parent;
    }
    heap_[i] = id;
    pos_[id] = i;
  }

  void SiftDown(uint32_t i) {
    uint32_t id = heap_[i];
    while (true) {
      uint32_t child = 2 * i + 1;
      if (child >= size_) break;
      if (child + 1 < size_ && Less(heap_[child + 1], heap_[child])) ++child;
      if (!Less(heap_[child], id)) break;
      heap_[i] = heap_[child];
      pos_[heap_[i]] = i;
      i = child;
    }
    heap_[i] = id;
    pos_[id] = i;
  }

  std::vector<uint32_t> heap_;  // heap_[0, size_) in heap order
  std::vector<int64_t> key_;    // valid only where pos_ != kAbsent
  std::vector<uint32_t> pos_;   // heap_[pos_[id]] == id for every member
  uint32_t size_ = 0;           // == number of ids with pos_ != kAbsent
};

}  // namespace pagekv::internal

#endif  // PAGEKV_SRC_EVICTION_INDEXED_HEAP_H_
