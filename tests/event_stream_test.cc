// Publisher -> subscriber -> cluster index through real ZeroMQ sockets on
// loopback and ipc: the index ends equal to each manager's own cached set
// through late joins, gaps, restarts, resets and overload.
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "net_test_util.h"
#include "pagekv/net/cluster_index.h"
#include "pagekv/net/event_publisher.h"
#include "pagekv/net/index_subscriber.h"
#include "pagekv/net/wire.h"
#include "raw_publisher_util.h"
#include "zmq.hpp"

namespace pagekv::net {
namespace {

using pagekv::testing::EventConfig;
using pagekv::testing::PumpUntil;
using pagekv::testing::RunRequests;
using pagekv::testing::SendLive;
using pagekv::testing::StoredBlocks;
using pagekv::testing::TrueKeys;

struct Engine {
  std::unique_ptr<KVCacheManager> manager;
  std::unique_ptr<EventPublisher> publisher;
};

EventPublisherConfig PubConfig(const std::string& pub,
                               const std::string& replay) {
  EventPublisherConfig c;
  c.endpoint = pub;
  c.replay_endpoint = replay;
  return c;
}

Engine MakeEngine(EventPublisherConfig pc, int64_t blocks = 64) {
  Engine e;
  auto m = KVCacheManager::Create(EventConfig(blocks));
  EXPECT_TRUE(m.ok()) << m.status();
  e.manager = *std::move(m);
  auto p = EventPublisher::Create(std::move(pc));
  EXPECT_TRUE(p.ok()) << p.status();
  e.publisher = *std::move(p);
  return e;
}

std::unique_ptr<ClusterIndex> MakeIndex() {
  ClusterIndexConfig c;
  c.block_size = 4;
  c.hash_seed = 7;
  return *ClusterIndex::Create(c);
}

std::unique_ptr<IndexSubscriber> Subscribe(ClusterIndex* index, const Engine& e,
                                           int32_t hwm = 100000,
                                           int32_t buffer_bytes = 0) {
  IndexSubscriberConfig c;
  c.sources.push_back(SourceConfig{"engine-0", e.publisher->endpoint(),
                                   e.publisher->replay_endpoint(), ""});
  c.receive_hwm = hwm;
  c.receive_buffer_bytes = buffer_bytes;
  c.log = false;
  c.request_timeout_ms = 500;
  auto s = IndexSubscriber::Create(c, index);
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

// Steps the engine's publisher and the subscriber until the index holds the
// manager's cached set and the subscriber has every batch. Each round also
// publishes an empty step (nothing) and serves snapshot requests.
bool Converge(Engine& e, IndexSubscriber& sub, ClusterIndex& index,
              std::mt19937_64* rng = nullptr) {
  int round = 0;
  return PumpUntil([&] {
    e.publisher->PublishFrom(*e.manager);
    sub.Poll(5);
    if (!sub.Synced()) return false;
    if (sub.stats(0).watermark != e.publisher->Stats().next_seq - 1) {
      // Nothing new arrives on a quiet stream: now and then nudge it with a
      // request, so a subscriber that missed the last batch sees the gap.
      if (rng != nullptr && ++round % 20 == 0) RunRequests(*e.manager, *rng, 1);
      return false;
    }
    return index.Keys(sub.instance(0)) == TrueKeys(*e.manager) &&
           index.Verify().ok();
  });
}

TEST(EventStreamTest, RoundTripMatchesManagerCachedSet) {
  Engine e = MakeEngine(PubConfig("tcp://127.0.0.1:*", "tcp://127.0.0.1:*"));
  auto index = MakeIndex();
  auto sub = Subscribe(index.get(), e);
  std::mt19937_64 rng(1);
  for (int step = 0; step < 40; ++step) {
    RunRequests(*e.manager, rng, 3);  // a small pool: evictions happen
    e.publisher->PublishFrom(*e.manager);
    sub->Poll(1);
  }
  ASSERT_TRUE(Converge(e, *sub, *index, &rng));
  EXPECT_GT(index->stats().blocks_removed, 0u);
  EXPECT_EQ(sub->stats(0).malformed, 0u);
  EXPECT_EQ(sub->stats(0).snapshots, 0u);
  // Score agrees with the manager's own prefix match for a cached prompt.
  std::vector<TokenId> prompt(12);
  for (int i = 0; i < 8; ++i) prompt[i] = i;  // prefix 0's shared blocks
  for (int i = 8; i < 12; ++i) prompt[i] = 1;
  const PrefixMatch hit = e.manager->MatchPrefix(prompt);
  auto scores = index->Score(prompt);
  ASSERT_EQ(scores.size(), 1u);
  EXPECT_GE(scores[0].blocks, hit.num_blocks);
}

TEST(EventStreamTest, LateJoinerReplaysFromTheRing) {
  Engine e = MakeEngine(PubConfig("tcp://127.0.0.1:*", "tcp://127.0.0.1:*"));
  std::mt19937_64 rng(2);
  for (int step = 0; step < 20; ++step) {
    RunRequests(*e.manager, rng, 2);
    e.publisher->PublishFrom(*e.manager);
  }
  auto index = MakeIndex();
  auto sub = Subscribe(index.get(), e);
  ASSERT_TRUE(Converge(e, *sub, *index, &rng));
  EXPECT_GE(sub->stats(0).replays, 1u);
  EXPECT_EQ(sub->stats(0).snapshots, 0u);
}

TEST(EventStreamTest, GapBeyondTheRingTakesASnapshot) {
  EventPublisherConfig pc = PubConfig("tcp://127.0.0.1:*", "tcp://127.0.0.1:*");
  pc.ring_batches = 3;
  Engine e = MakeEngine(pc);
  std::mt19937_64 rng(3);
  for (int step = 0; step < 30; ++step) {
    RunRequests(*e.manager, rng, 2);
    e.publisher->PublishFrom(*e.manager);
  }
  auto index = MakeIndex();
  auto sub = Subscribe(index.get(), e);
  ASSERT_TRUE(Converge(e, *sub, *index, &rng));
  EXPECT_GE(sub->stats(0).snapshots, 1u);
  EXPECT_GE(e.publisher->Stats().replay_gaps, 1u);
  EXPECT_GE(e.publisher->Stats().snapshots_served, 1u);
}

TEST(EventStreamTest, PublisherRestartClearsAndResyncs) {
  const std::string dir =
      ::testing::TempDir() + "pagekv_restart_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string pub = "ipc://" + dir + "/pub";
  const std::string rep = "ipc://" + dir + "/replay";
  auto index = MakeIndex();
  std::mt19937_64 rng(4);
  Engine e = MakeEngine(PubConfig(pub, rep));
  auto sub = Subscribe(index.get(), e);
  for (int step = 0; step < 40; ++step) {
    RunRequests(*e.manager, rng, 3);
    e.publisher->PublishFrom(*e.manager);
  }
  ASSERT_TRUE(Converge(e, *sub, *index, &rng));
  ASSERT_GT(index->NumBlocks(sub->instance(0)), 0);
  // A new engine process: empty cache, sequence numbers from 0 again.
  e.publisher->Shutdown();
  e = Engine{};
  e = MakeEngine(PubConfig(pub, rep));
  std::mt19937_64 rng2(5);
  for (int step = 0; step < 3; ++step) {
    RunRequests(*e.manager, rng2, 2);
    e.publisher->PublishFrom(*e.manager);
  }
  ASSERT_TRUE(Converge(e, *sub, *index, &rng2));
  EXPECT_GE(sub->stats(0).restarts, 1u);
  std::filesystem::remove_all(dir);
}

TEST(EventStreamTest, ResetPublishesAllBlocksClearedAtOnce) {
  Engine e = MakeEngine(PubConfig("tcp://127.0.0.1:*", "tcp://127.0.0.1:*"));
  auto index = MakeIndex();
  auto sub = Subscribe(index.get(), e);
  std::mt19937_64 rng(6);
  RunRequests(*e.manager, rng, 5);
  e.publisher->PublishFrom(*e.manager);
  ASSERT_TRUE(Converge(e, *sub, *index, &rng));
  ASSERT_GT(index->NumBlocks(sub->instance(0)), 0);
  const uint64_t clears = index->stats().clears;
  const int64_t before = e.publisher->Stats().next_seq;
  ASSERT_TRUE(e.publisher->ResetManager(*e.manager).ok());
  // Published by ResetManager itself, not at a later step.
  EXPECT_EQ(e.publisher->Stats().next_seq, before + 1);
  ASSERT_TRUE(PumpUntil([&] {
    sub->Poll(5);
    return index->NumBlocks(sub->instance(0)) == 0;
  }));
  EXPECT_GT(index->stats().clears, clears);
  EXPECT_TRUE(TrueKeys(*e.manager).empty());
}

TEST(EventStreamTest, SlowSubscriberUnderHwmConvergesAfterResync) {
  EventPublisherConfig pc = PubConfig("tcp://127.0.0.1:*", "tcp://127.0.0.1:*");
  pc.send_hwm = 2;
  pc.send_buffer_bytes = 4096;
  pc.ring_batches = 8;
  Engine e = MakeEngine(pc, 256);
  auto index = MakeIndex();
  auto sub = Subscribe(index.get(), e, /*hwm=*/2, /*buffer_bytes=*/4096);
  std::mt19937_64 rng(7);
  // Publish far faster than the subscriber reads: it does not read at all
  // during the burst (some 200 KB of batches against a few KB of socket
  // buffers and 2-message HWMs), so batches are dropped whatever the
  // machine's speed.
  // First join and catch up, so the burst below meets a connected
  // subscriber (a PUB socket drops everything before the connection).
  RunRequests(*e.manager, rng, 3);
  e.publisher->PublishFrom(*e.manager);
  ASSERT_TRUE(Converge(e, *sub, *index, &rng));
  const uint64_t gaps_before = sub->stats(0).gaps;
  for (int step = 0; step < 2000; ++step) {
    RunRequests(*e.manager, rng, 3);
    e.publisher->PublishFrom(*e.manager);
  }
  ASSERT_TRUE(Converge(e, *sub, *index, &rng));
  EXPECT_GT(sub->stats(0).gaps, gaps_before);
  EXPECT_GE(sub->stats(0).snapshots + sub->stats(0).replays, 1u);
}

TEST(EventStreamTest, QueueOverflowDropsAreCountedAndRecovered) {
  EventPublisherConfig pc = PubConfig("tcp://127.0.0.1:*", "tcp://127.0.0.1:*");
  pc.max_queue_batches = 1;
  Engine e = MakeEngine(pc, 256);
  auto index = MakeIndex();
  auto sub = Subscribe(index.get(), e);
  std::mt19937_64 rng(8);
  // A large batch, then two resets at once: the sender is either still
  // encoding the first (the third is dropped) or has not taken it yet (the
  // second is). Only a scheduler thread paused for longer than that
  // encoding lets all three through, so the round is repeated until a drop.
  ASSERT_TRUE(PumpUntil([&] {
    RunRequests(*e.manager, rng, 40);
    e.publisher->PublishFrom(*e.manager);
    EXPECT_TRUE(e.publisher->ResetManager(*e.manager).ok());
    EXPECT_TRUE(e.publisher->ResetManager(*e.manager).ok());
    RunRequests(*e.manager, rng, 3);  // something cached for the snapshot
    e.publisher->PublishFrom(*e.manager);
    return e.publisher->Stats().batches_dropped > 0;
  }));
  const EventPublisherStats st = e.publisher->Stats();
  EXPECT_EQ(st.batches_published + st.batches_dropped,
            static_cast<uint64_t>(st.next_seq));
  // Dropped batches never reach the ring: recovery needs a snapshot.
  ASSERT_TRUE(Converge(e, *sub, *index, &rng));
  EXPECT_GE(sub->stats(0).snapshots, 1u);
}

// A raw PUB socket sends what no publisher would: each bad message is
// counted and skipped, and (without a replay endpoint) the instance is
// cleared rather than left with possibly stale blocks.
TEST(EventStreamTest, MalformedMessagesAreCountedAndSkipped) {
  zmq::context_t ctx;
  zmq::socket_t pub(ctx, zmq::socket_type::pub);
  pub.bind("tcp://127.0.0.1:*");
  const std::string ep = pub.get(zmq::sockopt::last_endpoint);
  auto index = MakeIndex();
  IndexSubscriberConfig c;
  c.sources.push_back(SourceConfig{"raw", ep, "", ""});
  c.log = false;
  auto sub = *IndexSubscriber::Create(c, index.get());
  auto send = [&](int64_t seq, const std::string& payload) {
    SendLive(pub, seq, payload);
  };
  auto stored = [](uint64_t hash, TokenId t) {
    return StoredBlocks({{hash, t}});
  };
  // Until the subscriber is connected, seq 0 is resent (a repeat of seq 0
  // looks like a restart: harmless, the state is the same).
  ASSERT_TRUE(PumpUntil([&] {
    send(0, stored(11, 1));
    sub->Poll(5);
    return sub->stats(0).watermark == 0;
  }));
  const uint64_t restarts = sub->stats(0).restarts;
  std::string good = stored(12, 2);
  send(1, "\xc1 not msgpack");
  send(2, good.substr(0, good.size() - 3));         // truncated
  send(3, std::string("\x94\x00\x90\x00\x00", 5));  // a batch of 4 fields
  pub.send(zmq::buffer(std::string("only one frame")), zmq::send_flags::none);
  send(4, stored(13, 3));
  ASSERT_TRUE(PumpUntil([&] {
    sub->Poll(5);
    return sub->stats(0).watermark == 4;
  }));
  EXPECT_EQ(sub->stats(0).malformed, 4u);  // three payloads, one framing
  EXPECT_EQ(sub->stats(0).restarts, restarts);
  // Only batch 4 survives: 1-3 were lost, so the instance was cleared.
  EXPECT_EQ(index->NumBlocks(sub->instance(0)), 1);
  EXPECT_TRUE(index->Verify().ok());
}

}  // namespace
}  // namespace pagekv::net
