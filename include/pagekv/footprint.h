// What one scheduling step touches in the KV cache: the input of a CostHook.
//
// Thread-safety: plain value types, not synchronized; const access from
// many threads is safe.
#ifndef PAGEKV_FOOTPRINT_H_
#define PAGEKV_FOOTPRINT_H_

#include <cstdint>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/types.h"

namespace pagekv {

// One sequence's use of one KV-cache group in a step.
struct GroupFootprint {
  // Tokens attended to by the last new token: the whole context for full
  // attention, at most the window for a sliding-window group.
  int64_t context_tokens = 0;
  // Distinct pages read by attention this step (partial last page included,
  // null and out-of-window slots excluded).
  int32_t pages_read = 0;
  // Distinct pages that receive the step's new tokens.
  int32_t pages_written = 0;
};

// The footprint of a sequence in one group after a step that computed its
// tokens [end - new_tokens, end), with pages of `block_size` tokens. A
// `window` > 0 is a sliding window: each new token reads back `window`
// tokens (itself included), so the step reads from the first new token's
// window start. The one rule for the manager, the contiguous baselines and
// the cost model's synthetic steps.
// REQUIRES: 0 <= new_tokens <= end; block_size >= 1; window >= 0.
GroupFootprint MakeGroupFootprint(int64_t end, int64_t new_tokens,
                                  int64_t window, int64_t block_size);

// The footprint in a group of kind `spec.kind` (the rule above for the
// attention kinds, with a chunked-local group reading from the first new
// token's chunk start). A state group reads its one state page (when there
// are tokens before the step) and writes one, whatever the context:
// context_tokens is 0.
// REQUIRES: as above; spec is valid.
GroupFootprint MakeGroupFootprint(const KVCacheGroupSpec& spec, int64_t end,
                                  int64_t new_tokens, int64_t block_size);

// One scheduled sequence in a step.
struct SequenceFootprint {
  SeqId seq;
  // Tokens computed this step: 1 for decode, the chunk size for prefill.
  int32_t new_tokens = 0;
  // Tokens already in the cache before this step (for attention FLOPs).
  int64_t cached_tokens = 0;
  bool is_prefill = false;
  // Indexed by GroupId::value(), one entry per group of the manager.
  absl::InlinedVector<GroupFootprint, 2> groups;
};

// Everything a step touches. Prefill chunks and decodes of one step share a
// single footprint: a mixed step costs one step, not two.
struct StepFootprint {
  int32_t block_size = 0;
  std::vector<SequenceFootprint> sequences;

  int64_t TotalNewTokens() const {
    int64_t total = 0;
    for (const auto& s : sequences) total += s.new_tokens;
    return total;
  }
};

}  // namespace pagekv

#endif  // PAGEKV_FOOTPRINT_H_
