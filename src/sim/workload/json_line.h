// JsonLineParser: reads one line of a JSONL trace, a flat JSON object whose
// values are scalars or arrays of integers, into a fixed table of fields.
//
// It runs nlohmann::json's SAX parser (no DOM, no exceptions escape), so a
// line costs one pass over its bytes and the integer arrays land straight in
// reusable vectors. The SAX events let it catch what a DOM silently accepts:
// duplicate keys (a DOM keeps the last) and, optionally, unknown keys.
// Strings must be valid UTF-8 (the nlohmann lexer checks it).
//
// Messages returned carry no "file:line:" prefix; the caller adds it.
#ifndef PAGEKV_SIM_WORKLOAD_JSON_LINE_H_
#define PAGEKV_SIM_WORKLOAD_JSON_LINE_H_

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace pagekv::internal {

enum class JsonKind {
  kNull,
  kBool,
  kInt,    // fits int64_t
  kUInt,   // > INT64_MAX, fits uint64_t
  kFloat,  // any number with a fraction or exponent, or beyond uint64_t
  kString,
  kIntArray,  // an array whose elements are all integers fitting int64_t
  kArray,     // any other array
  kObject,
};

struct JsonField {
  bool present = false;
  JsonKind kind = JsonKind::kNull;
  bool bool_value = false;
  int64_t int_value = 0;      // kInt
  uint64_t uint_value = 0;    // kInt (when >= 0) and kUInt
  double number = 0;          // kInt, kUInt, kFloat
  std::string text;           // kString: the value; kFloat: the literal
  std::vector<int64_t> ints;  // kIntArray
};

class JsonLineParser {
 public:
  // `field_names` are the keys the caller reads, by index. With
  // `reject_unknown`, any other key is an error; otherwise it is skipped.
  // REQUIRES: field_names outlive the parser.
  JsonLineParser(absl::Span<const std::string_view> field_names,
                 bool reject_unknown);

  // Parses `line`. Returns OK and fills field(i) for every key present, or
  // InvalidArgument: invalid JSON (with its 1-based column), not an object,
  // duplicate key, unknown key.
  absl::Status Parse(std::string_view line);

  // REQUIRES: i < number of field names.
  const JsonField& field(size_t i) const { return fields_[i]; }

  // Typed accessors: each returns the value of field i, or InvalidArgument
  // `field "name": ...` when it is missing or has the wrong type or range.
  absl::StatusOr<int64_t> Int(size_t i, int64_t min, int64_t max) const;
  absl::StatusOr<uint64_t> UInt64(size_t i) const;
  absl::StatusOr<double> Number(size_t i, double min) const;  // finite
  absl::StatusOr<std::string_view> String(size_t i) const;
  // Every element in [min, max].
  absl::StatusOr<absl::Span<const int64_t>> IntArray(size_t i, int64_t min,
                                                     int64_t max) const;

  // Returns the error for a missing field i.
  absl::Status Missing(size_t i) const;
  // Returns `field "name": <what>`.
  absl::Status FieldError(size_t i, std::string_view what) const;
  // Returns how field i's value reads in a message: 12, "abc", an array...
  std::string Describe(size_t i) const;

 private:
  class Handler;
  absl::Span<const std::string_view> names_;
  bool reject_unknown_;
  std::vector<JsonField> fields_;
};

// Runs the line loop shared by the JSON-lines trace readers: for each
// non-blank line of `contents`, rejects a byte-order mark (only the file's
// first line may carry one, and LineSplitter strips it there), parses the
// line with `parser`, then calls `on_line()`, which reads the
// fields from `parser`. The first error, from the parser or from on_line,
// comes back as "source:line: ...". A file with no non-blank line is an
// error ("source: no requests (empty trace)").
absl::Status ForEachJsonLine(std::string_view contents, std::string_view source,
                             JsonLineParser& parser,
                             absl::FunctionRef<absl::Status()> on_line);

}  // namespace pagekv::internal

#endif  // PAGEKV_SIM_WORKLOAD_JSON_LINE_H_
