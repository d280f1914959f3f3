// Shrinking a diverging call log by delta debugging (Zeller's ddmin over the
// calls before the diverging one, complements only, then a one-by-one pass).
//
// A candidate is a subset of the calls before the target plus the target
// itself; it "still fails" when replaying it, comparing only the target's
// result, diverges at the target the same way as the original. Removing a
// call changes later results, which is why only the target is compared.
// Cost: each test is one replay of the candidate; ddmin needs O(n log n)
// tests for typical inputs (O(n^2) at worst), capped by max_replays.
#include <algorithm>

#include "fmt/format.h"
#include "pagekv/call_log_replay.h"

namespace pagekv {
namespace {

class Minimizer {
 public:
  Minimizer(const CallLog& log, const ReplayDivergence& target, int64_t budget)
      : log_(log), target_(target), budget_(budget) {}

  // Whether the log of calls `keep` + the target still diverges as the
  // target did.
  bool StillFails(const std::vector<size_t>& keep) {
    if (budget_ <= 0) return false;
    --budget_;
    auto outcome = ReplayCallLog(Build(keep), Options(keep.size()));
    if (!outcome.ok() || !outcome->divergence.has_value()) return false;
    const ReplayDivergence& d = *outcome->divergence;
    if (d.record != keep.size() || d.kind != target_.kind) return false;
    return d.kind != ReplayDivergence::Kind::kResult ||
           d.actual == target_.actual;
  }

  CallLog Build(const std::vector<size_t>& keep) const {
    CallLog out;
    out.config = log_.config;
    out.records.reserve(keep.size() + 1);
    for (size_t i : keep) out.records.push_back(log_.records[i]);
    out.records.push_back(log_.records[target_.record]);
    return out;
  }

  ReplayOptions Options(size_t target_index) const {
    ReplayOptions o;
    o.compare_only = static_cast<int64_t>(target_index);
    o.verify_every = 0;  // Verify() after the last call only
    return o;
  }

  std::vector<size_t> Run() {
    std::vector<size_t> items(target_.record);
    for (size_t i = 0; i < items.size(); ++i) items[i] = i;
    size_t n = 2;
    while (items.size() >= 2 && budget_ > 0) {
      const size_t chunk = (items.size() + n - 1) / n;
      bool reduced = false;
      for (size_t start = 0; start < items.size() && budget_ > 0;
           start += chunk) {
        std::vector<size_t> complement(items.begin(), items.begin() + start);
        const size_t end = std::min(items.size(), start + chunk);
        complement.insert(complement.end(), items.begin() + end, items.end());
        if (StillFails(complement)) {
          items = std::move(complement);
          n = std::max<size_t>(n - 1, 2);
          reduced = true;
          break;
        }
      }
      if (reduced) continue;
      if (n >= items.size()) break;
      n = std::min(items.size(), n * 2);
    }
    // One-by-one: ddmin's result is 1-minimal only when every chunk size
    // down to 1 was tried; make sure.
    for (size_t i = items.size(); i-- > 0 && budget_ > 0;) {
      std::vector<size_t> without = items;
      without.erase(without.begin() + static_cast<std::ptrdiff_t>(i));
      if (StillFails(without)) items = std::move(without);
    }
    return items;
  }

 private:
  const CallLog& log_;
  const ReplayDivergence& target_;
  int64_t budget_;
};

}  // namespace

absl::StatusOr<CallLog> MinimizeCallLog(const CallLog& log,
                                        const ReplayDivergence& target,
                                        int64_t max_replays) {
  if (target.record >= log.records.size()) {
    return absl::InvalidArgumentError(
        fmt::format("divergence at record {} but the log has {} records",
                    target.record, log.records.size()));
  }
  Minimizer minimizer(log, target, max_replays);
  const std::vector<size_t> keep = minimizer.Run();
  CallLog candidate = minimizer.Build(keep);
  // Re-execute to write the calls as the replay ran them: mapped ids and
  // actual results, except the target, which keeps the expected result.
  ReplayOptions o = minimizer.Options(keep.size());
  auto outcome = ReplayCallLog(candidate, o);
  if (!outcome.ok()) return outcome.status();
  if (!outcome->divergence.has_value() ||
      outcome->divergence->record != keep.size()) {
    return absl::InternalError(
        "the shrunk log no longer diverges at its last call");
  }
  CallLog out;
  out.config = log.config;
  out.records = std::move(outcome->executed);
  out.records.back().result = log.records[target.record].result;
  return out;
}

}  // namespace pagekv
