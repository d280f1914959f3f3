// Helpers of the RedisKVStore tests: a redis-server fixture with an admin
// connection, and a chain of blocks with distinct payloads.
#ifndef PAGEKV_TESTS_REDIS_KV_TEST_UTIL_H_
#define PAGEKV_TESTS_REDIS_KV_TEST_UTIL_H_

#include <hiredis/hiredis.h>
#include <signal.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "net_test_util.h"
#include "pagekv/block_chain.h"
#include "pagekv/net/redis_kv_store.h"
#include "redis_server.h"
#include "test_util.h"

#define PAGEKV_EXPECT_OK(expr)                \
  do {                                        \
    auto pagekv_st = (expr);                  \
    EXPECT_TRUE(pagekv_st.ok()) << pagekv_st; \
  } while (0)

namespace pagekv::testing {

// A redis-server child on a free port in a per-process temp dir.
class RedisFixture {
 public:
  explicit RedisFixture(std::vector<std::string> extra_args = {})
      : dir_(TempPath("redis_kv")),
        port_(FreePort()),
        server_(port_, dir_, std::move(extra_args)) {
    signal(SIGPIPE, SIG_IGN);  // hiredis may write to a socket Redis closed
    std::filesystem::create_directories(dir_);
  }
  ~RedisFixture() {
    if (admin_ != nullptr) redisFree(admin_);
    server_.Kill();
    std::filesystem::remove_all(dir_);
  }

  // Starts the server and waits (bounded) until it answers PING.
  bool Up(const std::string& password = "") {
    password_ = password;
    if (!server_.Start()) return false;
    return PumpUntil([&] { return server_.Exited() || Ping(); }) &&
           !server_.Exited();
  }
  void Kill() {
    if (admin_ != nullptr) redisFree(admin_);
    admin_ = nullptr;
    server_.Kill();
  }
  void Pause() { server_.Pause(); }
  void Resume() { server_.Resume(); }

  // A config for this server with short backoffs. The default timeout is
  // generous (a loaded CI machine must not time out by accident); fault
  // tests pass a short one.
  net::RedisKVStoreConfig Config(int64_t timeout_ms = 2000) const {
    net::RedisKVStoreConfig c;
    c.port = port_;
    c.layout = "bs4-test";
    c.timeout_ms = timeout_ms;
    c.min_backoff_ms = 10;
    c.max_backoff_ms = 40;
    return c;
  }
  std::unique_ptr<net::RedisKVStore> Store(int64_t timeout_ms = 2000) const {
    auto s = net::RedisKVStore::Create(Config(timeout_ms));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  // Runs a space-separated command on the admin connection; its reply's
  // string (or integer as text, or error text).
  std::string Admin(const std::string& command) {
    if (admin_ == nullptr && !Ping()) return "(no connection)";
    std::vector<std::string> words = absl::StrSplit(command, ' ');
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& w : words) {
      argv.push_back(w.data());
      lens.push_back(w.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(
        admin_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (r == nullptr) return "(no reply)";
    std::string out = r->type == REDIS_REPLY_INTEGER
                          ? std::to_string(r->integer)
                          : std::string(r->str != nullptr ? r->str : "",
                                        r->str != nullptr ? r->len : 0);
    freeReplyObject(r);
    return out;
  }
  int64_t AdminInt(const std::string& command) {
    return std::stoll(Admin(command));
  }
  // Sends a command without waiting for its reply (e.g. DEBUG SLEEP).
  void AdminSend(const std::string& command) {
    if (admin_ == nullptr && !Ping()) return;
    redisAppendCommand(admin_, command.c_str());
    int done = 0;
    while (done == 0 && redisBufferWrite(admin_, &done) == REDIS_OK) {
    }
  }
  int port() const { return port_; }

 private:
  bool Ping() {
    if (admin_ != nullptr) redisFree(admin_);
    admin_ = redisConnectWithTimeout("127.0.0.1", port_, {1, 0});
    if (admin_ == nullptr || admin_->err) return false;
    if (!password_.empty()) {
      freeReplyObject(redisCommand(admin_, "AUTH %s", password_.c_str()));
    }
    auto* r = static_cast<redisReply*>(redisCommand(admin_, "PING"));
    const bool ok = r != nullptr && r->type == REDIS_REPLY_STATUS;
    if (r != nullptr) freeReplyObject(r);
    return ok;
  }

  std::string dir_;
  int port_;
  RedisServer server_;
  std::string password_;
  redisContext* admin_ = nullptr;
};

// A prompt of n blocks of 4 tokens, its chain, and a distinct payload of
// `bytes` bytes per block.
struct TestChain {
  TestChain(int n, size_t bytes, uint64_t salt = 0) : prompt(Iota(n * 4 + 1)) {
    KVCacheConfig config;
    config.block_size = 4;
    extras.cache_salt = salt;
    records = ComputeBlockChain(config, prompt, extras).blocks;
    std::mt19937_64 rng(salt * 1000 + static_cast<uint64_t>(n));
    for (int i = 0; i < n; ++i) {
      std::vector<uint8_t> p(bytes);
      for (uint8_t& b : p) b = static_cast<uint8_t>(rng());
      payloads.push_back(std::move(p));
    }
  }
  absl::Span<const BlockRecord> Records(int a, int b) const {
    return absl::MakeConstSpan(records).subspan(a, b - a);
  }
  std::vector<absl::Span<const uint8_t>> Payloads(int a, int b) const {
    std::vector<absl::Span<const uint8_t>> out;
    for (int i = a; i < b; ++i) out.emplace_back(payloads[i]);
    return out;
  }
  // `n` (default: all) buffers of the payload size, filled with Untouched().
  std::vector<absl::Span<uint8_t>> Buffers(
      std::vector<std::vector<uint8_t>>* out, int n = -1) const {
    out->assign(n < 0 ? payloads.size() : n, Untouched());
    std::vector<absl::Span<uint8_t>> spans;
    for (auto& b : *out) spans.emplace_back(b);
    return spans;
  }
  std::vector<uint8_t> Untouched() const {
    return std::vector<uint8_t>(payloads[0].size(), 0xEE);
  }

  std::vector<TokenId> prompt;
  BlockHashExtras extras;
  std::vector<BlockRecord> records;
  std::vector<std::vector<uint8_t>> payloads;
};

}  // namespace pagekv::testing

#endif  // PAGEKV_TESTS_REDIS_KV_TEST_UTIL_H_
