// Per-format trace parsers behind ParseTrace, and the helpers they share:
// line splitting with 1-based numbers, "file:line:" error prefixes and
// namespaced content ids.
#ifndef PAGEKV_SIM_WORKLOAD_READERS_H_
#define PAGEKV_SIM_WORKLOAD_READERS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fmt/format.h"
#include "pagekv/sim/workload.h"

namespace pagekv::internal {

// Each parser returns a workload that satisfies Workload::Validate(), or the
// first error as InvalidArgument "source:line: ...".
absl::StatusOr<Workload> ParseMooncake(std::string_view contents,
                                       std::string_view source);
absl::StatusOr<Workload> ParseAzure(std::string_view contents,
                                    std::string_view source);
absl::StatusOr<Workload> ParsePagekvJsonl(std::string_view contents,
                                          std::string_view source);

// A content id unique to (ns, value): a bijection of value for a fixed ns,
// so different values never collide within a namespace. Namespaces are
// arbitrary 64-bit tags; ids of different namespaces collide with
// probability ~2^-64.
constexpr uint64_t NamespacedContentId(uint64_t ns, uint64_t value) {
  using workload_internal::kGolden;
  using workload_internal::Mix64;
  return Mix64(ns ^ Mix64(value + kGolden));
}

inline constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// Splits contents into lines (LF or CRLF), numbered from 1, dropping a
// byte-order mark at the very start of the file.
class LineSplitter {
 public:
  explicit LineSplitter(std::string_view contents);
  // Sets *line to the next line without its terminator and returns true, or
  // returns false at the end.
  bool Next(std::string_view* line);
  int64_t line_number() const { return line_number_; }

 private:
  std::string_view rest_;
  int64_t line_number_ = 0;
};

// Returns true when the line holds only spaces and tabs.
bool IsBlank(std::string_view line);

// Returns InvalidArgument "source:line: message".
absl::Status LineError(std::string_view source, int64_t line,
                       std::string_view message);
// Same, prefixing an error from a helper.
absl::Status LineError(std::string_view source, int64_t line,
                       const absl::Status& status);

// Returns the workload name for a source path: its file name without
// directories and extension.
std::string WorkloadNameFromPath(std::string_view path);

}  // namespace pagekv::internal

#endif  // PAGEKV_SIM_WORKLOAD_READERS_H_
