// The remote KV tier (RedisKVStore) on loopback, against a redis-server
// child of the benchmark: Put, Lookup and Get of one pipelined batch of
// `blocks` blocks of `bytes` bytes, and, without the network, the cost of
// encoding and verifying a value next to a plain memcpy of its payload (the
// baseline: what any store must at least do).
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "net/remote_value.h"
#include "pagekv/block_chain.h"
#include "pagekv/net/redis_kv_store.h"
#include "redis_server.h"

namespace pagekv::net {
namespace {

struct Batch {
  std::vector<TokenId> tokens;
  std::vector<BlockRecord> chain;
  std::vector<std::vector<uint8_t>> payloads;
  std::vector<std::vector<uint8_t>> loaded;
  std::vector<absl::Span<const uint8_t>> in;
  std::vector<absl::Span<uint8_t>> out;

  Batch(int blocks, size_t bytes) : tokens(blocks * 16 + 1) {
    std::mt19937_64 rng(blocks * 131 + bytes);
    for (TokenId& t : tokens) t = static_cast<TokenId>(rng() % 32000);
    KVCacheConfig c;
    c.block_size = 16;
    chain = ComputeBlockChain(c, tokens, {}, blocks).blocks;
    payloads.assign(blocks, std::vector<uint8_t>(bytes));
    for (auto& p : payloads) {
      for (uint8_t& b : p) b = static_cast<uint8_t>(rng());
    }
    loaded.assign(blocks, std::vector<uint8_t>(bytes));
    for (auto& p : payloads) in.emplace_back(p);
    for (auto& p : loaded) out.emplace_back(p);
  }
};

struct Redis {
  std::string dir;
  std::unique_ptr<pagekv::testing::RedisServer> server;
  std::unique_ptr<RedisKVStore> store;
  Redis() {
    signal(SIGPIPE, SIG_IGN);
    dir = std::filesystem::temp_directory_path().string() +
          "/pagekv_bench_remote_" + std::to_string(getpid());
    std::filesystem::create_directories(dir);
    const int port = pagekv::testing::FreePort();
    server = std::make_unique<pagekv::testing::RedisServer>(port, dir);
    server->Start();
    RedisKVStoreConfig c;
    c.port = port;
    c.timeout_ms = 5000;
    c.min_backoff_ms = 5;
    c.max_backoff_ms = 5;
    c.log = false;
    store = *RedisKVStore::Create(c);
  }
  ~Redis() {
    server->Kill();
    std::filesystem::remove_all(dir);
  }
  // Bounded wait until a put of `b` is acknowledged.
  bool WaitUp(Batch& b) {
    for (int i = 0; i < 400; ++i) {
      if (*store->Put(b.chain, b.in) == static_cast<int32_t>(b.chain.size())) {
        return true;
      }
      usleep(10000);
    }
    return false;
  }
};

enum Op { kPut = 0, kLookup = 1, kGet = 2 };

// Args: op, blocks per batch, bytes per block.
void BM_Remote(benchmark::State& state) {
  const Op op = static_cast<Op>(state.range(0));
  Batch b(static_cast<int>(state.range(1)),
          static_cast<size_t>(state.range(2)));
  Redis redis;
  if (!redis.WaitUp(b)) {
    state.SkipWithError("redis-server did not start");
    return;
  }
  const int32_t n = static_cast<int32_t>(b.chain.size());
  for (auto _ : state) {
    int32_t got = 0;
    if (op == kPut) got = *redis.store->Put(b.chain, b.in);
    if (op == kLookup) got = redis.store->Lookup(b.chain);
    if (op == kGet) got = *redis.store->Get(b.chain, b.out);
    if (got != n) state.SkipWithError("a block was not moved");
  }
  if (op != kLookup) {
    state.SetBytesProcessed(state.iterations() * n * state.range(2));
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Remote)
    ->ArgNames({"op", "blocks", "bytes"})
    ->ArgsProduct({{kPut, kLookup, kGet}, {32}, {16 << 10, 128 << 10}})
    ->UseRealTime();

// Without the network: encode (put side) and verify + copy out (get side)
// of one value, against memcpy of the payload.
void BM_Codec(benchmark::State& state) {
  const int mode = static_cast<int>(state.range(0));  // 0 memcpy, 1 enc, 2 dec
  Batch b(1, static_cast<size_t>(state.range(1)));
  std::string value;
  internal::EncodeRemoteValue(b.chain[0], b.in[0], &value);
  for (auto _ : state) {
    if (mode == 0) {
      std::memcpy(b.out[0].data(), b.in[0].data(), b.in[0].size());
    } else if (mode == 1) {
      internal::EncodeRemoteValue(b.chain[0], b.in[0], &value);
    } else {
      absl::string_view payload;
      RemoteFault fault;
      if (!internal::CheckRemoteValue(b.chain[0], value, b.out[0].size(),
                                      &payload, &fault)
               .ok()) {
        state.SkipWithError("value did not verify");
      }
      std::memcpy(b.out[0].data(), payload.data(), payload.size());
    }
    benchmark::DoNotOptimize(b.out[0].data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(1));
}
BENCHMARK(BM_Codec)
    ->ArgNames({"mode", "bytes"})
    ->ArgsProduct({{0, 1, 2}, {128 << 10}});

}  // namespace
}  // namespace pagekv::net
