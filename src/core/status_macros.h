// Early-return helpers for absl::Status and absl::StatusOr, so a function
// that checks several things before changing anything reads as the list of
// checks.
//
//   PAGEKV_RETURN_IF_ERROR(config.Validate());
//   PAGEKV_ASSIGN_OR_RETURN(Sequence * s, state.Lookup(seq));
//
// Debian's Abseil (20220623) ships neither macro; these are the usual ones.
#ifndef PAGEKV_CORE_STATUS_MACROS_H_
#define PAGEKV_CORE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status) once and returns it when it is not OK.
#define PAGEKV_RETURN_IF_ERROR(expr)                                  \
  do {                                                                \
    if (::absl::Status pagekv_status_ = (expr); !pagekv_status_.ok()) \
        [[unlikely]] {                                                \
      return pagekv_status_;                                          \
    }                                                                 \
  } while (false)

#define PAGEKV_STATUS_CONCAT_INNER_(a, b) a##b
#define PAGEKV_STATUS_CONCAT_(a, b) PAGEKV_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::StatusOr<T>) once; returns its status when it
// is not OK, else moves its value into `lhs` (a declaration or an lvalue).
#define PAGEKV_ASSIGN_OR_RETURN(lhs, expr) \
  PAGEKV_ASSIGN_OR_RETURN_IMPL_(           \
      PAGEKV_STATUS_CONCAT_(pagekv_statusor_, __LINE__), lhs, expr)
#define PAGEKV_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) [[unlikely]] {                       \
    return std::move(statusor).status();                   \
  }                                                        \
  lhs = *std::move(statusor)

#endif  // PAGEKV_CORE_STATUS_MACROS_H_
