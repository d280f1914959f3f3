// VllmManager: vLLM v1's KVCacheManager (kv_cache_manager.py with its
// coordinator and single-type managers) in C++, over a VllmBlockPool.
//
// Requests are handles handed out by AddRequest; the caller (the Python
// adapter, python/pagekv/vllm.py) keeps them in step with vLLM's Request
// objects by appending tokens and block hashes as they appear, and drops a
// request with Free. Every method's results equal vLLM's for the same calls:
// the block ids, the order blocks are freed and reused, the cache hits, the
// events. What differs is how a hit is found: by 64-bit keys over tokens and
// extras (pagekv's BlockHasher) verified against the stored tokens, instead
// of the request's block_hashes alone.
//
// Supported group kinds: full attention, sliding window, chunked local
// attention and Mamba (mamba_cache_mode none, align and all), any number of
// groups. With prefix caching every group's block size equals
// hash_block_size; without it block sizes may differ (vLLM then gives a
// Mamba group max_model_len tokens per block). Hybrid models group
// identical specs ("attention groups") as vLLM's HybridKVCacheCoordinator.
// The rules that differ by kind live in src/vllm/group_kinds.cc.
//
// Thread-safety: none; call from the scheduler's thread.
#ifndef PAGEKV_VLLM_MANAGER_H_
#define PAGEKV_VLLM_MANAGER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "pagekv/block_hash.h"
#include "pagekv/types.h"
#include "pagekv/vllm/block_pool.h"

namespace pagekv::vllm {

// vLLM's single-type managers: FullAttentionManager, SlidingWindowManager,
// ChunkedLocalAttentionManager, MambaManager.
enum class GroupKind { kFullAttention, kSlidingWindow, kChunkedLocal, kMamba };

// MambaSpec.mamba_cache_mode. kNone and kAll share one allocation rule (one
// running state block, older ones freed as the request advances; kAll is
// what vLLM runs with prefix caching on and block_size = the attention
// block size); kAlign keeps the state block of the previous step alive for
// one more step and reuses speculative blocks.
enum class MambaCacheMode { kNone, kAlign, kAll };

struct GroupSpec {
  GroupKind kind = GroupKind::kFullAttention;
  int32_t block_size = 16;
  int32_t sliding_window = 0;        // tokens; > 0 for kSlidingWindow
  int32_t attention_chunk_size = 0;  // tokens; > 0 for kChunkedLocal
  MambaCacheMode mamba_cache_mode = MambaCacheMode::kNone;  // kMamba only
  int32_t num_speculative_blocks = 0;                       // kMamba, >= 0
  bool is_eagle_group = false;
  // Groups with equal spec_class share one hit search (vLLM compares the
  // spec objects); the adapter numbers the distinct specs 0, 1, ...
  int32_t spec_class = 0;
  // Whether new blocks are reported by TakeNewBlockIds (vLLM does this for
  // exactly FullAttentionSpec / TQFullAttentionSpec, not subclasses).
  bool track_new_block_ids = true;
};

struct ManagerConfig {
  int32_t num_blocks = 0;
  std::vector<GroupSpec> groups;
  int32_t hash_block_size = 16;
  int64_t max_model_len = 0;
  int64_t max_num_batched_tokens = 0;  // 0: max_model_len
  bool enable_caching = true;
  bool use_eagle = false;
  bool enable_kv_cache_events = false;
  // Off: vLLM's block order exactly. On: see VllmBlockPool (free uncached
  // blocks before evicting cached ones; pagekv's hit rates).
  bool reuse_uncached_first = false;
  uint64_t hash_seed = 0;
  // OK, or InvalidArgument / Unimplemented naming the field and value.
  absl::Status Validate() const;
};

// The arguments of allocate_slots, with the request's own counters.
struct AllocateArgs {
  int64_t num_computed_tokens = 0;  // request.num_computed_tokens
  int64_t num_tokens = 0;           // request.num_tokens
  int64_t num_new_tokens = 0;
  int64_t num_new_computed_tokens = 0;
  // new_computed_blocks per group; null = vLLM's empty sentinel (then
  // allocate_new_computed_blocks runs only with external tokens).
  const std::vector<std::vector<int32_t>>* new_computed = nullptr;
  int64_t num_lookahead_tokens = 0;
  int64_t num_external_computed_tokens = 0;
  bool delay_cache_blocks = false;
  bool full_sequence_must_fit = false;
};

using ReqHandle = int32_t;

class VllmManager {
 public:
  // REQUIRES: config.Validate().ok().
  explicit VllmManager(const ManagerConfig& config);
  ~VllmManager();
  VllmManager(const VllmManager&) = delete;
  VllmManager& operator=(const VllmManager&) = delete;

