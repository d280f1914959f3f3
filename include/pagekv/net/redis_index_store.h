// RedisIndexStore: a ClusterIndex's view kept in Redis, so several router
// replicas share one index (hiredis).
//
// Key layout (`prefix` defaults to "pagekv"; keys are 16 lower-case hex
// digits of the 64-bit block key):
//
//   <prefix>:epoch           a random token, written with the first full
//                            write; missing = Redis lost its data
//   <prefix>:instances       SET of instance names
//   <prefix>:inst:<name>     SET of keys the instance holds (any medium)
//   <prefix>:key:<hex>       SET of instance names holding the key
//
// Sync() writes the difference between the index and what it last wrote,
// all commands pipelined (one round trip for the epoch check, one for the
// batch). SADD/SREM are idempotent, so a batch cut off halfway is simply
// written again. With a TTL, every written key set gets EXPIRE ttl, so an
// abandoned view ages out. On a connection error or timeout the store is
// degraded: Sync() and Score() return Unavailable (never a stale answer)
// and reconnect with exponential backoff; a restarted Redis without its
// data (epoch missing) is rewritten in full.
//
// REQUIRES: the process ignores SIGPIPE (hiredis writes to sockets that a
// killed Redis has closed).
// Thread-safety: not thread-safe; one thread calls Sync() and Score().
#ifndef PAGEKV_NET_REDIS_INDEX_STORE_H_
#define PAGEKV_NET_REDIS_INDEX_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pagekv/net/cluster_index.h"

namespace pagekv::net {

struct RedisStoreConfig {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string prefix = "pagekv";
  int64_t ttl_s = 0;  // 0 = keys never expire
  int64_t timeout_ms = 500;
  int64_t min_backoff_ms = 50;
  int64_t max_backoff_ms = 2000;

  // Parses "redis://host:port" (port defaults to 6379). InvalidArgument
  // naming the URL otherwise.
  static absl::StatusOr<RedisStoreConfig> FromUrl(const std::string& url);
  absl::Status Validate() const;
};

struct RedisStoreStats {
  uint64_t syncs = 0;          // successful
  uint64_t commands = 0;       // pipelined write commands sent
  uint64_t failures = 0;       // syncs / scores that hit an error
  uint64_t reconnects = 0;     // successful connections after the first
  uint64_t full_rewrites = 0;  // epoch missing: everything written again
  bool degraded = false;
};

// One instance's score read back from Redis.
struct RedisScore {
  std::string instance;
  int32_t blocks = 0;
};

class RedisIndexStore {
 public:
  // Does not need Redis to be up: a store created while it is down starts
  // degraded and connects on a later call.
  static absl::StatusOr<std::unique_ptr<RedisIndexStore>> Create(
      RedisStoreConfig config);
  ~RedisIndexStore();

  // Writes the index's changes since the last successful Sync. OK, or
  // Unavailable naming the error (degraded; retried after the backoff,
  // earlier calls return Unavailable at once).
  absl::Status Sync(const ClusterIndex& index);

  // For every instance in Redis, the longest run of `keys` (from the first)
  // it holds. Unavailable while degraded.
  absl::StatusOr<std::vector<RedisScore>> Score(
      absl::Span<const uint64_t> keys);

  // The keys Redis says `instance` holds, sorted (tests, tooling).
  absl::StatusOr<std::vector<uint64_t>> InstanceKeys(
      const std::string& instance);

  bool degraded() const;
  RedisStoreStats stats() const;

 private:
  struct Impl;
  explicit RedisIndexStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pagekv::net

#endif  // PAGEKV_NET_REDIS_INDEX_STORE_H_
