// `pagekv index` as a process: it subscribes to a real publisher, and its
// REQ/REP answers match the engine's own prefix match once in step.
#include <cstdio>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "net_test_util.h"
#include "nlohmann/json.hpp"
#include "pagekv/net/event_publisher.h"
#include "zmq.hpp"

namespace pagekv::net {
namespace {

using pagekv::testing::EventConfig;
using pagekv::testing::PumpUntil;
using pagekv::testing::RunRequests;

nlohmann::json Ask(zmq::socket_t& req, const nlohmann::json& body) {
  const std::string s = body.dump();
  req.send(zmq::buffer(s), zmq::send_flags::none);
  zmq::message_t reply;
  if (!req.recv(reply)) return {{"error", "no reply"}};
  return nlohmann::json::parse(reply.to_string());
}

TEST(IndexCommandTest, AnswersScoresLikeTheEngine) {
  auto manager = *KVCacheManager::Create(EventConfig(64));
  EventPublisherConfig pc;
  pc.endpoint = "tcp://127.0.0.1:*";
  pc.replay_endpoint = "tcp://127.0.0.1:*";
  auto publisher = *EventPublisher::Create(pc);
  const std::string cmd = std::string(PAGEKV_CLI_PATH) + " index --subscribe " +
                          publisher->endpoint() + " --replay " +
                          publisher->replay_endpoint() +
                          " --listen tcp://127.0.0.1:* --block-size 4"
                          " --hash-seed 7 --duration-s 60";
  FILE* proc = popen(cmd.c_str(), "r");
  ASSERT_NE(proc, nullptr);
  char line[256] = {};
  ASSERT_NE(fgets(line, sizeof(line), proc), nullptr);
  std::string listening(line);
  ASSERT_EQ(listening.rfind("listening ", 0), 0u) << listening;
  listening = listening.substr(10, listening.find('\n') - 10);

  zmq::context_t ctx;
  zmq::socket_t req(ctx, zmq::socket_type::req);
  req.set(zmq::sockopt::rcvtimeo, 5000);
  req.set(zmq::sockopt::linger, 0);
  req.connect(listening);
  std::mt19937_64 rng(21);
  RunRequests(*manager, rng, 10);
  // A prompt of prefix 0's two shared blocks, then a partial block.
  std::vector<TokenId> prompt = {0, 1, 2, 3, 4, 5, 6, 7, 1, 2};
  const PrefixMatch hit = manager->MatchPrefix(prompt);
  ASSERT_GT(hit.num_blocks, 0);
  nlohmann::json reply;
  ASSERT_TRUE(PumpUntil([&] {
    publisher->PublishFrom(*manager);
    reply = Ask(req, {{"tokens", prompt}});
    return reply.contains("scores") && reply["synced"] == true &&
           reply["scores"][0]["blocks"] == hit.num_blocks;
  })) << reply.dump();
  EXPECT_EQ(reply["scores"][0]["instance"], publisher->endpoint());
  EXPECT_EQ(reply["scores"][0]["tokens"], hit.num_blocks * 4);
  EXPECT_EQ(reply["scores"][0]["by_medium"]["GPU"], hit.num_blocks);
  // A salted request shares none of the unsalted blocks.
  EXPECT_EQ(
      Ask(req, {{"tokens", prompt}, {"cache_salt", 1}})["scores"][0]["blocks"],
      0);
  EXPECT_TRUE(Ask(req, {{"tokens", "nope"}}).contains("error"));
  EXPECT_TRUE(Ask(req, {{"op", "stats"}})["sources"][0]["batches"] > 0);
  EXPECT_EQ(Ask(req, {{"op", "shutdown"}})["ok"], true);
  EXPECT_EQ(pclose(proc), 0);
}

}  // namespace
}  // namespace pagekv::net
