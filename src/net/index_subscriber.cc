// IndexSubscriber: the per-source watermark state machine (see
// pagekv/net/index_subscriber.h).
#include "pagekv/net/index_subscriber.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "net/recent_batches.h"
#include "net/zmq_util.h"

namespace pagekv::net {

absl::Status IndexSubscriberConfig::Validate() const {
  if (sources.empty()) {
    return absl::InvalidArgumentError("IndexSubscriberConfig.sources is empty");
  }
  for (size_t i = 0; i < sources.size(); ++i) {
    if (sources[i].name.empty() || sources[i].endpoint.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("IndexSubscriberConfig.sources[", i,
                       "] needs a name and an endpoint"));
    }
  }
  if (request_timeout_ms <= 0 || max_buffered_batches < 1) {
    return absl::InvalidArgumentError(
        "IndexSubscriberConfig.request_timeout_ms and max_buffered_batches "
        "must be positive");
  }
  return absl::OkStatus();
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kMaxBackoff = 8;

enum class Phase { kLive, kReplay, kSnapshot };

struct Source {
  SourceConfig config;
  InstanceId instance = 0;
  zmq::socket_t sub;
  zmq::socket_t dealer;  // null without a replay endpoint
  Phase phase = Phase::kLive;
  bool gap_seen = false;  // during a replay: the publisher lacks something
  int64_t request_start = 0;
  // A replay after a gap asks from the watermark itself when its payload is
  // known: the publisher's batch there tells whether it is the stream the
  // subscriber followed (a restart can reach past the old watermark before
  // the subscriber hears of it). -1: no such check pending.
  int64_t check_seq = -1;
  Clock::time_point deadline;
  int64_t timeout_ms = 0;  // the request timeout now: doubled per retry
  // Snapshots: whether the pending request got one, and whether the
  // publisher answered one with nothing (vLLM's serves none).
  bool snapshot_served = false;
  bool no_snapshots = false;
  std::vector<std::pair<int64_t, std::string>> buffered;
  // Late live copies: the last live seq taken (applied or skipped as a
  // copy), the applied batches' hashes, the newest snapshot's seq.
  int64_t last_live = -1;
  internal::RecentBatches recent;
  int64_t snapshot_seq = -1;
  SourceStats stats;
};

}  // namespace

struct IndexSubscriber::Impl {
  IndexSubscriberConfig config;
  ClusterIndex* index;
  zmq::context_t ctx{1};
  std::vector<Source> sources;

  void Log(const Source& s, const std::string& what) const {
    if (config.log) {
      std::fprintf(stderr, "pagekv index: source '%s': %s\n",
                   s.config.name.c_str(), what.c_str());
    }
  }

  absl::Status OpenDealer(Source& s) {
    s.dealer = zmq::socket_t(ctx, zmq::socket_type::dealer);
    s.dealer.set(zmq::sockopt::linger, 0);
    s.dealer.set(zmq::sockopt::reconnect_ivl, 20);
    return internal::Connect(s.dealer, s.config.replay_endpoint).status();
  }

  void SendRequest(Source& s) {
    s.deadline = Clock::now() + std::chrono::milliseconds(s.timeout_ms);
    const std::string body = s.phase == Phase::kSnapshot
                                 ? std::string("pagekv.snapshot")
                                 : EncodeSeq(s.request_start);
    internal::SendFrames(s.dealer, {"", body}, /*dontwait=*/true);
  }

  void StartReplay(Source& s, int64_t from) {
    if (!s.dealer) return ClearForLoss(s, from);
    s.phase = Phase::kReplay;
    s.gap_seen = false;
    s.check_seq = from > 0 && s.recent.Has(from - 1) ? from - 1 : -1;
    s.request_start = s.check_seq >= 0 ? s.check_seq : from;
    ++s.stats.replays;
    SendRequest(s);
  }

  void StartSnapshot(Source& s) {
    if (!s.dealer || s.no_snapshots) return GiveUpResync(s);
    s.phase = Phase::kSnapshot;
    s.snapshot_served = false;
    ++s.stats.snapshots;
    SendRequest(s);
  }

