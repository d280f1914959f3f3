// Integer arguments and output buffers across the Python boundary, without
// a per-element Python loop:
//
//  - IntArgs<T> reads a 1-D sequence of integers: a buffer (NumPy array of
//    any integer dtype, C-contiguous or strided, memoryview, array.array)
//    is viewed in place when its item type is T and contiguous, else
//    converted in one C++ loop with a range check; a list/tuple/range is
//    read item by item in C++. Floats, bools and out-of-range values raise
//    pagekv.InvalidArgument naming the argument.
//  - OutBuffer is a caller's writable, C-contiguous int32 buffer (NumPy
//    array, a CPU torch tensor's .numpy() view, bytearray-backed memoryview)
//    written in place; read-only or wrongly typed buffers raise.
//
// Both hold the Python buffer (Py_buffer) for their lifetime, so the memory
// stays valid while the GIL is released.
#ifndef PAGEKV_PYTHON_ARRAYS_H_
#define PAGEKV_PYTHON_ARRAYS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "pybind11/pybind11.h"

namespace pagekv::python {

// A Py_buffer released on destruction.
class BufferView {
 public:
  BufferView() = default;
  ~BufferView() {
    if (held_) PyBuffer_Release(&view_);
  }
  BufferView(const BufferView&) = delete;
  BufferView& operator=(const BufferView&) = delete;
  // PyObject_GetBuffer with `flags`; false (Python error cleared) if the
  // object refuses.
  bool Get(PyObject* obj, int flags);
  const Py_buffer& view() const { return view_; }

 private:
  Py_buffer view_{};
  bool held_ = false;
};

template <typename T>
class IntArgs {
 public:
  // Reads `obj` (see the file comment); `name` names it in errors.
  IntArgs(pybind11::handle obj, const char* name);
  absl::Span<const T> span() const { return span_; }
  size_t size() const { return span_.size(); }

 private:
  BufferView buffer_;
  std::vector<T> storage_;
  absl::Span<const T> span_;
};

extern template class IntArgs<int32_t>;
extern template class IntArgs<int64_t>;
extern template class IntArgs<uint64_t>;

class OutBuffer {
 public:
  // Views `obj` as a writable C-contiguous int32 buffer; raises
  // pagekv.InvalidArgument naming `name` otherwise.
  OutBuffer(pybind11::handle obj, const char* name);
  absl::Span<int32_t> span() const { return span_; }
  int ndim() const { return buffer_.view().ndim; }
  // Extent of dimension `d`. REQUIRES: d < ndim().
  int64_t shape(int d) const { return buffer_.view().shape[d]; }

 private:
  BufferView buffer_;
  absl::Span<int32_t> span_;
};

}  // namespace pagekv::python

#endif  // PAGEKV_PYTHON_ARRAYS_H_
