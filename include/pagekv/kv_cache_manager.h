// KVCacheManager: the facade a serving engine calls once per scheduling step.
//
// It owns the block pool, the sequences with their block tables (one per
// KV-cache group), the prefix index of each group, statistics and KV events.
// It manages block ids only; the engine owns the KV tensors and performs the
// block copies the manager asks for.
//
// A sequence's tokens are in two parts: *known* tokens (prompt, sampled
// tokens) and, of those, *computed* tokens whose KV has slots. The manager
// keeps the token ids only when prefix caching is on (to hash and verify
// blocks); otherwise it only counts them. The engine loop:
//
//   SeqId s = *manager.AddSequence(prompt);         // known tokens, no blocks
//   auto admitted = manager.Admit(s, chunk_budget); // prefix hit + first chunk
//   ...
//   manager.Reserve(s, n);            // slots for the next n known tokens
//   auto copies = manager.DrainCopies();  // copy-on-write, before the kernels
//   /* run the model */
//   manager.AppendTokens(s, {sampled});   // known, computed next step
//   ...
//   manager.Release(s);
//
// Every operation either succeeds or returns a Status and leaves the manager
// exactly as it was. Running out of blocks is ResourceExhausted, an ordinary
// result; a bad argument (unknown sequence, negative count, truncating past
// the end) is InvalidArgument or FailedPrecondition.
//
// Thread-safety: not thread-safe. Call it from one thread (the scheduler's),
// or synchronize externally.
#ifndef PAGEKV_KV_CACHE_MANAGER_H_
#define PAGEKV_KV_CACHE_MANAGER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pagekv/block_pool.h"
#include "pagekv/footprint.h"
#include "pagekv/host_tier.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/kv_cache_stats.h"
#include "pagekv/kv_events.h"
#include "pagekv/types.h"

namespace pagekv {
namespace internal {
struct ManagerState;
class CallRecorder;
}  // namespace internal

// The longest cached prefix of a sequence's known tokens.
struct PrefixMatch {
  // Hit tokens: whole blocks, at most num_known_tokens - 1 (the last prompt
  // token is always computed, to get its logits). With a host tier, GPU hits
  // followed by host hits.
  int64_t num_tokens = 0;
  int32_t num_blocks = 0;
  // Blocks of the hit (over all groups) that are cached with no references:
  // claiming them consumes free capacity.
  int32_t num_evictable_blocks = 0;
  // Of num_blocks, the last ones found in the host tier (loaded on Admit).
  int32_t num_host_blocks = 0;
};

// The result of admitting a sequence.
struct Admission {
  PrefixMatch hit;
  // Tokens after the hit that got slots now (and count as computed).
  int64_t num_new_tokens = 0;
};

// A copy the engine must perform before the step's kernels run: block `src`
// of group `group` into block `dst` (copy-on-write of a shared last block).
struct BlockCopy {
  BlockId src;
  BlockId dst;
  GroupId group;
};

// One sequence's request in a dry run.
struct ReserveRequest {
  SeqId seq;
  int64_t num_new_tokens = 0;
  int64_t num_lookahead_tokens = 0;
};

// A block of a prefix index, as ForEachIndexedBlock() reports it.
struct IndexedBlock {
  GroupId group;
  uint64_t key = 0;
  // The key before this block's: the chain's root key for a first block.
  uint64_t parent_key = 0;
  // Whether a block with parent_key is indexed in the group (and was
  // reported before this one). False for a first block, and for a block
  // whose parent was evicted while it stayed cached.
  bool parent_indexed = false;
  absl::Span<const TokenId> tokens;  // block_size ids; valid during the call
};

class KVCacheManager {
 public:
  // Validates `config` and creates a manager; InvalidArgument naming the bad
  // field otherwise.
  static absl::StatusOr<std::unique_ptr<KVCacheManager>> Create(
      KVCacheConfig config);

