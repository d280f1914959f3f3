#include "status.h"

#include <string>

namespace pagekv::python {
namespace {

namespace py = pybind11;

struct ErrorClasses {
  PyObject* error = nullptr;
  PyObject* out_of_blocks = nullptr;
  PyObject* invalid_argument = nullptr;
  PyObject* failed_precondition = nullptr;
  PyObject* not_found = nullptr;
};

ErrorClasses& Classes() {
  static ErrorClasses classes;
  return classes;
}

PyObject* Keep(const py::module_& m, const char* name) {
  py::object cls = m.attr(name);
  return cls.release().ptr();  // kept for the life of the process
}

[[noreturn]] void Raise(PyObject* cls, std::string_view message) {
  PyErr_SetString(cls, std::string(message).c_str());
  throw py::error_already_set();
}

}  // namespace

void InitErrors() {
  py::module_ errors = py::module_::import("pagekv._errors");
  ErrorClasses& c = Classes();
  c.error = Keep(errors, "Error");
  c.out_of_blocks = Keep(errors, "OutOfBlocks");
  c.invalid_argument = Keep(errors, "InvalidArgument");
  c.failed_precondition = Keep(errors, "FailedPrecondition");
  c.not_found = Keep(errors, "NotFound");
}

void ThrowStatus(const absl::Status& status) {
  const ErrorClasses& c = Classes();
  PyObject* cls = c.error;
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
      cls = c.out_of_blocks;
      break;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      cls = c.invalid_argument;
      break;
    case absl::StatusCode::kFailedPrecondition:
      cls = c.failed_precondition;
      break;
    case absl::StatusCode::kNotFound:
      cls = c.not_found;
      break;
    default:
      break;
  }
  Raise(cls,
        std::string_view(status.message().data(), status.message().size()));
}

void ThrowInvalid(std::string_view message) {
  Raise(Classes().invalid_argument, message);
}

}  // namespace pagekv::python
