// RedisLink: deadlines, reconnect with backoff, fault accounting (see
// net/redis_link.h).
#include "net/redis_link.h"

#include <hiredis/sds.h>

#include <cerrno>
#include <cstdio>

#include "fmt/format.h"

namespace pagekv::net::internal {

RedisLink::RedisLink(RedisLinkConfig config, RemoteStoreStats* stats)
    : config_(std::move(config)),
      stats_(stats),
      name_(fmt::format("redis {}:{}", config_.host, config_.port)) {}

RedisLink::~RedisLink() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

void RedisLink::BeginCall() {
  deadline_ = Clock::now() + std::chrono::milliseconds(config_.timeout_ms);
}

void RedisLink::Note(RemoteFault fault, const std::string& detail) {
  ++stats_->faults[static_cast<int>(fault)];
  if (config_.log) {
    std::fprintf(stderr, "pagekv remote: %s: %s: %s\n", name_.c_str(),
                 RemoteFaultName(fault), detail.c_str());
  }
}

void RedisLink::Fail(RemoteFault fault, const std::string& detail) {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
  stats_->degraded = true;
  backoff_ms_ = backoff_ms_ == 0
                    ? config_.min_backoff_ms
                    : std::min(backoff_ms_ * 2, config_.max_backoff_ms);
  retry_at_ = Clock::now() + std::chrono::milliseconds(backoff_ms_);
  Note(fault, fmt::format("{} (degraded: misses until a reconnect in {} ms)",
                          detail, backoff_ms_));
}

bool RedisLink::Ready() {
  if (ctx_ != nullptr) return true;
  if (Clock::now() < retry_at_) {
    ++stats_->faults[static_cast<int>(RemoteFault::kUnavailable)];
    return false;
  }
  return Connect();
}

bool RedisLink::Connect() {
  const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
                        deadline_ - Clock::now())
                        .count();
  if (left <= 0) {
    ++stats_->faults[static_cast<int>(RemoteFault::kUnavailable)];
    return false;
  }
  const timeval tv{static_cast<time_t>(left / 1000000),
                   static_cast<suseconds_t>(left % 1000000)};
  ctx_ = redisConnectWithTimeout(config_.host.c_str(), config_.port, tv);
  if (ctx_ == nullptr || ctx_->err) {
    Fail(RemoteFault::kConnect,
         ctx_ == nullptr ? "cannot allocate a context" : ctx_->errstr);
    return false;
  }
  armed_us_ = -1;
  if (!config_.password.empty() && !Authenticate()) return false;
  if (ever_connected_) {
    ++stats_->reconnects;
    if (config_.log) {
      std::fprintf(stderr, "pagekv remote: %s: reconnected\n", name_.c_str());
    }
  }
  ever_connected_ = true;
  backoff_ms_ = 0;
  stats_->degraded = false;
  return true;
}

bool RedisLink::Authenticate() {
  if (config_.username.empty()) {
    redisAppendCommand(ctx_, "AUTH %b", config_.password.data(),
                       config_.password.size());
  } else {
    redisAppendCommand(ctx_, "AUTH %b %b", config_.username.data(),
                       config_.username.size(), config_.password.data(),
                       config_.password.size());
  }
  RedisReplyPtr r = Next();
  if (r == nullptr) return false;  // Next() failed the link
  if (r->type == REDIS_REPLY_ERROR) {
    Fail(RemoteFault::kConnect,
         fmt::format("AUTH refused: {}", std::string(r->str, r->len)));
    return false;
  }
  return true;
}

bool RedisLink::ArmTimeout() {
  const int64_t left = std::chrono::duration_cast<std::chrono::microseconds>(
                           deadline_ - Clock::now())
                           .count();
  if (left <= 0) {
    Fail(RemoteFault::kTimeout,
         fmt::format("no reply within {} ms", config_.timeout_ms));
    return false;
  }
  // Re-arm only when the armed timeout would overshoot the deadline by more
  // than 2% of the call's budget (setsockopt is two syscalls).
  const int64_t slack = std::max<int64_t>(config_.timeout_ms * 20, 500);
  if (armed_us_ < 0 || armed_us_ > left + slack) {
    const timeval tv{static_cast<time_t>(left / 1000000),
                     static_cast<suseconds_t>(left % 1000000)};
    if (redisSetTimeout(ctx_, tv) != REDIS_OK) {
      Fail(RemoteFault::kConnection, "cannot set the socket timeout");
      return false;
    }
    armed_us_ = left;
  }
  return true;
}

void RedisLink::FailIo(const char* what) {
  const bool timed_out =
      errno == EAGAIN || errno == EWOULDBLOCK || Clock::now() >= deadline_;
  if (timed_out) {
    Fail(RemoteFault::kTimeout,
         fmt::format("{} timed out after {} ms", what, config_.timeout_ms));
  } else {
    Fail(RemoteFault::kConnection,
         fmt::format("{}: {}", what,
                     ctx_->errstr[0] != '\0' ? ctx_->errstr : "closed"));
  }
}

bool RedisLink::Flush() {
  if (sdslen(ctx_->obuf) == 0) return true;
  int done = 0;
  while (done == 0) {
    if (!ArmTimeout()) return false;
    errno = 0;
    if (redisBufferWrite(ctx_, &done) != REDIS_OK) {
      FailIo("send");
      return false;
    }
  }
  return true;
}

RedisReplyPtr RedisLink::Next() {
  if (ctx_ == nullptr) return nullptr;
  if (!Flush()) return nullptr;
  void* r = nullptr;
  while (true) {
    if (redisGetReplyFromReader(ctx_, &r) != REDIS_OK) {
      Fail(RemoteFault::kConnection,
           fmt::format("protocol error: {}", ctx_->errstr));
      return nullptr;
    }
    if (r != nullptr) return RedisReplyPtr(static_cast<redisReply*>(r));
    if (!ArmTimeout()) return nullptr;
    errno = 0;
    if (redisBufferRead(ctx_) != REDIS_OK) {
      FailIo("receive");
      return nullptr;
    }
  }
}

}  // namespace pagekv::net::internal
