#include "index_command.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "pagekv/net/cluster_index.h"
#include "pagekv/net/index_subscriber.h"
#include "pagekv/net/redis_index_store.h"
#include "zmq.hpp"

namespace pagekv::tools {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  if (text.empty()) return items;
  for (absl::string_view piece : absl::StrSplit(text, ',')) {
    items.emplace_back(absl::StripAsciiWhitespace(piece));
  }
  return items;
}

nlohmann::json RedisScores(net::RedisIndexStore& store,
                           const net::ClusterIndex& index,
                           absl::Span<const TokenId> tokens,
                           const BlockHashExtras& extras) {
  std::vector<uint64_t> keys;
  index.hasher().ExtendKeys(tokens, extras, &keys);
  auto scores = store.Score(keys);
  if (!scores.ok()) return {{"error", std::string(scores.status().message())}};
  const int32_t bs = index.hasher().block_size();
  nlohmann::json out = nlohmann::json::array();
  for (const net::RedisScore& s : *scores) {
    out.push_back({{"instance", s.instance},
                   {"blocks", s.blocks},
                   {"tokens", int64_t{s.blocks} * bs}});
  }
  return {{"block_size", bs}, {"source", "redis"}, {"scores", out}};
}

nlohmann::json ScoreReply(const net::ClusterIndex& index,
                          const net::IndexSubscriber& sub,
                          net::RedisIndexStore* store,
                          const nlohmann::json& req) {
  if (!req.contains("tokens") || !req["tokens"].is_array()) {
    return {{"error", "request needs \"tokens\": an array of token ids"}};
  }
  std::vector<TokenId> tokens;
  for (size_t i = 0; i < req["tokens"].size(); ++i) {
    const auto& t = req["tokens"][i];
    if (!t.is_number_integer()) {
      return {{"error", "tokens[" + std::to_string(i) + "] is not an integer"}};
    }
    tokens.push_back(t.get<TokenId>());
  }
  BlockHashExtras extras;
  for (const char* field : {"lora_id", "cache_salt"}) {
    if (!req.contains(field)) continue;
    if (!req[field].is_number_unsigned()) {
      return {{"error", std::string(field) + " must be an unsigned integer"}};
    }
  }
  extras.lora_id = req.value("lora_id", uint64_t{0});
  extras.cache_salt = req.value("cache_salt", uint64_t{0});
  if (store != nullptr) return RedisScores(*store, index, tokens, extras);
  const int32_t bs = index.hasher().block_size();
  nlohmann::json scores = nlohmann::json::array();
  for (const net::InstanceScore& s : index.Score(tokens, extras)) {
    nlohmann::json by_medium = nlohmann::json::object();
    for (size_t m = 0; m < s.blocks_by_medium.size(); ++m) {
      by_medium[index.media()[m]] = s.blocks_by_medium[m];
    }
    scores.push_back({{"instance", index.name(s.instance)},
                      {"blocks", s.blocks},
                      {"tokens", int64_t{s.blocks} * bs},
                      {"by_medium", by_medium}});
  }
  return {{"block_size", bs}, {"synced", sub.Synced()}, {"scores", scores}};
}

nlohmann::json StatsReply(const net::ClusterIndex& index,
                          const net::IndexSubscriber& sub,
                          const net::RedisIndexStore* store) {
  nlohmann::json sources = nlohmann::json::array();
  for (int i = 0; i < sub.num_sources(); ++i) {
    const net::SourceStats s = sub.stats(i);
    sources.push_back({{"instance", index.name(sub.instance(i))},
                       {"watermark", s.watermark},
                       {"resyncing", s.resyncing},
                       {"batches", s.batches},
                       {"blocks", s.blocks},
                       {"gaps", s.gaps},
                       {"replays", s.replays},
                       {"snapshots", s.snapshots},
                       {"restarts", s.restarts},
                       {"late_copies", s.late_copies},
                       {"malformed", s.malformed},
                       {"timeouts", s.timeouts},
                       {"index_blocks", index.NumBlocks(sub.instance(i))}});
  }
  const net::ClusterIndexStats& st = index.stats();
  nlohmann::json redis = nullptr;
  if (store != nullptr) {
    const net::RedisStoreStats rs = store->stats();
    redis = {
        {"degraded", rs.degraded},     {"syncs", rs.syncs},
        {"commands", rs.commands},     {"failures", rs.failures},
        {"reconnects", rs.reconnects}, {"full_rewrites", rs.full_rewrites}};
  }
  return {{"sources", sources},
          {"redis", redis},
          {"keys", index.NumKeys()},
          {"blocks_stored", st.blocks_stored},
          {"blocks_removed", st.blocks_removed},
          {"clears", st.clears},
          {"unresolved_blocks", st.unresolved_blocks}};
}

// Answers one request; sets *stop on a shutdown request.
std::string Answer(const std::string& body, const net::ClusterIndex& index,
                   const net::IndexSubscriber& sub, net::RedisIndexStore* store,
                   bool* stop) {
  nlohmann::json req = nlohmann::json::parse(body, nullptr, false);
  nlohmann::json reply;
  if (req.is_discarded() || !req.is_object()) {
    reply = {{"error", "request is not a JSON object"}};
  } else if (req.value("op", std::string("score")) == "stats") {
    reply = StatsReply(index, sub, store);
  } else if (req.value("op", std::string("score")) == "shutdown") {
    *stop = true;
    reply = {{"ok", true}};
  } else {
    reply = ScoreReply(index, sub, store, req);
  }
  return reply.dump();
}

}  // namespace

// The parsed flags of `pagekv index`.
struct IndexSetup {
  net::IndexSubscriberConfig subscriber;
  net::ClusterIndexConfig index;
  double duration_s = 0;
};

