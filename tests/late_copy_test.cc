// A replay can overtake the live socket: the subscriber then meets live
// batches at or below its watermark that it already has. Those are late
// copies, skipped; a batch that reuses a seq with another payload is a
// restarted publisher. Driven by hand through a raw PUB and ROUTER on
// loopback, so every interleaving is chosen, not raced.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "net_test_util.h"
#include "pagekv/net/cluster_index.h"
#include "pagekv/net/index_subscriber.h"
#include "pagekv/net/wire.h"
#include "raw_publisher_util.h"
#include "zmq.hpp"
#include "zmq_addon.hpp"

namespace pagekv::net {
namespace {

using pagekv::testing::PumpUntil;
using Replies = std::vector<std::pair<int64_t, std::string>>;

// Batch `seq` stores one block, its tokens all Token(seq, epoch); a
// snapshot as of `seq` the blocks of batches 0..seq. `epoch` tells two
// publishers' batches apart.
TokenId Token(int64_t seq, int epoch) {
  return static_cast<TokenId>(100 * epoch + seq);
}
std::string Blocks(int64_t first, int64_t last, int epoch) {
  std::vector<std::pair<uint64_t, TokenId>> blocks;
  for (int64_t seq = first; seq <= last; ++seq) {
    blocks.emplace_back(1000 * epoch + seq + 1, Token(seq, epoch));
  }
  return pagekv::testing::StoredBlocks(blocks, epoch);
}
std::string Batch(int64_t seq, int epoch) { return Blocks(seq, seq, epoch); }
std::string Snapshot(int64_t seq, int epoch) { return Blocks(0, seq, epoch); }
// Batches first..last of one publisher, as a replay answers them.
Replies Batches(int64_t first, int64_t last, int epoch) {
  Replies r;
  for (int64_t seq = first; seq <= last; ++seq) {
    r.emplace_back(seq, Batch(seq, epoch));
  }
  return r;
}

class LateCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pub_.bind("tcp://127.0.0.1:*");
    router_.bind("tcp://127.0.0.1:*");
    ClusterIndexConfig ic;
    ic.block_size = 4;
    index_ = *ClusterIndex::Create(ic);
    IndexSubscriberConfig c;
    c.sources.push_back(
        SourceConfig{"raw", pub_.get(zmq::sockopt::last_endpoint),
                     router_.get(zmq::sockopt::last_endpoint), ""});
    c.log = false;
    sub_ = *IndexSubscriber::Create(c, index_.get());
    // The catch-up replay asked for at start: nothing to replay yet.
    ServeReplay(0, {});
    // Live seq 0, resent until the SUB socket is connected (repeats are
    // late copies).
    ASSERT_TRUE(PumpUntil([&] {
      Send(0, Batch(0, 1));
      sub_->Poll(5);
      return sub_->stats(0).watermark == 0;
    }));
    PumpUntil([&] { return sub_->Poll(20) == 0; });  // drain the repeats
    // A repeat of seq 0 is a restart (harmless: the same batch again).
    restarts_ = sub_->stats(0).restarts;
  }

  void Send(int64_t seq, const std::string& payload) {
    pagekv::testing::SendLive(pub_, seq, payload);
  }

  // Waits for the subscriber's replay request from `start`, answers with
  // `batches` and the end marker, and waits until it is synced.
  void ServeReplay(int64_t start, const Replies& batches) {
    Answer(EncodeSeq(start), batches);
    EXPECT_TRUE(PumpUntil([&] {
      sub_->Poll(1);
      return sub_->Synced();
    }));
  }

  // Waits for a request with body `expected`, answers with `replies`
  // (seq, payload) and the end marker.
  void Answer(const std::string& expected, const Replies& replies) {
    std::vector<zmq::message_t> req;
    const bool got = PumpUntil([&] {
      sub_->Poll(1);
      req.clear();
      return zmq::recv_multipart(router_, std::back_inserter(req),
                                 zmq::recv_flags::dontwait)
          .has_value();
    });
    ASSERT_TRUE(got);
    ASSERT_EQ(req.size(), 3u);
    EXPECT_EQ(req[2].to_string(), expected);
    auto reply = [&](int64_t seq, const std::string& body) {
      const std::string seq_frame = EncodeSeq(seq);  // outlives the send
      std::vector<zmq::const_buffer> frames = {
          zmq::buffer(req[0].data(), req[0].size()), zmq::buffer("", 0),
          zmq::buffer(seq_frame), zmq::buffer(body)};
      zmq::send_multipart(router_, frames);
    };
    for (const auto& [seq, body] : replies) reply(seq, body);
    reply(kEndOfReplaySeq, "");
  }

