#include "arrays.h"

#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "fmt/format.h"
#include "status.h"

namespace pagekv::python {
namespace {

namespace py = pybind11;

// The struct-module format of a buffer without its byte-order prefix, or
// 0 when it is not a single native integer item.
char IntFormat(const Py_buffer& view) {
  const char* f = view.format == nullptr ? "B" : view.format;
  if (*f == '@' || *f == '=' || *f == '<') ++f;
  if (f[0] == 0 || f[1] != 0) return 0;
  switch (f[0]) {
    case 'b':
    case 'B':
    case 'h':
    case 'H':
    case 'i':
    case 'I':
    case 'l':
    case 'L':
    case 'q':
    case 'Q':
    case 'n':
    case 'N':
      return f[0];
    default:
      return 0;
  }
}

template <typename T>
bool SameType(char format, Py_ssize_t itemsize) {
  if (itemsize != sizeof(T)) return false;
  const bool is_signed = format == 'b' || format == 'h' || format == 'i' ||
                         format == 'l' || format == 'q' || format == 'n';
  return is_signed == std::is_signed_v<T>;
}

template <typename T, typename S>
void ConvertStrided(const Py_buffer& view, const char* name,
                    std::vector<T>* out) {
  const Py_ssize_t n = view.ndim == 0 ? 1 : view.shape[0];
  const Py_ssize_t stride = view.ndim == 0 ? 0 : view.strides[0];
  const char* p = static_cast<const char*>(view.buf);
  out->resize(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    S v;
    std::memcpy(&v, p + i * stride, sizeof(S));
    if (!std::in_range<T>(v)) {
      ThrowInvalid(fmt::format("{}[{}] = {} does not fit the {}-bit {} range",
                               name, i, v, 8 * sizeof(T),
                               std::is_signed_v<T> ? "signed" : "unsigned"));
    }
    (*out)[static_cast<size_t>(i)] = static_cast<T>(v);
  }
}

template <typename T>
void ConvertBuffer(const Py_buffer& view, char format, const char* name,
                   std::vector<T>* out) {
  switch (view.itemsize) {
    case 1:
      return format == 'b' ? ConvertStrided<T, int8_t>(view, name, out)
                           : ConvertStrided<T, uint8_t>(view, name, out);
    case 2:
      return format == 'h' ? ConvertStrided<T, int16_t>(view, name, out)
                           : ConvertStrided<T, uint16_t>(view, name, out);
    case 4:
      return (format == 'i' || format == 'l')
                 ? ConvertStrided<T, int32_t>(view, name, out)
                 : ConvertStrided<T, uint32_t>(view, name, out);
    case 8:
      return (format == 'l' || format == 'q' || format == 'n')
                 ? ConvertStrided<T, int64_t>(view, name, out)
                 : ConvertStrided<T, uint64_t>(view, name, out);
    default:
      ThrowInvalid(
          fmt::format("{}: unsupported item size {}", name, view.itemsize));
  }
}

template <typename T>
void ConvertSequence(py::handle obj, const char* name, std::vector<T>* out) {
  if (PyUnicode_Check(obj.ptr()) || PyBytes_Check(obj.ptr()) ||
      !PySequence_Check(obj.ptr())) {
    throw py::type_error(fmt::format(
        "{} must be a sequence or array of integers, got {}", name,
        std::string(py::str(py::type::handle_of(obj).attr("__name__")))));
  }
  py::sequence seq = py::reinterpret_borrow<py::sequence>(obj);
  const size_t n = seq.size();
  out->resize(n);
  for (size_t i = 0; i < n; ++i) {
    py::object item = seq[i];
    if (PyBool_Check(item.ptr()) || !PyIndex_Check(item.ptr())) {
      ThrowInvalid(fmt::format("{}[{}] must be an integer, got {}", name, i,
                               std::string(py::repr(item))));
    }
    int overflow = 0;
    py::object index =
        py::reinterpret_steal<py::object>(PyNumber_Index(item.ptr()));
    if (!index) throw py::error_already_set();
    const long long v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (overflow == 0 && !(v == -1 && PyErr_Occurred()) &&
        std::in_range<T>(v)) {
      (*out)[i] = static_cast<T>(v);
      continue;
    }
    PyErr_Clear();
    if (overflow > 0 && std::is_unsigned_v<T>) {
      const unsigned long long u = PyLong_AsUnsignedLongLong(index.ptr());
      if (!PyErr_Occurred() && std::in_range<T>(u)) {
        (*out)[i] = static_cast<T>(u);
        continue;
      }
      PyErr_Clear();
    }
    ThrowInvalid(fmt::format("{}[{}] = {} does not fit the {}-bit {} range",
                             name, i, std::string(py::str(item)), 8 * sizeof(T),
                             std::is_signed_v<T> ? "signed" : "unsigned"));
  }
}

}  // namespace

bool BufferView::Get(PyObject* obj, int flags) {
  if (!PyObject_CheckBuffer(obj)) return false;
  if (PyObject_GetBuffer(obj, &view_, flags) != 0) {
    PyErr_Clear();
    return false;
  }
  held_ = true;
  return true;
}

template <typename T>
IntArgs<T>::IntArgs(py::handle obj, const char* name) {
  if (buffer_.Get(obj.ptr(), PyBUF_STRIDES | PyBUF_FORMAT)) {
    const Py_buffer& v = buffer_.view();
    if (v.ndim > 1) {
      ThrowInvalid(fmt::format("{} must be one-dimensional, got {} dimensions",
                               name, v.ndim));
    }
    const char format = IntFormat(v);
    if (format == 0) {
      ThrowInvalid(fmt::format("{} must hold integers, got buffer format '{}'",
                               name, v.format == nullptr ? "B" : v.format));
    }
    const Py_ssize_t n = v.ndim == 0 ? 1 : v.shape[0];
    if (SameType<T>(format, v.itemsize) &&
        (v.ndim == 0 || n <= 1 || v.strides[0] == Py_ssize_t{sizeof(T)})) {
      span_ = absl::MakeConstSpan(static_cast<const T*>(v.buf),
                                  static_cast<size_t>(n));
      return;
    }
    ConvertBuffer<T>(v, format, name, &storage_);
  } else {
    ConvertSequence<T>(obj, name, &storage_);
  }
  span_ = absl::MakeConstSpan(storage_);
}

template class IntArgs<int32_t>;
template class IntArgs<int64_t>;
template class IntArgs<uint64_t>;

OutBuffer::OutBuffer(py::handle obj, const char* name) {
  if (!PyObject_CheckBuffer(obj.ptr())) {
    throw py::type_error(fmt::format(
        "{} must be a writable int32 buffer (e.g. a NumPy array), got {}", name,
        std::string(py::str(py::type::handle_of(obj).attr("__name__")))));
  }
  if (!buffer_.Get(obj.ptr(), PyBUF_STRIDES | PyBUF_FORMAT)) {
    ThrowInvalid(fmt::format("{}: the object refused its buffer", name));
  }
  const Py_buffer& v = buffer_.view();
  if (v.readonly) {
    ThrowInvalid(fmt::format("{} is read-only; pass a writable array", name));
  }
  const char format = IntFormat(v);
  if (v.itemsize != 4 || !(format == 'i' || format == 'l')) {
    ThrowInvalid(
        fmt::format("{} must have dtype int32, got format '{}' of {} "
                    "bytes",
                    name, v.format == nullptr ? "B" : v.format, v.itemsize));
  }
  if (!PyBuffer_IsContiguous(&v, 'C')) {
    ThrowInvalid(fmt::format("{} must be C-contiguous", name));
  }
  span_ = absl::MakeSpan(static_cast<int32_t*>(v.buf),
                         static_cast<size_t>(v.len / 4));
}

}  // namespace pagekv::python
