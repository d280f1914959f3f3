// The contiguous SimAllocators (max, pow2, oracle and the Orca baselines):
// each admitted request gets one region of token slots in a single arena,
// placed first-fit (max, pow2, oracle) or by the buddy system (orca-*); see
// sim/contiguous_arena.h. The breakdown's token/reserved/internal sums and
// the buddy rounding are kept incrementally; external fragmentation (free
// slots outside the largest free hole or block) costs one scan of the
// arena's free structure.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <map>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/check.h"
#include "fmt/format.h"
#include "pagekv/sim/sim_allocator.h"
#include "sim/contiguous_arena.h"

namespace pagekv {
namespace internal {
namespace {

class ContiguousAllocator final : public SimAllocator {
 public:
  explicit ContiguousAllocator(const ContiguousAllocatorOptions& options)
      : options_(options),
        arena_(IsOrca(options.kind)
                   ? MakeBuddyArena(options.capacity_tokens)
                   : MakeFirstFitArena(options.capacity_tokens)) {}

  AllocatorKind kind() const override { return options_.kind; }

  absl::Status CheckFits(int64_t prompt_tokens,
                         int64_t final_tokens) const override {
    const int64_t need =
        arena_->Granted(RegionSize(prompt_tokens, final_tokens));
    if (need > arena_->LargestEver()) {
      return absl::ResourceExhaustedError(fmt::format(
          "prompt of {} tokens growing to {} tokens needs a {} region of {} "
          "slots; the whole arena has {}{}",
          prompt_tokens, final_tokens, AllocatorKindName(options_.kind), need,
          options_.capacity_tokens,
          IsOrca(options_.kind)
              ? fmt::format(" (largest buddy block {})", arena_->LargestEver())
              : ""));
    }
    return absl::OkStatus();
  }

  int64_t MaxSlots(int64_t prompt_tokens, int64_t final_tokens) const override {
    return arena_->Granted(RegionSize(prompt_tokens, final_tokens));
  }

  absl::StatusOr<SeqId> AddSequence(absl::Span<const TokenId> prompt,
                                    int64_t final_tokens,
                                    const SequenceOptions&) override {
    const auto known = static_cast<int64_t>(prompt.size());
    if (known < 1 || final_tokens < known + 1) {
      return absl::InvalidArgumentError(
          fmt::format("a sequence of {} known tokens cannot end at {} tokens",
                      known, final_tokens));
    }
    const SeqId id(next_id_++);
    Seq& s = seqs_[id.value()];
    s.known = known;
    s.final_tokens = final_tokens;
    s.region = RegionSize(known, final_tokens);
    return id;
  }

  bool CanAdmitWholePrompt(SeqId seq) const override {
    auto it = seqs_.find(seq.value());
    if (it == seqs_.end()) return false;
    return it->second.admitted || arena_->Find(it->second.region).has_value();
  }

  absl::StatusOr<Admission> Admit(SeqId seq, int64_t max_new_tokens) override {
    absl::StatusOr<Seq*> s = Lookup(seq);
    if (!s.ok()) return s.status();
    Seq& sq = **s;
    if (sq.admitted || sq.computed != 0 || max_new_tokens < 0) {
      return absl::FailedPreconditionError(fmt::format(
          "sequence {} is already admitted or max_new_tokens {} < 0",
          seq.value(), max_new_tokens));
    }
    const std::optional<ArenaBlock> block = arena_->Find(sq.region);
    if (!block.has_value()) {
      return absl::ResourceExhaustedError(
          fmt::format("no free hole of {} slots ({} slots free)", sq.region,
                      arena_->FreeSlots()));
    }
    arena_->Take(*block);
    sq.block = *block;
    sq.admitted = true;
    rounding_ += block->granted - sq.region;
    internal_ += sq.region - sq.final_tokens;
    reserved_ += sq.final_tokens;
    Admission admission;
    admission.num_new_tokens = std::min(max_new_tokens, sq.known);
    Compute(sq, admission.num_new_tokens);
    return admission;
  }

  absl::Status Reserve(SeqId seq, int64_t num_new_tokens) override {
    absl::StatusOr<Seq*> s = Lookup(seq);
    if (!s.ok()) return s.status();
    Seq& sq = **s;
    if (!sq.admitted || num_new_tokens < 0 ||
        sq.computed + num_new_tokens > sq.known) {
      return absl::FailedPreconditionError(fmt::format(
          "sequence {}: cannot compute {} more tokens ({} of {} computed, "
          "admitted: {})",
          seq.value(), num_new_tokens, sq.computed, sq.known, sq.admitted));
    }
    Compute(sq, num_new_tokens);
    return absl::OkStatus();
  }

  absl::Status AppendToken(SeqId seq, TokenId) override {
    absl::StatusOr<Seq*> s = Lookup(seq);
    if (!s.ok()) return s.status();
    if ((*s)->known + 1 > (*s)->final_tokens) {
      return absl::FailedPreconditionError(
          fmt::format("sequence {} is at its final length {}", seq.value(),
                      (*s)->final_tokens));
    }
    ++(*s)->known;
    return absl::OkStatus();
  }

