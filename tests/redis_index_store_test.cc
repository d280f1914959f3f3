// RedisIndexStore against a real redis-server started by the test on a free
// loopback port in a temporary directory: killed and restarted while two
// engines keep publishing, the store reports degraded (never an answer) and
// ends equal to each engine's true cached set.
#include "pagekv/net/redis_index_store.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "net_test_util.h"
#include "pagekv/net/event_publisher.h"
#include "pagekv/net/index_subscriber.h"
#include "redis_server.h"

namespace pagekv::net {
namespace {

using pagekv::testing::EventConfig;
using pagekv::testing::FreePort;
using pagekv::testing::PumpUntil;
using pagekv::testing::RedisServer;
using pagekv::testing::RunRequests;
using pagekv::testing::TrueKeys;

struct Engine {
  std::unique_ptr<KVCacheManager> manager;
  std::unique_ptr<EventPublisher> publisher;
};

TEST(RedisIndexStoreTest, KilledAndRestartedRedisEndsEqualToTheEngines) {
  signal(SIGPIPE, SIG_IGN);  // hiredis may write to a socket Redis closed
  const std::string dir =
      ::testing::TempDir() + "pagekv_redis_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const int port = FreePort();
  RedisServer redis(port, dir);
  ASSERT_TRUE(redis.Start());
  RedisStoreConfig rc;
  rc.port = port;
  rc.min_backoff_ms = 10;
  rc.max_backoff_ms = 100;
  auto store = *RedisIndexStore::Create(rc);

  std::vector<Engine> engines(2);
  IndexSubscriberConfig sc;
  sc.log = false;
  for (size_t i = 0; i < engines.size(); ++i) {
    engines[i].manager = *KVCacheManager::Create(EventConfig(96));
    EventPublisherConfig pc;
    pc.endpoint = "tcp://127.0.0.1:*";
    pc.replay_endpoint = "tcp://127.0.0.1:*";
    engines[i].publisher = *EventPublisher::Create(pc);
    sc.sources.push_back({"engine-" + std::to_string(i),
                          engines[i].publisher->endpoint(),
                          engines[i].publisher->replay_endpoint(), ""});
  }
  ClusterIndexConfig ic;
  ic.block_size = 4;
  ic.hash_seed = 7;
  auto index = *ClusterIndex::Create(ic);
  auto sub = *IndexSubscriber::Create(sc, index.get());
  ASSERT_TRUE(PumpUntil([&] {
    if (redis.Exited()) return true;
    return store->Sync(*index).ok();
  })) << "redis-server did not come up";
  ASSERT_FALSE(redis.Exited())
      << "redis-server is missing or failed: install it (scripts/setup.sh)";

  std::mt19937_64 rng(31);
  auto step = [&] {
    for (Engine& e : engines) {
      RunRequests(*e.manager, rng, 2);
      e.publisher->PublishFrom(*e.manager);
    }
    sub->Poll(1);
    return store->Sync(*index);
  };
  for (int i = 0; i < 40; ++i) (void)step();  // Redis up: under load
  redis.Kill();
  bool saw_unavailable = false;
  for (int i = 0; i < 40; ++i) {
    const absl::Status s = step();
    saw_unavailable |= absl::IsUnavailable(s);
  }
  EXPECT_TRUE(saw_unavailable);
  EXPECT_TRUE(store->degraded());
  EXPECT_TRUE(absl::IsUnavailable(store->Score({1, 2, 3}).status()));
  ASSERT_TRUE(redis.Start());
  for (int i = 0; i < 40; ++i) (void)step();  // Redis up: under load
  // Quiet engines from here: the index and Redis must settle on their sets.
  ASSERT_TRUE(PumpUntil([&] {
    for (Engine& e : engines) e.publisher->PublishFrom(*e.manager);
    sub->Poll(5);
    if (!store->Sync(*index).ok() || !sub->Synced()) return false;
    for (size_t i = 0; i < engines.size(); ++i) {
      auto keys = store->InstanceKeys("engine-" + std::to_string(i));
      if (!keys.ok() || *keys != TrueKeys(*engines[i].manager)) return false;
    }
    return true;
  }));
  EXPECT_FALSE(store->degraded());
  EXPECT_GE(store->stats().full_rewrites, 1u);
  EXPECT_GE(store->stats().reconnects, 1u);
  // Scores read from Redis agree with the in-memory index.
  std::vector<TokenId> prompt = {0, 1, 2, 3, 4, 5, 6, 7, 9, 9, 9, 9, 9};
  std::vector<uint64_t> keys;
  index->hasher().ExtendKeys(prompt, {}, &keys);
  auto from_redis = store->Score(keys);
  ASSERT_TRUE(from_redis.ok()) << from_redis.status();
  auto from_index = index->ScoreKeys(keys);
  ASSERT_EQ(from_redis->size(), from_index.size());
  for (size_t i = 0; i < from_index.size(); ++i) {
    EXPECT_EQ((*from_redis)[i].instance, index->name(from_index[i].instance));
    EXPECT_EQ((*from_redis)[i].blocks, from_index[i].blocks);
  }
  redis.Kill();
  std::filesystem::remove_all(dir);
}

TEST(RedisIndexStoreTest, TtlIsSetOnWrittenKeys) {
  signal(SIGPIPE, SIG_IGN);
  const std::string dir =
      ::testing::TempDir() + "pagekv_redis_ttl_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const int port = FreePort();
  RedisServer redis(port, dir);
  ASSERT_TRUE(redis.Start());
  RedisStoreConfig rc;
  rc.port = port;
  rc.ttl_s = 600;
  rc.min_backoff_ms = 10;
  auto store = *RedisIndexStore::Create(rc);
  ClusterIndexConfig ic;
  ic.block_size = 4;
  auto index = *ClusterIndex::Create(ic);
  const InstanceId a = *index->AddInstance("a");
  WireBatch batch;
  WireBlockStored s;
  s.block_hashes = {1};
  s.token_ids = {1, 2, 3, 4};
  s.block_size = 4;
  batch.events.push_back(s);
  ASSERT_TRUE(index->Apply(a, batch).ok());
  ASSERT_TRUE(PumpUntil([&] { return store->Sync(*index).ok(); }));
  const uint64_t key = index->Keys(a).at(0);
  redisContext* c = redisConnect("127.0.0.1", port);
  ASSERT_TRUE(c != nullptr && c->err == 0);
  const std::string name = fmt::format("pagekv:key:{:016x}", key);
  auto* ttl = static_cast<redisReply*>(redisCommand(c, "TTL %s", name.c_str()));
  ASSERT_NE(ttl, nullptr);
  EXPECT_EQ(ttl->type, REDIS_REPLY_INTEGER);
  EXPECT_GT(ttl->integer, 0);
  EXPECT_LE(ttl->integer, 600);
  freeReplyObject(ttl);
  redisFree(c);
  redis.Kill();
  std::filesystem::remove_all(dir);
}

TEST(RedisIndexStoreTest, UrlsAreParsedOrRejected) {
  auto c = RedisStoreConfig::FromUrl("redis://10.0.0.2:7000");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "10.0.0.2");
  EXPECT_EQ(c->port, 7000);
  EXPECT_EQ(RedisStoreConfig::FromUrl("redis://h")->port, 6379);
  EXPECT_FALSE(RedisStoreConfig::FromUrl("http://h:1").ok());
  EXPECT_FALSE(RedisStoreConfig::FromUrl("redis://h:99999").ok());
}

}  // namespace
}  // namespace pagekv::net