  // The bytes Create(config) allocates up front, without allocating them:
  // the pool's metadata and free stack, the eviction policy's arrays, the
  // per-block fill counts and, with prefix caching, one prefix index per
  // group (probe table, metadata, the blocks' tokens). Sequences and their
  // tables are allocated later, as they are added. Within ~1% of what
  // Create allocates (tests/memory_footprint_test.cc measures it); a
  // user policy that does not report EvictionPolicy::BytesPerBlock is not
  // counted. InvalidArgument as Create would return for a bad config.
  static absl::StatusOr<uint64_t> MemoryFootprint(const KVCacheConfig& config);
  ~KVCacheManager();
  KVCacheManager(const KVCacheManager&) = delete;
  KVCacheManager& operator=(const KVCacheManager&) = delete;

  // --- Sequences -----------------------------------------------------------

  // Adds a sequence whose known tokens are `prompt`; it holds no blocks yet.
  absl::StatusOr<SeqId> AddSequence(absl::Span<const TokenId> prompt,
                                    const SequenceOptions& options = {});

  // Appends known tokens (e.g. the token sampled this step). Allocates
  // nothing: the tokens get slots when a later Reserve() computes them.
  absl::Status AppendTokens(SeqId seq, absl::Span<const TokenId> tokens);

  // The longest cached prefix of `seq`'s known tokens. Read-only: takes no
  // references, changes no recency. REQUIRES: seq has no computed tokens.
  // Not safe beside another call: it memoizes the sequence's block keys.
  absl::StatusOr<PrefixMatch> MatchPrefix(SeqId seq) const;

  // The longest cached prefix of `prompt` for a request with `extras`, with
  // no sequence (e.g. for a router probing where a prompt would hit).
  // Read-only and keeps nothing: safe to call from several threads at once
  // while no thread mutates the manager. Hashes the prompt on every call.
  PrefixMatch MatchPrefix(absl::Span<const TokenId> prompt,
                          const BlockHashExtras& extras = {}) const;

  // Claims the longest cached prefix of `seq` (one index walk) and reserves
  // slots for up to `max_new_tokens` known tokens after it (fewer if the
  // prompt ends first). All-or-nothing: ResourceExhausted changes nothing.
  // REQUIRES: seq has no computed tokens; max_new_tokens >= 0.
  absl::StatusOr<Admission> Admit(SeqId seq, int64_t max_new_tokens);

  // Admits a batch: claims every request's prefix hit before allocating any
  // request's new blocks, so one admission cannot evict a block another one
  // planned to reuse. All-or-nothing for the whole batch.
  absl::StatusOr<std::vector<Admission>> AdmitBatch(
      absl::Span<const ReserveRequest> requests);

  // Gives the next `num_new_tokens` known tokens slots (they count as
  // computed from now on) and reserves `num_lookahead_tokens` more empty
  // slots (speculative decoding). Blocks that fill up are indexed; blocks of
  // a sliding-window or chunked-local group that fall out of the window or
  // chunk go back to the pool; a state group's state moves on (group kinds:
  // kv_cache_config.h).
  // A shared partial last block is copied first (see DrainCopies()).
  // All-or-nothing: ResourceExhausted changes nothing.
  // REQUIRES: computed + num_new_tokens <= known tokens.
  absl::Status Reserve(SeqId seq, int64_t num_new_tokens,
                       int64_t num_lookahead_tokens = 0);

  // One decode step's bookkeeping in one call: appends tokens[i] to seqs[i]
  // and gives it a slot, as AppendTokens(seqs[i], {tokens[i]}) followed by
  // Reserve(seqs[i], 1) would, for the whole batch. All-or-nothing: on
  // ResourceExhausted or a bad argument nothing changes.
  // REQUIRES: seqs.size() == tokens.size(); every sequence has all its known
  // tokens computed; no sequence appears twice.
  // Cost: about 5 ns per sequence without prefix caching (two passes over
  // 32-byte per-sequence records; a pool allocation every block_size steps).
  // With prefix caching, add a kept token per sequence, and the hashing and
  // indexing of the blocks that fill, done together at the end of the step.
  absl::Status AppendDecodeTokens(absl::Span<const SeqId> seqs,
                                  absl::Span<const TokenId> tokens);