  // A new request with the given extras (LoRA, salt, multimodal items, as
  // interned ids). Returns its handle.
  ReqHandle AddRequest(const BlockHashExtras& extras);
  // Appends tokens / vLLM block hashes the request gained since last time.
  // AppendTokens returns the request's token count after it.
  int64_t AppendTokens(ReqHandle h, absl::Span<const TokenId> tokens);
  void AppendVllmKey(ReqHandle h, absl::string_view key);
  int64_t NumTokens(ReqHandle h) const;
  int64_t NumVllmKeys(ReqHandle h) const;
  // Drops the request's vLLM keys and counts its first `not_kept` as given
  // but not stored; AppendVllmKey goes on from there. For the keys of
  // blocks it found cached, which it never caches again: caching reads the
  // key of every block it caches and of the block before the first. A
  // caching call that would read a key not kept is a fatal error.
  void ResetVllmKeys(ReqHandle h, int64_t not_kept);
  int64_t FirstKeptVllmKey(ReqHandle h) const;
  // Whether an allocation for the request has succeeded (it has blocks
  // and a cached count) since AddRequest.
  bool IsRunning(ReqHandle h) const;

  // vLLM's coordinator.find_longest_cache_hit(block_hashes, max_length):
  // fills *hit (one list per group) and returns the hit length in tokens.
  // Empty with caching off.
  int64_t FindLongestCacheHit(ReqHandle h, int64_t max_length,
                              std::vector<std::vector<int32_t>>* hit);

  // allocate_slots. Returns false (and changes nothing but the blocks
  // remove_skipped_blocks would free, as vLLM) when the pool is short or a
  // Mamba hit was cached during this step;
  // otherwise true with the new blocks per group in *new_blocks.
  // InvalidArgument for num_new_tokens == 0 without external tokens, or
  // for new computed blocks on a running request (nothing changed).
  absl::StatusOr<bool> AllocateSlots(
      ReqHandle h, const AllocateArgs& args,
      std::vector<std::vector<int32_t>>* new_blocks);

  // A decode step's common case in one call: appends `token` to h and sets
  // *num_tokens to h's token count. Returns true when allocate_slots(h, 1)
  // with every earlier token computed would then change nothing (h holds
  // the slot, has no block to cache or drop): the step is done, with no
  // new blocks. Otherwise returns false having only appended the token;
  // the caller adds any vLLM keys the request now lacks and calls
  // AllocateSlots.
  bool AppendAndTryDecode(ReqHandle h, TokenId token, int64_t* num_tokens);

  // Frees the request's blocks (each group's tail first) and forgets it.
  void Free(ReqHandle h);
  // cache_blocks: caches the full blocks of the first num_computed_tokens.
  // FailedPrecondition (nothing changed) if the request lacks the block
  // hashes or tokens for them.
  absl::Status CacheBlocks(ReqHandle h, int64_t num_computed_tokens);
  // block_pool.cache_full_blocks for the request's tokens and hashes, on a
  // caller-given block list. Same errors, plus InvalidArgument for a bad
  // block id or group.
  absl::Status CacheFullBlocks(ReqHandle h, absl::Span<const int32_t> blocks,
                               int32_t num_cached, int32_t num_full,
                               int32_t group);
  void RemoveSkippedBlocks(ReqHandle h, int64_t total_computed_tokens);
  // The request's blocks in `group` (empty if none).
  const std::vector<int32_t>& Blocks(ReqHandle h, int32_t group) const;
  std::vector<int32_t> NumCommonPrefixBlocks(ReqHandle h);
  std::vector<int32_t> TakeNewBlockIds();
  // new_step_starts: Mamba groups forget which blocks were cached this step
  // (a hit on one of those is refused until the next step).
  void NewStepStarts();

  VllmBlockPool& pool() { return pool_; }
  const VllmBlockPool& pool() const { return pool_; }
  const ManagerConfig& config() const { return config_; }
  int32_t num_groups() const { return static_cast<int32_t>(groups_.size()); }
  // Live requests (added and not freed).
  int32_t NumRequests() const;

  // Pool Verify plus: every request block is referenced, and the sum of
  // references equals the blocks held by requests.
  absl::Status Verify() const;

