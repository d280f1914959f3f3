// Fuzzes the call-log reader (pagekv/call_log.h) and, for small logs that
// parse, the replay (pagekv/call_log_replay.h): no input may crash, leak or
// hang either. A parsed log must re-encode to a log that parses to the same
// bytes again.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pagekv/call_log.h"
#include "pagekv/call_log_replay.h"

namespace {

// Replaying is linear in tokens and pool size; keep each input cheap.
bool SmallEnough(const pagekv::CallLog& log) {
  if (log.config.num_blocks > 4096 || log.records.size() > 256) return false;
  // Counts may be anything (negative ones must be refused); only large
  // positive ones cost time.
  auto cost = [](int64_t v) {
    return v < 0 ? 0 : std::min<int64_t>(v, 1 << 20);
  };
  int64_t tokens = 0;
  for (const pagekv::CallRecord& r : log.records) {
    tokens += static_cast<int64_t>(r.tokens.size()) + cost(r.a) + cost(r.b);
    for (const pagekv::ReserveRequest& q : r.requests) {
      tokens += cost(q.num_new_tokens) + cost(q.num_lookahead_tokens);
    }
  }
  return tokens < (int64_t{1} << 16);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto log = pagekv::ParseCallLog(bytes);
  if (!log.ok()) return 0;
  const std::string encoded = pagekv::EncodeCallLog(*log);
  auto again = pagekv::ParseCallLog(encoded);
  if (!again.ok() || pagekv::EncodeCallLog(*again) != encoded) std::abort();
  for (const pagekv::CallRecord& r : log->records) {
    (void)pagekv::DescribeCall(r);
    (void)pagekv::DescribeResult(r.op, r.result);
  }
  if (SmallEnough(*log)) {
    pagekv::ReplayOptions options;
    options.verify_every = 8;
    (void)pagekv::ReplayCallLog(*log, options);
  }
  return 0;
}
