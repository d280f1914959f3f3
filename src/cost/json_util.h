// Strict JSON parsing shared by the readers of user files (spec JSON, trace
// lines): duplicate keys are errors, parse errors say where, and no
// nlohmann exception escapes.
//
// nlohmann::json's DOM parser keeps the last of duplicate keys without a
// word, and its errors are exceptions (or, with exceptions off, a bare
// "discarded" value with no position). So ParseJsonDocument() runs the SAX
// parser with a handler that builds the DOM itself and checks each key
// against the object being built (an O(log n) map lookup; no second pass),
// and DescribeJsonParseError() turns the SAX parse_error callback into
// "invalid JSON at line L, column C: <what>".
//
// Messages carry no file prefix; the caller adds it. Thread-safe (no state).
#ifndef PAGEKV_COST_JSON_UTIL_H_
#define PAGEKV_COST_JSON_UTIL_H_

#include <cstddef>
#include <exception>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace pagekv::internal {

// Returns "invalid JSON at line L, column C: <what>" (or, without
// `with_line`, "invalid JSON at column C: <what>", for one-line inputs) for
// a parse error nlohmann reported at byte offset `position` of `text`.
// <what> is nlohmann's message without its tag and position, e.g. "syntax
// error while parsing object - unexpected end of input; expected '}'" or
// "number overflow parsing '1e400'". Line and column are 1-based; column
// counts bytes.
std::string DescribeJsonParseError(std::string_view text, size_t position,
                                   const std::exception& error, bool with_line);

// Returns `s` as a JSON string literal without the quotes: control
// characters, quotes and backslashes escaped, invalid UTF-8 replaced. For
// showing a user's key or value in a message.
std::string EscapeJsonText(std::string_view s);

// Parses `text` (one JSON value; `ignore_comments` allows /* */ and //).
// Returns the value, or InvalidArgument: "invalid JSON at line L, column C:
// ..." or "duplicate field 'path'", where path names the key from the top,
// e.g. 'layer_groups[1].name'. Strings must be valid UTF-8.
absl::StatusOr<nlohmann::json> ParseJsonDocument(std::string_view text,
                                                 bool ignore_comments);

}  // namespace pagekv::internal

#endif  // PAGEKV_COST_JSON_UTIL_H_
