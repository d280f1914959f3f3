#include "pagekv/cost/transfer_cost.h"

#include <algorithm>
#include <limits>

namespace pagekv {

double LinkCost::Seconds(double bytes, int64_t jobs) const {
  if (jobs <= 0 && bytes <= 0) return 0;
  if (!(bytes_per_second > 0)) return std::numeric_limits<double>::infinity();
  return static_cast<double>(jobs) * latency_seconds + bytes / bytes_per_second;
}

LinkCost HostLinkCost(const HardwareSpec& hardware) {
  return {hardware.host_transfer_latency_seconds,
          hardware.host_link_bandwidth * hardware.host_transfer_efficiency};
}

LinkCost RemoteLinkCost(const HardwareSpec& hardware) {
  return {hardware.remote_latency_seconds, hardware.remote_bandwidth};
}

double DecodeSlowdown(const HardwareSpec& hardware, double store_seconds,
                      double step_seconds) {
  if (!(step_seconds > 0) || !(store_seconds > 0)) return 1.0;
  return 1.0 + hardware.store_decode_slowdown *
                   std::min(1.0, store_seconds / step_seconds);
}

}  // namespace pagekv
