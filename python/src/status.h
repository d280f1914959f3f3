// Turning absl::Status into the Python exceptions of pagekv._errors:
//
//   ResourceExhausted  -> pagekv.OutOfBlocks       (pagekv.Error)
//   InvalidArgument    -> pagekv.InvalidArgument   (pagekv.Error, ValueError)
//   FailedPrecondition -> pagekv.FailedPrecondition(pagekv.Error, ValueError)
//   NotFound           -> pagekv.NotFound          (pagekv.Error, LookupError)
//   anything else      -> pagekv.Error
//
// The message is the Status message, which names the offending value.
#ifndef PAGEKV_PYTHON_STATUS_H_
#define PAGEKV_PYTHON_STATUS_H_

#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pybind11/pybind11.h"

namespace pagekv::python {

// Imports pagekv._errors and keeps its classes. Call once at module init.
void InitErrors();

// Throws the Python exception for `status`. REQUIRES: !status.ok().
[[noreturn]] void ThrowStatus(const absl::Status& status);

// Raises pagekv.InvalidArgument with `message`.
[[noreturn]] void ThrowInvalid(std::string_view message);

inline void Check(const absl::Status& status) {
  if (!status.ok()) ThrowStatus(status);
}

template <typename T>
T Value(absl::StatusOr<T> s) {
  if (!s.ok()) ThrowStatus(s.status());
  return *std::move(s);
}

}  // namespace pagekv::python

#endif  // PAGEKV_PYTHON_STATUS_H_
