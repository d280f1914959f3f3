// Prefetch: start loading the cache line holding an address.
//
// GCC treats __builtin_prefetch as free of side effects, and deletes it
// with the code around it: a helper holding only a prefetch is deemed pure
// and its calls are dropped, and a prefetch of an address found by a loop
// was dropped with the loop (both seen in pagekv's vLLM pool). The asm
// statement here is volatile, so it stays where it is written.
#ifndef PAGEKV_CORE_PREFETCH_H_
#define PAGEKV_CORE_PREFETCH_H_

namespace pagekv::internal {

inline void Prefetch(const void* p) {
#if defined(__x86_64__) && defined(__GNUC__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p);
#endif
}

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_PREFETCH_H_
