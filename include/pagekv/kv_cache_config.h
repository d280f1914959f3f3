// Configuration of a KVCacheManager and of the sequences it manages.
//
// Thread-safety: plain value types; const access from many threads is safe.
#ifndef PAGEKV_KV_CACHE_CONFIG_H_
#define PAGEKV_KV_CACHE_CONFIG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pagekv/block_hash.h"
#include "pagekv/clock.h"
#include "pagekv/eviction_policy.h"
#include "pagekv/host_tier.h"

namespace pagekv {

// The most tokens a sequence may hold (known tokens plus lookahead slots).
inline constexpr int64_t kMaxSequenceTokens = (int64_t{1} << 31) - 1;

// The largest block size (tokens per block) the manager accepts; block sizes
// are in [1, kMaxBlockSize]. The planner and every `pagekv` command check the
// same limit, so nothing plans a block the manager cannot run.
inline constexpr int32_t kMaxBlockSize = 4096;

// How a state group (KVCacheGroupSpec::Kind::kState) takes part in prefix
// caching, after vLLM's `mamba_cache_mode`.
enum class StateCacheMode {
  // The state is never cached: the group holds one state block per sequence
  // (plus speculative blocks) for the sequence's whole life, and a model
  // with such a group never has a prefix hit (no group caches anything).
  kNone,
  // The state is checkpointed at every multiple of the group's block size
  // that a step ends on: that block is cached, and a later prompt may resume
  // from it. A hit is only ever at such aligned positions.
  kAlign,
};

// A KV-cache group: the layers that share one block table per sequence.
//
// The kinds, and what a sequence's table holds in each (`c` computed tokens,
// `bs` the config's block size):
//
// clang-format off
//   kind             table entries (one per block of bs tokens unless said)   a prefix hit of E tokens needs
//   kFullAttention   every block                                              every block before E
//   kSlidingWindow   blocks from the window start of the next token           the ceil((window-1)/bs) blocks before E
//   kChunkedLocal    blocks from the start of the next token's chunk          the blocks of E's chunk before E
//   kState           one block of the group's own block size: the state at c, the checkpoint block at E
//                    plus num_speculative_blocks blocks for draft states      (kAlign only; E aligned)
// clang-format on
//
// Table slots that hold nothing hold the null block; they are always a
// leading run. A model's hit is the longest length every group serves, a
// multiple of the least common multiple of the groups' hit granularities
// (bs for attention kinds, the state block size for kState).
struct KVCacheGroupSpec {
  enum class Kind { kFullAttention, kSlidingWindow, kChunkedLocal, kState };
  Kind kind = Kind::kFullAttention;
  // Attention window in tokens, for kSlidingWindow: a token attends to
  // itself and the window - 1 tokens before it. >= 1.
  int32_t sliding_window = 0;
  // Chunk in tokens, for kChunkedLocal (Llama 4's attention_chunk_size): a
  // token at position p attends to positions [p - p % chunk, p]. >= 1.
  int32_t attention_chunk_size = 0;
  // kState: how the state is cached.
  StateCacheMode state_cache_mode = StateCacheMode::kNone;
  // kState: blocks kept beside the state block for the states after draft
  // tokens (speculative decoding); a Truncate may roll back at most this
  // many computed tokens. In [0, 16].
  int32_t num_speculative_blocks = 0;
  // kState with kAlign: tokens between checkpoints (the group's block size),
  // a multiple of the config's block_size; 0 means the config's block_size.
  // Ignored for kNone (the state block never moves).
  int32_t state_block_size = 0;

