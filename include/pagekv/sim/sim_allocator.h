// SimAllocator: the KV memory the scheduler allocates from, behind one small
// interface so the same scheduling logic runs over paging and over the
// contiguous baselines of the fragmentation analysis.
//
//   paged    KVCacheManager: blocks of block_size tokens, prefix caching.
//   max      one contiguous region of max(max_model_len, final length) per
//            request, reserved at admission (the pre-paging engines).
//   pow2     a region of the next power of two of the final length.
//   oracle   a region of exactly the final length.
//
// and the PagedAttention paper's Orca baselines (Kwon et al., SOSP'23, 6.1),
// placed by a buddy allocator as the paper's Orca is:
//
//   orca-max     max(max_model_len, final length), as max.
//   orca-pow2    the prompt plus the output rounded up to a power of two
//                (an output of 25 reserves 32 slots after the prompt), at
//                most max_model_len (where orca-max's region ends).
//   orca-oracle  exactly the final length, as oracle.
//
// The first four place regions first-fit in one arena of token slots, the
// orca-* ones in a binary buddy system over it (a region of n slots takes a
// block of bit_ceil(n)); either way external fragmentation (free slots in
// holes too small to use) is real, not modelled. "Final length" = prompt +
// output tokens; for a request resumed after preemption the prompt includes
// the tokens it generated, so orca-pow2 rounds the remaining output.
//
// Memory is reported in *slots*: a paged slot is one token of one KV-cache
// group in one pool block; a contiguous slot is one token of every layer.
// MemoryBreakdown::bytes_per_slot converts either to bytes.
//
// Thread-safety: not thread-safe; one scheduler drives one allocator.
#ifndef PAGEKV_SIM_SIM_ALLOCATOR_H_
#define PAGEKV_SIM_SIM_ALLOCATOR_H_

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pagekv/footprint.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/kv_cache_stats.h"
#include "pagekv/types.h"

namespace pagekv {

// The KV memory split as in the PagedAttention paper (Kwon et al., SOSP'23,
// Fig. 2), in slots. The six parts add up to capacity().
struct MemoryBreakdown {
  // Slots holding the KV of computed tokens (a shared block counts once).
  int64_t token_states = 0;
  // Slots reserved for tokens the request will still produce (contiguous:
  // the part of the region up to the final length not computed yet).
  int64_t reserved = 0;
  // Allocated slots that will never hold a token: contiguous, the region
  // beyond the final length; paged, the empty slots of in-use blocks (an
  // upper bound: a last block's empty slots may still fill).
  int64_t internal_fragmentation = 0;
  // Contiguous only, the paper's "external fragmentation & others": free
  // slots outside the largest free hole (capacity a request cannot use
  // because it is not contiguous), plus, with buddy placement, the slots a
  // block holds beyond the region it was asked for (the rounding to a power
  // of two).
  int64_t external_fragmentation = 0;
  // Paged only: blocks of released sequences kept for prefix reuse. They
  // are allocatable (evicted on demand).
  int64_t cached = 0;
  int64_t free = 0;
  // Bytes of KV one slot stands for (on one device).
  double bytes_per_slot = 0;

  int64_t capacity() const {
    return token_states + reserved + internal_fragmentation +
           external_fragmentation + cached + free;
  }
  // Slots held by live requests.
  int64_t allocated() const {
    return token_states + reserved + internal_fragmentation;
  }
};

// Which allocator to simulate.
enum class AllocatorKind {
  kPaged,
  kMax,
  kPow2,
  kOracle,
  kOrcaMax,
  kOrcaPow2,
  kOrcaOracle
};

// Returns "paged", "max", "pow2", "oracle", "orca-max", "orca-pow2" or
// "orca-oracle".
std::string_view AllocatorKindName(AllocatorKind kind);
// Parses one of the names above; InvalidArgument listing them otherwise.
absl::StatusOr<AllocatorKind> ParseAllocatorKind(std::string_view name);

// Host-tier transfers the allocator carried out since the last
// TakeTierTraffic() (paged with a host tier; the simulated engine completes
// every transfer at once, successfully).
struct TierTraffic {
  int64_t stored_blocks = 0;
  int64_t store_jobs = 0;  // drains that carried at least one store
  int64_t loaded_blocks = 0;
};

class SimAllocator {
 public:
  virtual ~SimAllocator() = default;

  virtual AllocatorKind kind() const = 0;

  // Tells the allocator the simulated time in microseconds, so eviction
  // recency (paged) follows it. The scheduler calls it whenever its clock
  // moves. REQUIRES: never earlier than the previous call. Default: ignored.
  virtual void SetTimeMicros(int64_t /*now_us*/) {}

