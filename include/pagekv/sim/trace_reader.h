// Readers for request traces: Mooncake JSONL, Azure LLM inference CSV and
// pagekv's own JSONL format (docs/workload-formats.md describes all three).
//
// A reader either returns the whole workload or an error; it never returns a
// partly read one. Error messages name the source, the 1-based line and the
// field, e.g.
//   traces/x.jsonl:17: field "output_length": expected a non-negative
//   integer, got "abc"
// Timestamps must be non-decreasing in file order (a trace that goes back in
// time is rejected with the offending line; sort it first). Blank lines are
// skipped. A UTF-8 byte-order mark is accepted at the start of the file only.
//
// Thread-safe: the functions share no state.
#ifndef PAGEKV_SIM_TRACE_READER_H_
#define PAGEKV_SIM_TRACE_READER_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "pagekv/sim/workload.h"

namespace pagekv {

enum class TraceFormat {
  // {"timestamp": ms, "input_length": N, "output_length": N,
  //  "hash_ids": [...]} per line; one 512-token segment per hash id (the
  // last one holds the remainder); other fields are ignored.
  kMooncake,
  // CSV with header TIMESTAMP,ContextTokens,GeneratedTokens; absolute
  // timestamps made relative to the first row; each prompt is one unique
  // segment (the trace has no prefix information).
  kAzure,
  // pagekv JSONL: explicit tokens or a length with an optional shared
  // prefix; unknown fields are rejected.
  kJsonl,
};

// Returns "mooncake", "azure" or "jsonl".
std::string_view TraceFormatName(TraceFormat format);

// Returns the format called `name` ("mooncake", "azure", "jsonl"), or
// InvalidArgument listing the valid names.
absl::StatusOr<TraceFormat> ParseTraceFormat(std::string_view name);

// Guesses the format of a trace from its path's extension (".csv" is azure)
// and its first non-blank line: a CSV header, or the field names of a JSON
// object ("hash_ids"/"input_length": mooncake, "arrival_s": jsonl). Returns
// InvalidArgument when neither tells.
absl::StatusOr<TraceFormat> GuessTraceFormat(std::string_view path,
                                             std::string_view contents);

// Parses a whole trace held in memory. `source_name` is used in error
// messages and, stripped of directories and extension, as the workload name.
// Returns InvalidArgument on the first bad line, or when there is no request.
absl::StatusOr<Workload> ParseTrace(std::string_view contents,
                                    TraceFormat format,
                                    std::string_view source_name);

// Reads and parses the trace file at `path`. `format` is a format name, or
// empty to guess it (GuessTraceFormat). Then applies `options`.
// Returns NotFound / PermissionDenied / Internal when the file cannot be
// read, InvalidArgument on a bad format name, bad input or bad options.
absl::StatusOr<Workload> ReadWorkload(const std::string& path,
                                      std::string_view format = {},
                                      const WorkloadOptions& options = {});

}  // namespace pagekv

#endif  // PAGEKV_SIM_TRACE_READER_H_
