// RedisLink: one hiredis connection whose every call has a deadline, with
// reconnect-with-backoff and fault accounting. Private to the net layer.
//
// A call is BeginCall(), then commands appended to ctx(), then one Next() per
// command. Writing the pipeline and reading every reply share one deadline
// (timeout_ms from BeginCall): the socket timeout is lowered as the deadline
// nears, so no syscall can wait past it by more than a few percent of the
// timeout. A connection fault drops the connection, counts the fault, logs it
// and sets a backoff during which Ready() refuses (kUnavailable) without
// touching the network.
#ifndef PAGEKV_NET_REDIS_LINK_H_
#define PAGEKV_NET_REDIS_LINK_H_

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "pagekv/remote_kv_store.h"

namespace pagekv::net::internal {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

struct RedisLinkConfig {
  std::string host;
  int port = 0;
  std::string username;
  std::string password;
  int64_t timeout_ms = 200;
  int64_t min_backoff_ms = 50;
  int64_t max_backoff_ms = 2000;
  bool log = true;
};

class RedisLink {
 public:
  // `stats` receives fault counts, reconnects and the degraded flag; not
  // owned, must outlive the link.
  RedisLink(RedisLinkConfig config, RemoteStoreStats* stats);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // Starts a call: its deadline is now + timeout_ms.
  void BeginCall();
  // Whether a connection is up, connecting (and authenticating) when the
  // backoff has passed. False after counting kUnavailable or kConnect.
  bool Ready();
  // The connection. REQUIRES: Ready() returned true in this call.
  redisContext* ctx() { return ctx_; }
  // The next reply of the call's pipeline (sending what is still buffered
  // first), or null after a connection fault (counted, logged, link down).
  RedisReplyPtr Next();
  // Counts `fault` and logs `detail`, without dropping the connection
  // (faults of one value or one reply).
  void Note(RemoteFault fault, const std::string& detail);
  // Drops the connection for `fault` and starts the backoff.
  void Fail(RemoteFault fault, const std::string& detail);

  bool connected() const { return ctx_ != nullptr; }
  const std::string& name() const { return name_; }

 private:
  using Clock = std::chrono::steady_clock;
  bool Connect();
  bool Authenticate();
  // Lowers the socket timeout to what is left of the deadline; false (and
  // kTimeout) when nothing is left.
  bool ArmTimeout();
  // Writes what is buffered of the pipeline.
  bool Flush();
  void FailIo(const char* what);

  RedisLinkConfig config_;
  RemoteStoreStats* stats_;
  std::string name_;  // "redis host:port", for messages
  redisContext* ctx_ = nullptr;
  bool ever_connected_ = false;
  Clock::time_point deadline_{};
  Clock::time_point retry_at_{};
  int64_t backoff_ms_ = 0;
  int64_t armed_us_ = -1;  // socket timeout last set, microseconds
};

}  // namespace pagekv::net::internal

#endif  // PAGEKV_NET_REDIS_LINK_H_