  // Dry run of Reserve(): the blocks it would take from the pool.
  absl::StatusOr<int64_t> BlocksToReserve(SeqId seq, int64_t num_new_tokens,
                                          int64_t num_lookahead_tokens) const;

  // Dry run of Admit() with `max_new_tokens`: blocks it would take from the
  // pool, counting claimed evictable hits. Fails as Admit() would on a bad
  // argument. Memoizes the sequence's block keys, as MatchPrefix(seq) does.
  absl::StatusOr<int64_t> BlocksToAdmit(SeqId seq,
                                        int64_t max_new_tokens) const;

  // Whether Reserve() would succeed for every request, called in order. A
  // block shared only by requests that write into it is copied by all but
  // the last of them.
  absl::StatusOr<bool> CanReserve(
      absl::Span<const ReserveRequest> requests) const;

  // Shortens `seq` to its first `num_tokens` known tokens (rollback of
  // rejected draft tokens) and frees the blocks no longer needed, tail
  // first. REQUIRES: num_tokens <= known tokens; for a sliding-window or
  // chunked-local group, the blocks the next token reads must still be held;
  // for a state group, a rollback of computed tokens must be at most its
  // num_speculative_blocks, within its state entry, with the state block
  // private and not a cached checkpoint (the engine restores the state from
  // a speculative block). FailedPrecondition otherwise.
  absl::Status Truncate(SeqId seq, int64_t num_tokens);

  // A new sequence sharing every block of `seq` by reference (parallel
  // sampling, beam search). The first write into a shared partial block
  // copies it.
  absl::StatusOr<SeqId> Fork(SeqId seq);

  // Releases every block of `seq`, tail first (so deeper blocks are evicted
  // before their ancestors), and forgets the sequence. Indexed blocks stay
  // cached until evicted.
  absl::Status Release(SeqId seq);

  // Drops all cached content (e.g. after a weight update).
  // FailedPrecondition if any sequence is live.
  absl::Status Reset();

  // --- Reading state -------------------------------------------------------

  absl::StatusOr<int64_t> NumKnownTokens(SeqId seq) const;
  absl::StatusOr<int64_t> NumComputedTokens(SeqId seq) const;
  // The block table of `seq` in `group`: null entries are out-of-window
  // slots.
  absl::StatusOr<absl::Span<const BlockId>> BlockTable(SeqId seq,
                                                       GroupId group) const;

  // Writes the padded 2-D block table of `seqs` (vLLM, TensorRT-LLM layout)
  // into `out`, row-major, seqs.size() rows of `row_width` block ids, padded
  // with the null block. InvalidArgument if a table is wider than row_width
  // or out is too small.
  absl::Status ExportBlockTable(absl::Span<const SeqId> seqs, GroupId group,
                                int32_t row_width,
                                absl::Span<int32_t> out) const;

  // Writes the CSR page layout of `seqs` (FlashInfer): indptr (seqs.size()+1
  // entries), indices (the non-null pages holding computed tokens, in order)
  // and last_page_len (tokens in each last page). Returns the number of
  // indices written; InvalidArgument if a span is too small.
  absl::StatusOr<int64_t> ExportCsr(absl::Span<const SeqId> seqs, GroupId group,
                                    absl::Span<int32_t> indptr,
                                    absl::Span<int32_t> indices,
                                    absl::Span<int32_t> last_page_len) const;

  // Appends `seq`'s footprint for a step that computes its last
  // `new_tokens` computed tokens (call after Reserve()).
  absl::Status AddToFootprint(SeqId seq, int32_t new_tokens,
                              StepFootprint* footprint) const;

