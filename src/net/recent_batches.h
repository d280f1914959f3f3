// RecentBatches: the payload hashes of a source's last applied batches, so
// a subscriber can tell a late live copy of a batch it already has (a
// replay or a snapshot can overtake the live socket) from a restarted
// publisher's batch that reuses the sequence number.
#ifndef PAGEKV_NET_RECENT_BATCHES_H_
#define PAGEKV_NET_RECENT_BATCHES_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <utility>

#include "absl/strings/string_view.h"
#define XXH_INLINE_ALL
#include "xxhash.h"

namespace pagekv::net::internal {

class RecentBatches {
 public:
  enum class Match { kSame, kDifferent, kUnknown };

  // Remembers batch `seq`; sequence numbers must rise between Clear()s.
  void Add(int64_t seq, absl::string_view payload) {
    if (!seen_.empty() && seq <= seen_.back().first) return;
    seen_.emplace_back(seq, Hash(payload));
    if (seen_.size() > kKept) seen_.pop_front();
  }

  // Whether batch `seq` is remembered.
  bool Has(int64_t seq) const { return Find(seq) != seen_.end(); }

  // Whether `payload` is the batch remembered as `seq`.
  Match Compare(int64_t seq, absl::string_view payload) const {
    const auto it = Find(seq);
    if (it == seen_.end()) return Match::kUnknown;
    return it->second == Hash(payload) ? Match::kSame : Match::kDifferent;
  }

  void Clear() { seen_.clear(); }

 private:
  static constexpr size_t kKept = 4096;

  using Entry = std::pair<int64_t, uint64_t>;  // seq, payload hash

  std::deque<Entry>::const_iterator Find(int64_t seq) const {
    const auto it =
        std::lower_bound(seen_.begin(), seen_.end(), seq,
                         [](const Entry& e, int64_t s) { return e.first < s; });
    return it != seen_.end() && it->first == seq ? it : seen_.end();
  }

  static uint64_t Hash(absl::string_view payload) {
    return XXH3_64bits(payload.data(), payload.size());
  }

  std::deque<Entry> seen_;  // ascending seqs
};

}  // namespace pagekv::net::internal

#endif  // PAGEKV_NET_RECENT_BATCHES_H_
