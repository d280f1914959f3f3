// The prefix-cache replay through vLLM's block order (ReplayOptions::policy
// "vllm"): the same requests and counts as ReplayWorkload, but the cache is
// pagekv::vllm::VllmManager, whose one FIFO free queue holds cached and
// uncached free blocks alike and evicts from its front, as vLLM v1's
// BlockPool does.
#ifndef PAGEKV_SIM_CACHE_REPLAY_VLLM_H_
#define PAGEKV_SIM_CACHE_REPLAY_VLLM_H_

#include "absl/status/statusor.h"
#include "pagekv/sim/cache_replay.h"
#include "pagekv/sim/workload.h"

namespace pagekv {

// REQUIRES: options checked by ReplayWorkload (block size, capacity >= 1).
// InvalidArgument for a host tier (vLLM's pool has none).
absl::StatusOr<ReplayResult> ReplayWorkloadVllmOrder(
    const Workload& workload, const ReplayOptions& options);

}  // namespace pagekv

#endif  // PAGEKV_SIM_CACHE_REPLAY_VLLM_H_
