// The Python KVCacheManager object shared by its two binding files:
// bind_manager.cc (construction, sequences, admission, reservation, dry runs
// and edits) and bind_manager_outputs.cc (block tables and their exports,
// footprints, copies, transfers, events, stats, verification).
//
// The manager is single-threaded: every bound method holds a Busy for the
// call, so a call made while another thread is inside the same manager (the
// GIL released) raises RuntimeError instead of racing.
#ifndef PAGEKV_PYTHON_MANAGER_BINDING_H_
#define PAGEKV_PYTHON_MANAGER_BINDING_H_

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "absl/types/span.h"
#include "arrays.h"
#include "pagekv/kv_cache_manager.h"
#include "pybind11/pybind11.h"

namespace pagekv::python {

struct PyManager {
  std::unique_ptr<KVCacheManager> kv;
  pybind11::object clock;  // keeps the config's ManualClock alive
  std::atomic<bool> busy{false};
  std::vector<SeqId> seqs;  // scratch for batch calls
};

using ManagerClass = pybind11::class_<PyManager>;

// Marks the manager busy for one call (see the file comment).
class Busy {
 public:
  explicit Busy(PyManager& m) : m_(m) {
    if (m_.busy.exchange(true, std::memory_order_acquire)) {
      throw std::runtime_error(
          "KVCacheManager is not thread-safe: it was called from two "
          "threads at once");
    }
  }
  ~Busy() { m_.busy.store(false, std::memory_order_release); }
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;

 private:
  PyManager& m_;
};

// Reads sequence ids (ints or an integer array) into m.seqs; returns a view
// of m.seqs, valid until the next call. Raises InvalidArgument naming `name`
// for anything else. REQUIRES: the caller holds a Busy on `m`.
inline absl::Span<const SeqId> Seqs(PyManager& m, pybind11::handle obj,
                                    const char* name) {
  IntArgs<uint64_t> ids(obj, name);
  m.seqs.resize(ids.size());
  if (ids.size() > 0) {
    static_assert(sizeof(SeqId) == sizeof(uint64_t) &&
                  std::is_trivially_copyable_v<SeqId>);
    std::memcpy(static_cast<void*>(m.seqs.data()), ids.span().data(),
                ids.size() * sizeof(SeqId));
  }
  return m.seqs;
}

// Token counts, block tables and their exports, footprints
// (bind_manager_outputs.cc).
void BindManagerTables(ManagerClass& c);
// Host-tier transfer orders, their completions and the tier's counters
// (bind_manager_outputs.cc).
void BindManagerTransfers(ManagerClass& c);
// Copies, events, statistics, the call log, verification
// (bind_manager_outputs.cc).
void BindManagerState(ManagerClass& c);

}  // namespace pagekv::python

#endif  // PAGEKV_PYTHON_MANAGER_BINDING_H_