  // Sends live `seq` and polls until the subscriber has taken it.
  void SendAndTake(int64_t seq, const std::string& payload) {
    const SourceStats before = sub_->stats(0);
    Send(seq, payload);
    ASSERT_TRUE(PumpUntil([&] {
      sub_->Poll(1);
      const SourceStats now = sub_->stats(0);
      return now.batches + now.late_copies + now.restarts + now.gaps >
             before.batches + before.late_copies + before.restarts +
                 before.gaps;
    }));
  }

  // Whether the index holds batch `seq`'s block of publisher `epoch`.
  bool Holds(int64_t seq, int epoch) {
    const TokenId t = Token(seq, epoch);
    const auto scores = index_->Score({t, t, t, t});
    return !scores.empty() && scores[0].blocks == 1;
  }

  // With the watermark at 4 from a resync the live socket lagged behind:
  // its copies of 3 and 4 arrive, then the new batch 5. `copies` counts
  // the late copies before them; the live 2 that showed the gap was one.
  void ExpectCopiesSkipped(uint64_t copies) {
    ASSERT_EQ(sub_->stats(0).watermark, 4);
    SendAndTake(3, Batch(3, 1));
    SendAndTake(4, Batch(4, 1));
    SendAndTake(5, Batch(5, 1));
    const SourceStats st = sub_->stats(0);
    EXPECT_EQ(st.restarts, restarts_);
    EXPECT_EQ(st.late_copies, copies + 3);  // 2 (buffered), 3, 4
    EXPECT_EQ(st.watermark, 5);
    EXPECT_TRUE(sub_->Synced());
    EXPECT_EQ(index_->NumBlocks(sub_->instance(0)), 6);
    EXPECT_TRUE(index_->Verify().ok());
  }

  // After a restart: one more counted, synced at `watermark`, and the
  // index holds the new publisher's batches 0..watermark and nothing else.
  void ExpectNewPublisherOnly(int64_t watermark) {
    const SourceStats st = sub_->stats(0);
    EXPECT_EQ(st.restarts, restarts_ + 1);
    EXPECT_EQ(st.watermark, watermark);
    EXPECT_TRUE(sub_->Synced());
    EXPECT_EQ(index_->NumBlocks(sub_->instance(0)), watermark + 1);
    for (int64_t seq = 0; seq <= watermark; ++seq) EXPECT_TRUE(Holds(seq, 2));
    EXPECT_TRUE(index_->Verify().ok());
  }

  zmq::context_t ctx_;
  zmq::socket_t pub_{ctx_, zmq::socket_type::pub};
  zmq::socket_t router_{ctx_, zmq::socket_type::router};
  std::unique_ptr<ClusterIndex> index_;
  std::unique_ptr<IndexSubscriber> sub_;
  uint64_t restarts_ = 0;
};

TEST_F(LateCopyTest, LiveCopiesOfReplayedBatchesAreSkipped) {
  const uint64_t copies = sub_->stats(0).late_copies;
  // Live 2 shows a gap; the replay (from the watermark, 0, which checks
  // the stream) brings up to 4, ahead of the live socket.
  SendAndTake(2, Batch(2, 1));
  ServeReplay(0, Batches(0, 4, 1));
  ExpectCopiesSkipped(copies);
}

TEST_F(LateCopyTest, LiveCopiesOfBatchesInASnapshotAreSkipped) {
  const uint64_t copies = sub_->stats(0).late_copies;
  // Live 2 shows a gap; the ring lacks 1, so a snapshot as of 4 follows.
  SendAndTake(2, Batch(2, 1));
  Answer(EncodeSeq(0), {{kReplayGapSeq, EncodeSeq(3)}});
  Answer("pagekv.snapshot", {{4, Snapshot(4, 1)}});
  ASSERT_TRUE(PumpUntil([&] {
    sub_->Poll(1);
    return sub_->Synced();
  }));
  ExpectCopiesSkipped(copies);
  EXPECT_EQ(sub_->stats(0).snapshots, 1u);
}