// Parses the endpoint and number flags; false (the bad flag named on err)
// if one is malformed.
bool ParseIndexSetup(const IndexArgs& args, std::ostream& err,
                     IndexSetup* setup) {
  const std::vector<std::string> pubs = SplitList(args.subscribe);
  const std::vector<std::string> replays = SplitList(args.replay);
  if (pubs.empty()) {
    err << "pagekv index: --subscribe needs at least one endpoint\n";
    return false;
  }
  if (!replays.empty() && replays.size() != pubs.size()) {
    err << "pagekv index: --replay has " << replays.size() << " endpoints for "
        << pubs.size() << " --subscribe endpoints\n";
    return false;
  }
  for (size_t i = 0; i < pubs.size(); ++i) {
    setup->subscriber.sources.push_back(
        {pubs[i], pubs[i], replays.empty() ? std::string() : replays[i], ""});
  }
  if (!absl::SimpleAtoi(args.block_size, &setup->index.block_size) ||
      setup->index.block_size <= 0) {
    err << "pagekv index: --block-size '" << args.block_size
        << "' is not a positive integer\n";
    return false;
  }
  if (!absl::SimpleAtoi(args.hash_seed, &setup->index.hash_seed)) {
    err << "pagekv index: --hash-seed '" << args.hash_seed
        << "' is not an unsigned integer\n";
    return false;
  }
  if (!absl::SimpleAtod(args.duration_s, &setup->duration_s) ||
      setup->duration_s < 0) {
    err << "pagekv index: --duration-s '" << args.duration_s
        << "' is not a number >= 0\n";
    return false;
  }
  return true;
}

// Feeds the index from the subscriber, mirrors it to Redis every 100 ms
// and answers queries on `rep`, until a shutdown request, a signal or the
// duration (0: none) ends it.
void Serve(zmq::socket_t& rep, net::ClusterIndex& index,
           net::IndexSubscriber& sub, net::RedisIndexStore* store,
           double duration_s) {
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::duration<double>(duration_s);
  bool stop = false;
  auto next_sync = std::chrono::steady_clock::now();
  while (!stop && !g_stop.load() &&
         (duration_s == 0 || std::chrono::steady_clock::now() < end)) {
    sub.Poll(5);
    if (store && std::chrono::steady_clock::now() >= next_sync) {
      // Failures are reported in stats and score replies; Sync retries.
      (void)store->Sync(index);
      next_sync += std::chrono::milliseconds(100);
    }
    zmq::message_t msg;
    while (!stop && rep.recv(msg, zmq::recv_flags::dontwait)) {
      const std::string reply =
          Answer(msg.to_string(), index, sub, store, &stop);
      rep.send(zmq::buffer(reply), zmq::send_flags::none);
    }
  }
}

int RunIndex(const IndexArgs& args, std::ostream& out, std::ostream& err) {
  IndexSetup setup;
  if (!ParseIndexSetup(args, err, &setup)) return kIndexBadInput;
  auto index = net::ClusterIndex::Create(setup.index);
  if (!index.ok()) {
    err << "pagekv index: " << index.status().message() << "\n";
    return kIndexBadInput;
  }
  auto sub = net::IndexSubscriber::Create(setup.subscriber, index->get());
  if (!sub.ok()) {
    err << "pagekv index: " << sub.status().message() << "\n";
    return sub.status().code() == absl::StatusCode::kInvalidArgument
               ? kIndexBadInput
               : kIndexFailed;
  }
  std::unique_ptr<net::RedisIndexStore> store;
  if (!args.redis.empty()) {
    auto rc = net::RedisStoreConfig::FromUrl(args.redis);
    if (!rc.ok()) {
      err << "pagekv index: --redis: " << rc.status().message() << "\n";
      return kIndexBadInput;
    }
    std::signal(SIGPIPE, SIG_IGN);  // hiredis writes to a socket Redis closed
    store = *net::RedisIndexStore::Create(*rc);
  }
  zmq::context_t ctx;
  zmq::socket_t rep(ctx, zmq::socket_type::rep);
  try {
    rep.bind(args.listen);
  } catch (const zmq::error_t& e) {
    err << "pagekv index: cannot listen on '" << args.listen
        << "': " << e.what() << "\n";
    return kIndexFailed;
  }
  out << "listening " << rep.get(zmq::sockopt::last_endpoint) << std::endl;
  Serve(rep, **index, **sub, store.get(), setup.duration_s);
  return kIndexOk;
}

void AddIndexCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<IndexArgs>();
  CLI::App* cmd = app.add_subcommand(
      "index",
      "Cluster prefix index: subscribe to engines' KV events and answer "
      "score queries (JSON over ZeroMQ REQ/REP)");
  cmd->add_option("--subscribe", args->subscribe,
                  "Publishers' PUB endpoints, comma-separated")
      ->required();
  cmd->add_option("--replay", args->replay,
                  "Their replay (ROUTER) endpoints, same order");
  cmd->add_option("--listen", args->listen, "REP endpoint for queries")
      ->capture_default_str();
  cmd->add_option("--block-size", args->block_size,
                  "Tokens per block, as the engines")
      ->capture_default_str();
  cmd->add_option("--hash-seed", args->hash_seed,
                  "The engines' block hash seed")
      ->capture_default_str();
  cmd->add_option("--redis", args->redis,
                  "Keep the index in Redis (redis://host:port) and answer "
                  "from it");
  cmd->add_option("--duration-s", args->duration_s,
                  "Exit after this many seconds (0: run until shut down)")
      ->capture_default_str();
  cmd->callback([args, exit_code] {
    *exit_code = RunIndex(*args, std::cout, std::cerr);
  });
}

}  // namespace pagekv::tools
