// IndexedMinHeap: a 4-ary min-heap of block ids keyed by int64, with
// O(log n) removal of any member.
//
//   heap_[0, size_)   {key, id} entries in heap order (ties broken by id, so
//                     the order is total and deterministic); the key sits
//                     in the entry so sifting compares without chasing ids;
//   pos_[id]          the id's index in heap_, or kAbsent when not a member.
//
// Push, Pop and Remove are O(log n); Top and contains are O(1). Four children
// per node halve the depth of a binary heap, and a node's children share a
// cache line, which matters when a burst of expiries drains thousands of
// entries in one call. All arrays are
// sized once in Init(), so no call allocates. Used by the eviction policies
// for "oldest by release sequence" and "earliest expiry" orders that an
// append-only list cannot keep.
#ifndef PAGEKV_CORE_EVICTION_INDEXED_HEAP_H_
#define PAGEKV_CORE_EVICTION_INDEXED_HEAP_H_

#include <cstdint>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "core/check.h"
#include "fmt/format.h"

namespace pagekv::internal {

class IndexedMinHeap {
 public:
  static constexpr uint32_t kAbsent = std::numeric_limits<uint32_t>::max();

  IndexedMinHeap() { Init(0); }

  // Bytes Init(n) allocates per id (one heap entry and one position).
  static constexpr uint64_t BytesPerId() {
    return sizeof(Entry) + sizeof(uint32_t);
  }

  void Init(uint32_t num_blocks) {
    heap_.assign(num_blocks, Entry{});
    pos_.assign(num_blocks, kAbsent);
    size_ = 0;
  }

  bool empty() const { return size_ == 0; }
  uint32_t size() const { return size_; }
  bool contains(uint32_t id) const { return pos_[id] != kAbsent; }
  // The id with the smallest key. REQUIRES: !empty().
  uint32_t Top() const { return heap_[0].id; }
  int64_t TopKey() const { return heap_[0].key; }
  // REQUIRES: contains(id).
  int64_t key(uint32_t id) const { return heap_[pos_[id]].key; }

  // REQUIRES: !contains(id).
  void Push(uint32_t id, int64_t key) {
    PAGEKV_DCHECK(!contains(id), "block {} is already in the heap", id);
    heap_[size_] = Entry{key, id};
    pos_[id] = size_;
    SiftUp(size_++);
  }

  // Removes and returns Top(). REQUIRES: !empty().
  uint32_t Pop() {
    uint32_t id = heap_[0].id;
    Remove(id);
    return id;
  }

  // REQUIRES: contains(id).
  void Remove(uint32_t id) {
    PAGEKV_DCHECK(contains(id), "block {} is not in the heap", id);
    uint32_t i = pos_[id];
    pos_[id] = kAbsent;
    if (i == --size_) return;
    Entry moved = heap_[size_];
    heap_[i] = moved;
    pos_[moved.id] = i;
    if (i > 0 && Less(moved, heap_[(i - 1) / kArity])) {
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
      if (pos_[id] >= size_ || heap_[pos_[id]].id != id) {
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
      if (Less(heap_[i], heap_[(i - 1) / kArity])) {
        return absl::InternalError(fmt::format(
            "heap order broken: block {} (key {}) below block {} (key {})",
            heap_[i].id, heap_[i].key, heap_[(i - 1) / kArity].id,
            heap_[(i - 1) / kArity].key));
      }
    }
    return absl::OkStatus();
  }

 private:
  static constexpr uint32_t kArity = 4;

  struct Entry {
    int64_t key = 0;
    uint32_t id = 0;
  };

  static bool Less(const Entry& a, const Entry& b) {
    return a.key < b.key || (a.key == b.key && a.id < b.id);
  }

  void SiftUp(uint32_t i) {
    Entry e = heap_[i];
    while (i > 0) {
      uint32_t parent = (i - 1) / kArity;
      if (!Less(e, heap_[parent])) break;
      heap_[i] = heap_[parent];
      pos_[heap_[i].id] = i;
      i = parent;
    }
    heap_[i] = e;
    pos_[e.id] = i;
  }

  void SiftDown(uint32_t i) {
    Entry e = heap_[i];
    while (true) {
      uint32_t first = kArity * i + 1;
      if (first >= size_) break;
      uint32_t last = first + kArity < size_ ? first + kArity : size_;
      uint32_t child = first;
      for (uint32_t c = first + 1; c < last; ++c) {
        if (Less(heap_[c], heap_[child])) child = c;
      }
      if (!Less(heap_[child], e)) break;
      heap_[i] = heap_[child];
      pos_[heap_[i].id] = i;
      i = child;
    }
    heap_[i] = e;
    pos_[e.id] = i;
  }

  std::vector<Entry> heap_;    // heap_[0, size_) in heap order
  std::vector<uint32_t> pos_;  // heap_[pos_[id]].id == id for every member
  uint32_t size_ = 0;          // == number of ids with pos_ != kAbsent
};

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_EVICTION_INDEXED_HEAP_H_
