// The manager fuzzer's shadow KV memory (manager_fuzz_shadow.h).
#include "manager_fuzz_shadow.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace pagekv {

void ShadowKv::Init(const KVCacheConfig& config) {
  bs_ = config.block_size;
  groups_ = config.groups;
  slots_.assign(static_cast<size_t>(config.num_blocks) * bs_, -1);
  states_.assign(static_cast<size_t>(config.num_blocks), {-1, 0});
}

void ShadowKv::WriteStep(KVCacheManager& m, SeqId id, const RefSeq& r,
                         int64_t from, int64_t to) {
  for (const BlockCopy& copy : m.DrainCopies()) {
    FUZZ_CHECK(copy.src != kNullBlock && copy.dst != kNullBlock,
               "copy names the null block");
    FUZZ_CHECK(copy.src != copy.dst, "copy onto itself");
    for (int i = 0; i < bs_; ++i) {
      slots_[copy.dst.value() * bs_ + i] = slots_[copy.src.value() * bs_ + i];
    }
    states_[copy.dst.value()] = states_[copy.src.value()];
  }
  for (int g = 0; g < m.num_groups(); ++g) {
    auto table = *m.BlockTable(id, GroupId(g));
    if (IsState(g)) {
      WriteState(m, id, r, g, table, from, to);
      continue;
    }
    for (int64_t p = from; p < to; ++p) {
      const BlockId b = table[p / bs_];
      FUZZ_CHECK(b != kNullBlock,
                 "seq %llu group %d: new token %lld lands in a null slot",
                 static_cast<unsigned long long>(id.value()), g,
                 static_cast<long long>(p));
      FUZZ_CHECK(m.pool().ref_count(b) == 1,
                 "writing token %lld into block %u shared by %u holders",
                 static_cast<long long>(p), b.value(), m.pool().ref_count(b));
      slots_[b.value() * bs_ + p % bs_] = r.tokens[p];
    }
  }
}

void ShadowKv::CheckSequence(const KVCacheManager& m, uint64_t id,
                             const RefSeq& r) const {
  for (int g = 0; g < m.num_groups(); ++g) {
    auto table = *m.BlockTable(SeqId(id), GroupId(g));
    if (IsState(g)) {
      CheckState(id, g, table, r);
    } else {
      CheckAttention(m, id, g, table, r);
    }
  }
}

void ShadowKv::CheckAttention(const KVCacheManager& m, uint64_t id, int g,
                              absl::Span<const BlockId> table,
                              const RefSeq& r) const {
  FUZZ_CHECK(int64_t(table.size()) * bs_ >= r.computed, "table too short");
  // The next token attends to the last window - 1 computed tokens, or its
  // chunk's (all of them for full attention): their blocks must be held.
  const KVCacheGroupSpec& spec = m.config().groups[g];
  int64_t window_start = 0;
  if (spec.kind == KVCacheGroupSpec::Kind::kSlidingWindow) {
    window_start = std::max<int64_t>(0, r.computed - (spec.sliding_window - 1));
  } else if (spec.kind == KVCacheGroupSpec::Kind::kChunkedLocal) {
    window_start = r.computed - r.computed % spec.attention_chunk_size;
  }
  for (int64_t p = window_start; p < r.computed; ++p) {
    FUZZ_CHECK(table[p / bs_] != kNullBlock,
               "seq %llu group %d: token %lld of %lld computed is in the "
               "window but its slot is null",
               static_cast<unsigned long long>(id), g,
               static_cast<long long>(p), static_cast<long long>(r.computed));
  }
  for (int64_t p = 0; p < r.computed; ++p) {
    const BlockId b = table[p / bs_];
    if (b == kNullBlock) continue;  // out of the window
    FUZZ_CHECK(slots_[b.value() * bs_ + p % bs_] == r.tokens[p],
               "seq %llu group %d position %lld reads the wrong KV from "
               "block %u",
               static_cast<unsigned long long>(id), g,
               static_cast<long long>(p), b.value());
  }
}

void ShadowKv::RestoreStates(const KVCacheManager& m, SeqId id,
                             const RefSeq& r) {
  if (r.computed == 0) return;
  for (int g = 0; g < m.num_groups(); ++g) {
    if (!IsState(g)) continue;
    const auto table = *m.BlockTable(id, GroupId(g));
    const BlockId b = StateBlock(id, g, table, r.computed);
    states_[b.value()] = {r.computed, Fingerprint(r.tokens, r.computed)};
  }
}

int64_t ShadowKv::StateEntry(int g, int64_t tokens) const {
  const KVCacheGroupSpec& spec = groups_[g];
  if (spec.state_cache_mode == StateCacheMode::kNone) return 0;
  const int64_t sbs = spec.state_block_size == 0 ? bs_ : spec.state_block_size;
  return (tokens + sbs - 1) / sbs - 1;
}

uint64_t ShadowKv::Fingerprint(const std::vector<TokenId>& t, int64_t end) {
  uint64_t h = 1469598103934665603ull;
  for (int64_t i = 0; i < end; ++i) {
    h = (h ^ static_cast<uint32_t>(t[i])) * 1099511628211ull;
  }
  return h;
}

BlockId ShadowKv::StateBlock(SeqId id, int g, absl::Span<const BlockId> table,
                             int64_t tokens) const {
  const int64_t entry = StateEntry(g, tokens);
  FUZZ_CHECK(entry < int64_t(table.size()) && table[entry] != kNullBlock,
             "seq %llu state group %d: no state block for %lld tokens",
             static_cast<unsigned long long>(id.value()), g,
             static_cast<long long>(tokens));
  return table[entry];
}

void ShadowKv::WriteState(const KVCacheManager& m, SeqId id, const RefSeq& r,
                          int g, absl::Span<const BlockId> table, int64_t from,
                          int64_t to) {
  if (from == to) return;
  const BlockId b = StateBlock(id, g, table, to);
  FUZZ_CHECK(m.pool().ref_count(b) == 1,
             "writing a state into block %u shared by %u holders", b.value(),
             m.pool().ref_count(b));
  if (from > 0) {
    const std::pair<int64_t, uint64_t> want{from, Fingerprint(r.tokens, from)};
    FUZZ_CHECK(states_[b.value()] == want,
               "seq %llu state group %d: block %u holds the state after "
               "%lld tokens, the step resumes after %lld",
               static_cast<unsigned long long>(id.value()), g, b.value(),
               static_cast<long long>(states_[b.value()].first),
               static_cast<long long>(from));
  }
  states_[b.value()] = {to, Fingerprint(r.tokens, to)};
}

void ShadowKv::CheckState(uint64_t id, int g, absl::Span<const BlockId> table,
                          const RefSeq& r) const {
  if (r.computed == 0) {
    FUZZ_CHECK(table.empty(), "state table without computed tokens");
    return;
  }
  const BlockId b = StateBlock(SeqId(id), g, table, r.computed);
  const std::pair<int64_t, uint64_t> want{r.computed,
                                          Fingerprint(r.tokens, r.computed)};
  FUZZ_CHECK(states_[b.value()] == want,
             "seq %llu state group %d: block %u holds the state after %lld "
             "tokens, not %lld",
             static_cast<unsigned long long>(id), g, b.value(),
             static_cast<long long>(states_[b.value()].first),
             static_cast<long long>(r.computed));
}

}  // namespace pagekv
