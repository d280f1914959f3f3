// libFuzzer target: the mooncake trace reader (see trace_fuzz_util.h).
#include <cstddef>
#include <cstdint>

#include "trace_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pagekv::fuzz::FuzzTrace(data, size, pagekv::TraceFormat::kMooncake,
                          "fuzz/mooncake.jsonl");
  return 0;
}
