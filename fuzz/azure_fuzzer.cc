// libFuzzer target: the azure trace reader (see trace_fuzz_util.h).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "trace_fuzz_util.h"

namespace {

// Known bug (reported; the input is kept in
// fuzz/regressions/azure_fuzzer/): the reader converts the timestamp to int64
// nanoseconds without a range check, so a year outside [1678, 2261]
// overflows (UBSan: signed integer overflow in ParseTimestampNs), and so does
// the difference of two rows more than ~292 years apart (in ParseAzure).
// Inputs with a year outside [1970, 2261] are skipped so the fuzzer keeps
// looking for other bugs; define PAGEKV_FUZZ_NO_KNOWN_BUG_GUARDS to hit it.
bool HasYearOutOfRange(std::string_view text) {
#ifdef PAGEKV_FUZZ_NO_KNOWN_BUG_GUARDS
  return false;
#else
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
    int year = 0;
    size_t i = 0;
    while (i < line.size() && i < 9 && line[i] >= '0' && line[i] <= '9') {
      year = year * 10 + (line[i] - '0');
      ++i;
    }
    if (i > 0 && (year < 1970 || year > 2261)) return true;
    start = end + 1;
  }
  return false;
#endif
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (HasYearOutOfRange(
          std::string_view(reinterpret_cast<const char*>(data), size))) {
    return 0;
  }
  pagekv::fuzz::FuzzTrace(data, size, pagekv::TraceFormat::kAzure,
                          "fuzz/azure.csv");
  return 0;
}
