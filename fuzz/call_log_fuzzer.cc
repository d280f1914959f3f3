// Fuzzes the call-log reader (pagekv/call_log.h) and, for small logs that
// parse, the replay (pagekv/call_log_replay.h): no input may crash, leak or
// hang either. A parsed log must re-encode to a log that parses to the same
// bytes again.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pagekv/call_log.h"
#include "pagekv/call_log_replay.h"
#define XXH_INLINE_ALL
#include "xxhash.h"

namespace {

uint32_t Get32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v |= uint32_t{static_cast<uint8_t>(s[at + i])} << (8 * i);
  }
  return v;
}

void Put32(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}

// The input with every checksum that has its bytes in range recomputed, so
// that mutations reach the payload decoder instead of stopping at the
// checksum (the format's layout: docs/stress.md).
std::string WithChecksumsFixed(std::string s) {
  auto sum = [&](size_t at, size_t n) {
    return static_cast<uint32_t>(XXH3_64bits(s.data() + at, n));
  };
  if (s.size() < 20) return s;
  const size_t body = Get32(s, 12);
  if (body > s.size() - 20) return s;
  Put32(s, 16, sum(20, body));
  for (size_t at = 20 + body; s.size() - at >= 8;) {
    const size_t n = Get32(s, at);
    if (n > s.size() - at - 8) break;
    Put32(s, at + 4, sum(at + 8, n));
    at += 8 + n;
  }
  return s;
}

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

void Check(std::string_view bytes) {
  auto log = pagekv::ParseCallLog(bytes);
  if (!log.ok()) return;
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
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  Check(bytes);
  Check(WithChecksumsFixed(bytes));
  return 0;
}
