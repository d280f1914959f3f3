// EventFeed: the instances' KV events on their way to the router's cluster
// index, in process. Each step's events become one wire batch (the form the
// index service decodes from ZeroMQ, pagekv/net/wire.h) that is applied to
// the ClusterIndex `delay_s` after the step that produced it, in the order
// produced, so a router can be studied against a stale index.
//
// Thread-safety: not thread-safe.
#ifndef PAGEKV_SRC_CLUSTER_EVENT_FEED_H_
#define PAGEKV_SRC_CLUSTER_EVENT_FEED_H_

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pagekv/kv_events.h"
#include "pagekv/net/cluster_index.h"
#include "pagekv/net/wire.h"

namespace pagekv::cluster::internal {

// The wire form of a manager's events at time `ts` (token ids, parent and
// keys as the engine's block hashes; the medium left nil = GPU).
net::WireBatch ToWireBatch(double ts, absl::Span<const KVEvent> events);

class EventFeed {
 public:
  // An index for `num_instances` instances (named "0", "1", ...) keyed as
  // the instances' managers key (block size and seed).
  static absl::StatusOr<std::unique_ptr<EventFeed>> Create(
      int32_t num_instances, int32_t block_size, uint64_t hash_seed,
      double delay_s);

  // Queues `instance`'s events of a step that ended at `now_s`.
  void Push(int32_t instance, double now_s, std::vector<KVEvent> events);
  // Applies every batch due by `now_s`. An index error is a bug (the
  // events come from our own managers) and is returned.
  absl::Status DeliverUntil(double now_s);
  // Leading blocks of `keys` each instance holds, into *out (one entry per
  // instance).
  void Score(absl::Span<const uint64_t> keys, std::vector<int32_t>* out) const;

  const net::ClusterIndex& index() const { return *index_; }

 private:
  struct Pending {
    int32_t instance;
    net::WireBatch batch;
  };
  EventFeed(std::unique_ptr<net::ClusterIndex> index,
            std::vector<net::InstanceId> ids, double delay_s);

  std::unique_ptr<net::ClusterIndex> index_;
  std::vector<net::InstanceId> ids_;  // index id of each instance
  const double delay_s_;
  // By due time; equal times keep push order, so one instance's batches
  // are applied in the order its steps produced them.
  std::multimap<double, Pending> pending_;
};

}  // namespace pagekv::cluster::internal

#endif  // PAGEKV_SRC_CLUSTER_EVENT_FEED_H_
