// Test helper for tests/python_wire/kv_events_subscriber.py: a small engine
// publishing its KV events through EventPublisher, and the events it
// published as JSON lines (what a vLLM-schema decoder must read back).
//
//   kv_event_emitter array|map EXPECTED.jsonl
//   stdout: "ENDPOINTS <pub> <replay>", then after "go" on stdin the
//   engine runs; "DONE <batches>" when published; exits at stdin EOF.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <variant>

#include "nlohmann/json.hpp"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/net/event_publisher.h"

namespace {

using pagekv::KVEvent;

nlohmann::json ToJson(const KVEvent& event) {
  nlohmann::json j;
  if (const auto* s = std::get_if<pagekv::BlockStoredEvent>(&event)) {
    j["type"] = "BlockStored";
    j["block_hashes"] = s->block_keys;
    j["parent_block_hash"] = s->parent_key ? nlohmann::json(*s->parent_key)
                                           : nlohmann::json(nullptr);
    j["token_ids"] = s->token_ids;
    j["block_size"] = s->block_size;
    j["lora_id"] =
        s->lora_id == 0 ? nlohmann::json(nullptr) : nlohmann::json(s->lora_id);
    j["cache_salt"] = s->cache_salt;
    j["group_idx"] = s->group.value();
  } else if (const auto* r = std::get_if<pagekv::BlockRemovedEvent>(&event)) {
    j["type"] = "BlockRemoved";
    j["block_hashes"] = r->block_keys;
    j["group_idx"] = r->group.value();
  } else {
    j["type"] = "AllBlocksCleared";
  }
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: kv_event_emitter array|map EXPECTED.jsonl\n";
    return 2;
  }
  pagekv::KVCacheConfig config;
  config.num_blocks = 1 + 12;  // small: the requests below evict
  config.block_size = 4;
  config.hash_seed = 3;
  config.enable_kv_events = true;
  auto manager = *pagekv::KVCacheManager::Create(config);
  pagekv::net::EventPublisherConfig pc;
  pc.endpoint = "tcp://127.0.0.1:*";
  pc.replay_endpoint = "tcp://127.0.0.1:*";
  pc.encode.layout = std::string(argv[1]) == "map"
                         ? pagekv::net::WireLayout::kMap
                         : pagekv::net::WireLayout::kArray;
  pc.encode.data_parallel_rank = 0;
  auto publisher = pagekv::net::EventPublisher::Create(pc);
  if (!publisher.ok()) {
    std::cerr << publisher.status() << "\n";
    return 1;
  }
  std::cout << "ENDPOINTS " << (*publisher)->endpoint() << " "
            << (*publisher)->replay_endpoint() << std::endl;
  std::string line;
  if (!std::getline(std::cin, line) || line != "go") return 2;
  std::ofstream expected(argv[2]);
  int batches = 0;
  auto step = [&](const std::vector<pagekv::TokenId>& prompt, uint64_t salt,
                  uint64_t lora) {
    pagekv::SequenceOptions opts;
    opts.hash_extras.cache_salt = salt;
    opts.hash_extras.lora_id = lora;
    auto seq = *manager->AddSequence(prompt, opts);
    (void)manager->Admit(seq, static_cast<int64_t>(prompt.size()));
    (void)manager->Release(seq);
    std::vector<KVEvent> events = manager->DrainEvents();
    nlohmann::json j = nlohmann::json::array();
    for (const KVEvent& e : events) j.push_back(ToJson(e));
    expected << nlohmann::json{{"seq", batches}, {"events", j}}.dump() << "\n";
    (*publisher)->Publish(std::move(events));
    ++batches;
  };
  step({1, 2, 3, 4, 5, 6, 7, 8, 9}, 0, 0);
  step({1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 1}, 0, 0);  // shares 2 blocks
  step({1, 2, 3, 4, 5}, 77, 0);                             // salted
  step({20, 21, 22, 23, 24, 25, 26, 27, 28}, 0, 9);         // a LoRA
  std::vector<pagekv::TokenId> long_prompt(33);
  for (int i = 0; i < 33; ++i) long_prompt[i] = 100 + i;
  step(long_prompt, 0, 0);  // 9 blocks: evicts 3 of the 6 cached
  // A reset, published at once as AllBlocksCleared.
  (void)manager->Reset();
  std::vector<KVEvent> cleared = manager->DrainEvents();
  nlohmann::json j = nlohmann::json::array();
  for (const KVEvent& e : cleared) j.push_back(ToJson(e));
  expected << nlohmann::json{{"seq", batches}, {"events", j}}.dump() << "\n";
  (*publisher)->Publish(std::move(cleared));
  ++batches;
  expected.close();
  std::cout << "DONE " << batches << std::endl;
  while (std::getline(std::cin, line)) {
  }
  (*publisher)->Shutdown();
  return 0;
}
