// The manager fuzzer's shadow of an engine's KV memory. The harness writes
// into it exactly as an engine would after each step (the step's copies
// first, then the new tokens' KV into the slots their block tables name)
// and reads every live sequence back through its tables after each
// operation, so a wrong prefix hit, a missed copy-on-write or a block freed
// while referenced shows up as a token read back wrong.
//
// A slot of an attention group holds the token written into it. A block of
// a state group (Mamba-style) holds one state: the position it is after and
// a fingerprint of the tokens before that position.
#ifndef PAGEKV_FUZZ_MANAGER_FUZZ_SHADOW_H_
#define PAGEKV_FUZZ_MANAGER_FUZZ_SHADOW_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "manager_fuzz_state.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv {

class ShadowKv {
 public:
  // Sizes the shadow for `config`: every slot and every state empty.
  void Init(const KVCacheConfig& config);

  // The engine's work for a step of sequence `id` (reference record `r`)
  // that computes tokens [from, to): drains and runs the manager's pending
  // copies, then writes the new tokens (and each state group's state).
  // Aborts if a copy names the null block or itself, or a new token or
  // state lands in a null slot or a block with other holders.
  void WriteStep(KVCacheManager& m, SeqId id, const RefSeq& r, int64_t from,
                 int64_t to);

  // Aborts unless every computed token of sequence `id` that its tables
  // still hold reads back as `r` says, every token in the next token's
  // window (or chunk) is held, and each state group's block holds the state
  // after r.computed tokens.
  void CheckSequence(const KVCacheManager& m, uint64_t id,
                     const RefSeq& r) const;

  // After a rollback to r.computed tokens, the engine restores each state
  // group's state from its speculative blocks into the state block.
  void RestoreStates(const KVCacheManager& m, SeqId id, const RefSeq& r);

 private:
  bool IsState(int g) const {
    return groups_[g].kind == KVCacheGroupSpec::Kind::kState;
  }
  // The entry of state group g's table that holds the state after `tokens`.
  int64_t StateEntry(int g, int64_t tokens) const;
  static uint64_t Fingerprint(const std::vector<TokenId>& t, int64_t end);
  BlockId StateBlock(SeqId id, int g, absl::Span<const BlockId> table,
                     int64_t tokens) const;
  // The kernel resumes from the state at `from` in the state block, and
  // leaves the state at `to` there.
  void WriteState(const KVCacheManager& m, SeqId id, const RefSeq& r, int g,
                  absl::Span<const BlockId> table, int64_t from, int64_t to);
  void CheckState(uint64_t id, int g, absl::Span<const BlockId> table,
                  const RefSeq& r) const;
  void CheckAttention(const KVCacheManager& m, uint64_t id, int g,
                      absl::Span<const BlockId> table, const RefSeq& r) const;

  int bs_ = 1;
  std::vector<KVCacheGroupSpec> groups_;
  // Per slot (block * bs_ + offset): the token whose KV it holds (-1: none).
  std::vector<TokenId> slots_;
  // Per block, for state groups: the position its state is after (-1: none)
  // and a fingerprint of the tokens before it.
  std::vector<std::pair<int64_t, uint64_t>> states_;
};

}  // namespace pagekv

#endif  // PAGEKV_FUZZ_MANAGER_FUZZ_SHADOW_H_
