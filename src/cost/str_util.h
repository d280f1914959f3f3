// String helpers for the cost model's messages.
//
// Debian's Abseil 20220623 is built with its own absl::string_view, so
// absl::StrCat does not take std::string_view. Cat() accepts both (or the one
// type, when Abseil is built on std::string_view), plus
// integers and floating point (shortest round-trip form, via fmt).
#ifndef PAGEKV_COST_STR_UTIL_H_
#define PAGEKV_COST_STR_UTIL_H_

#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "fmt/format.h"

namespace pagekv::internal {

inline void CatAppend(std::string& out, std::string_view s) { out.append(s); }
#if !defined(ABSL_USES_STD_STRING_VIEW)  // else the overload above takes it
inline void CatAppend(std::string& out, absl::string_view s) {
  out.append(s.data(), s.size());
}
#endif
inline void CatAppend(std::string& out, const std::string& s) { out.append(s); }
inline void CatAppend(std::string& out, const char* s) { out.append(s); }
template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
void CatAppend(std::string& out, T value) {
  fmt::format_to(std::back_inserter(out), "{}", value);
}

// Concatenates the arguments' text.
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (CatAppend(out, args), ...);
  return out;
}

// Returns `s` in lower case (ASCII).
inline std::string ToLower(std::string_view s) {
  std::string out(s);
  absl::AsciiStrToLower(&out);
  return out;
}

}  // namespace pagekv::internal

#endif  // PAGEKV_COST_STR_UTIL_H_
