// libFuzzer target: the azure trace reader (see trace_fuzz_util.h).
// Inputs of bugs it found are in fuzz/regressions/azure_fuzzer/ (timestamps
// that overflowed int64 nanoseconds, fixed); trace_reader_test replays them.
#include <cstddef>
#include <cstdint>

#include "trace_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pagekv::fuzz::FuzzTrace(data, size, pagekv::TraceFormat::kAzure,
                          "fuzz/azure.csv");
  return 0;
}
