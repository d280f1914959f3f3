// RedisKVStore: pipelined GETRANGE / GET / SET of verified block values over
// a RedisLink (see pagekv/net/redis_kv_store.h).
#include "pagekv/net/redis_kv_store.h"

#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "fmt/format.h"
#include "net/redis_link.h"
#include "net/remote_value.h"

namespace pagekv::net {

using internal::RedisReplyPtr;

absl::StatusOr<RedisKVStoreConfig> RedisKVStoreConfig::FromUrl(
    const std::string& url) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "Redis URL '", url, "' is not redis://[[user]:password@]host[:port]"));
  };
  absl::string_view rest(url);
  if (!absl::ConsumePrefix(&rest, "redis://") || rest.empty()) return bad();
  RedisKVStoreConfig c;
  if (const size_t at = rest.rfind('@'); at != absl::string_view::npos) {
    const absl::string_view cred = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    const size_t colon = cred.find(':');
    if (colon == absl::string_view::npos) {
      c.password = std::string(cred);
    } else {
      c.username = std::string(cred.substr(0, colon));
      c.password = std::string(cred.substr(colon + 1));
    }
    if (c.password.empty()) return bad();
  }
  std::vector<absl::string_view> parts = absl::StrSplit(rest, ':');
  c.host = std::string(parts[0]);
  if (parts.size() > 2 || c.host.empty() ||
      (parts.size() == 2 && (!absl::SimpleAtoi(parts[1], &c.port) ||
                             c.port <= 0 || c.port > 65535))) {
    return bad();
  }
  return c;
}

absl::Status RedisKVStoreConfig::Validate() const {
  const auto bad = [](const char* field, const auto& value) {
    return absl::InvalidArgumentError(
        fmt::format("bad RedisKVStoreConfig.{}: {}", field, value));
  };
  if (host.empty()) return bad("host", "empty");
  if (port <= 0 || port > 65535) return bad("port", port);
  if (!username.empty() && password.empty()) {
    return bad("password", "empty while username is set");
  }
  for (const auto& [field, value] :
       {std::pair<const char*, const std::string*>{"prefix", &prefix},
        {"model", &model},
        {"layout", &layout}}) {
    if (value->empty() || absl::StrContains(*value, ':') ||
        absl::StrContains(*value, '*')) {
      return bad(field, fmt::format("'{}' (must be non-empty, no ':' or '*')",
                                    *value));
    }
  }
  if (default_ttl_ms < 0) return bad("default_ttl_ms", default_ttl_ms);
  if (timeout_ms <= 0) return bad("timeout_ms", timeout_ms);
  if (min_backoff_ms <= 0) return bad("min_backoff_ms", min_backoff_ms);
  if (max_backoff_ms < min_backoff_ms) {
    return bad("max_backoff_ms", max_backoff_ms);
  }
  return absl::OkStatus();
}

struct RedisKVStore::Impl {
  explicit Impl(RedisKVStoreConfig c)
      : config(std::move(c)),
        key_prefix(fmt::format("{}:kv:{}:{}:", config.prefix, config.model,
                               config.layout)),
        link({config.host, config.port, config.username, config.password,
              config.timeout_ms, config.min_backoff_ms, config.max_backoff_ms,
              config.log},
             &stats) {}

  std::string Key(const BlockRecord& r) const {
    return fmt::format("{}{:016x}:{:016x}", key_prefix, r.cache_salt, r.key);
  }

  // A data fault of block `r` (the connection stays up).
  void NoteBlock(RemoteFault f, const BlockRecord& r, const absl::Status& s) {
    link.Note(f, fmt::format("block {:016x}: {}; treated as a miss", r.key,
                             std::string(s.message())));
  }

  // Reads `n` replies, calling fn(i, reply) for each while the link holds;
  // returns how many were read (n unless a connection fault cut it short).
  template <typename Fn>
  size_t ReadReplies(size_t n, Fn&& fn) {
    for (size_t i = 0; i < n; ++i) {
      RedisReplyPtr r = link.Next();
      if (r == nullptr) return i;
      fn(i, *r);
    }
    return n;
  }

  // Whether a per-block reply is a value (string); counts absent and
  // server-error replies otherwise.
  bool IsValue(const redisReply& r) {
    if (r.type == REDIS_REPLY_STRING && r.len > 0) return true;
    if (r.type == REDIS_REPLY_ERROR) {
      link.Note(RemoteFault::kServerError, std::string(r.str, r.len));
    } else {
      ++stats.absent;  // nil, or GETRANGE of a missing key: ""
    }
    return false;
  }

  RedisKVStoreConfig config;
  std::string key_prefix;
  RemoteStoreStats stats;
  internal::RedisLink link;
  std::string scratch;  // encoded value of a put
};

