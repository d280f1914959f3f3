// HugePageAllocator: a std::allocator for the few arrays that are sized once
// for the whole pool and then probed at random (the prefix index's table,
// metadata and tokens: ~110 of the ~150 bytes a cached block costs at block
// 16; the vLLM pool's key table, metadata and tokens). Public only because
// the vLLM pool's headers hold such arrays; not an API to build on.
//
// With 4 KiB pages, a replay over a multi-GB index pays a TLB miss (and a
// page walk that itself misses the cache) on nearly every probe, and
// creating the index faults in every 4 KiB page. An allocation of at least
// kHugePageThreshold bytes is therefore mapped directly (mmap, anonymous,
// rounded up to 2 MiB) and advised MADV_HUGEPAGE, so a kernel with
// transparent huge pages in "madvise" or "always" mode backs it with 2 MiB
// pages. Where the kernel refuses the advice (THP off, or not Linux) the
// mapping keeps 4 KiB pages and nothing else changes. Smaller allocations go
// to std::allocator.
//
// The bytes mapped this way are counted (HugePageBytesMapped), because they
// bypass malloc and its statistics; MemoryFootprint tests add them.
//
// Thread-safety: allocate/deallocate are thread-safe; the counter is atomic.
#ifndef PAGEKV_HUGE_PAGE_ALLOCATOR_H_
#define PAGEKV_HUGE_PAGE_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>

namespace pagekv::internal {

// Allocations this large or larger are mapped and advised.
inline constexpr size_t kHugePageThreshold = size_t{4} << 20;

// Maps `bytes` (rounded up to 2 MiB) advised MADV_HUGEPAGE; throws
// std::bad_alloc when the mapping fails, like operator new.
void* MapHugePages(size_t bytes);
// Unmaps what MapHugePages(bytes) returned.
void UnmapHugePages(void* p, size_t bytes);
// Bytes currently held through MapHugePages, as requested (the rounding to
// 2 MiB is address space the arrays never touch, so it is never resident).
uint64_t HugePageBytesMapped();

template <typename T>
struct HugePageAllocator {
  using value_type = T;

  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: rebinding

  T* allocate(size_t n) {
    if (n * sizeof(T) >= kHugePageThreshold) {
      return static_cast<T*>(MapHugePages(n * sizeof(T)));
    }
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) >= kHugePageThreshold) {
      UnmapHugePages(p, n * sizeof(T));
    } else {
      std::allocator<T>().deallocate(p, n);
    }
  }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }
};

}  // namespace pagekv::internal

#endif  // PAGEKV_HUGE_PAGE_ALLOCATOR_H_
