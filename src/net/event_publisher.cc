// EventPublisher: the queue, the sender thread, the replay ring and the
// snapshot hand-off (see pagekv/net/event_publisher.h).
#include "pagekv/net/event_publisher.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "net/snapshot.h"
#include "net/zmq_util.h"
#include "pagekv/block_hash.h"

namespace pagekv::net {

constexpr absl::string_view kSnapshotRequest = "pagekv.snapshot";

absl::Status EventPublisherConfig::Validate() const {
  if (endpoint.empty()) {
    return absl::InvalidArgumentError("EventPublisherConfig.endpoint is empty");
  }
  if (ring_batches < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EventPublisherConfig.ring_batches must be >= 1, got ", ring_batches));
  }
  if (max_queue_batches < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EventPublisherConfig.max_queue_batches must be >= 1, got ",
        max_queue_batches));
  }
  if (send_hwm < 0 || shutdown_timeout_ms < 0) {
    return absl::InvalidArgumentError(
        "EventPublisherConfig.send_hwm and shutdown_timeout_ms must be >= 0");
  }
  return absl::OkStatus();
}

namespace {

struct Item {
  int64_t seq;
  double ts;
  std::vector<KVEvent> events;
};

struct Snapshot {
  int64_t as_of_seq;
  double ts;
  std::vector<KVEvent> events;
  std::vector<std::string> clients;  // ROUTER identities waiting for it
};

}  // namespace

struct EventPublisher::State {
  EventPublisherConfig config;
  zmq::context_t ctx{1};
  zmq::socket_t pub;
  zmq::socket_t router;  // null without a replay endpoint
  std::string endpoint;
  std::string replay_endpoint;
  std::thread sender;

  // Scheduler-thread fields.
  int64_t next_seq = 0;  // also mirrored in stats under mu
  bool shut_down = false;
  std::optional<BlockHasher> hasher;
  // Root key -> (lora id, cache salt), learned from chain-opening
  // BlockStored events, so a snapshot can name a first block's extras.
  absl::flat_hash_map<uint64_t, std::pair<uint64_t, uint64_t>> roots;

  // Shared with the sender thread.
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<Item> queue;                     // guarded by mu
  std::optional<Snapshot> snapshot_ready;     // guarded by mu
  std::vector<std::string> snapshot_clients;  // guarded by mu
  std::atomic<bool> snapshot_wanted{false};
  bool stopping = false;          // guarded by mu
  EventPublisherStats stats;      // guarded by mu
  int64_t last_dropped_seq = -1;  // guarded by mu

  // Sender-thread fields.
  std::deque<std::pair<int64_t, std::string>> ring;  // ascending seqs
  int64_t last_sent_seq = -1;
  std::string scratch;

