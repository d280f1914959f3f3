#include "pagekv/huge_page_allocator.h"

#include <sys/mman.h>

#include <atomic>
#include <new>

namespace pagekv::internal {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

std::atomic<uint64_t> mapped_bytes{0};

size_t RoundUp(size_t bytes) {
  return (bytes + kHugePage - 1) / kHugePage * kHugePage;
}

}  // namespace

void* MapHugePages(size_t bytes) {
  const size_t size = RoundUp(bytes);
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  // Advice only: where the kernel refuses, the mapping keeps small pages.
  (void)madvise(p, size, MADV_HUGEPAGE);
#endif
  mapped_bytes.fetch_add(bytes, std::memory_order_relaxed);
  return p;
}

void UnmapHugePages(void* p, size_t bytes) {
  const size_t size = RoundUp(bytes);
  munmap(p, size);
  mapped_bytes.fetch_sub(bytes, std::memory_order_relaxed);
}

uint64_t HugePageBytesMapped() {
  return mapped_bytes.load(std::memory_order_relaxed);
}

}  // namespace pagekv::internal