  // What cannot be recovered is forgotten: the instance is cleared and
  // the source goes on from its first buffered live batch.
  void GiveUpResync(Source& s) {
    ClearForLoss(s, s.buffered.empty() ? s.stats.watermark + 1
                                       : s.buffered.front().first);
    if (s.phase != Phase::kLive) FinishResync(s);
  }

  // No way to resync: forget the instance's entries (they may be stale) and
  // continue from `next`.
  void ClearForLoss(Source& s, int64_t next) {
    (void)index->ClearInstance(s.instance);
    s.stats.watermark = next - 1;
  }

  // Decodes and applies one batch; false (counted, logged) if malformed.
  bool ApplyPayload(Source& s, int64_t seq, const std::string& payload) {
    auto batch = DecodeBatch(payload);
    absl::Status st =
        batch.ok() ? index->Apply(s.instance, *batch) : batch.status();
    if (!st.ok()) {
      ++s.stats.malformed;
      Log(s, absl::StrCat("seq ", seq,
                          ": malformed batch skipped: ", st.message()));
      return false;
    }
    ++s.stats.batches;
    for (const WireEvent& e : batch->events) {
      if (const auto* b = std::get_if<WireBlockStored>(&e)) {
        s.stats.blocks += b->block_hashes.size();
      }
    }
    return true;
  }

  void ApplyInOrder(Source& s, int64_t seq, const std::string& payload) {
    s.stats.watermark = seq;
    s.last_live = seq;
    s.recent.Add(seq, payload);
    if (!ApplyPayload(s, seq, payload)) StartSnapshot(s);
  }

  // A live batch at or below the watermark is either a late copy of one
  // already applied from a replay or a snapshot, or a restarted
  // publisher's. One publisher's live seqs only rise, and a copy has the
  // payload remembered for its seq (a snapshot keeps no payloads).
  bool IsLateCopy(const Source& s, int64_t seq,
                  const std::string& payload) const {
    if (seq <= s.last_live) return false;
    switch (s.recent.Compare(seq, payload)) {
      case internal::RecentBatches::Match::kSame:
        return true;
      case internal::RecentBatches::Match::kDifferent:
        return false;
      case internal::RecentBatches::Match::kUnknown:
        break;
    }
    return seq <= s.snapshot_seq;
  }

  void OnRestart(Source& s, const std::string& why) {
    ++s.stats.restarts;
    Log(s, absl::StrCat(why, ": publisher restarted, clearing"));
    (void)index->ClearInstance(s.instance);
    s.stats.watermark = -1;
    s.last_live = -1;
    s.recent.Clear();
    s.snapshot_seq = -1;
  }

  void OnLive(Source& s, int64_t seq, std::string payload) {
    if (s.phase != Phase::kLive) {
      if (static_cast<int64_t>(s.buffered.size()) >=
          config.max_buffered_batches) {
        s.buffered.clear();
        ++s.stats.buffer_overflows;
      }
      s.buffered.emplace_back(seq, std::move(payload));
      return;
    }
    const int64_t wm = s.stats.watermark;
    if (seq == wm + 1) return ApplyInOrder(s, seq, payload);
    if (seq <= wm && IsLateCopy(s, seq, payload)) {
      ++s.stats.late_copies;
      s.last_live = seq;
      return;
    }
    if (seq <= wm) {
      OnRestart(s, absl::StrCat("sequence went back from ", wm, " to ", seq));
      if (seq == 0) return ApplyInOrder(s, seq, payload);
    } else if (wm >= 0) {
      ++s.stats.gaps;
      Log(s, absl::StrCat("gap: expected ", wm + 1, ", got ", seq));
    }
    const int64_t from = s.stats.watermark + 1;
    if (!s.dealer) {
      ClearForLoss(s, seq);
      return ApplyInOrder(s, seq, payload);
    }
    s.buffered.emplace_back(seq, std::move(payload));
    StartReplay(s, from);
  }