  absl::Status AppendDecodeTokens(absl::Span<const SeqId> seqs,
                                  absl::Span<const TokenId> tokens) override {
    if (seqs.size() != tokens.size()) {
      return absl::InvalidArgumentError(fmt::format(
          "{} sequences but {} tokens", seqs.size(), tokens.size()));
    }
    // Validate everything first (the region holds the final length, so a
    // decode never runs out of memory), then apply.
    batch_.clear();
    for (SeqId id : seqs) {
      absl::StatusOr<Seq*> s = Lookup(id);
      if (!s.ok()) return s.status();
      const Seq& sq = **s;
      if (!sq.admitted || sq.computed != sq.known ||
          sq.known + 1 > sq.final_tokens) {
        return absl::FailedPreconditionError(fmt::format(
            "sequence {} cannot decode: {} of {} known tokens computed, "
            "final length {}, admitted: {}",
            id.value(), sq.computed, sq.known, sq.final_tokens, sq.admitted));
      }
      batch_.push_back(*s);
    }
    std::vector<Seq*> sorted = batch_;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
      return absl::InvalidArgumentError(
          "a sequence appears twice in one decode batch");
    }
    for (Seq* s : batch_) {
      ++s->known;
      Compute(*s, 1);
    }
    return absl::OkStatus();
  }

  absl::Status Release(SeqId seq) override {
    auto it = seqs_.find(seq.value());
    if (it == seqs_.end()) {
      return absl::InvalidArgumentError(
          fmt::format("unknown sequence {}", seq.value()));
    }
    const Seq& s = it->second;
    if (s.admitted) {
      tokens_ -= s.computed;
      reserved_ -= s.final_tokens - s.computed;
      internal_ -= s.region - s.final_tokens;
      rounding_ -= s.block.granted - s.region;
      arena_->Free(s.block);
    }
    seqs_.erase(it);
    return absl::OkStatus();
  }

  absl::Status AddToFootprint(SeqId seq, int32_t new_tokens,
                              StepFootprint* footprint) const override {
    auto it = seqs_.find(seq.value());
    if (it == seqs_.end() || new_tokens < 0 ||
        new_tokens > it->second.computed) {
      return absl::InvalidArgumentError(
          fmt::format("sequence {}: bad footprint of {} new tokens",
                      seq.value(), new_tokens));
    }
    // Block size 1: a contiguous kernel reads exactly the context.
    const int64_t end = it->second.computed;
    const int64_t first_new = end - new_tokens;
    SequenceFootprint fp;
    fp.seq = seq;
    fp.new_tokens = new_tokens;
    fp.cached_tokens = first_new;
    fp.is_prefill = new_tokens > 1;
    for (const KVCacheGroupSpec& g : options_.groups) {
      fp.groups.push_back(
          MakeGroupFootprint(g, end, new_tokens, /*block_size=*/1));
    }
    footprint->block_size = 1;
    footprint->sequences.push_back(std::move(fp));
    return absl::OkStatus();
  }

  MemoryBreakdown Memory() const override {
    PAGEKV_DCHECK(arena_->Verify(), "the {} arena's free structure is broken",
                  AllocatorKindName(options_.kind));
    const int64_t largest = arena_->LargestFree();
    MemoryBreakdown m;
    m.token_states = tokens_;
    m.reserved = reserved_;
    m.internal_fragmentation = internal_;
    // The paper's "external fragmentation & others": free slots outside the
    // largest free hole, and the buddy system's rounding.
    m.external_fragmentation = arena_->FreeSlots() - largest + rounding_;
    m.free = largest;
    m.bytes_per_slot = options_.kv_bytes_per_slot;
    PAGEKV_DCHECK(m.capacity() == options_.capacity_tokens,
                  "contiguous breakdown adds up to {} slots, the arena has {}",
                  m.capacity(), options_.capacity_tokens);
    return m;
  }

  PrefixCacheStats PrefixStats() const override { return {}; }

 private:
  struct Seq {
    int64_t known = 0;
    int64_t computed = 0;
    int64_t final_tokens = 0;
    // The region the reservation rule asks for (RegionSize) and, once
    // admitted, the arena block holding it (granted >= region).
    int64_t region = 0;
    bool admitted = false;
    ArenaBlock block;
  };

  static bool IsOrca(AllocatorKind kind) {
    return kind == AllocatorKind::kOrcaMax ||
           kind == AllocatorKind::kOrcaPow2 ||
           kind == AllocatorKind::kOrcaOracle;
  }

  // The slots the reservation rule asks for a request whose known tokens
  // are `prompt` (a resumed request's prompt includes what it generated)
  // and that ends at `final_tokens`.
  int64_t RegionSize(int64_t prompt, int64_t final_tokens) const {
    switch (options_.kind) {
      case AllocatorKind::kMax:
      case AllocatorKind::kOrcaMax:
        return std::max(options_.max_model_len, final_tokens);
      case AllocatorKind::kPow2:
        return static_cast<int64_t>(
            std::bit_ceil(static_cast<uint64_t>(final_tokens)));
      case AllocatorKind::kOrcaPow2:
        return OrcaPow2Region(prompt, final_tokens);
      default:
        return final_tokens;
    }
  }

