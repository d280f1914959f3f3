#include "net/snapshot.h"

namespace pagekv::net::internal {

void LearnRoots(const std::vector<KVEvent>& events, const BlockHasher& hasher,
                RootMap* roots) {
  for (const KVEvent& e : events) {
    const auto* s = std::get_if<BlockStoredEvent>(&e);
    if (s == nullptr || s->parent_key.has_value()) continue;
    BlockHashExtras extras;
    extras.lora_id = s->lora_id;
    extras.cache_salt = s->cache_salt;
    roots->try_emplace(hasher.RootKey(extras), s->lora_id, s->cache_salt);
  }
}

std::vector<KVEvent> SnapshotEvents(const KVCacheManager& manager,
                                    const RootMap& roots) {
  std::vector<KVEvent> out;
  BlockStoredEvent* run = nullptr;
  uint64_t last_key = 0;
  manager.ForEachIndexedBlock([&](const IndexedBlock& b) {
    const bool extends = run != nullptr && b.parent_indexed &&
                         run->group == b.group && last_key == b.parent_key;
    if (!extends) {
      BlockStoredEvent e;
      e.block_size = manager.block_size();
      e.group = b.group;
      auto root = b.parent_indexed ? roots.end() : roots.find(b.parent_key);
      if (root != roots.end()) {
        e.lora_id = root->second.first;
        e.cache_salt = root->second.second;
      } else {
        e.parent_key = b.parent_key;
      }
      out.emplace_back(std::move(e));
      run = &std::get<BlockStoredEvent>(out.back());
    }
    run->block_keys.push_back(b.key);
    run->token_ids.insert(run->token_ids.end(), b.tokens.begin(),
                          b.tokens.end());
    last_key = b.key;
  });
  return out;
}

}  // namespace pagekv::net::internal
