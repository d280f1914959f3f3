// Shared body of the trace-reader fuzz targets: parse the input as a trace of
// one format and check what the reader promises (trace_reader.h): either a
// whole, valid workload or an InvalidArgument naming the source.
#ifndef PAGEKV_FUZZ_TRACE_FUZZ_UTIL_H_
#define PAGEKV_FUZZ_TRACE_FUZZ_UTIL_H_

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pagekv/sim/trace_reader.h"
#include "pagekv/sim/workload.h"

namespace pagekv::fuzz {

inline void Fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "trace fuzzer: %s: %.*s\n", what,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

inline void FuzzTrace(const uint8_t* data, size_t size, TraceFormat format,
                      std::string_view source) {
  const std::string_view contents(reinterpret_cast<const char*>(data), size);
  auto workload = ParseTrace(contents, format, source);
  if (!workload.ok()) {
    if (workload.status().code() != absl::StatusCode::kInvalidArgument) {
      Fail("error is not InvalidArgument", workload.status().ToString());
    }
    if (std::string(workload.status().message()).find(source) ==
        std::string::npos) {
      Fail("error does not name the source", workload.status().ToString());
    }
    return;
  }
  if (workload->requests.empty()) Fail("empty workload accepted", "");
  if (absl::Status st = workload->Validate(); !st.ok()) {
    Fail("accepted workload fails Validate()", st.ToString());
  }
  const WorkloadStats stats = workload->Stats();
  if (stats.num_requests != static_cast<int64_t>(workload->requests.size())) {
    Fail("stats", "num_requests");
  }
  // Materialize small prompts: lengths must agree with PromptTokens().
  std::vector<TokenId> tokens;
  for (const Request& r : workload->requests) {
    if (r.PromptTokens() > (1 << 16)) continue;
    tokens.clear();
    r.MaterializePrompt(&tokens);
    if (static_cast<int64_t>(tokens.size()) != r.PromptTokens()) {
      Fail("MaterializePrompt", "length differs from PromptTokens()");
    }
  }
  // The format guesser must not crash either.
  (void)GuessTraceFormat(source, contents);
}

}  // namespace pagekv::fuzz

#endif  // PAGEKV_FUZZ_TRACE_FUZZ_UTIL_H_
