// RepeatWorkload: k shifted copies of a workload that share no block.
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "pagekv/sim/workload.h"

namespace pagekv {
namespace {

// The constant copy j mixes into its content ids and salts; 0 for copy 0.
// XOR with one constant is a bijection on a copy's ids, so a copy keeps its
// own sharing; constants of different copies are unrelated 64-bit values.
uint64_t CopyTag(int32_t copy) {
  return copy == 0 ? 0
                   : workload_internal::Mix64(static_cast<uint64_t>(copy) *
                                              workload_internal::kGolden);
}

}  // namespace

absl::StatusOr<Workload> RepeatWorkload(const Workload& workload,
                                        int32_t copies) {
  if (copies < 1 || copies > kMaxWorkloadCopies) {
    return absl::InvalidArgumentError(
        fmt::format("repeat: copies must be in [1, {}], got {}",
                    kMaxWorkloadCopies, copies));
  }
  const std::vector<Request>& base = workload.requests;
  if (base.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("repeat: workload \"{}\" has no request", workload.name));
  }
  const double duration = base.back().arrival_s - base.front().arrival_s;
  const double gap =
      base.size() > 1 ? duration / static_cast<double>(base.size() - 1) : 1.0;
  const double period = duration + (gap > 0 ? gap : 1.0);

  Workload out;
  out.name = workload.name;
  out.requests.reserve(base.size() * static_cast<size_t>(copies));
  for (int32_t copy = 0; copy < copies; ++copy) {
    const uint64_t tag = CopyTag(copy);
    for (const Request& r : base) {
      Request c = r;
      c.id = out.requests.size();
      c.arrival_s = r.arrival_s + copy * period;
      for (PromptSegment& seg : c.segments) seg.content_id ^= tag;
      if (!c.tokens.empty()) c.cache_salt ^= tag;
      out.requests.push_back(std::move(c));
    }
  }
  return out;
}

}  // namespace pagekv
