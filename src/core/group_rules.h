// GroupRule: what each kind of KV-cache group keeps, drops, writes and needs
// for a prefix hit. Private to the library.
//
// The manager's operations are the same for every group; only these rules
// differ by kind (the table in kv_cache_config.h says what they are). They
// live here, in one place, so the reservation plan, the walk of the prefix
// index, the releases and Verify() agree by construction.
//
// Two families:
//
// clang-format off
//   attention kinds (full, sliding window, chunked local)
//     one table entry per block of bs tokens; entry j holds tokens
//     [j*bs, (j+1)*bs); entries before ReadStartBlock(next position) go back
//     to the pool and become the null block.
//   state kind (Mamba / linear attention)
//     entry j holds the state after the tokens up to ((j+1) * sbs) (kAlign;
//     kNone keeps everything in entry 0): the table is
//       [ null ... null | state block | speculative blocks ]
//         StateIndex(c)    1              num_speculative_blocks
//     and a step that crosses into a new entry allocates it, asks the engine
//     to copy the state over (a BlockCopy) and releases the old one (which
//     stays cached when it is a checkpoint).
// clang-format on
//
// A prefix hit of E tokens must be a multiple of the hit alignment: the least
// common multiple of every group's granularity (bs for attention kinds, sbs
// for aligned state groups). A full block that no aligned hit can ever use is
// not indexed (CanServeHit).
#ifndef PAGEKV_CORE_GROUP_RULES_H_
#define PAGEKV_CORE_GROUP_RULES_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/types/span.h"
#include "core/prefix_index.h"
#include "pagekv/block_math.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/types.h"

namespace pagekv::internal {

struct GroupRule {
  using Kind = KVCacheGroupSpec::Kind;

  // The rule of `spec` in a manager of `block_size`-token blocks.
  // REQUIRES: spec is valid for block_size (KVCacheConfig::Validate).
  static GroupRule Of(const KVCacheGroupSpec& spec, int64_t block_size);

  Kind kind = Kind::kFullAttention;
  int64_t bs = 16;           // the manager's block size
  int64_t window = 0;        // kSlidingWindow
  int64_t chunk = 0;         // kChunkedLocal
  bool state_align = false;  // kState: checkpoints are cached
  int64_t state_bs = 0;      // kState, kAlign: tokens per state entry
  int64_t spec_blocks = 0;   // kState: speculative blocks

  bool is_state() const { return kind == Kind::kState; }
  // Sliding window or chunked local: a leading run of entries is dropped.
  bool windowed() const {
    return kind == Kind::kSlidingWindow || kind == Kind::kChunkedLocal;
  }

  // --- attention kinds ---
  // The first token a query at `position` attends to.
  int64_t ReadStartToken(int64_t position) const {
    switch (kind) {
      case Kind::kSlidingWindow:
        return WindowStartToken(position, window);
      case Kind::kChunkedLocal:
        return position - position % chunk;
      default:
        return 0;
    }
  }
  // The first entry a query at `position` reads: earlier entries may go.
  int64_t ReadStartBlock(int64_t position) const {
    return ReadStartToken(position) / bs;
  }

  // --- state kind ---
  // The entry holding the state after `tokens` > 0 tokens.
  int64_t StateIndex(int64_t tokens) const {
    return state_align ? CeilDiv(tokens, state_bs) - 1 : 0;
  }
  // The table length of a sequence with `computed` tokens.
  int64_t StateTableLength(int64_t computed) const {
    return computed == 0 ? 0 : StateIndex(computed) + 1 + spec_blocks;
  }

  // --- prefix hits ---
  // Tokens a hit of this group is a multiple of; 0 = this group never
  // serves a hit (a state group that caches nothing).
  int64_t HitGranularity() const {
    if (!is_state()) return bs;
    return state_align ? state_bs : 0;
  }
  // Whether full attention-kind block `i` can serve some hit whose length is
  // a multiple of `align` tokens (a multiple of bs): a windowed group reads
  // only the last blocks before each aligned hit end.
  bool CanServeHit(int64_t i, int64_t align) const {
    if (!windowed()) return true;
    const int64_t end = CeilDiv((i + 1) * bs, align) * align;
    return ReadStartBlock(end) <= i;
  }
};

// The rules of `config`'s groups, and what they imply together.
struct GroupRules {
  std::vector<GroupRule> rules;
  // The hit alignment in tokens (a multiple of bs), or 0 when no hit is
  // possible (a kNone state group): then nothing is indexed.
  int64_t hit_align = 0;
  bool any_state = false;
  bool any_state_align = false;

  static GroupRules Of(const KVCacheConfig& config);
};

// A KV-cache group of a manager.
struct Group {
  KVCacheGroupSpec spec;
  GroupRule rule;  // what the kind keeps, drops and hits
  // Null when prefix caching is off.
  std::unique_ptr<PrefixIndex> index;
  bool windowed() const { return rule.windowed(); }
  bool is_state() const { return rule.is_state(); }
};

// A prompt's blocks as a walk of the index sees them.
struct HitQuery {
  absl::Span<const uint64_t> keys;  // the key of each full block
  absl::Span<const TokenId> tokens;
  uint64_t root = 0;  // the parent key of block 0
  size_t bs = 0;
  uint64_t parent_key(size_t i) const { return i == 0 ? root : keys[i - 1]; }
  absl::Span<const TokenId> tokens_of(size_t i) const {
    return tokens.subspan(i * bs, bs);
  }
};

// Windowed groups: the largest hit l <= limit blocks, a multiple of
// align_blocks, whose blocks [ReadStartBlock(l * bs), l) are all cached and
// chained; `out` is the hit's table (nulls before the start). Each block is
// probed at most once per candidate.
size_t WindowedHit(const GroupRule& rule, const PrefixIndex& index,
                   const HitQuery& q, size_t limit, size_t align_blocks,
                   std::vector<BlockId>* out);

// State groups: the largest hit l <= limit blocks, a multiple of
// align_blocks, whose checkpoint (the block keyed by block l - 1) is cached
// and not `fresh` (cached in the step being scheduled: its state is not
// computed yet). `out` is the hit's table: nulls, then the checkpoint.
size_t StateHit(const GroupRule& rule, const PrefixIndex& index,
                const HitQuery& q, size_t limit, size_t align_blocks,
                absl::Span<const uint8_t> fresh, std::vector<BlockId>* out);

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_GROUP_RULES_H_