  // The copies requested since the last call, to run before the kernels:
  // copy-on-write of shared blocks, and state groups' states moving to a new
  // block. Call it once per step, after scheduling and before the kernels:
  // it also ends the step, so the state checkpoints cached since the last
  // call (whose states this step's kernels compute) become hittable. Until
  // then a prefix walk passes them by.
  std::vector<BlockCopy> DrainCopies();
  // The KV events since the last call (empty unless enabled in the config).
  std::vector<KVEvent> DrainEvents();

  // --- Host tier (pagekv/host_tier.h; FailedPrecondition without one) ---

  // The transfer orders since the last call: loads for admitted host hits
  // and stores the store policy chose. Empty without a host tier.
  std::vector<TransferOrder> DrainTransfers();
  // The engine finished the load out of `host_block`; unpins it.
  // FailedPrecondition (changing nothing) if no load of it is in flight.
  absl::Status CompleteLoad(uint32_t host_block);
  // The engine finished (success) or gave up the store into `host_block`:
  // the block becomes loadable, or is forgotten without trace.
  // FailedPrecondition (changing nothing) if no store of it is in flight.
  absl::Status CompleteStore(uint32_t host_block, bool success);
  // Entry point for a tier below the host (e.g. a remote store): makes the
  // last block of `tokens` (a whole number of blocks from the sequence's
  // start, with `extras`) a pending host block and returns its id; the
  // caller writes the payload into it and calls CompleteStore. The key is
  // computed here, so the block is verified like any other.
  // AlreadyExists if the key is in the host tier, ResourceExhausted if every
  // host block is pending or pinned, InvalidArgument for a partial block.
  absl::StatusOr<uint32_t> ImportHostBlock(absl::Span<const TokenId> tokens,
                                           const BlockHashExtras& extras = {});

  // Calls `fn` once for every block of the prefix indexes (the cached set,
  // in use or evictable), group by group, each block after its parent when
  // the parent is indexed: a snapshot KV-event consumers rebuild from.
  // O(pool blocks + indexed blocks); allocates O(indexed blocks).
  // REQUIRES: fn does not call back into the manager.
  void ForEachIndexedBlock(
      absl::FunctionRef<void(const IndexedBlock&)> fn) const;

  KVCacheStats Stats() const;
  const KVCacheConfig& config() const;
  int32_t block_size() const { return config().block_size; }
  int32_t num_groups() const {
    return static_cast<int32_t>(config().groups.size());
  }
  const BlockPool& pool() const;

  // Checks every invariant of the pool, the indexes and the tables: each
  // block's reference count equals the references held by block tables,
  // no free block is referenced, the null block is never referenced as
  // data, every content-keeping block is indexed exactly once, and the token
  // slot accounting adds up. O(blocks + table entries).
  absl::Status Verify() const;

  // --- Call log (call_log.h) ------------------------------------------------

  // Writes the call log out now: a ring's last calls to `path` (empty = the
  // configured call_log.path), a file log's buffered records to its file.
  // FailedPrecondition if the manager records no log; Unavailable naming the
  // file if it cannot be written. A recording manager's config() reports
  // call_log off and the recorder's clock (it reads the configured clock at
  // most once per call).
  absl::Status DumpCallLog(const std::string& path = "") const;

 private:
  friend class internal::CallRecorder;
  explicit KVCacheManager(std::unique_ptr<internal::ManagerState> state);

  // The recorder when call_log is on, else null. Cleared while a recorded
  // call runs (so nested public calls are logged once), which const methods
  // do too: hence mutable (the manager is not thread-safe in any case).
  mutable internal::CallRecorder* recorder_ = nullptr;
  std::unique_ptr<internal::CallRecorder> owned_recorder_;
  std::unique_ptr<internal::ManagerState> state_;
};

}  // namespace pagekv

#endif  // PAGEKV_KV_CACHE_MANAGER_H_
