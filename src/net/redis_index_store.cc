// RedisIndexStore: diff-and-pipeline writes, reconnect with backoff, reads
// (see pagekv/net/redis_index_store.h).
#include "pagekv/net/redis_index_store.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "fmt/format.h"

namespace pagekv::net {

absl::StatusOr<RedisStoreConfig> RedisStoreConfig::FromUrl(
    const std::string& url) {
  constexpr absl::string_view kScheme = "redis://";
  RedisStoreConfig c;
  absl::string_view rest(url);
  if (!absl::ConsumePrefix(&rest, kScheme) || rest.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Redis URL '", url, "' is not redis://host[:port]"));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(rest, ':');
  c.host = std::string(parts[0]);
  if (parts.size() > 2 || c.host.empty() ||
      (parts.size() == 2 && (!absl::SimpleAtoi(parts[1], &c.port) ||
                             c.port <= 0 || c.port > 65535))) {
    return absl::InvalidArgumentError(
        absl::StrCat("Redis URL '", url, "' is not redis://host[:port]"));
  }
  return c;
}

absl::Status RedisStoreConfig::Validate() const {
  if (host.empty() || port <= 0 || port > 65535 || prefix.empty() ||
      ttl_s < 0 || timeout_ms <= 0 || min_backoff_ms <= 0 ||
      max_backoff_ms < min_backoff_ms) {
    return absl::InvalidArgumentError(fmt::format(
        "bad RedisStoreConfig: host '{}', port {}, prefix '{}', ttl_s {}, "
        "timeout_ms {}, backoff {}..{} ms",
        host, port, prefix, ttl_s, timeout_ms, min_backoff_ms, max_backoff_ms));
  }
  return absl::OkStatus();
}

namespace {

using SteadyClock = std::chrono::steady_clock;

std::string Hex(uint64_t key) { return fmt::format("{:016x}", key); }

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

}  // namespace

struct RedisIndexStore::Impl {
  RedisStoreConfig config;
  redisContext* ctx = nullptr;
  bool ever_connected = false;
  SteadyClock::time_point retry_at{};
  int64_t backoff_ms = 0;
  std::string last_error = "not connected yet";
  std::string epoch;  // ours, once written
  // What Redis holds according to the last successful Sync.
  absl::flat_hash_map<std::string, absl::flat_hash_set<uint64_t>> written;
  RedisStoreStats stats;

  ~Impl() { Drop(); }

  void Drop() {
    if (ctx != nullptr) redisFree(ctx);
    ctx = nullptr;
  }

  absl::Status Fail(const std::string& what) {
    last_error = what;
    Drop();
    ++stats.failures;
    stats.degraded = true;
    backoff_ms = backoff_ms == 0
                     ? config.min_backoff_ms
                     : std::min(backoff_ms * 2, config.max_backoff_ms);
    retry_at = SteadyClock::now() + std::chrono::milliseconds(backoff_ms);
    return absl::UnavailableError(
        absl::StrCat("redis ", config.host, ":", config.port, ": ", what));
  }

  absl::Status Connect() {
    if (ctx != nullptr) return absl::OkStatus();
    if (SteadyClock::now() < retry_at) {
      return absl::UnavailableError(
          absl::StrCat("redis ", config.host, ":", config.port, " degraded (",
                       last_error, "), retrying in ", backoff_ms, " ms"));
    }
    timeval tv{static_cast<time_t>(config.timeout_ms / 1000),
               static_cast<suseconds_t>(config.timeout_ms % 1000 * 1000)};
    ctx = redisConnectWithTimeout(config.host.c_str(), config.port, tv);
    if (ctx == nullptr || ctx->err) {
      return Fail(ctx == nullptr ? "cannot allocate a context" : ctx->errstr);
    }
    redisSetTimeout(ctx, tv);
    if (ever_connected) ++stats.reconnects;
    ever_connected = true;
    backoff_ms = 0;
    return absl::OkStatus();
  }

  // Sends `n` appended commands' replies back; Unavailable on the first
  // connection error, reply errors (e.g. a loading Redis) included.
  absl::StatusOr<std::vector<Reply>> Collect(size_t n) {
    std::vector<Reply> replies;
    replies.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      void* r = nullptr;
      if (redisGetReply(ctx, &r) != REDIS_OK || r == nullptr) {
        return Fail(ctx->errstr[0] ? ctx->errstr : "no reply");
      }
      replies.emplace_back(static_cast<redisReply*>(r));
      if (replies.back()->type == REDIS_REPLY_ERROR) {
        return Fail(std::string(replies.back()->str, replies.back()->len));
      }
    }
    return replies;
  }

  // Whether Redis still has our data (false also before the first write).
  absl::StatusOr<bool> EpochPresent() {
    const std::string key = config.prefix + ":epoch";
    redisAppendCommand(ctx, "GET %b", key.data(), key.size());
    auto r = Collect(1);
    if (!r.ok()) return r.status();
    const redisReply* reply = (*r)[0].get();
    return !epoch.empty() && reply->type == REDIS_REPLY_STRING &&
           std::string(reply->str, reply->len) == epoch;
  }

  size_t AppendDiff(const std::string& name, const std::vector<uint64_t>& keys,
                    absl::flat_hash_set<uint64_t>* after);
};

size_t RedisIndexStore::Impl::AppendDiff(const std::string& name,
                                         const std::vector<uint64_t>& keys,
                                         absl::flat_hash_set<uint64_t>* after) {
  const auto it = written.find(name);
  static const absl::flat_hash_set<uint64_t> kEmpty;
  const auto& before = it == written.end() ? kEmpty : it->second;
  after->insert(keys.begin(), keys.end());
  const std::string inst = config.prefix + ":inst:" + name;
  size_t n = 0;
  auto append = [&](const char* op, uint64_t key) {
    const std::string k = config.prefix + ":key:" + Hex(key);
    const std::string hex = Hex(key);
    redisAppendCommand(ctx, "%s %b %b", op, inst.data(), inst.size(),
                       hex.data(), hex.size());
    redisAppendCommand(ctx, "%s %b %b", op, k.data(), k.size(), name.data(),
                       name.size());
    n += 2;
    if (config.ttl_s > 0 && op[1] == 'A') {
      redisAppendCommand(ctx, "EXPIRE %b %lld", k.data(), k.size(),
                         static_cast<long long>(config.ttl_s));
      ++n;
    }
  };
  for (uint64_t key : *after) {
    if (!before.contains(key)) append("SADD", key);
  }
  for (uint64_t key : before) {
    if (!after->contains(key)) append("SREM", key);
  }
  return n;
}

RedisIndexStore::RedisIndexStore(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
RedisIndexStore::~RedisIndexStore() = default;

absl::StatusOr<std::unique_ptr<RedisIndexStore>> RedisIndexStore::Create(
    RedisStoreConfig config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  (void)impl->Connect();  // degraded until it succeeds
  return std::unique_ptr<RedisIndexStore>(new RedisIndexStore(std::move(impl)));
}

absl::Status RedisIndexStore::Sync(const ClusterIndex& index) {
  Impl& im = *impl_;
  if (absl::Status s = im.Connect(); !s.ok()) return s;
  auto present = im.EpochPresent();
  if (!present.ok()) return present.status();
  size_t n = 0;
  if (!*present) {
    // Redis restarted without its data, or this is the first write.
    if (!im.written.empty()) ++im.stats.full_rewrites;
    im.written.clear();
    im.epoch =
        absl::StrCat(std::random_device{}(), "-", std::random_device{}());
    const std::string key = im.config.prefix + ":epoch";
    redisAppendCommand(im.ctx, "SET %b %b", key.data(), key.size(),
                       im.epoch.data(), im.epoch.size());
    ++n;
  }
  absl::flat_hash_map<std::string, absl::flat_hash_set<uint64_t>> next;
  const std::string instances = im.config.prefix + ":instances";
  for (InstanceId id : index.instances()) {
    const std::string& name = index.name(id);
    n += im.AppendDiff(name, index.Keys(id), &next[name]);
    redisAppendCommand(im.ctx, "SADD %b %b", instances.data(), instances.size(),
                       name.data(), name.size());
    ++n;
  }
  for (const auto& [name, keys] : im.written) {  // instances that left
    if (next.contains(name)) continue;
    n += im.AppendDiff(name, {}, &next[name]);
    next.erase(name);
    redisAppendCommand(im.ctx, "SREM %b %b", instances.data(), instances.size(),
                       name.data(), name.size());
    ++n;
  }
  auto replies = im.Collect(n);
  if (!replies.ok()) return replies.status();
  im.written = std::move(next);
  im.stats.commands += n;
  ++im.stats.syncs;
  im.stats.degraded = false;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RedisScore>> RedisIndexStore::Score(
    absl::Span<const uint64_t> keys) {
  Impl& im = *impl_;
  if (absl::Status s = im.Connect(); !s.ok()) return s;
  const std::string instances = im.config.prefix + ":instances";
  redisAppendCommand(im.ctx, "SMEMBERS %b", instances.data(), instances.size());
  for (uint64_t key : keys) {
    const std::string k = im.config.prefix + ":key:" + Hex(key);
    redisAppendCommand(im.ctx, "SMEMBERS %b", k.data(), k.size());
  }
  auto replies = im.Collect(keys.size() + 1);
  if (!replies.ok()) return replies.status();
  std::vector<RedisScore> out;
  absl::flat_hash_map<std::string, size_t> alive;  // name -> out index
  const redisReply* names = (*replies)[0].get();
  for (size_t i = 0; i < names->elements; ++i) {
    out.push_back(
        {std::string(names->element[i]->str, names->element[i]->len), 0});
  }
  std::sort(out.begin(), out.end(),
            [](const RedisScore& a, const RedisScore& b) {
              return a.instance < b.instance;
            });
  for (size_t i = 0; i < out.size(); ++i) alive[out[i].instance] = i;
  for (size_t k = 0; k < keys.size() && !alive.empty(); ++k) {
    const redisReply* holders = (*replies)[k + 1].get();
    absl::flat_hash_set<std::string> held;
    for (size_t i = 0; i < holders->elements; ++i) {
      held.emplace(holders->element[i]->str, holders->element[i]->len);
    }
    for (auto it = alive.begin(); it != alive.end();) {
      if (held.contains(it->first)) {
        ++out[it->second].blocks;
        ++it;
      } else {
        alive.erase(it++);
      }
    }
  }
  return out;
}

absl::StatusOr<std::vector<uint64_t>> RedisIndexStore::InstanceKeys(
    const std::string& instance) {
  Impl& im = *impl_;
  if (absl::Status s = im.Connect(); !s.ok()) return s;
  const std::string key = im.config.prefix + ":inst:" + instance;
  redisAppendCommand(im.ctx, "SMEMBERS %b", key.data(), key.size());
  auto replies = im.Collect(1);
  if (!replies.ok()) return replies.status();
  std::vector<uint64_t> out;
  const redisReply* r = (*replies)[0].get();
  for (size_t i = 0; i < r->elements; ++i) {
    uint64_t v = 0;
    if (absl::SimpleHexAtoi(
            absl::string_view(r->element[i]->str, r->element[i]->len), &v)) {
      out.push_back(v);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool RedisIndexStore::degraded() const { return impl_->stats.degraded; }
RedisStoreStats RedisIndexStore::stats() const { return impl_->stats; }

}  // namespace pagekv::net