  double NowSeconds() const {
    if (config.clock != nullptr) return config.clock->NowMicros() / 1e6;
    return std::chrono::duration<double>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  void SenderLoop();
  void SendBatch(const Item& item);
  void ServeSnapshot(const Snapshot& snapshot);
  void ServeRequests();
  void ServeReplay(const std::string& client, int64_t start);
  void Reply(const std::string& client, int64_t seq, absl::string_view body);
};

void EventPublisher::State::Reply(const std::string& client, int64_t seq,
                                  absl::string_view body) {
  const std::string seq_frame = EncodeSeq(seq);
  const bool ok = internal::SendFrames(router, {client, "", seq_frame, body},
                                       /*dontwait=*/true);
  if (!ok) {
    std::lock_guard<std::mutex> lock(mu);
    ++stats.send_errors;
  }
}

void EventPublisher::State::SendBatch(const Item& item) {
  scratch.clear();
  EncodeBatch(item.ts, item.events, config.encode, &scratch);
  const std::string seq_frame = EncodeSeq(item.seq);
  const bool ok = internal::SendFrames(pub, {config.topic, seq_frame, scratch},
                                       /*dontwait=*/true);
  uint64_t blocks = 0;
  for (const KVEvent& e : item.events) {
    if (const auto* s = std::get_if<BlockStoredEvent>(&e)) {
      blocks += s->block_keys.size();
    }
  }
  ring.emplace_back(item.seq, scratch);
  last_sent_seq = item.seq;
  while (static_cast<int64_t>(ring.size()) > config.ring_batches) {
    ring.pop_front();
  }
  std::lock_guard<std::mutex> lock(mu);
  if (!ok) ++stats.send_errors;
  stats.events_sent += item.events.size();
  stats.blocks_sent += blocks;
  stats.bytes_sent += scratch.size();
}

void EventPublisher::State::ServeSnapshot(const Snapshot& snapshot) {
  scratch.clear();
  EncodeBatch(snapshot.ts, snapshot.events, config.encode, &scratch);
  uint64_t blocks = 0;
  for (const KVEvent& e : snapshot.events) {
    blocks += std::get<BlockStoredEvent>(e).block_keys.size();
  }
  {
    // Counted before the replies go out, so a client that has its reply
    // also sees it counted.
    std::lock_guard<std::mutex> lock(mu);
    stats.snapshots_served += snapshot.clients.size();
    stats.snapshot_blocks += blocks * snapshot.clients.size();
  }
  for (const std::string& client : snapshot.clients) {
    Reply(client, snapshot.as_of_seq, scratch);
    Reply(client, kEndOfReplaySeq, "");
  }
}

void EventPublisher::State::ServeReplay(const std::string& client,
                                        int64_t start) {
  // Complete only if no batch from start on was dropped and the ring holds
  // every one sent from start on.
  int64_t last_dropped;
  {
    std::lock_guard<std::mutex> lock(mu);
    last_dropped = last_dropped_seq;
  }
  auto it = ring.begin();
  while (it != ring.end() && it->first < start) ++it;
  bool complete =
      last_dropped < start &&
      (it == ring.end() ? start > last_sent_seq : it->first == start);
  for (auto j = it; complete && j != ring.end() && std::next(j) != ring.end();
       ++j) {
    if (std::next(j)->first != j->first + 1) complete = false;
  }
  {
    std::lock_guard<std::mutex> lock(mu);  // counted first, as above
    ++stats.replay_requests;
    if (!complete) ++stats.replay_gaps;
  }
  if (!complete) {
    const int64_t first = ring.empty() ? -1 : ring.front().first;
    Reply(client, kReplayGapSeq, EncodeSeq(first));
  }
  for (; it != ring.end(); ++it) Reply(client, it->first, it->second);
  Reply(client, kEndOfReplaySeq, "");
}

void EventPublisher::State::ServeRequests() {
  if (!router) return;
  std::vector<std::string> frames;
  while (internal::RecvFrames(router, &frames, /*dontwait=*/true)) {
    // [identity, "", body] from a REQ or a DEALER that sends the delimiter.
    if (frames.size() != 3 || !frames[1].empty()) {
      std::lock_guard<std::mutex> lock(mu);
      ++stats.bad_requests;
      continue;
    }
    const std::string& client = frames[0];
    if (frames[2] == kSnapshotRequest) {
      std::lock_guard<std::mutex> lock(mu);
      snapshot_clients.push_back(client);
      snapshot_wanted.store(true, std::memory_order_release);
      continue;
    }
    auto start = DecodeSeq(frames[2]);
    if (!start.ok() || *start < 0) {
      std::lock_guard<std::mutex> lock(mu);
      ++stats.bad_requests;
      continue;
    }
    ServeReplay(client, *start);
  }
}

void EventPublisher::State::SenderLoop() {
  std::deque<Item> batch;
  for (;;) {
    std::optional<Snapshot> snapshot;
    bool stop = false;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, std::chrono::milliseconds(2), [&] {
        return !queue.empty() || stopping || snapshot_ready.has_value();
      });
      batch.swap(queue);
      snapshot.swap(snapshot_ready);
      stop = stopping;
    }
    for (const Item& item : batch) SendBatch(item);
    batch.clear();
    if (snapshot) ServeSnapshot(*snapshot);
    ServeRequests();
    if (stop) {
      std::lock_guard<std::mutex> lock(mu);
      if (queue.empty()) break;
    }
  }
}

EventPublisher::EventPublisher(std::unique_ptr<State> state)
    : state_(std::move(state)) {}

EventPublisher::~EventPublisher() { Shutdown(); }

