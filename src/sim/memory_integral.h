// MemoryIntegral: the simulator's time-weighted sums of a memory breakdown,
// from which the report's mean shares come (simulator.cc).
//
// Besides the six parts of a MemoryBreakdown it keeps the allocatable slots
// (free + cached) held while at least one request waited: memory the queue
// could not use at that moment (no hole or block large enough, or held back
// by the admission rules), which the PagedAttention paper counts under
// "external fragmentation & others" (docs/validation.md, Fig. 2).
//
// Thread-safety: not thread-safe (a value type).
#ifndef PAGEKV_SRC_SIM_MEMORY_INTEGRAL_H_
#define PAGEKV_SRC_SIM_MEMORY_INTEGRAL_H_

#include "pagekv/sim/sim_allocator.h"
#include "pagekv/sim/simulator.h"

namespace pagekv::internal {

// Slot-seconds of each part.
struct MemoryIntegral {
  double token_states = 0;
  double reserved = 0;
  double internal_fragmentation = 0;
  double external_fragmentation = 0;
  double cached = 0;
  double free = 0;
  // Of free + cached: the slot-seconds during which a request waited.
  double free_while_waiting = 0;

  // Adds `m` held for `dt` seconds; `waiting`: a request was queued then.
  void Add(const MemoryBreakdown& m, double dt, bool waiting) {
    token_states += static_cast<double>(m.token_states) * dt;
    reserved += static_cast<double>(m.reserved) * dt;
    internal_fragmentation +=
        static_cast<double>(m.internal_fragmentation) * dt;
    external_fragmentation +=
        static_cast<double>(m.external_fragmentation) * dt;
    cached += static_cast<double>(m.cached) * dt;
    free += static_cast<double>(m.free) * dt;
    if (waiting) {
      free_while_waiting += static_cast<double>(m.free + m.cached) * dt;
    }
  }

  // The sums as shares of `capacity_slot_seconds` (all 0 if it is <= 0).
  MemoryShares Shares(double capacity_slot_seconds) const {
    MemoryShares s;
    if (capacity_slot_seconds <= 0) return s;
    s.token_states = token_states / capacity_slot_seconds;
    s.reserved = reserved / capacity_slot_seconds;
    s.internal_fragmentation = internal_fragmentation / capacity_slot_seconds;
    s.external_fragmentation = external_fragmentation / capacity_slot_seconds;
    s.cached = cached / capacity_slot_seconds;
    s.free = free / capacity_slot_seconds;
    s.free_while_waiting = free_while_waiting / capacity_slot_seconds;
    return s;
  }
};

}  // namespace pagekv::internal

#endif  // PAGEKV_SRC_SIM_MEMORY_INTEGRAL_H_