TEST_F(LateCopyTest, ASeqReusedWithAnotherPayloadIsARestart) {
  SendAndTake(2, Batch(2, 1));
  ServeReplay(0, Batches(0, 3, 1));
  ASSERT_EQ(sub_->stats(0).watermark, 3);
  // A restarted publisher whose first batch to arrive is its seq 3: above
  // the last live seq (2), below the watermark, but not the batch applied.
  SendAndTake(3, Batch(3, 2));
  EXPECT_EQ(sub_->stats(0).restarts, restarts_ + 1);
  ServeReplay(0, Batches(0, 3, 2));
  ExpectNewPublisherOnly(3);
}

TEST_F(LateCopyTest, ASeqAtOrBelowTheLastLiveOneIsARestart) {
  SendAndTake(1, Batch(1, 1));
  SendAndTake(2, Batch(2, 1));
  // The same payload, but the live socket already delivered seq 2: one
  // publisher never sends a seq twice, so this is a new one.
  const uint64_t copies = sub_->stats(0).late_copies;
  SendAndTake(2, Batch(2, 1));
  EXPECT_EQ(sub_->stats(0).restarts, restarts_ + 1);
  EXPECT_EQ(sub_->stats(0).late_copies, copies);
}

// A restarted publisher that got past the old watermark before the
// subscriber heard from it: the live seq shows only a gap, but the replay
// asked from the watermark brings another batch there.
TEST_F(LateCopyTest, ARestartPastTheWatermarkIsFoundByTheReplay) {
  SendAndTake(1, Batch(1, 1));
  SendAndTake(5, Batch(5, 2));
  Answer(EncodeSeq(1), Batches(1, 5, 2));
  ServeReplay(0, Batches(0, 5, 2));
  ExpectNewPublisherOnly(5);
}

// A replay from the watermark that ends without the batch there, and
// without a gap: the publisher has sent fewer batches than were applied
// from it. The live batch that showed the gap was the old publisher's.
TEST_F(LateCopyTest, AReplayWithoutTheWatermarksBatchIsARestart) {
  SendAndTake(1, Batch(1, 1));
  SendAndTake(3, Batch(3, 1));
  Answer(EncodeSeq(1), {});
  ServeReplay(0, {{0, Batch(0, 2)}});
  ExpectNewPublisherOnly(0);
}

// vLLM's publisher serves no snapshots: it answers the request with its
// end marker alone. A gap beyond its replay buffer is then cleared rather
// than left with entries whose removals were missed, and later gaps do not
// ask again.
TEST_F(LateCopyTest, APublisherWithoutSnapshotsIsClearedInstead) {
  SendAndTake(3, Batch(3, 1));
  Answer(EncodeSeq(0), Batches(2, 3, 1));  // its buffer lost batch 1
  Answer("pagekv.snapshot", {});
  ASSERT_TRUE(PumpUntil([&] {
    sub_->Poll(1);
    return sub_->Synced();
  }));
  EXPECT_EQ(sub_->stats(0).watermark, 3);
  EXPECT_EQ(index_->NumBlocks(sub_->instance(0)), 1);  // batch 3 only
  EXPECT_FALSE(Holds(0, 1));
  EXPECT_TRUE(Holds(3, 1));
  // The next gap beyond the buffer: cleared again, with no snapshot asked.
  SendAndTake(6, Batch(6, 1));
  Answer(EncodeSeq(3), {{3, Batch(3, 1)}, {5, Batch(5, 1)}, {6, Batch(6, 1)}});
  ASSERT_TRUE(PumpUntil([&] {
    sub_->Poll(1);
    return sub_->Synced();
  }));
  const SourceStats st = sub_->stats(0);
  EXPECT_EQ(st.watermark, 6);
  EXPECT_EQ(st.snapshots, 1u);
  EXPECT_EQ(st.restarts, restarts_);
  EXPECT_EQ(index_->NumBlocks(sub_->instance(0)), 1);  // batch 6 only
  EXPECT_TRUE(Holds(6, 1));
  std::vector<zmq::message_t> req;
  EXPECT_FALSE(zmq::recv_multipart(router_, std::back_inserter(req),
                                   zmq::recv_flags::dontwait));
  EXPECT_TRUE(index_->Verify().ok());
}

}  // namespace
}  // namespace pagekv::net
