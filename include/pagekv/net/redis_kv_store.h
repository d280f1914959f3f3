// RedisKVStore: the RemoteKVStore on a Redis server (hiredis), shared by any
// number of engines.
//
// Key layout: one STRING per block,
//
//   <prefix>:kv:<model>:<layout>:<salt>:<key>
//
// with <salt> and <key> the cache salt and block key as 16 lower-case hex
// digits, so a model, a KV layout (block size, dtype, heads, ...) and a
// tenant each get their own namespace; the value is the block's verification
// record, checksums and payload (src/net/remote_value.h). Lookup fetches only
// the headers (GETRANGE), Get the whole values (GET), Put writes them (SET,
// with PX for a TTL); each call is one pipelined round trip.
//
// Capacity is Redis's: run it with `maxmemory <bytes>` and
// `maxmemory-policy allkeys-lru` (or `volatile-lru` when every block gets a
// TTL) and Redis evicts the least recently used blocks; an evicted block is
// simply absent at the next lookup (counted in stats().absent). With
// `noeviction` a full Redis refuses writes: puts are dropped and counted as
// kOutOfMemory while lookups and gets keep working. ServerInfo() reports
// what Redis says about its memory and evictions.
//
// Faults: every network call is bounded by timeout_ms (connect, send and all
// replies of the pipeline together). A connection fault (refused, timeout,
// reset, EOF) drops the connection and degrades the store: calls return
// misses (puts drop) at once, counted as kUnavailable, until the backoff
// (min_backoff_ms doubling to max_backoff_ms) has passed and a reconnect
// succeeds. Each fault is counted by reason and, with `log`, written to
// stderr. Nothing unverified is ever returned.
//
// REQUIRES: the process ignores SIGPIPE (hiredis writes to sockets that a
// killed Redis has closed).
// Thread-safety: not thread-safe (one connection); use one store per thread.
#ifndef PAGEKV_NET_REDIS_KV_STORE_H_
#define PAGEKV_NET_REDIS_KV_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "pagekv/remote_kv_store.h"

namespace pagekv::net {

struct RedisKVStoreConfig {
  std::string host = "127.0.0.1";
  int port = 6379;
  // AUTH on connect when password is set (with username: Redis 6 ACL user).
  std::string username;
  std::string password;
  // Namespace of the keys (see the header comment); none may be empty.
  std::string prefix = "pagekv";
  std::string model = "default";
  std::string layout = "default";
  int64_t default_ttl_ms = 0;  // Put(ttl_ms = -1) uses it; 0 = no expiry
  int64_t timeout_ms = 200;    // bound of one call's network time
  int64_t min_backoff_ms = 50;
  int64_t max_backoff_ms = 2000;
  bool log = true;  // faults to stderr

  // Parses "redis://[[user]:password@]host[:port]" (port defaults to 6379)
  // into a config with the other fields at their defaults. InvalidArgument
  // naming the URL otherwise.
  static absl::StatusOr<RedisKVStoreConfig> FromUrl(const std::string& url);
  // OK, or InvalidArgument naming the first bad field and its value.
  absl::Status Validate() const;
};

// What Redis reports about its memory (INFO memory, INFO stats).
struct RedisServerInfo {
  int64_t used_memory = 0;
  int64_t maxmemory = 0;  // 0 = unlimited
  std::string maxmemory_policy;
  int64_t evicted_keys = 0;
  int64_t expired_keys = 0;
};

class RedisKVStore final : public RemoteKVStore {
 public:
  // Validates `config` (InvalidArgument otherwise) and connects. Does not
  // need Redis to be up: the store starts degraded and connects later.
  static absl::StatusOr<std::unique_ptr<RedisKVStore>> Create(
      RedisKVStoreConfig config);
  ~RedisKVStore() override;

  int32_t Lookup(absl::Span<const BlockRecord> chain) override;
  absl::StatusOr<int32_t> Get(
      absl::Span<const BlockRecord> chain,
      absl::Span<const absl::Span<uint8_t>> buffers) override;
  absl::StatusOr<int32_t> Put(
      absl::Span<const BlockRecord> blocks,
      absl::Span<const absl::Span<const uint8_t>> payloads,
      int64_t ttl_ms = -1) override;
  RemoteStoreStats stats() const override;
  absl::Status Verify() const override;

  // Redis's memory figures, or Unavailable naming the fault.
  absl::StatusOr<RedisServerInfo> ServerInfo();

  // Deletes every block of this store's model and layout (all salts), by
  // SCAN + UNLINK; returns the number deleted, or Unavailable.
  absl::StatusOr<int64_t> DeleteNamespace();

  // The Redis key of `record` (tests, tooling).
  std::string RedisKey(const BlockRecord& record) const;
  const RedisKVStoreConfig& config() const;

 private:
  struct Impl;
  explicit RedisKVStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pagekv::net

#endif  // PAGEKV_NET_REDIS_KV_STORE_H_