  void FinishResync(Source& s) {
    s.phase = Phase::kLive;
    s.timeout_ms = config.request_timeout_ms;
    std::vector<std::pair<int64_t, std::string>> pending;
    pending.swap(s.buffered);
    for (auto& [seq, payload] : pending) OnLive(s, seq, std::move(payload));
  }

  // A restart seen in a replay's answer: clear, then replay from 0. The
  // live batches buffered so far may be the old publisher's; the new one's
  // were sent before it serves the new request, so the replay has them.
  void RestartFromScratch(Source& s, const std::string& why) {
    OnRestart(s, why);
    s.buffered.clear();
    StartReplay(s, 0);
  }

  void OnReply(Source& s, const std::vector<std::string>& frames) {
    // ["", seq, payload] (a DEALER sees the delimiter), or [seq, payload].
    size_t at = frames.size() == 3 && frames[0].empty() ? 1 : 0;
    if (frames.size() != at + 2 || s.phase == Phase::kLive) return;
    auto seq = DecodeSeq(frames[at]);
    if (!seq.ok()) return;
    const std::string& body = frames[at + 1];
    if (*seq == kEndOfReplaySeq) {
      if (s.phase == Phase::kReplay && s.gap_seen) return StartSnapshot(s);
      if (s.phase == Phase::kSnapshot && !s.snapshot_served) {
        s.no_snapshots = true;
        Log(s, "snapshot request answered with nothing: clearing instead");
        return GiveUpResync(s);
      }
      if (s.phase == Phase::kReplay && s.check_seq >= 0) {
        // No gap, yet no batch at the watermark: the publisher has sent
        // fewer batches than the subscriber applied from it.
        return RestartFromScratch(
            s, absl::StrCat("the publisher has no batch ", s.check_seq));
      }
      return FinishResync(s);
    }
    if (*seq == kReplayGapSeq) {
      s.gap_seen = true;
      return;
    }
    if (s.phase == Phase::kSnapshot) {
      s.snapshot_served = true;
      auto batch = DecodeBatch(body);
      if (!batch.ok()) {
        ++s.stats.malformed;
        Log(s, absl::StrCat("snapshot at ", *seq,
                            " malformed: ", batch.status().message()));
        return ClearForLoss(s, *seq + 1);
      }
      (void)index->ClearInstance(s.instance);
      if (absl::Status st = index->Apply(s.instance, *batch); !st.ok()) {
        ++s.stats.malformed;
        Log(s, absl::StrCat("snapshot at ", *seq, " rejected: ", st.message()));
      }
      s.stats.watermark = *seq;
      s.snapshot_seq = *seq;
      return;
    }
    if (*seq == s.check_seq && !s.gap_seen) {
      s.check_seq = -1;
      if (s.recent.Compare(*seq, body) !=
          internal::RecentBatches::Match::kDifferent) {
        return;  // the stream followed so far: the batches after it follow
      }
      // Replies still due to the old request go with the old socket.
      (void)OpenDealer(s);
      return RestartFromScratch(s, absl::StrCat("the publisher's batch ", *seq,
                                                " is not the one applied"));
    }
    // Replay: batches in order; a hole means the ring lacks something.
    if (s.gap_seen || *seq <= s.stats.watermark) return;
    if (*seq != s.stats.watermark + 1) {
      s.gap_seen = true;
      return;
    }
    s.stats.watermark = *seq;
    s.recent.Add(*seq, body);
    if (!ApplyPayload(s, *seq, body)) s.gap_seen = true;
  }

  // A retry goes on a fresh socket (the old one may be wedged), which
  // loses any answer still on its way: so each retry waits twice as long,
  // up to kMaxBackoff times the configured timeout, or a publisher slower
  // than the timeout would never be heard.
  void CheckDeadline(Source& s) {
    if (s.phase == Phase::kLive || Clock::now() < s.deadline) return;
    ++s.stats.timeouts;
    s.timeout_ms =
        std::min(2 * s.timeout_ms, kMaxBackoff * config.request_timeout_ms);
    Log(s, absl::StrCat("replay/snapshot request timed out, retrying with a ",
                        s.timeout_ms, " ms timeout"));
    if (!OpenDealer(s).ok()) return;
    SendRequest(s);
  }
};

