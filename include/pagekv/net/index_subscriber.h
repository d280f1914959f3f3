// IndexSubscriber: keeps a ClusterIndex in step with N event publishers.
//
// One ZeroMQ SUB socket per source (publisher) and, when the source has a
// replay endpoint, one DEALER for replay and snapshot requests. Per source
// it keeps a watermark, the sequence number of the last batch applied, and
// recovers as KV-event consumers do:
//
//   seq == watermark + 1            apply
//   seq >  watermark + 1 (a gap)    replay from the watermark itself when
//                                   its payload is remembered (else + 1); if
//                                   the publisher answers "gap", snapshot;
//                                   if its batch there differs, or it has
//                                   none, it restarted: clear, replay from 0
//   seq <= watermark, a late copy   skip (a replay or snapshot overtook
//                                   the live socket: the seq is above the
//                                   last live one and the payload is the
//                                   one applied, or a snapshot covered it)
//   seq <= watermark, otherwise     a restart: clear the instance, then as
//                                   a new source
//   at start (with a replay endpoint), or a first message with seq > 0
//                                   replay from 0 (a late joiner)
//   AllBlocksCleared                clears the instance (ClusterIndex)
//   malformed batch                 counted, logged with source and seq,
//                                   skipped, then a snapshot resync
//
// While a source resyncs, its live batches are buffered and applied after.
// A source without a replay endpoint, or whose publisher answers a snapshot
// request with nothing (vLLM's serves none), cannot resync past its ring:
// a gap or a malformed batch clears its entries instead (an index may miss
// blocks, never claim blocks an engine dropped). Requests that time out
// are retried on a fresh socket, each retry waiting twice as long (up to 8x
// request_timeout_ms).
//
// Thread-safety: not thread-safe; one thread calls Poll() and reads stats.
#ifndef PAGEKV_NET_INDEX_SUBSCRIBER_H_
#define PAGEKV_NET_INDEX_SUBSCRIBER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pagekv/net/cluster_index.h"

namespace pagekv::net {

struct SourceConfig {
  std::string name;             // the instance name in the index
  std::string endpoint;         // the publisher's PUB endpoint
  std::string replay_endpoint;  // its ROUTER; empty = none
  std::string topic;            // subscription prefix
};

struct IndexSubscriberConfig {
  std::vector<SourceConfig> sources;
  // A replay or snapshot answer not complete by then is retried (with the
  // timeout doubled each time, up to 8x; back to this once synced).
  int64_t request_timeout_ms = 2000;
  // Live batches buffered per source while it resyncs; beyond, the buffer
  // is dropped (the next batch is then a gap).
  int64_t max_buffered_batches = 100000;
  int32_t receive_hwm = 100000;
  // Kernel receive buffer of each SUB socket (ZMQ_RCVBUF); 0 = the OS's.
  int32_t receive_buffer_bytes = 0;
  // Log malformed batches, gaps and restarts to stderr.
  bool log = true;

  absl::Status Validate() const;
};

struct SourceStats {
  int64_t watermark = -1;  // last applied sequence, -1 = none
  bool resyncing = false;
  uint64_t batches = 0;  // applied
  uint64_t blocks = 0;   // block hashes in applied BlockStored events
  uint64_t gaps = 0;
  uint64_t replays = 0;
  uint64_t snapshots = 0;
  uint64_t restarts = 0;
  uint64_t late_copies = 0;  // live batches already had from a resync
  uint64_t malformed = 0;
  uint64_t timeouts = 0;
  uint64_t buffer_overflows = 0;
};

class IndexSubscriber {
 public:
  // Registers every source as an instance of `index` and connects.
  // InvalidArgument on a bad config or duplicate name; Unavailable if a
  // socket cannot connect. `index` must outlive the subscriber.
  static absl::StatusOr<std::unique_ptr<IndexSubscriber>> Create(
      IndexSubscriberConfig config, ClusterIndex* index);
  ~IndexSubscriber();

  // Waits up to timeout_ms for messages, handles every one that arrived
  // and any request deadline passed. Returns the number of messages handled.
  int Poll(int timeout_ms);

  // Whether no source is resyncing.
  bool Synced() const;

  int num_sources() const;
  InstanceId instance(int source) const;
  // A copy of the source's counters and state.
  SourceStats stats(int source) const;

 private:
  struct Impl;
  explicit IndexSubscriber(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pagekv::net

#endif  // PAGEKV_NET_INDEX_SUBSCRIBER_H_
