// Placement of contiguous regions in one arena of token slots, for the
// contiguous SimAllocators (contiguous_allocator.cc).
//
// Two placements:
//
//   first-fit  holes kept as a map offset -> length of disjoint,
//              non-adjacent holes (adjacent holes merge on release); a
//              request takes the lowest-addressed hole that is large
//              enough and is granted exactly what it asked for. O(holes).
//   buddy      the binary buddy system (Knuth, TAOCP vol. 1, 2.5), as the
//              Orca baselines of the PagedAttention paper (Kwon et al.,
//              SOSP'23, 6.1) allocate: a request of n slots is granted a
//              block of bit_ceil(n) slots, aligned to its size; a freed
//              block merges with its buddy while both are free. The arena
//              (any size) is split into the power-of-two roots of its binary
//              expansion, largest first, so every root is aligned to its
//              size and a block's buddy is offset ^ size. O(log capacity).
//
// The granted size minus the requested one is the buddy system's rounding:
// allocated, but no request can ever use it.
//
// Thread-safety: not thread-safe.
#ifndef PAGEKV_SRC_SIM_CONTIGUOUS_ARENA_H_
#define PAGEKV_SRC_SIM_CONTIGUOUS_ARENA_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

namespace pagekv::internal {

// A placed region: where it starts and how many slots it holds.
struct ArenaBlock {
  int64_t offset = 0;
  int64_t granted = 0;  // >= the size asked for
};

class ContiguousArena {
 public:
  virtual ~ContiguousArena() = default;

  // Returns the block a region of `size` slots would get, without taking
  // it, or nullopt when no free block is large enough. REQUIRES: size >= 1.
  virtual std::optional<ArenaBlock> Find(int64_t size) const = 0;
  // Takes `block` (a result of Find() with nothing changed since).
  virtual void Take(const ArenaBlock& block) = 0;
  // Frees a block taken before.
  virtual void Free(const ArenaBlock& block) = 0;
  // The slots a request of `size` is granted (size, or its bit_ceil).
  virtual int64_t Granted(int64_t size) const = 0;
  // Free slots, and the largest request that fits now (the largest free
  // hole or buddy block).
  virtual int64_t FreeSlots() const = 0;
  virtual int64_t LargestFree() const = 0;
  // The largest request that fits in the empty arena.
  virtual int64_t LargestEver() const = 0;
  // Checks the free structures against each other; returns false if broken.
  virtual bool Verify() const = 0;
};

// A first-fit arena of `capacity` slots. REQUIRES: capacity >= 1.
std::unique_ptr<ContiguousArena> MakeFirstFitArena(int64_t capacity);
// A buddy arena of `capacity` slots. REQUIRES: 1 <= capacity < 2^62.
std::unique_ptr<ContiguousArena> MakeBuddyArena(int64_t capacity);

}  // namespace pagekv::internal

#endif  // PAGEKV_SRC_SIM_CONTIGUOUS_ARENA_H_
