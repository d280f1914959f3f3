// RemoteFault names and RemoteStoreStats::ToString (see
// pagekv/remote_kv_store.h).
#include "pagekv/remote_kv_store.h"

#include "fmt/format.h"

namespace pagekv {

const char* RemoteFaultName(RemoteFault fault) {
  static constexpr const char* kNames[kNumRemoteFaults] = {
      "unavailable",   "connect", "timeout",  "connection",   "server_error",
      "out_of_memory", "corrupt", "mismatch", "size_mismatch"};
  const int i = static_cast<int>(fault);
  return i >= 0 && i < kNumRemoteFaults ? kNames[i] : "unknown";
}

std::string RemoteStoreStats::ToString() const {
  std::string s = fmt::format(
      "lookups {} ({} blocks, {} hits), gets {} ({} blocks, {} hits, {} "
      "bytes), puts {} ({} blocks, {} stored, {} dropped, {} bytes), absent "
      "{}, reconnects {}{}",
      lookups, lookup_blocks, lookup_hits, gets, get_blocks, get_hits,
      bytes_loaded, puts, put_blocks, stored_blocks, dropped_blocks,
      bytes_stored, absent, reconnects, degraded ? ", degraded" : "");
  std::string f;
  for (int i = 0; i < kNumRemoteFaults; ++i) {
    if (faults[i] == 0) continue;
    f += fmt::format("{}{} {}", f.empty() ? "" : ", ",
                     RemoteFaultName(static_cast<RemoteFault>(i)), faults[i]);
  }
  return f.empty() ? s : s + ", faults: " + f;
}

}  // namespace pagekv
