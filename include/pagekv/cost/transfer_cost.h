// Transfer cost of KV tiers: what moving blocks between GPU memory, host
// memory and a remote store costs, per link, as alpha + bytes / beta per
// transfer job (a job is one batch of blocks the engine moves at once).
//
//   link                     beta (bytes/s, one direction)            alpha
//   GPU <-> host (PCIe or    host_link_bandwidth x
//   host_transfer_latency_seconds NVLink-C2C on GH200) host_transfer_efficiency
//   host <-> remote store    remote_bandwidth remote_latency_seconds
//
// Loads and stores share a link. Stores run on the copy engine beside the
// step's kernels, but their memory traffic slows the step: DecodeSlowdown.
// docs/tiers.md gives the figures behind the defaults.
//
// Thread-safety: pure functions of their arguments.
#ifndef PAGEKV_COST_TRANSFER_COST_H_
#define PAGEKV_COST_TRANSFER_COST_H_

#include <cstdint>

#include "pagekv/cost/hardware_spec.h"

namespace pagekv {

struct LinkCost {
  double latency_seconds = 0;   // alpha, per job
  double bytes_per_second = 0;  // beta; 0 = no such link

  // Seconds `jobs` jobs moving `bytes` in total take: jobs x alpha +
  // bytes / beta (infinite without a link, 0 for nothing to move).
  double Seconds(double bytes, int64_t jobs = 1) const;
};

// The GPU <-> host link of `hardware` (per device).
LinkCost HostLinkCost(const HardwareSpec& hardware);
// The host <-> remote store link of `hardware`'s node.
LinkCost RemoteLinkCost(const HardwareSpec& hardware);

// The factor (>= 1) a step of `step_seconds` is stretched by while stores
// keep the host link busy for `store_seconds` of it: 1 + slowdown x
// min(1, store_seconds / step_seconds). 1 for an empty step or no stores.
double DecodeSlowdown(const HardwareSpec& hardware, double store_seconds,
                      double step_seconds);

}  // namespace pagekv

#endif  // PAGEKV_COST_TRANSFER_COST_H_