  // The paper's Pow2: the prompt plus the output bound rounded up to a
  // power of two (an output of 25 reserves 32), but never past the
  // model's context, where Orca (Max) stops: no sequence can use a slot
  // beyond max_model_len, so the rounding does not reserve one.
  int64_t OrcaPow2Region(int64_t prompt, int64_t final_tokens) const {
    const int64_t rounded =
        prompt + static_cast<int64_t>(std::bit_ceil(
                     static_cast<uint64_t>(final_tokens - prompt)));
    if (options_.max_model_len <= 0) return rounded;
    return std::max(final_tokens, std::min(rounded, options_.max_model_len));
  }

  void Compute(Seq& s, int64_t n) {
    s.computed += n;
    tokens_ += n;
    reserved_ -= n;
  }

  absl::StatusOr<Seq*> Lookup(SeqId seq) {
    auto it = seqs_.find(seq.value());
    if (it == seqs_.end()) {
      return absl::InvalidArgumentError(
          fmt::format("unknown sequence {}", seq.value()));
    }
    return &it->second;
  }

  ContiguousAllocatorOptions options_;
  absl::flat_hash_map<uint64_t, Seq> seqs_;
  // AppendDecodeTokens' scratch: pointers into seqs_, valid within the call
  // (it inserts nothing).
  std::vector<Seq*> batch_;
  uint64_t next_id_ = 1;
  std::unique_ptr<ContiguousArena> arena_;
  // Breakdown sums over admitted sequences: computed tokens, slots reserved
  // up to the final length, region slots beyond it, and block slots beyond
  // the region (buddy rounding).
  int64_t tokens_ = 0;
  int64_t reserved_ = 0;
  int64_t internal_ = 0;
  int64_t rounding_ = 0;
};

}  // namespace
}  // namespace internal

std::string_view AllocatorKindName(AllocatorKind kind) {
  switch (kind) {
    case AllocatorKind::kPaged:
      return "paged";
    case AllocatorKind::kMax:
      return "max";
    case AllocatorKind::kPow2:
      return "pow2";
    case AllocatorKind::kOracle:
      return "oracle";
    case AllocatorKind::kOrcaMax:
      return "orca-max";
    case AllocatorKind::kOrcaPow2:
      return "orca-pow2";
    case AllocatorKind::kOrcaOracle:
      return "orca-oracle";
  }
  return "?";
}

absl::StatusOr<AllocatorKind> ParseAllocatorKind(std::string_view name) {
  for (AllocatorKind k :
       {AllocatorKind::kPaged, AllocatorKind::kMax, AllocatorKind::kPow2,
        AllocatorKind::kOracle, AllocatorKind::kOrcaMax,
        AllocatorKind::kOrcaPow2, AllocatorKind::kOrcaOracle}) {
    if (name == AllocatorKindName(k)) return k;
  }
  return absl::InvalidArgumentError(fmt::format(
      "unknown allocator '{}'; expected paged, max, pow2, oracle, orca-max, "
      "orca-pow2 or orca-oracle",
      std::string(name)));
}

absl::Status ContiguousAllocatorOptions::Validate() const {
  if (kind == AllocatorKind::kPaged) {
    return absl::InvalidArgumentError(
        "ContiguousAllocatorOptions.kind must be a contiguous kind, not "
        "paged");
  }
  if (capacity_tokens <= 0) {
    return absl::InvalidArgumentError(fmt::format(
        "ContiguousAllocatorOptions.capacity_tokens must be > 0, got {}",
        capacity_tokens));
  }
  if ((kind == AllocatorKind::kMax || kind == AllocatorKind::kOrcaMax) &&
      max_model_len <= 0) {
    return absl::InvalidArgumentError(fmt::format(
        "ContiguousAllocatorOptions.max_model_len must be > 0 for {}, got {}",
        AllocatorKindName(kind), max_model_len));
  }
  if (groups.empty()) {
    return absl::InvalidArgumentError(
        "ContiguousAllocatorOptions.groups must not be empty");
  }
  for (const KVCacheGroupSpec& g : groups) {
    if (g.kind == KVCacheGroupSpec::Kind::kSlidingWindow &&
        g.sliding_window < 1) {
      return absl::InvalidArgumentError(fmt::format(
          "ContiguousAllocatorOptions.groups: sliding_window must be >= 1, "
          "got {}",
          g.sliding_window));
    }
  }
  if (!(kv_bytes_per_slot >= 0)) {
    return absl::InvalidArgumentError(fmt::format(
        "ContiguousAllocatorOptions.kv_bytes_per_slot must be >= 0, got {}",
        kv_bytes_per_slot));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SimAllocator>> MakeContiguousAllocator(
    const ContiguousAllocatorOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  return std::unique_ptr<SimAllocator>(
      std::make_unique<internal::ContiguousAllocator>(options));
}

}  // namespace pagekv
