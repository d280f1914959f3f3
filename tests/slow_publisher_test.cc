// A publisher whose replay answers take longer than the subscriber's
// request timeout. A retry goes on a fresh socket and loses the answer on
// its way, so only a growing timeout lets the subscriber hear one.
#include <chrono>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "net_test_util.h"
#include "pagekv/net/cluster_index.h"
#include "pagekv/net/index_subscriber.h"
#include "pagekv/net/wire.h"
#include "zmq.hpp"
#include "zmq_addon.hpp"

namespace pagekv::net {
namespace {

using Clock = std::chrono::steady_clock;

TEST(SlowPublisherTest, RetriesWaitLongerUntilTheAnswerArrives) {
  zmq::context_t ctx;
  zmq::socket_t pub(ctx, zmq::socket_type::pub);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  pub.bind("tcp://127.0.0.1:*");
  router.bind("tcp://127.0.0.1:*");
  ClusterIndexConfig ic;
  ic.block_size = 4;
  auto index = *ClusterIndex::Create(ic);
  IndexSubscriberConfig c;
  c.sources.push_back(SourceConfig{"slow", pub.get(zmq::sockopt::last_endpoint),
                                   router.get(zmq::sockopt::last_endpoint),
                                   ""});
  c.log = false;
  c.request_timeout_ms = 40;
  auto sub = *IndexSubscriber::Create(c, index.get());
  // Every request (the catch-up replay from 0 asked at start, then its
  // retries) is answered, empty, 3 timeouts after it arrives: later than
  // the first two tries wait (40, 80 ms), sooner than the third (160 ms).
  constexpr auto kDelay = std::chrono::milliseconds(120);
  std::deque<std::pair<Clock::time_point, std::string>> pending;
  int requests = 0;
  const bool synced = pagekv::testing::PumpUntil([&] {
    sub->Poll(1);
    std::vector<zmq::message_t> req;
    if (zmq::recv_multipart(router, std::back_inserter(req),
                            zmq::recv_flags::dontwait)) {
      ++requests;
      pending.emplace_back(Clock::now(), req[0].to_string());
    }
    while (!pending.empty() && Clock::now() - pending.front().first >= kDelay) {
      const std::string end = EncodeSeq(kEndOfReplaySeq);
      std::vector<zmq::const_buffer> frames = {
          zmq::buffer(pending.front().second), zmq::buffer("", 0),
          zmq::buffer(end), zmq::buffer("", 0)};
      zmq::send_multipart(router, frames);
      pending.pop_front();
    }
    return sub->Synced();
  });
  ASSERT_TRUE(synced) << requests << " requests, none heard";
  EXPECT_GE(sub->stats(0).timeouts, 2u);
  EXPECT_EQ(sub->stats(0).timeouts + 1, static_cast<uint64_t>(requests));
}

}  // namespace
}  // namespace pagekv::net
