// RedisKVStore under faults of a real redis-server: killed, refused from the
// start, paused with SIGSTOP, asleep in DEBUG SLEEP, restarted without its
// data. Every call returns within a bound, misses instead of failing, counts
// the reason, and the store recovers once Redis answers again; nothing ever
// returned differs from what was put for that block.
#include <chrono>
#include <functional>

#include "gtest/gtest.h"
#include "pagekv/net/redis_kv_store.h"
#include "redis_kv_test_util.h"

namespace pagekv::net {
namespace {

using pagekv::testing::FreePort;
using pagekv::testing::PumpUntil;
using pagekv::testing::RedisFixture;
using pagekv::testing::TestChain;

// A call's wall time must stay within this bound for a 150 ms timeout: a
// correctness bound (the engine must not stall), with ample slack for a
// loaded machine, not a performance figure.
constexpr auto kBound = std::chrono::milliseconds(2000);
constexpr int64_t kTimeoutMs = 150;

std::chrono::milliseconds Elapsed(const std::function<void()>& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - t0);
}

// Lookup, Get and Put of a chain while Redis is not answering: all miss or
// drop within kBound, and the buffers stay untouched.
void ExpectMissesWithinBound(RedisKVStore& store, const TestChain& chain) {
  int32_t found = -1;
  EXPECT_LT(Elapsed([&] { found = store.Lookup(chain.Records(0, 4)); }),
            kBound);
  EXPECT_EQ(found, 0);
  std::vector<std::vector<uint8_t>> out;
  EXPECT_LT(Elapsed([&] {
              found = *store.Get(chain.Records(0, 4), chain.Buffers(&out));
            }),
            kBound);
  EXPECT_EQ(found, 0);
  for (const auto& b : out) EXPECT_EQ(b, chain.Untouched());
  const uint64_t dropped = store.stats().dropped_blocks;
  EXPECT_LT(Elapsed([&] {
              found = *store.Put(chain.Records(0, 4), chain.Payloads(0, 4));
            }),
            kBound);
  EXPECT_EQ(found, 0);
  EXPECT_EQ(store.stats().dropped_blocks, dropped + 4);
  EXPECT_TRUE(store.stats().degraded);
  PAGEKV_EXPECT_OK(store.Verify());
}

// Whether the store serves `chain` again, exactly (bounded wait).
bool ServesAgain(RedisKVStore& store, const TestChain& chain, bool put) {
  return PumpUntil([&] {
    if (put && *store.Put(chain.Records(0, 4), chain.Payloads(0, 4)) != 4) {
      return false;
    }
    std::vector<std::vector<uint8_t>> out;
    if (store.Lookup(chain.Records(0, 4)) != 4 ||
        *store.Get(chain.Records(0, 4), chain.Buffers(&out)) != 4) {
      return false;
    }
    for (int i = 0; i < 4; ++i) {
      if (out[i] != chain.payloads[i]) return false;
    }
    return true;
  });
}

TEST(RedisKVFaultsTest, NoServerAtAllIsAConnectFaultAndMisses) {
  RedisKVStoreConfig config;
  config.port = FreePort();  // nobody listens
  config.timeout_ms = kTimeoutMs;
  config.min_backoff_ms = 10;
  auto store = *RedisKVStore::Create(config);
  EXPECT_TRUE(store->stats().degraded);
  EXPECT_GE(store->stats().fault(RemoteFault::kConnect), 1u);
  TestChain chain(4, 256);
  ExpectMissesWithinBound(*store, chain);
  // Inside the backoff the network is not touched.
  EXPECT_EQ(store->Lookup(chain.Records(0, 4)), 0);
  EXPECT_GE(store->stats().fault(RemoteFault::kUnavailable), 1u);
}

TEST(RedisKVFaultsTest, KilledAndRestartedRedisMissesThenServesAgain) {
  RedisFixture redis;
  ASSERT_TRUE(redis.Up());
  auto store = redis.Store(kTimeoutMs);
  TestChain chain(4, 8192);
  ASSERT_TRUE(ServesAgain(*store, chain, /*put=*/true));
  redis.Kill();
  ExpectMissesWithinBound(*store, chain);
  const RemoteStoreStats s = store->stats();
  EXPECT_GE(s.fault(RemoteFault::kConnection) + s.fault(RemoteFault::kConnect),
            1u);
  // Restarted empty: once reconnected, the old blocks are simply absent.
  ASSERT_TRUE(redis.Up());
  ASSERT_TRUE(PumpUntil([&] {
    return store->Lookup(chain.Records(0, 4)) == 0 && !store->stats().degraded;
  }));
  std::vector<std::vector<uint8_t>> out;
  EXPECT_EQ(*store->Get(chain.Records(0, 4), chain.Buffers(&out)), 0);
  EXPECT_GE(store->stats().reconnects, 1u);
  EXPECT_TRUE(ServesAgain(*store, chain, /*put=*/true));
  PAGEKV_EXPECT_OK(store->Verify());
}

TEST(RedisKVFaultsTest, PausedRedisTimesOutThenServesItsDataAgain) {
  RedisFixture redis;
  ASSERT_TRUE(redis.Up());
  auto store = redis.Store(kTimeoutMs);
  TestChain chain(4, 8192);
  ASSERT_TRUE(ServesAgain(*store, chain, /*put=*/true));
  redis.Pause();  // SIGSTOP: connections open, nothing answers
  ExpectMissesWithinBound(*store, chain);
  EXPECT_GE(store->stats().fault(RemoteFault::kTimeout), 1u);
  redis.Resume();
  EXPECT_TRUE(ServesAgain(*store, chain, /*put=*/false));  // data kept
  EXPECT_GE(store->stats().reconnects, 1u);
}

TEST(RedisKVFaultsTest, SleepingRedisTimesOutThenServesAgain) {
  RedisFixture redis({"--enable-debug-command", "local"});
  ASSERT_TRUE(redis.Up());
  auto store = redis.Store(kTimeoutMs);
  TestChain chain(4, 8192);
  ASSERT_TRUE(ServesAgain(*store, chain, /*put=*/true));
  // DEBUG SLEEP arrives on another connection, so it may run before or
  // after a lookup: repeat (bounded) until a lookup meets a sleeping Redis.
  // Every answer is either the whole chain or nothing, within the bound.
  ASSERT_TRUE(PumpUntil([&] {
    redis.AdminSend("DEBUG SLEEP 0.5");
    const uint64_t timeouts = store->stats().fault(RemoteFault::kTimeout);
    int32_t found = -1;
    EXPECT_LT(Elapsed([&] { found = store->Lookup(chain.Records(0, 4)); }),
              kBound);
    EXPECT_TRUE(found == 0 || found == 4) << found;
    return found == 0 && store->stats().fault(RemoteFault::kTimeout) > timeouts;
  }));
  EXPECT_TRUE(ServesAgain(*store, chain, /*put=*/false));
}

}  // namespace
}  // namespace pagekv::net