  static KVCacheGroupSpec FullAttention() { return {}; }
  static KVCacheGroupSpec SlidingWindow(int32_t window) {
    KVCacheGroupSpec g;
    g.kind = Kind::kSlidingWindow;
    g.sliding_window = window;
    return g;
  }
  static KVCacheGroupSpec ChunkedLocal(int32_t chunk) {
    KVCacheGroupSpec g;
    g.kind = Kind::kChunkedLocal;
    g.attention_chunk_size = chunk;
    return g;
  }
  static KVCacheGroupSpec State(StateCacheMode mode,
                                int32_t num_speculative_blocks = 0,
                                int32_t state_block_size = 0) {
    KVCacheGroupSpec g;
    g.kind = Kind::kState;
    g.state_cache_mode = mode;
    g.num_speculative_blocks = num_speculative_blocks;
    g.state_block_size = state_block_size;
    return g;
  }
};

// "full_attention", "sliding_window", "chunked_local" or "state".
const char* GroupKindName(KVCacheGroupSpec::Kind kind);

// Recording of every public call to the manager (see call_log.h).
struct CallLogOptions {
  enum class Mode {
    kOff,   // no recording: costs one predictable branch per call
    kFile,  // every call appended to `path`
    kRing,  // the last `ring_calls` calls in memory, written to `path` on
            // KVCacheManager::DumpCallLog(), a failed Verify() or check
  };
  Mode mode = Mode::kOff;
  std::string path;
  // kRing: calls kept (memory: about this many times a record's size).
  int64_t ring_calls = 4096;
};

struct KVCacheConfig {
  // Blocks in the pool, including the null block (id 0). All groups share
  // the pool; each logical block of a sequence takes one block per group.
  int64_t num_blocks = 0;
  // Tokens per block, in [1, kMaxBlockSize].
  int32_t block_size = 16;
  std::vector<KVCacheGroupSpec> groups = {KVCacheGroupSpec::FullAttention()};

  // Prefix caching: full blocks are indexed and stay reusable after release
  // until evicted.
  bool enable_prefix_caching = true;
  // One of EvictionPolicyNames(); ignored when eviction_policy_factory is
  // set.
  std::string eviction_policy = "lru";
  // A user eviction policy: when set, Create() calls it once for the pool's
  // policy instead of looking up `eviction_policy` (which then only names
  // the policy in reports). It must return a fresh, non-null policy.
  std::function<std::unique_ptr<EvictionPolicy>()> eviction_policy_factory;
  // Seed of block keys; keys are reproducible across processes for a seed.
  uint64_t hash_seed = 0;
  // Buffer KV events (BlockStored, BlockRemoved, AllBlocksCleared) for
  // DrainEvents(). Off by default: events copy token ids.
  bool enable_kv_events = false;
  // The block hash; tests may inject one that collides.
  BlockHashFn block_hash_fn = &Xxh3BlockHash;
  // Time source for eviction recency and retention; null = SteadyClock().
  // Not owned; must outlive the manager.
  const Clock* clock = nullptr;
  // Call log; off by default.
  CallLogOptions call_log;
  // A host-memory tier under the pool (pagekv/host_tier.h); off by default.
  // Needs prefix caching and a single full-attention group, and no call log
  // (the log does not record transfers yet).
  HostTierConfig host_tier;

  // OK, or InvalidArgument naming the first bad field and its value.
  absl::Status Validate() const;
  // The pool's eviction policy: from eviction_policy_factory when set, else
  // by name. InvalidArgument for an unknown name or a null policy.
  absl::StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy() const;
};

// Per-sequence options, fixed when the sequence is added.
struct SequenceOptions {
  // Key extras: sequences only share blocks with equal salt, LoRA and items.
  BlockHashExtras hash_extras;
  // Retention priority of the sequence's cached blocks after release
  // (0..100, lower evicted first by the "priority" policy) and how long it
  // lasts before decaying to the default (negative: forever).
  int32_t retention_priority = kDefaultRetentionPriority;
  int64_t retention_duration_us = -1;
  // The sequence is a request resumed after preemption: its prefix hits are
  // counted apart, so recompute does not inflate the hit rate.
  bool resumed_after_preemption = false;

  absl::Status Validate() const;
};

}  // namespace pagekv

#endif  // PAGEKV_KV_CACHE_CONFIG_H_