RedisKVStore::RedisKVStore(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
RedisKVStore::~RedisKVStore() = default;

absl::StatusOr<std::unique_ptr<RedisKVStore>> RedisKVStore::Create(
    RedisKVStoreConfig config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  auto impl = std::make_unique<Impl>(std::move(config));
  impl->link.BeginCall();
  (void)impl->link.Ready();  // degraded until it succeeds
  return std::unique_ptr<RedisKVStore>(new RedisKVStore(std::move(impl)));
}

int32_t RedisKVStore::Lookup(absl::Span<const BlockRecord> chain) {
  Impl& im = *impl_;
  ++im.stats.lookups;
  im.stats.lookup_blocks += chain.size();
  if (chain.empty()) return 0;
  im.link.BeginCall();
  if (!im.link.Ready()) return 0;
  for (const BlockRecord& r : chain) {
    const std::string key = im.Key(r);
    redisAppendCommand(
        im.link.ctx(), "GETRANGE %b 0 %lld", key.data(), key.size(),
        static_cast<long long>(internal::RemoteHeaderSize(r) - 1));
  }
  size_t hits = 0;
  bool alive = true;  // every block before this one is present
  im.ReadReplies(chain.size(), [&](size_t i, const redisReply& reply) {
    if (!alive) return;
    alive = false;
    if (!im.IsValue(reply)) return;
    uint64_t size = 0;
    RemoteFault fault;
    absl::Status s = internal::CheckRemoteHeader(
        chain[i], absl::string_view(reply.str, reply.len), &size, &fault);
    if (!s.ok()) return im.NoteBlock(fault, chain[i], s);
    alive = true;
    ++hits;
  });
  im.stats.lookup_hits += hits;
  return static_cast<int32_t>(hits);
}

absl::StatusOr<int32_t> RedisKVStore::Get(
    absl::Span<const BlockRecord> chain,
    absl::Span<const absl::Span<uint8_t>> buffers) {
  if (chain.size() != buffers.size()) {
    return absl::InvalidArgumentError(
        fmt::format("RedisKVStore::Get: {} blocks but {} buffers", chain.size(),
                    buffers.size()));
  }
  Impl& im = *impl_;
  ++im.stats.gets;
  im.stats.get_blocks += chain.size();
  if (chain.empty()) return 0;
  im.link.BeginCall();
  if (!im.link.Ready()) return 0;
  for (const BlockRecord& r : chain) {
    const std::string key = im.Key(r);
    redisAppendCommand(im.link.ctx(), "GET %b", key.data(), key.size());
  }
  size_t hits = 0;
  bool alive = true;
  im.ReadReplies(chain.size(), [&](size_t i, const redisReply& reply) {
    if (!alive) return;
    alive = false;
    if (!im.IsValue(reply)) return;
    absl::string_view payload;
    RemoteFault fault;
    absl::Status s = internal::CheckRemoteValue(
        chain[i], absl::string_view(reply.str, reply.len), buffers[i].size(),
        &payload, &fault);
    if (!s.ok()) return im.NoteBlock(fault, chain[i], s);
    std::memcpy(buffers[i].data(), payload.data(), payload.size());
    im.stats.bytes_loaded += payload.size();
    alive = true;
    ++hits;
  });
  im.stats.get_hits += hits;
  return static_cast<int32_t>(hits);
}

absl::StatusOr<int32_t> RedisKVStore::Put(
    absl::Span<const BlockRecord> blocks,
    absl::Span<const absl::Span<const uint8_t>> payloads, int64_t ttl_ms) {
  if (blocks.size() != payloads.size() || ttl_ms < -1) {
    return absl::InvalidArgumentError(fmt::format(
        "RedisKVStore::Put: {} blocks, {} payloads, ttl_ms {} (want equal "
        "sizes and ttl_ms >= -1)",
        blocks.size(), payloads.size(), ttl_ms));
  }
  Impl& im = *impl_;
  ++im.stats.puts;
  im.stats.put_blocks += blocks.size();
  const int64_t ttl = ttl_ms == -1 ? im.config.default_ttl_ms : ttl_ms;
  im.link.BeginCall();
  if (blocks.empty()) return 0;
  if (!im.link.Ready()) {
    im.stats.dropped_blocks += blocks.size();
    return 0;
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    internal::EncodeRemoteValue(blocks[i], payloads[i], &im.scratch);
    const std::string key = im.Key(blocks[i]);
    if (ttl > 0) {
      redisAppendCommand(im.link.ctx(), "SET %b %b PX %lld", key.data(),
                         key.size(), im.scratch.data(), im.scratch.size(),
                         static_cast<long long>(ttl));
    } else {
      redisAppendCommand(im.link.ctx(), "SET %b %b", key.data(), key.size(),
                         im.scratch.data(), im.scratch.size());
    }
  }
  size_t stored = 0;
  uint64_t refused = 0;
  std::string first_error;
  im.ReadReplies(blocks.size(), [&](size_t i, const redisReply& reply) {
    if (reply.type == REDIS_REPLY_STATUS) {
      ++stored;
      im.stats.bytes_stored += payloads[i].size();
      return;
    }
    const std::string error = reply.type == REDIS_REPLY_ERROR
                                  ? std::string(reply.str, reply.len)
                                  : "unexpected reply";
    const RemoteFault f = absl::StartsWith(error, "OOM")
                              ? RemoteFault::kOutOfMemory
                              : RemoteFault::kServerError;
    ++im.stats.faults[static_cast<int>(f)];
    if (refused++ == 0) first_error = error;
  });
  if (refused > 0 && im.config.log) {
    std::fprintf(stderr, "pagekv remote: %s: put dropped %llu blocks: %s\n",
                 im.link.name().c_str(),
                 static_cast<unsigned long long>(refused), first_error.c_str());
  }
  im.stats.stored_blocks += stored;
  im.stats.dropped_blocks += blocks.size() - stored;
  return static_cast<int32_t>(stored);
}

RemoteStoreStats RedisKVStore::stats() const { return impl_->stats; }

absl::Status RedisKVStore::Verify() const {
  const RemoteStoreStats& s = impl_->stats;
  if (s.lookup_hits > s.lookup_blocks || s.get_hits > s.get_blocks ||
      s.stored_blocks + s.dropped_blocks != s.put_blocks ||
      s.degraded == impl_->link.connected()) {
    return absl::InternalError(
        fmt::format("RedisKVStore counters inconsistent: {} (connected {})",
                    s.ToString(), impl_->link.connected()));
  }
  return absl::OkStatus();
}

namespace {

// The integer after "<field>:" in an INFO reply, or -1.
int64_t InfoInt(absl::string_view info, absl::string_view field) {
  for (absl::string_view line : absl::StrSplit(info, "\r\n")) {
    if (absl::ConsumePrefix(&line, field) && absl::ConsumePrefix(&line, ":")) {
      int64_t v = 0;
      return absl::SimpleAtoi(line, &v) ? v : -1;
    }
  }
  return -1;
}

std::string InfoString(absl::string_view info, absl::string_view field) {
  for (absl::string_view line : absl::StrSplit(info, "\r\n")) {
    if (absl::ConsumePrefix(&line, field) && absl::ConsumePrefix(&line, ":")) {
      return std::string(line);
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<RedisServerInfo> RedisKVStore::ServerInfo() {
  internal::RedisLink& link = impl_->link;
  link.BeginCall();
  if (!link.Ready()) {
    return absl::UnavailableError(link.name() + " is degraded");
  }
  redisAppendCommand(link.ctx(), "INFO memory");
  redisAppendCommand(link.ctx(), "INFO stats");
  std::string info;
  for (int i = 0; i < 2; ++i) {
    RedisReplyPtr r = link.Next();
    if (r == nullptr) {
      return absl::UnavailableError(link.name() + ": INFO failed");
    }
    if (r->type != REDIS_REPLY_STRING) {
      return absl::UnavailableError(
          absl::StrCat(link.name(), ": INFO replied type ", r->type));
    }
    info.append(r->str, r->len).append("\r\n");
  }
  RedisServerInfo out;
  out.used_memory = InfoInt(info, "used_memory");
  out.maxmemory = InfoInt(info, "maxmemory");
  out.maxmemory_policy = InfoString(info, "maxmemory_policy");
  out.evicted_keys = InfoInt(info, "evicted_keys");
  out.expired_keys = InfoInt(info, "expired_keys");
  return out;
}

absl::StatusOr<int64_t> RedisKVStore::DeleteNamespace() {
  internal::RedisLink& link = impl_->link;
  const std::string pattern = impl_->key_prefix + "*";
  std::string cursor = "0";
  int64_t deleted = 0;
  do {
    link.BeginCall();
    if (!link.Ready()) {
      return absl::UnavailableError(link.name() + " is degraded");
    }
    redisAppendCommand(link.ctx(), "SCAN %b MATCH %b COUNT 1000", cursor.data(),
                       cursor.size(), pattern.data(), pattern.size());
    RedisReplyPtr r = link.Next();
    if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      return absl::UnavailableError(link.name() + ": SCAN failed");
    }
    cursor.assign(r->element[0]->str, r->element[0]->len);
    const redisReply* keys = r->element[1];
    if (keys->elements == 0) continue;
    std::vector<const char*> argv = {"UNLINK"};
    std::vector<size_t> lens = {6};
    for (size_t i = 0; i < keys->elements; ++i) {
      argv.push_back(keys->element[i]->str);
      lens.push_back(keys->element[i]->len);
    }
    redisAppendCommandArgv(link.ctx(), static_cast<int>(argv.size()),
                           argv.data(), lens.data());
    RedisReplyPtr n = link.Next();
    if (n == nullptr || n->type != REDIS_REPLY_INTEGER) {
      return absl::UnavailableError(link.name() + ": UNLINK failed");
    }
    deleted += n->integer;
  } while (cursor != "0");
  return deleted;
}

std::string RedisKVStore::RedisKey(const BlockRecord& record) const {
  return impl_->Key(record);
}

const RedisKVStoreConfig& RedisKVStore::config() const { return impl_->config; }

}  // namespace pagekv::net
