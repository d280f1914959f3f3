// libFuzzer target: the jsonl trace reader (see trace_fuzz_util.h).
#include <cstddef>
#include <cstdint>

#include "trace_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pagekv::fuzz::FuzzTrace(data, size, pagekv::TraceFormat::kJsonl,
                          "fuzz/workload.jsonl");
  return 0;
}
