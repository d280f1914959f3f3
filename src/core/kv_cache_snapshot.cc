// KVCacheManager::ForEachIndexedBlock: the cached set in tree order, for
// KV-event snapshots. Reads the prefix indexes only.
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/manager_state.h"
#include "core/prefix_index.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv {

void KVCacheManager::ForEachIndexedBlock(
    absl::FunctionRef<void(const IndexedBlock&)> fn) const {
  const internal::ManagerState& st = *state_;
  const uint32_t n = st.pool->num_blocks();
  for (size_t g = 0; g < st.groups.size(); ++g) {
    const internal::PrefixIndex* index = st.groups[g].index.get();
    if (index == nullptr || index->size() == 0) continue;
    // Keys are unique within a group's index, so key -> block names the
    // parent; children hang off their parent's block for a depth-first walk.
    absl::flat_hash_map<uint64_t, uint32_t> by_key;
    by_key.reserve(index->size());
    for (uint32_t b = 1; b <= n; ++b) {
      if (index->contains(BlockId(b)))
        by_key.emplace(index->key(BlockId(b)), b);
    }
    absl::flat_hash_map<uint32_t, std::vector<uint32_t>> children;
    std::vector<uint32_t> stack;
    for (const auto& [key, b] : by_key) {
      auto parent = by_key.find(index->parent_key(BlockId(b)));
      if (parent != by_key.end() && parent->second != b) {
        children[parent->second].push_back(b);
      } else {
        stack.push_back(b);
      }
    }
    const size_t num_roots = stack.size();
    std::vector<bool> is_root(n + 1, false);
    for (size_t i = 0; i < num_roots; ++i) is_root[stack[i]] = true;
    while (!stack.empty()) {
      const uint32_t b = stack.back();
      stack.pop_back();
      IndexedBlock block;
      block.group = GroupId(static_cast<uint32_t>(g));
      block.key = index->key(BlockId(b));
      block.parent_key = index->parent_key(BlockId(b));
      block.parent_indexed = !is_root[b];
      block.tokens = index->tokens(BlockId(b));
      fn(block);
      auto it = children.find(b);
      if (it == children.end()) continue;
      // Reversed, so the first child is reported right after its parent.
      for (auto c = it->second.rbegin(); c != it->second.rend(); ++c) {
        stack.push_back(*c);
      }
    }
  }
}

}  // namespace pagekv
