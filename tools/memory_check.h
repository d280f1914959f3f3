// The memory check every `pagekv` command makes before it allocates a run's
// big structures: an estimate by part (trace, pool and index, ...) against
// the machine's available memory and --max-memory-gib, so a run that cannot
// fit exits 2 with the estimate and what to change instead of being killed
// by the kernel halfway through.
//
// Thread-safety: free functions; AvailableMemoryBytes reads /proc/meminfo.
#ifndef PAGEKV_TOOLS_MEMORY_CHECK_H_
#define PAGEKV_TOOLS_MEMORY_CHECK_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/sim/workload.h"

namespace pagekv::tools {

// A run's estimated peak memory, by part.
struct MemoryEstimate {
  std::vector<std::pair<std::string, uint64_t>> parts;  // (what, bytes)
  // What to change when it does not fit, e.g. "use a smaller
  // --capacity-blocks or --repeat".
  std::string advice;

  void Add(std::string what, uint64_t bytes) {
    parts.emplace_back(std::move(what), bytes);
  }
  uint64_t Total() const;
  // "5.20 GiB (trace 0.10 GiB, pool and index at 1000 blocks 5.10 GiB)".
  std::string Describe() const;
};

// The bytes `workload` holds in memory: requests, segments, token ids.
uint64_t WorkloadBytes(const Workload& workload);

// MemAvailable from /proc/meminfo, or nullopt where it cannot be read.
std::optional<uint64_t> AvailableMemoryBytes();

// The --max-memory-gib flag: empty (no limit of its own) or a number > 0.
absl::StatusOr<std::optional<uint64_t>> ParseMaxMemoryFlag(
    const std::string& text);

// OK when `estimate` fits within `max_bytes` (when given) and within
// `available` (when known); otherwise InvalidArgument with the estimate, the
// limit that is exceeded and the estimate's advice.
absl::Status CheckMemory(const MemoryEstimate& estimate,
                         std::optional<uint64_t> max_bytes,
                         std::optional<uint64_t> available);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_MEMORY_CHECK_H_