absl::StatusOr<std::unique_ptr<EventPublisher>> EventPublisher::Create(
    EventPublisherConfig config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  auto st = std::make_unique<State>();
  st->config = std::move(config);
  const EventPublisherConfig& c = st->config;
  st->pub = zmq::socket_t(st->ctx, zmq::socket_type::pub);
  st->pub.set(zmq::sockopt::sndhwm, c.send_hwm);
  if (c.send_buffer_bytes > 0) {
    st->pub.set(zmq::sockopt::sndbuf, c.send_buffer_bytes);
  }
  st->pub.set(zmq::sockopt::linger, static_cast<int>(c.shutdown_timeout_ms));
  auto ep = c.bind ? internal::Bind(st->pub, c.endpoint)
                   : internal::Connect(st->pub, c.endpoint);
  if (!ep.ok()) return ep.status();
  st->endpoint = *ep;
  if (!c.replay_endpoint.empty()) {
    st->router = zmq::socket_t(st->ctx, zmq::socket_type::router);
    st->router.set(zmq::sockopt::linger,
                   static_cast<int>(c.shutdown_timeout_ms));
    auto rep = internal::Bind(st->router, c.replay_endpoint);
    if (!rep.ok()) return rep.status();
    st->replay_endpoint = *rep;
  }
  State* raw = st.get();
  st->sender = std::thread([raw] { raw->SenderLoop(); });
  return std::unique_ptr<EventPublisher>(new EventPublisher(std::move(st)));
}

bool EventPublisher::Publish(std::vector<KVEvent> events) {
  State& st = *state_;
  if (events.empty()) return true;
  const double ts = st.NowSeconds();
  const int64_t seq = st.next_seq++;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    st.stats.next_seq = st.next_seq;
    if (st.shut_down ||
        static_cast<int64_t>(st.queue.size()) >= st.config.max_queue_batches) {
      ++st.stats.batches_dropped;
      st.last_dropped_seq = seq;
      return false;
    }
    st.queue.push_back(Item{seq, ts, std::move(events)});
    ++st.stats.batches_published;
  }
  st.cv.notify_one();
  return true;
}

void EventPublisher::PublishFrom(KVCacheManager& manager) {
  State& st = *state_;
  if (!st.hasher) {
    const KVCacheConfig& mc = manager.config();
    st.hasher.emplace(mc.block_size, mc.hash_seed, mc.block_hash_fn);
    std::lock_guard<std::mutex> lock(st.mu);
    if (st.config.encode.groups.empty()) st.config.encode.groups = mc.groups;
  }
  std::vector<KVEvent> events = manager.DrainEvents();
  internal::LearnRoots(events, *st.hasher, &st.roots);
  Publish(std::move(events));
  if (!st.snapshot_wanted.load(std::memory_order_acquire)) return;
  Snapshot snapshot;
  snapshot.as_of_seq = st.next_seq - 1;
  snapshot.ts = st.NowSeconds();
  snapshot.events = internal::SnapshotEvents(manager, st.roots);
  {
    std::lock_guard<std::mutex> lock(st.mu);
    snapshot.clients.swap(st.snapshot_clients);
    st.snapshot_wanted.store(false, std::memory_order_relaxed);
    if (st.snapshot_ready) {
      // An earlier snapshot not yet sent: its clients get this newer one.
      for (std::string& c : st.snapshot_ready->clients) {
        snapshot.clients.push_back(std::move(c));
      }
    }
    st.snapshot_ready = std::move(snapshot);
  }
  st.cv.notify_one();
}

absl::Status EventPublisher::ResetManager(KVCacheManager& manager) {
  if (absl::Status s = manager.Reset(); !s.ok()) return s;
  PublishFrom(manager);
  return absl::OkStatus();
}

void EventPublisher::Shutdown() {
  State& st = *state_;
  if (st.shut_down) return;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    st.stopping = true;
    st.shut_down = true;
  }
  st.cv.notify_one();
  st.sender.join();
  st.pub.close();
  if (st.router) st.router.close();
}

const std::string& EventPublisher::endpoint() const { return state_->endpoint; }
const std::string& EventPublisher::replay_endpoint() const {
  return state_->replay_endpoint;
}

EventPublisherStats EventPublisher::Stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

}  // namespace pagekv::net