  // OK if a request of `prompt_tokens` that ends at `final_tokens` tokens
  // can be served alone in the empty cache; otherwise ResourceExhausted
  // saying why (the scheduler rejects it instead of looping on it).
  virtual absl::Status CheckFits(int64_t prompt_tokens,
                                 int64_t final_tokens) const = 0;

  // The most slots a request of `prompt_tokens` that ends at `final_tokens`
  // can ever hold (paged: every block of its final length in every group,
  // no sharing; contiguous: its region as placed). For guaranteed admission.
  virtual int64_t MaxSlots(int64_t prompt_tokens,
                           int64_t final_tokens) const = 0;

  // Adds a sequence whose known tokens are `prompt` (for a request resumed
  // after preemption: its prompt and the tokens it generated). It holds no
  // memory until Admit(). REQUIRES: final_tokens >= prompt.size() + 1.
  virtual absl::StatusOr<SeqId> AddSequence(absl::Span<const TokenId> prompt,
                                            int64_t final_tokens,
                                            const SequenceOptions& options) = 0;

  // Whether Admit(seq, every remaining prompt token) would succeed now
  // (the admission gate). Changes nothing.
  virtual bool CanAdmitWholePrompt(SeqId seq) const = 0;

  // Claims the prefix hit (paged) or the whole region (contiguous) and
  // computes up to `max_new_tokens` tokens after the hit. All-or-nothing:
  // ResourceExhausted changes nothing.
  virtual absl::StatusOr<Admission> Admit(SeqId seq,
                                          int64_t max_new_tokens) = 0;

  // Slots for the next `num_new_tokens` known tokens. All-or-nothing.
  virtual absl::Status Reserve(SeqId seq, int64_t num_new_tokens) = 0;

  // Appends one known (sampled) token; it is computed by a later Reserve().
  virtual absl::Status AppendToken(SeqId seq, TokenId token) = 0;

  // One decode step in one call: appends tokens[i] to seqs[i] and computes
  // it, leaving the allocator as AppendToken(seqs[i], tokens[i]) followed by
  // Reserve(seqs[i], 1), for i in order, would. All-or-nothing:
  // ResourceExhausted or a bad argument changes nothing.
  // REQUIRES: seqs.size() == tokens.size(); every sequence admitted with
  // all its known tokens computed; no sequence twice.
  virtual absl::Status AppendDecodeTokens(absl::Span<const SeqId> seqs,
                                          absl::Span<const TokenId> tokens) = 0;

  // Frees the sequence's memory (paged: full blocks stay cached).
  virtual absl::Status Release(SeqId seq) = 0;

  // Appends the footprint of a step computing the last `new_tokens`
  // computed tokens of `seq`.
  virtual absl::Status AddToFootprint(SeqId seq, int32_t new_tokens,
                                      StepFootprint* footprint) const = 0;

  // The memory breakdown now. Cost: O(1) paged, O(regions) contiguous.
  virtual MemoryBreakdown Memory() const = 0;

  // Prefix-cache counters (all zero for the contiguous baselines).
  virtual PrefixCacheStats PrefixStats() const = 0;

  // The paged allocator's manager; null for the contiguous baselines.
  virtual KVCacheManager* manager() { return nullptr; }

  // Host tier: the traffic since the last call (and resets it), and the
  // tier's counters. Zero without a host tier.
  virtual TierTraffic TakeTierTraffic() { return {}; }
  virtual HostTierStats HostStats() const { return {}; }
};

// A paged allocator over a new KVCacheManager created from `config`.
// `kv_bytes_per_slot` is the KV bytes of one slot, for MemoryBreakdown.
// The allocator owns the manager's clock (moved by SetTimeMicros()), so
// config.clock must be null; InvalidArgument otherwise.
absl::StatusOr<std::unique_ptr<SimAllocator>> MakePagedAllocator(
    KVCacheConfig config, double kv_bytes_per_slot);

struct ContiguousAllocatorOptions {
  AllocatorKind kind = AllocatorKind::kOracle;  // any kind but kPaged
  int64_t capacity_tokens = 0;                  // > 0, arena size in slots
  int64_t max_model_len = 0;                    // > 0 for kMax and kOrcaMax
  // Full-attention groups and sliding windows of the model; footprints
  // carry one entry per group (windows limit the KV read, not the region).
  std::vector<KVCacheGroupSpec> groups = {KVCacheGroupSpec::FullAttention()};
  double kv_bytes_per_slot = 0;  // >= 0

  // OK, or InvalidArgument naming the bad field.
  absl::Status Validate() const;
};

// A contiguous allocator, first-fit or buddy by kind (see the top of this
// file).
absl::StatusOr<std::unique_ptr<SimAllocator>> MakeContiguousAllocator(
    const ContiguousAllocatorOptions& options);

}  // namespace pagekv

#endif  // PAGEKV_SIM_SIM_ALLOCATOR_H_
