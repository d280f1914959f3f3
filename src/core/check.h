// Internal assertion macros, in three tiers (see CMakeLists.txt options):
//
// clang-format off
//   macro                               tier (CMake option)      cost
//   PAGEKV_CHECK(cond, fmt, args...)    PAGEKV_CHECKS            cheap contract checks
//   PAGEKV_DCHECK(cond, fmt, args...)   PAGEKV_DEBUG_CHECKS      internal O(1) checks
//   PAGEKV_EXPENSIVE_VERIFY(obj)        PAGEKV_EXPENSIVE_CHECKS  obj.Verify() at mutator
//                                                                entry and exit
// clang-format on
//
// A failed check is a bug in pagekv or a broken precondition in the caller,
// never a recoverable condition (those return absl::Status). The failure goes
// to a handler, which by default prints the message and aborts; tests may
// install one that throws to assert that a check fires.
#ifndef PAGEKV_CORE_CHECK_H_
#define PAGEKV_CORE_CHECK_H_

#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "fmt/format.h"

// Debian's Abseil has its own string_view (not std::string_view), which fmt
// does not know; format it as text. An Abseil built on std::string_view needs
// nothing (fmt formats that already).
#if !defined(ABSL_USES_STD_STRING_VIEW)
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view s, FormatContext& ctx) const {
    return fmt::formatter<fmt::string_view>::format(
        fmt::string_view(s.data(), s.size()), ctx);
  }
};
#endif

#ifndef PAGEKV_CHECKS_ENABLED
#define PAGEKV_CHECKS_ENABLED 1
#endif
#ifndef PAGEKV_DEBUG_CHECKS_ENABLED
#define PAGEKV_DEBUG_CHECKS_ENABLED 0
#endif
#ifndef PAGEKV_EXPENSIVE_CHECKS_ENABLED
#define PAGEKV_EXPENSIVE_CHECKS_ENABLED 0
#endif

namespace pagekv::internal {

// Called with the location, the failed condition and the message. If the
// handler returns, the process aborts.
using CheckFailureHandler = void (*)(const char* file, int line,
                                     const char* condition,
                                     std::string_view message);

// Installs `handler` (nullptr restores the default) and returns the previous.
CheckFailureHandler SetCheckFailureHandler(CheckFailureHandler handler);

[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              std::string_view message);

}  // namespace pagekv::internal

#define PAGEKV_INTERNAL_CHECK(cond, ...)                           \
  do {                                                             \
    if (__builtin_expect(!(cond), 0)) {                            \
      ::pagekv::internal::CheckFailed(__FILE__, __LINE__, #cond,   \
                                      ::fmt::format(__VA_ARGS__)); \
    }                                                              \
  } while (false)

#define PAGEKV_INTERNAL_NO_CHECK(cond, ...) \
  do {                                      \
    if (false) {                            \
      (void)(cond);                         \
    }                                       \
  } while (false)

#if PAGEKV_CHECKS_ENABLED
#define PAGEKV_CHECK(cond, ...) PAGEKV_INTERNAL_CHECK(cond, __VA_ARGS__)
#else
#define PAGEKV_CHECK(cond, ...) PAGEKV_INTERNAL_NO_CHECK(cond, __VA_ARGS__)
#endif

#if PAGEKV_DEBUG_CHECKS_ENABLED
#define PAGEKV_DCHECK(cond, ...) PAGEKV_INTERNAL_CHECK(cond, __VA_ARGS__)
#else
#define PAGEKV_DCHECK(cond, ...) PAGEKV_INTERNAL_NO_CHECK(cond, __VA_ARGS__)
#endif

// Runs obj.Verify() (which returns absl::Status) and fails on error.
#if PAGEKV_EXPENSIVE_CHECKS_ENABLED
#define PAGEKV_EXPENSIVE_VERIFY(obj)                                        \
  do {                                                                      \
    if (auto pagekv_status = (obj).Verify(); !pagekv_status.ok()) {         \
      ::pagekv::internal::CheckFailed(__FILE__, __LINE__, #obj ".Verify()", \
                                      pagekv_status.ToString());            \
    }                                                                       \
  } while (false)
#else
#define PAGEKV_EXPENSIVE_VERIFY(obj) \
  do {                               \
  } while (false)
#endif

#endif  // PAGEKV_CORE_CHECK_H_
