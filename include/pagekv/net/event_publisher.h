// EventPublisher: puts a KVCacheManager's KV events on the wire in vLLM's
// format (see pagekv/net/wire.h), with replay and snapshots for consumers
// that missed something.
//
// Sockets (ZeroMQ):
//   PUB     `endpoint`: every batch as [topic, seq (8 bytes BE), payload].
//   ROUTER  `replay_endpoint` (optional), requests from DEALER/REQ clients:
//     [""] [8-byte BE start seq]  -> every retained batch with seq >= start
//        as ["", seq, payload], then ["", -1, ""] (vLLM's replay protocol).
//        If the ring does not hold every batch from start on (too old, or a
//        batch was dropped), a gap answer ["", -2, first retained seq] comes
//        first: the client must take a snapshot.
//     [""] ["pagekv.snapshot"]   -> ["", as_of_seq, payload] holding the
//        manager's whole cached set as BlockStored events (the state after
//        batch as_of_seq), then ["", -1, ""].
//
// Threads: the scheduler thread calls Publish()/PublishFrom(), which only
// move the events into a bounded queue (no encoding, no I/O). A background
// thread encodes, sends, keeps the replay ring and answers the ROUTER. When
// the queue is full the batch is dropped and counted; it still takes a
// sequence number, so consumers see the gap. Snapshots are taken on the
// scheduler thread, in PublishFrom(), when one was requested (the manager is
// single-threaded). A new publisher starts again at sequence 0.
//
// Thread-safety: Publish, PublishFrom, ResetManager and Shutdown from one
// thread (the scheduler's); Stats() from any thread.
#ifndef PAGEKV_NET_EVENT_PUBLISHER_H_
#define PAGEKV_NET_EVENT_PUBLISHER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/clock.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/kv_events.h"
#include "pagekv/net/wire.h"

namespace pagekv::net {

struct EventPublisherConfig {
  // PUB endpoint, e.g. "tcp://127.0.0.1:5557", "tcp://127.0.0.1:*" (a free
  // port; see endpoint()), "ipc://path", "inproc://name".
  std::string endpoint;
  // Bind (true) or connect (false) the PUB socket.
  bool bind = true;
  // ROUTER endpoint for replay and snapshots (always bound); empty = none.
  std::string replay_endpoint;
  std::string topic;
  // Batches kept for replay.
  int64_t ring_batches = 4096;
  // Batches queued between the scheduler and the sender before dropping.
  int64_t max_queue_batches = 4096;
  // ZeroMQ send high-water mark of the PUB socket (messages per subscriber).
  int32_t send_hwm = 100000;
  // Kernel send buffer of the PUB socket (ZMQ_SNDBUF); 0 = the OS's.
  int32_t send_buffer_bytes = 0;
  // How long Shutdown() may take to flush queued batches.
  int64_t shutdown_timeout_ms = 2000;
  EncodeOptions encode;
  // Source of batch timestamps (microseconds); null = the system clock.
  const Clock* clock = nullptr;

  // OK, or InvalidArgument naming the first bad field.
  absl::Status Validate() const;
};

struct EventPublisherStats {
  int64_t next_seq = 0;  // sequence number of the next batch
  uint64_t batches_published = 0;
  uint64_t batches_dropped = 0;  // queue full
  uint64_t events_sent = 0;
  uint64_t blocks_sent = 0;  // block hashes in BlockStored events
  uint64_t bytes_sent = 0;
  uint64_t send_errors = 0;
  uint64_t replay_requests = 0;
  uint64_t replay_gaps = 0;
  uint64_t bad_requests = 0;
  uint64_t snapshots_served = 0;
  uint64_t snapshot_blocks = 0;
};

class EventPublisher {
 public:
  // Binds or connects the sockets and starts the sender thread.
  // InvalidArgument on a bad config; Unavailable naming the endpoint if a
  // socket cannot bind or connect.
  static absl::StatusOr<std::unique_ptr<EventPublisher>> Create(
      EventPublisherConfig config);
  // Shutdown(), if not done.
  ~EventPublisher();
  EventPublisher(const EventPublisher&) = delete;
  EventPublisher& operator=(const EventPublisher&) = delete;

  // Queues `events` as one batch (nothing for an empty vector). Returns
  // false if the queue was full: the batch is dropped and counted.
  bool Publish(std::vector<KVEvent> events);

  // Publish(manager.DrainEvents()), then takes a snapshot of the manager's
  // cached set if a client asked for one. Call once per scheduling step.
  // REQUIRES: the manager has enable_kv_events on; every call passes the
  // same manager.
  void PublishFrom(KVCacheManager& manager);

  // manager.Reset() and, at once, publishes the AllBlocksCleared it emits.
  absl::Status ResetManager(KVCacheManager& manager);

  // Sends every queued batch (up to shutdown_timeout_ms), stops the sender
  // and closes the sockets. Publish() afterwards drops. Idempotent.
  void Shutdown();

  // The PUB and ROUTER endpoints as bound (a "*" port resolved).
  const std::string& endpoint() const;
  const std::string& replay_endpoint() const;

  EventPublisherStats Stats() const;

 private:
  struct State;
  explicit EventPublisher(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace pagekv::net

#endif  // PAGEKV_NET_EVENT_PUBLISHER_H_