 private:
  struct GroupState;
  struct Request;
  struct AttnGroup;
  Request& Req(ReqHandle h) const;
  void SyncKeys(Request& r);
  int64_t NumSkippedTokens(int32_t g, int64_t computed) const;
  // main_tokens: vLLM's num_tokens_main_model (num_tokens without the
  // lookahead tokens), which a Mamba group in align mode allocates for.
  int64_t BlocksToAllocate(int32_t g, Request& r, int64_t num_tokens,
                           int64_t main_tokens,
                           absl::Span<const int32_t> new_computed,
                           int64_t total_computed, bool admission_cap) const;
  int64_t BlocksToAllocateAll(Request& r, const AllocateArgs& a,
                              int64_t num_tokens, int64_t main_tokens,
                              int64_t total_computed, bool admission_cap) const;
  void AllocateNewComputed(int32_t g, Request& r,
                           absl::Span<const int32_t> new_computed,
                           int64_t local, int64_t external);
  void AllocateNew(int32_t g, Request& r, int64_t num_tokens,
                   int64_t main_tokens, std::vector<int32_t>* out);
  void CacheGroup(int32_t g, Request& r, int64_t num_tokens);
  bool NothingToAllocate(const Request& r, int64_t total_computed,
                         int64_t need_slot, int64_t to_cache) const;
  bool CanCache(const Request& r, int64_t num_tokens) const;
  void RemoveSkippedGroup(int32_t g, Request& r, int64_t total_computed);
  void RemoveSkippedBase(int32_t g, Request& r, int64_t skipped_tokens);
  // The Mamba rules (group_kinds.cc).
  int64_t MambaAlignedBlocksToAllocate(
      int32_t g, const Request& r, int64_t main_tokens,
      absl::Span<const int32_t> new_computed) const;
  void MambaAllocateAligned(int32_t g, Request& r, int64_t main_tokens,
                            std::vector<int32_t>* out);
  void MambaRemoveSkipped(int32_t g, Request& r, int64_t total_computed);
  void MambaNoteCached(int32_t g, const Request& r, int32_t from, int32_t to);
  bool CachedThisStep(int32_t g, int32_t block) const;
  // The per-kind invariants of Verify (group_kinds.cc).
  absl::Status VerifyKinds() const;
  // One attention group's hit (vLLM's per-manager find_longest_cache_hit).
  void FindFull(const AttnGroup& ag, Request& r, int64_t max_length, bool eagle,
                std::vector<std::vector<int32_t>>* hit) const;
  void FindSliding(const AttnGroup& ag, Request& r, int64_t max_length,
                   bool eagle, std::vector<std::vector<int32_t>>* hit) const;
  void FindChunked(const AttnGroup& ag, Request& r, int64_t max_length,
                   std::vector<std::vector<int32_t>>* hit) const;
  void FindMamba(const AttnGroup& ag, Request& r, int64_t max_length,
                 std::vector<std::vector<int32_t>>* hit) const;
  void FindIn(const AttnGroup& ag, Request& r, int64_t max_length, bool eagle,
              std::vector<std::vector<int32_t>>* hit) const;
  bool CachedAt(const AttnGroup& ag, const Request& r, int64_t i,
                std::vector<int32_t>* found) const;

  ManagerConfig config_;
  VllmBlockPool pool_;
  BlockHasher hasher_;
  std::vector<GroupSpec> groups_;
  std::vector<AttnGroup> attn_groups_;  // full attention first
  std::vector<int32_t> eagle_groups_;   // flag per group
  std::vector<int32_t> admission_cap_;  // blocks per group, -1 = none
  std::vector<int32_t> group_entries_;  // requests with an entry per group
  std::vector<std::unique_ptr<Request>> requests_;  // by handle; null = free
  std::vector<ReqHandle> free_handles_;
  // Freed requests kept for the next AddRequest (at most kMaxSpare), so a
  // long prompt's token, key and hash buffers are neither allocated again
  // nor cold.
  std::vector<std::unique_ptr<Request>> spare_;
  std::vector<std::vector<int32_t>> new_block_ids_;  // per group
  // Per Mamba group: the vLLM keys its cache_blocks cached since the last
  // NewStepStarts (vLLM's MambaManager.cached_blocks_this_step).
  std::vector<absl::flat_hash_set<std::string>> cached_this_step_;
  std::vector<int32_t> scratch_;
};

}  // namespace pagekv::vllm

#endif  // PAGEKV_VLLM_MANAGER_H_