IndexSubscriber::IndexSubscriber(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
IndexSubscriber::~IndexSubscriber() = default;

absl::StatusOr<std::unique_ptr<IndexSubscriber>> IndexSubscriber::Create(
    IndexSubscriberConfig config, ClusterIndex* index) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  impl->index = index;
  impl->sources.resize(impl->config.sources.size());
  for (size_t i = 0; i < impl->sources.size(); ++i) {
    Source& s = impl->sources[i];
    s.config = impl->config.sources[i];
    s.timeout_ms = impl->config.request_timeout_ms;
    auto id = index->AddInstance(s.config.name);
    if (!id.ok()) return id.status();
    s.instance = *id;
    s.sub = zmq::socket_t(impl->ctx, zmq::socket_type::sub);
    s.sub.set(zmq::sockopt::rcvhwm, impl->config.receive_hwm);
    s.sub.set(zmq::sockopt::linger, 0);
    s.sub.set(zmq::sockopt::reconnect_ivl, 20);
    if (impl->config.receive_buffer_bytes > 0) {
      s.sub.set(zmq::sockopt::rcvbuf, impl->config.receive_buffer_bytes);
    }
    s.sub.set(zmq::sockopt::subscribe, s.config.topic);
    if (auto c = internal::Connect(s.sub, s.config.endpoint); !c.ok()) {
      return c.status();
    }
    if (!s.config.replay_endpoint.empty()) {
      if (absl::Status st = impl->OpenDealer(s); !st.ok()) return st;
      // Catch up at once, rather than at the first live batch: a quiet
      // publisher may not send one for a long time.
      impl->StartReplay(s, 0);
    }
  }
  return std::unique_ptr<IndexSubscriber>(new IndexSubscriber(std::move(impl)));
}

int IndexSubscriber::Poll(int timeout_ms) {
  Impl& im = *impl_;
  std::vector<zmq::pollitem_t> items;
  for (Source& s : im.sources) {
    items.push_back({s.sub.handle(), 0, ZMQ_POLLIN, 0});
    items.push_back({s.dealer ? s.dealer.handle() : nullptr, 0,
                     static_cast<short>(s.dealer ? ZMQ_POLLIN : 0), 0});
  }
  try {
    zmq::poll(items.data(), items.size(),
              std::chrono::milliseconds(timeout_ms));
  } catch (const zmq::error_t&) {
    return 0;
  }
  int handled = 0;
  std::vector<std::string> frames;
  for (size_t i = 0; i < im.sources.size(); ++i) {
    Source& s = im.sources[i];
    while (internal::RecvFrames(s.sub, &frames, /*dontwait=*/true)) {
      ++handled;
      if (frames.size() != 3) {
        ++s.stats.malformed;
        im.Log(s,
               absl::StrCat("message of ", frames.size(), " frames skipped"));
        continue;
      }
      auto seq = DecodeSeq(frames[1]);
      if (!seq.ok() || *seq < 0) {
        ++s.stats.malformed;
        im.Log(s, "bad sequence frame skipped");
        continue;
      }
      im.OnLive(s, *seq, std::move(frames[2]));
    }
    while (s.dealer && internal::RecvFrames(s.dealer, &frames, true)) {
      ++handled;
      im.OnReply(s, frames);
    }
    im.CheckDeadline(s);
  }
  return handled;
}

bool IndexSubscriber::Synced() const {
  for (const Source& s : impl_->sources) {
    if (s.phase != Phase::kLive) return false;
  }
  return true;
}

int IndexSubscriber::num_sources() const {
  return static_cast<int>(impl_->sources.size());
}
InstanceId IndexSubscriber::instance(int source) const {
  return impl_->sources[source].instance;
}
SourceStats IndexSubscriber::stats(int source) const {
  SourceStats st = impl_->sources[source].stats;
  st.resyncing = impl_->sources[source].phase != Phase::kLive;
  return st;
}

}  // namespace pagekv::net
