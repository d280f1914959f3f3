// The net layer's hot paths: encoding BlockStored batches, ingesting them
// into a ClusterIndex, scoring a long prompt over a cluster, and the decode
// step with an EventPublisher attached against the same step without.
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/net/cluster_index.h"
#include "pagekv/net/event_publisher.h"
#include "pagekv/net/redis_index_store.h"
#include "pagekv/net/wire.h"
#include "redis_server.h"

namespace pagekv::net {
namespace {

constexpr int kBlockSize = 16;

// `events` chains of `blocks` 16-token blocks each, with token ids, as a
// manager emits them; chain c starts from the root (no parent).
std::vector<KVEvent> StoredEvents(int events, int blocks, uint64_t base) {
  std::mt19937_64 rng(base);
  std::vector<KVEvent> out;
  for (int e = 0; e < events; ++e) {
    BlockStoredEvent s;
    s.block_size = kBlockSize;
    for (int b = 0; b < blocks; ++b) {
      s.block_keys.push_back(base + e * blocks + b);
      for (int t = 0; t < kBlockSize; ++t) {
        s.token_ids.push_back(static_cast<TokenId>(rng() % 128000));
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

// Encode: 64 events of 16 blocks (1024 blocks, 16k token ids) per batch.
void BM_EncodeStored(benchmark::State& state) {
  const auto events = StoredEvents(64, 16, 1);
  EncodeOptions options;
  options.layout = static_cast<WireLayout>(state.range(0));
  std::string out;
  for (auto _ : state) {
    out.clear();
    EncodeBatch(1.0, events, options, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 64 * 16);
  state.SetBytesProcessed(state.iterations() * out.size());
}
BENCHMARK(BM_EncodeStored)->Arg(0)->Arg(1)->ArgName("map");

std::unique_ptr<ClusterIndex> MakeIndex() {
  ClusterIndexConfig c;
  c.block_size = kBlockSize;
  return *ClusterIndex::Create(c);
}

// Ingest: a batch of 1024 stored blocks applied, then the same blocks
// removed (so the index stays the same size); both count as blocks.
// decode:1 includes decoding the msgpack payloads.
void BM_Ingest(benchmark::State& state) {
  const bool decode = state.range(0) != 0;
  auto index = MakeIndex();
  const InstanceId id = *index->AddInstance("engine");
  // A resident background of 64k blocks, like a warm engine.
  std::string bg;
  EncodeBatch(0, StoredEvents(4096, 16, 1 << 30), EncodeOptions{}, &bg);
  (void)index->Apply(id, *DecodeBatch(bg));
  const auto events = StoredEvents(64, 16, 1);
  std::vector<KVEvent> removes;
  for (const KVEvent& e : events) {
    removes.push_back(BlockRemovedEvent{
        std::get<BlockStoredEvent>(e).block_keys, GroupId(0)});
  }
  std::string store_payload, remove_payload;
  EncodeBatch(1, events, EncodeOptions{}, &store_payload);
  EncodeBatch(2, removes, EncodeOptions{}, &remove_payload);
  const WireBatch store = *DecodeBatch(store_payload);
  const WireBatch remove = *DecodeBatch(remove_payload);
  for (auto _ : state) {
    if (decode) {
      (void)index->Apply(id, *DecodeBatch(store_payload));
      (void)index->Apply(id, *DecodeBatch(remove_payload));
    } else {
      (void)index->Apply(id, store);
      (void)index->Apply(id, remove);
    }
  }
  state.SetItemsProcessed(state.iterations() * 2 * 1024);
}
BENCHMARK(BM_Ingest)->Arg(0)->Arg(1)->ArgName("decode");

// Score a 32k-token prompt (2048 blocks, hashing included) over 16
// instances: instance i holds the prompt's first (i + 1) / 16 blocks, on
// top of 64k unrelated blocks each.
void BM_Score(benchmark::State& state) {
  const int instances = static_cast<int>(state.range(1));
  const int tokens = static_cast<int>(state.range(0));
  auto index = MakeIndex();
  std::vector<TokenId> prompt(tokens);
  std::mt19937_64 rng(5);
  for (TokenId& t : prompt) t = static_cast<TokenId>(rng() % 128000);
  const int blocks = tokens / kBlockSize;
  for (int i = 0; i < instances; ++i) {
    const InstanceId id = *index->AddInstance("engine-" + std::to_string(i));
    WireBatch b;
    WireBlockStored s;
    s.block_size = kBlockSize;
    const int held = blocks * (i + 1) / instances;
    for (int k = 0; k < held; ++k) s.block_hashes.push_back(k + 1);
    s.token_ids.assign(prompt.begin(), prompt.begin() + held * kBlockSize);
    b.events.push_back(s);
    std::string bg;
    EncodeBatch(0, StoredEvents(4096, 16, (static_cast<uint64_t>(i) + 2) << 32),
                EncodeOptions{}, &bg);
    (void)index->Apply(id, *DecodeBatch(bg));
    (void)index->Apply(id, b);
  }
  for (auto _ : state) {
    auto scores = index->Score(prompt);
    benchmark::DoNotOptimize(scores.data());
  }
  state.SetItemsProcessed(state.iterations() * blocks);
}
BENCHMARK(BM_Score)->Args({32768, 16})->ArgNames({"tokens", "instances"});

struct Batch {
  std::unique_ptr<KVCacheManager> manager;
  std::vector<SeqId> seqs;
};

// `n` sequences with 1000-token prompts admitted, prefix caching on, room
// for 4096 decode steps.
Batch MakeBatch(int n, bool events) {
  KVCacheConfig c;
  c.block_size = kBlockSize;
  c.num_blocks = int64_t{n} * (1000 + 4096) / kBlockSize + 2;
  c.enable_kv_events = events;
  Batch b;
  b.manager = *KVCacheManager::Create(c);
  std::vector<TokenId> prompt(1000);
  for (int i = 0; i < n; ++i) {
    std::iota(prompt.begin(), prompt.end(), i * 1000);
    SeqId s = *b.manager->AddSequence(prompt);
    (void)b.manager->Admit(s, 1000);
    b.seqs.push_back(s);
  }
  (void)b.manager->DrainEvents();
  return b;
}

// The decode step of 1024 sequences with prefix caching; mode 0: KV events
// off, 1: events on and drained (dropped), 2: an EventPublisher attached
// (PublishFrom every step; a sender thread encodes and publishes on tcp
// loopback with no subscriber).
void BM_DecodeStepPublisher(benchmark::State& state) {
  const int n = 1024;
  const int mode = static_cast<int>(state.range(0));
  Batch b = MakeBatch(n, mode != 0);
  std::unique_ptr<EventPublisher> publisher;
  if (mode == 2) {
    EventPublisherConfig pc;
    pc.endpoint = "tcp://127.0.0.1:*";
    publisher = *EventPublisher::Create(pc);
  }
  std::vector<TokenId> tokens(n, 7);
  int steps = 0;
  for (auto _ : state) {
    absl::Status st = b.manager->AppendDecodeTokens(b.seqs, tokens);
    benchmark::DoNotOptimize(st);
    if (mode == 1) benchmark::DoNotOptimize(b.manager->DrainEvents());
    if (mode == 2) publisher->PublishFrom(*b.manager);
    for (TokenId& t : tokens) ++t;
    if (++steps == 4096 - 16) {  // stay inside the pool
      state.PauseTiming();
      b = MakeBatch(n, mode != 0);
      steps = 0;
      state.ResumeTiming();
    }
  }
  if (publisher) {
    state.counters["dropped"] = publisher->Stats().batches_dropped;
    state.counters["blocks_sent"] = publisher->Stats().blocks_sent;
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_DecodeStepPublisher)->Arg(0)->Arg(1)->Arg(2)->ArgName("mode");

// Redis on loopback (a redis-server child of the benchmark): Sync of an
// index whose instance gains 1024 blocks and loses 1024 per iteration
// (4096 pipelined SADD/SREM), and Score of a 2048-key prompt from Redis
// (one pipeline of 2049 SMEMBERS) over 16 instances.
struct RedisFixture {
  std::string dir;
  std::unique_ptr<pagekv::testing::RedisServer> server;
  std::unique_ptr<RedisIndexStore> store;
  RedisFixture() {
    signal(SIGPIPE, SIG_IGN);
    dir = std::filesystem::temp_directory_path().string() +
          "/pagekv_bench_redis_" + std::to_string(getpid());
    std::filesystem::create_directories(dir);
    const int port = pagekv::testing::FreePort();
    server = std::make_unique<pagekv::testing::RedisServer>(port, dir);
    server->Start();
    RedisStoreConfig rc;
    rc.port = port;
    rc.min_backoff_ms = 5;
    store = *RedisIndexStore::Create(rc);
  }
  ~RedisFixture() {
    server->Kill();
    std::filesystem::remove_all(dir);
  }
  bool WaitUp(const ClusterIndex& index) {
    for (int i = 0; i < 400; ++i) {
      if (store->Sync(index).ok()) return true;
      usleep(10000);
    }
    return false;
  }
};

void BM_RedisSync(benchmark::State& state) {
  RedisFixture redis;
  auto index = MakeIndex();
  const InstanceId id = *index->AddInstance("engine");
  if (!redis.WaitUp(*index)) {
    state.SkipWithError("redis-server did not start");
    return;
  }
  std::string a, b;
  EncodeBatch(0, StoredEvents(64, 16, 1), EncodeOptions{}, &a);
  std::vector<KVEvent> removes;
  for (const KVEvent& e : StoredEvents(64, 16, 1)) {
    removes.push_back(BlockRemovedEvent{
        std::get<BlockStoredEvent>(e).block_keys, GroupId(0)});
  }
  EncodeBatch(0, removes, EncodeOptions{}, &b);
  const WireBatch store = *DecodeBatch(a);
  const WireBatch remove = *DecodeBatch(b);
  for (auto _ : state) {
    (void)index->Apply(id, store);
    if (!redis.store->Sync(*index).ok()) state.SkipWithError("sync failed");
    (void)index->Apply(id, remove);
    if (!redis.store->Sync(*index).ok()) state.SkipWithError("sync failed");
  }
  state.SetItemsProcessed(state.iterations() * 2 * 1024);
}
BENCHMARK(BM_RedisSync)->UseRealTime();

void BM_RedisScore(benchmark::State& state) {
  RedisFixture redis;
  auto index = MakeIndex();
  std::vector<TokenId> prompt(32768);
  std::mt19937_64 rng(5);
  for (TokenId& t : prompt) t = static_cast<TokenId>(rng() % 128000);
  const int blocks = 2048;
  for (int i = 0; i < 16; ++i) {
    const InstanceId id = *index->AddInstance("engine-" + std::to_string(i));
    WireBatch b;
    WireBlockStored s;
    s.block_size = kBlockSize;
    const int held = blocks * (i + 1) / 16;
    for (int k = 0; k < held; ++k) s.block_hashes.push_back(k + 1);
    s.token_ids.assign(prompt.begin(), prompt.begin() + held * kBlockSize);
    b.events.push_back(s);
    (void)index->Apply(id, b);
  }
  if (!redis.WaitUp(*index)) {
    state.SkipWithError("redis-server did not start");
    return;
  }
  std::vector<uint64_t> keys;
  index->hasher().ExtendKeys(prompt, {}, &keys);
  for (auto _ : state) {
    auto scores = redis.store->Score(keys);
    if (!scores.ok()) state.SkipWithError("score failed");
    benchmark::DoNotOptimize(scores);
  }
  state.SetItemsProcessed(state.iterations() * blocks);
}
BENCHMARK(BM_RedisScore)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pagekv::net
