// RedisKVStore against a real redis-server on a free loopback port: round
// trips, namespaces, corruption written directly into Redis, capacity (LRU
// and noeviction), AUTH, and the server killed, paused, put to sleep and
// restarted. In every case a returned block equals what was put for exactly
// that block, and nothing else is returned.
#include "pagekv/net/redis_kv_store.h"

#include <hiredis/hiredis.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "net_test_util.h"
#include "redis_kv_test_util.h"
#include "redis_server.h"

namespace pagekv::net {
namespace {

using pagekv::testing::PumpUntil;
using pagekv::testing::RedisFixture;
using pagekv::testing::TestChain;

TEST(RedisKVStoreTest, PutThenLookupAndGetReturnTheVerifiedPrefix) {
  RedisFixture redis;
  ASSERT_TRUE(redis.Up());
  auto store = redis.Store();
  TestChain chain(8, 4096);
  ASSERT_EQ(*store->Put(chain.Records(0, 5), chain.Payloads(0, 5)), 5);
  EXPECT_EQ(store->Lookup(chain.Records(0, 8)), 5);
  std::vector<std::vector<uint8_t>> out;
  EXPECT_EQ(*store->Get(chain.Records(0, 8), chain.Buffers(&out)), 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(out[i], chain.payloads[i]) << i;
  for (int i = 5; i < 8; ++i) EXPECT_EQ(out[i], chain.Untouched()) << i;
  // A chain starting mid-way (after a GPU hit) is looked up the same way.
  EXPECT_EQ(store->Lookup(chain.Records(2, 8)), 3);
  const RemoteStoreStats s = store->stats();
  EXPECT_EQ(s.stored_blocks, 5u);
  EXPECT_EQ(s.get_hits, 5u);
  EXPECT_EQ(s.bytes_loaded, 5u * 4096);
  EXPECT_EQ(s.absent, 3u);  // the first missing block of each call
  EXPECT_FALSE(s.degraded);
  PAGEKV_EXPECT_OK(store->Verify());
  EXPECT_FALSE(store->Get(chain.Records(0, 2), {}).ok());  // sizes differ
}

TEST(RedisKVStoreTest, ModelsLayoutsAndSaltsDoNotShareBlocks) {
  RedisFixture redis;
  ASSERT_TRUE(redis.Up());
  auto store = redis.Store();
  TestChain chain(4, 256);
  ASSERT_EQ(*store->Put(chain.Records(0, 4), chain.Payloads(0, 4)), 4);
  RedisKVStoreConfig other = redis.Config();
  other.model = "other-model";
  EXPECT_EQ((*RedisKVStore::Create(other))->Lookup(chain.Records(0, 4)), 0);
  other = redis.Config();
  other.layout = "bs4-other";
  EXPECT_EQ((*RedisKVStore::Create(other))->Lookup(chain.Records(0, 4)), 0);
  TestChain salted(4, 256, /*salt=*/5);
  EXPECT_EQ(store->Lookup(salted.Records(0, 4)), 0);
  // Deleting the namespace removes the blocks of every salt.
  ASSERT_EQ(*store->Put(salted.Records(0, 2), salted.Payloads(0, 2)), 2);
  EXPECT_EQ(*store->DeleteNamespace(), 6);
  EXPECT_EQ(store->Lookup(chain.Records(0, 4)), 0);
}

TEST(RedisKVStoreTest, CorruptOrForeignValuesAreMissesNeverWrongKV) {
  RedisFixture redis;
  ASSERT_TRUE(redis.Up());
  auto store = redis.Store();
  TestChain chain(6, 1024);
  ASSERT_EQ(*store->Put(chain.Records(0, 6), chain.Payloads(0, 6)), 6);
  const auto key = [&](int i) { return store->RedisKey(chain.records[i]); };
  // Block 4: one byte of its tokens flipped (header checksum fails).
  redis.Admin("SETRANGE " + key(4) + " 60 X");
  EXPECT_EQ(store->Lookup(chain.Records(0, 6)), 4);
  EXPECT_EQ(store->stats().fault(RemoteFault::kCorrupt), 1u);
  // Block 2: one payload byte flipped: the header looks fine, the payload
  // checksum does not.
  redis.Admin("SETRANGE " + key(2) + " 200 X");
  EXPECT_EQ(store->Lookup(chain.Records(0, 6)), 4);
  std::vector<std::vector<uint8_t>> out;
  EXPECT_EQ(*store->Get(chain.Records(0, 6), chain.Buffers(&out)), 2);
  EXPECT_EQ(out[2], chain.Untouched());
  // Block 1: a valid value of another block copied under its key (what a
  // 64-bit key collision would look like).
  redis.Admin("COPY " + key(3) + " " + key(1) + " REPLACE");
  EXPECT_EQ(store->Lookup(chain.Records(0, 6)), 1);
  EXPECT_GE(store->stats().fault(RemoteFault::kMismatch), 1u);
  // Block 0: truncated, then a key of the wrong type.
  redis.Admin("SET " + key(0) + " short");
  EXPECT_EQ(store->Lookup(chain.Records(0, 1)), 0);
  redis.Admin("DEL " + key(0));
  redis.Admin("LPUSH " + key(0) + " x");
  EXPECT_EQ(store->Lookup(chain.Records(0, 1)), 0);
  EXPECT_EQ(*store->Get(chain.Records(0, 1), chain.Buffers(&out, 1)), 0);
  EXPECT_GE(store->stats().fault(RemoteFault::kServerError), 2u);
  // A buffer of the wrong size gets nothing.
  TestChain fresh(1, 512, /*salt=*/9);
  ASSERT_EQ(*store->Put(fresh.Records(0, 1), fresh.Payloads(0, 1)), 1);
  std::vector<uint8_t> small(100, 0);
  const absl::Span<uint8_t> buf(small);
  EXPECT_EQ(*store->Get(fresh.Records(0, 1), {&buf, 1}), 0);
  EXPECT_EQ(store->stats().fault(RemoteFault::kSizeMismatch), 1u);
  EXPECT_FALSE(store->stats().degraded);  // data faults keep the connection
  PAGEKV_EXPECT_OK(store->Verify());
}

TEST(RedisKVStoreTest, TtlIsSetInMilliseconds) {
  RedisFixture redis;
  ASSERT_TRUE(redis.Up());
  RedisKVStoreConfig config = redis.Config();
  config.default_ttl_ms = 60000;
  auto store = *RedisKVStore::Create(config);
  TestChain chain(2, 64);
  ASSERT_EQ(*store->Put(chain.Records(0, 1), chain.Payloads(0, 1), 5000), 1);
  ASSERT_EQ(*store->Put(chain.Records(1, 2), chain.Payloads(1, 2)), 1);
  const int64_t a = redis.AdminInt("PTTL " + store->RedisKey(chain.records[0]));
  const int64_t b = redis.AdminInt("PTTL " + store->RedisKey(chain.records[1]));
  EXPECT_GT(a, 0);
  EXPECT_LE(a, 5000);
  EXPECT_GT(b, 5000);
  EXPECT_LE(b, 60000);
  EXPECT_FALSE(store->Put(chain.Records(0, 1), chain.Payloads(0, 1), -2).ok());
}

TEST(RedisKVStoreTest, LruCapacityEvictsBlocksWhichThenMissCleanly) {
  RedisFixture redis(
      {"--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"});
  ASSERT_TRUE(redis.Up());
  auto store = redis.Store();
  TestChain chain(160, 64 * 1024);  // 10 MiB into 4 MiB
  for (int i = 0; i < 160; i += 16) {
    EXPECT_EQ(*store->Put(chain.Records(i, i + 16), chain.Payloads(i, i + 16)),
              16);
  }
  auto info = store->ServerInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->maxmemory_policy, "allkeys-lru");
  EXPECT_EQ(info->maxmemory, 4 << 20);
  EXPECT_GT(info->evicted_keys, 0);
  // Redis's LRU clock ticks in seconds, so which blocks of a sub-second
  // run went is Redis's sampling; what the test pins down is that some went
  // and read as misses, and that every block still present comes back
  // verified and exact, one at a time.
  int32_t present = 0;
  for (int i = 0; i < 160; ++i) {
    if (store->Lookup(chain.Records(i, i + 1)) == 0) continue;
    ++present;
    std::vector<std::vector<uint8_t>> out;
    // Serving a GET can itself evict (Redis counts reply buffers as used
    // memory): a block may read as a miss, never as other bytes.
    if (*store->Get(chain.Records(i, i + 1), chain.Buffers(&out, 1)) == 1) {
      EXPECT_EQ(out[0], chain.payloads[i]) << i;
    } else {
      EXPECT_EQ(out[0], chain.Untouched()) << i;
    }
  }
  EXPECT_GT(present, 0);
  EXPECT_LT(present, 160);
  EXPECT_GE(store->stats().absent, static_cast<uint64_t>(160 - present));
}

TEST(RedisKVStoreTest, FullRedisDropsPutsAndKeepsServingReads) {
  RedisFixture redis(
      {"--maxmemory", "3mb", "--maxmemory-policy", "noeviction"});
  ASSERT_TRUE(redis.Up());
  auto store = redis.Store();
  TestChain chain(96, 64 * 1024);  // 6 MiB into 3 MiB
  int32_t stored = 0;
  for (int i = 0; i < 96; i += 8) {
    stored += *store->Put(chain.Records(i, i + 8), chain.Payloads(i, i + 8));
  }
  const RemoteStoreStats s = store->stats();
  EXPECT_GT(stored, 0);
  EXPECT_LT(stored, 96);
  EXPECT_EQ(s.dropped_blocks, 96u - stored);
  EXPECT_EQ(s.fault(RemoteFault::kOutOfMemory), s.dropped_blocks);
  EXPECT_FALSE(s.degraded);
  const int32_t hit = store->Lookup(chain.Records(0, 96));
  EXPECT_GT(hit, 0);
  EXPECT_LE(hit, stored);
  std::vector<std::vector<uint8_t>> out;
  EXPECT_EQ(*store->Get(chain.Records(0, hit), chain.Buffers(&out, hit)), hit);
  for (int i = 0; i < hit; ++i) EXPECT_EQ(out[i], chain.payloads[i]);
  PAGEKV_EXPECT_OK(store->Verify());
}

TEST(RedisKVStoreTest, AuthIsSentAndAWrongPasswordIsAConnectFault) {
  RedisFixture redis({"--requirepass", "s3cret"});
  ASSERT_TRUE(redis.Up("s3cret"));
  TestChain chain(2, 128);
  RedisKVStoreConfig config = redis.Config();
  config.password = "s3cret";
  auto good = *RedisKVStore::Create(config);
  EXPECT_EQ(*good->Put(chain.Records(0, 2), chain.Payloads(0, 2)), 2);
  EXPECT_EQ(good->Lookup(chain.Records(0, 2)), 2);
  config.password = "wrong";
  auto bad = *RedisKVStore::Create(config);
  EXPECT_EQ(bad->Lookup(chain.Records(0, 2)), 0);
  EXPECT_GE(bad->stats().fault(RemoteFault::kConnect), 1u);
  EXPECT_TRUE(bad->stats().degraded);
  config.password.clear();  // no AUTH: every reply is NOAUTH
  auto none = *RedisKVStore::Create(config);
  EXPECT_EQ(none->Lookup(chain.Records(0, 2)), 0);
  EXPECT_EQ(*none->Put(chain.Records(0, 2), chain.Payloads(0, 2)), 0);
  EXPECT_GE(none->stats().fault(RemoteFault::kServerError), 3u);
  PAGEKV_EXPECT_OK(none->Verify());
}

}  // namespace
}  // namespace pagekv::net
