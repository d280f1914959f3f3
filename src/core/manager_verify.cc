// ManagerState::Verify(): the whole-structure check behind
// KVCacheManager::Verify() and the expensive check tier.
#include "core/check.h"
#include "core/manager_state.h"
#include "core/status_macros.h"
#include "fmt/format.h"

namespace pagekv::internal {

absl::Status ManagerState::Verify() const {
  PAGEKV_RETURN_IF_ERROR(pool->Verify());
  PAGEKV_RETURN_IF_ERROR(seqs.Verify());
  PAGEKV_RETURN_IF_ERROR(fills.Verify(*pool, config.block_size));
  std::vector<uint32_t> refs(pool->num_blocks() + 1, 0);
  for (uint32_t slot = 0; slot < seqs.num_slots(); ++slot) {
    const Sequence& s = seqs.at(slot);
    if (s.hot->live) PAGEKV_RETURN_IF_ERROR(VerifySequence(s, refs));
  }
  for (size_t b = 1; b < refs.size(); ++b) {
    const BlockId id(static_cast<uint32_t>(b));
    const uint32_t expected =
        pool->state(id) == BlockState::kInUse ? pool->ref_count(id) : 0;
    if (refs[b] != expected) {
      return absl::InternalError(fmt::format(
          "block {}: ref count {} (state {}) but {} table references", b,
          pool->ref_count(id), static_cast<int>(pool->state(id)), refs[b]));
    }
    int indexed_in = 0;
    for (const Group& group : groups) {
      if (group.index != nullptr && group.index->contains(id)) ++indexed_in;
    }
    if (indexed_in != (pool->KeepsContent(id) ? 1 : 0)) {
      return absl::InternalError(fmt::format(
          "block {} is indexed in {} groups but keeps-content is {}", b,
          indexed_in, pool->KeepsContent(id)));
    }
  }
  for (const Group& group : groups) {
    if (group.index != nullptr) PAGEKV_RETURN_IF_ERROR(group.index->Verify());
  }
  if (host != nullptr) PAGEKV_RETURN_IF_ERROR(host->Verify());
  for (BlockId b : fresh_list) {
    if (fresh[b.value()] == 0) {
      return absl::InternalError(fmt::format(
          "block {} is listed as a fresh state checkpoint but not marked",
          b.value()));
    }
  }
  if (hit_align == 0) {
    for (const Group& group : groups) {
      if (group.index != nullptr && group.index->size() != 0) {
        return absl::InternalError(
            fmt::format("no prefix hit is possible, yet {} blocks are indexed",
                        group.index->size()));
      }
    }
  }
  return absl::OkStatus();
}

// One live sequence: counts, kept tokens and keys, the hot record's table
// mirrors, and each group's table; adds its references to `refs`.
absl::Status ManagerState::VerifySequence(const Sequence& s,
                                          std::vector<uint32_t>& refs) const {
  const int64_t bs = config.block_size;
  const SeqHot& h = *s.hot;
  const uint32_t slot = s.slot;
  const size_t kept_tokens =
      config.enable_prefix_caching ? size_t(h.num_known) : 0;
  if (h.num_computed < 0 || h.num_computed > h.num_known ||
      s.tokens.size() != kept_tokens ||
      s.num_indexed > size_t(h.num_computed / bs) ||
      s.keys.size() > s.tokens.size() / size_t(bs)) {
    return absl::InternalError(fmt::format(
        "sequence slot {}: {} known, {} computed, {} kept tokens, {} indexed "
        "blocks, {} keys",
        slot, h.num_known, h.num_computed, s.tokens.size(), s.num_indexed,
        s.keys.size()));
  }
  const std::vector<BlockId>& first = s.tables[0];
  if (h.num_blocks != first.size() ||
      h.last_block != (first.empty() ? kNullBlock : first.back())) {
    return absl::InternalError(fmt::format(
        "sequence slot {}: hot record says {} blocks ending in {}, the table "
        "has {} ending in {}",
        slot, h.num_blocks, h.last_block.value(), first.size(),
        first.empty() ? 0 : first.back().value()));
  }
  if (!h.state_shared) {
    for (size_t g = 0; g < groups.size(); ++g) {
      if (!groups[g].is_state()) continue;
      for (BlockId b : s.tables[g]) {
        if (b != kNullBlock && !pool->IsPrivate(b)) {
          return absl::InternalError(fmt::format(
              "sequence slot {}: state group {} block {} is shared or cached "
              "but the hot record says its states are private",
              slot, g, b.value()));
        }
      }
    }
  }
  const std::vector<BlockId>* attention = nullptr;  // the first such table
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::vector<BlockId>& table = s.tables[g];
    const GroupRule& rule = groups[g].rule;
    if (rule.is_state()) {
      PAGEKV_RETURN_IF_ERROR(VerifyStateTable(s, g));
    } else {
      if (attention == nullptr) attention = &table;
      if (static_cast<int64_t>(table.size()) * bs < h.num_computed ||
          table.size() != attention->size()) {
        return absl::InternalError(fmt::format(
            "sequence slot {} group {}: {} blocks (the first attention group "
            "has {}) for {} computed tokens",
            slot, g, table.size(), attention->size(), h.num_computed));
      }
      if (!rule.windowed() && s.dropped[g] != 0) {
        return absl::InternalError(fmt::format(
            "sequence slot {}: full-attention group {} dropped blocks", slot,
            g));
      }
    }
    for (size_t j = 0; j < table.size(); ++j) {
      const bool dropped = j < s.dropped[g];
      if ((table[j] == kNullBlock) != dropped) {
        return absl::InternalError(fmt::format(
            "sequence slot {} group {} slot {}: block {} but {} dropped "
            "slots (the null block only fills dropped slots)",
            slot, g, j, table[j].value(), s.dropped[g]));
      }
      if (!dropped) ++refs[table[j].value()];
    }
  }
  return absl::OkStatus();
}

// A state group's table: empty with no computed tokens, else nulls up to
// the state entry of the computed tokens, then the state and speculative
// blocks.
absl::Status ManagerState::VerifyStateTable(const Sequence& s, size_t g) const {
  const GroupRule& rule = groups[g].rule;
  const int64_t c = s.num_computed();
  const size_t size = s.tables[g].size();
  const int64_t want = rule.StateTableLength(c);
  const int64_t entry = c == 0 ? 0 : rule.StateIndex(c);
  if (static_cast<int64_t>(size) != want || s.dropped[g] != entry) {
    return absl::InternalError(fmt::format(
        "sequence slot {} state group {}: {} entries with {} dropped for {} "
        "computed tokens; want {} entries, the state at entry {}",
        s.slot, g, size, s.dropped[g], c, want, entry));
  }
  return absl::OkStatus();
}

}  // namespace pagekv::internal
