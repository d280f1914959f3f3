// The contiguous SimAllocators (max, pow2, oracle): each admitted request
// gets one region of token slots, placed first-fit in a single arena.
//
// Free space is a map offset -> length of disjoint, non-adjacent holes
// (adjacent holes are merged on release). First fit scans the holes in
// address order: O(holes), and there are at most running requests + 1
// holes. The breakdown's token/reserved/internal sums are kept
// incrementally; external fragmentation (free slots outside the largest
// hole) is one scan of the holes.
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

namespace pagekv {
namespace internal {
namespace {

class ContiguousAllocator final : public SimAllocator {
 public:
  explicit ContiguousAllocator(const ContiguousAllocatorOptions& options)
      : options_(options) {
    holes_.emplace(0, options.capacity_tokens);
    free_ = options.capacity_tokens;
  }

  AllocatorKind kind() const override { return options_.kind; }

  absl::Status CheckFits(int64_t prompt_tokens,
                         int64_t final_tokens) const override {
    const int64_t need = RegionSize(final_tokens);
    if (need > options_.capacity_tokens) {
      return absl::ResourceExhaustedError(fmt::format(
          "prompt of {} tokens growing to {} tokens needs a {} region of {} "
          "slots; the whole arena has {}",
          prompt_tokens, final_tokens, AllocatorKindName(options_.kind), need,
          options_.capacity_tokens));
    }
    return absl::OkStatus();
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
    return id;
  }

  bool CanAdmitWholePrompt(SeqId seq) const override {
    auto it = seqs_.find(seq.value());
    if (it == seqs_.end()) return false;
    return it->second.region >= 0 ||
           FindHole(RegionSize(it->second.final_tokens)) != holes_.end();
  }

  absl::StatusOr<Admission> Admit(SeqId seq, int64_t max_new_tokens) override {
    absl::StatusOr<Seq*> s = Lookup(seq);
    if (!s.ok()) return s.status();
    Seq& sq = **s;
    if (sq.region >= 0 || sq.computed != 0 || max_new_tokens < 0) {
      return absl::FailedPreconditionError(fmt::format(
          "sequence {} is already admitted or max_new_tokens {} < 0",
          seq.value(), max_new_tokens));
    }
    const int64_t size = RegionSize(sq.final_tokens);
    auto hole = FindHole(size);
    if (hole == holes_.end()) {
      return absl::ResourceExhaustedError(
          fmt::format("no free hole of {} slots ({} slots free)", size, free_));
    }
    const int64_t offset = hole->first;
    const int64_t hole_len = hole->second;
    holes_.erase(hole);
    if (hole_len > size) holes_.emplace(offset + size, hole_len - size);
    free_ -= size;
    sq.offset = offset;
    sq.region = size;
    internal_ += size - sq.final_tokens;
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
    if (sq.region < 0 || num_new_tokens < 0 ||
        sq.computed + num_new_tokens > sq.known) {
      return absl::FailedPreconditionError(fmt::format(
          "sequence {}: cannot compute {} more tokens ({} of {} computed, "
          "admitted: {})",
          seq.value(), num_new_tokens, sq.computed, sq.known, sq.region >= 0));
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
      if (sq.region < 0 || sq.computed != sq.known ||
          sq.known + 1 > sq.final_tokens) {
        return absl::FailedPreconditionError(fmt::format(
            "sequence {} cannot decode: {} of {} known tokens computed, "
            "final length {}, admitted: {}",
            id.value(), sq.computed, sq.known, sq.final_tokens,
            sq.region >= 0));
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
    if (s.region >= 0) {
      tokens_ -= s.computed;
      reserved_ -= s.final_tokens - s.computed;
      internal_ -= s.region - s.final_tokens;
      free_ += s.region;
      FreeRange(s.offset, s.region);
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
      GroupFootprint gf;
      int64_t read_from = 0;
      if (g.kind == KVCacheGroupSpec::Kind::kSlidingWindow) {
        read_from = std::max<int64_t>(0, first_new - (g.sliding_window - 1));
        gf.context_tokens = std::min<int64_t>(end, g.sliding_window);
      } else {
        gf.context_tokens = end;
      }
      gf.pages_read = static_cast<int32_t>(end - read_from);
      gf.pages_written = new_tokens;
      fp.groups.push_back(gf);
    }
    footprint->block_size = 1;
    footprint->sequences.push_back(std::move(fp));
    return absl::OkStatus();
  }

  MemoryBreakdown Memory() const override {
    int64_t largest = 0;
    for (const auto& [offset, len] : holes_) largest = std::max(largest, len);
    MemoryBreakdown m;
    m.token_states = tokens_;
    m.reserved = reserved_;
    m.internal_fragmentation = internal_;
    m.external_fragmentation = free_ - largest;
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
    int64_t offset = 0;
    int64_t region = -1;  // slots of the region; -1 until admitted
  };

  int64_t RegionSize(int64_t final_tokens) const {
    switch (options_.kind) {
      case AllocatorKind::kMax:
        return std::max(options_.max_model_len, final_tokens);
      case AllocatorKind::kPow2:
        return static_cast<int64_t>(
            std::bit_ceil(static_cast<uint64_t>(final_tokens)));
      default:
        return final_tokens;
    }
  }

  std::map<int64_t, int64_t>::const_iterator FindHole(int64_t size) const {
    for (auto it = holes_.begin(); it != holes_.end(); ++it) {
      if (it->second >= size) return it;
    }
    return holes_.end();
  }

  void FreeRange(int64_t offset, int64_t len) {
    auto next = holes_.lower_bound(offset);
    if (next != holes_.begin()) {
      auto prev = std::prev(next);
      PAGEKV_DCHECK(prev->first + prev->second <= offset,
                    "hole [{}, +{}) overlaps the freed region at {}",
                    prev->first, prev->second, offset);
      if (prev->first + prev->second == offset) {
        offset = prev->first;
        len += prev->second;
        holes_.erase(prev);
      }
    }
    if (next != holes_.end() && offset + len == next->first) {
      len += next->second;
      holes_.erase(next);
    }
    holes_.emplace(offset, len);
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
  std::map<int64_t, int64_t> holes_;  // offset -> length, disjoint
  // Breakdown sums over admitted sequences; free_ = sum of hole lengths.
  int64_t tokens_ = 0;
  int64_t reserved_ = 0;
  int64_t internal_ = 0;
  int64_t free_ = 0;
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
  }
  return "?";
}

absl::StatusOr<AllocatorKind> ParseAllocatorKind(std::string_view name) {
  for (AllocatorKind k : {AllocatorKind::kPaged, AllocatorKind::kMax,
                          AllocatorKind::kPow2, AllocatorKind::kOracle}) {
    if (name == AllocatorKindName(k)) return k;
  }
  return absl::InvalidArgumentError(
      fmt::format("unknown allocator '{}'; expected paged, max, pow2 or oracle",
                  std::string(name)));
}

absl::Status ContiguousAllocatorOptions::Validate() const {
  if (kind == AllocatorKind::kPaged) {
    return absl::InvalidArgumentError(
        "ContiguousAllocatorOptions.kind must be max, pow2 or oracle");
  }
  if (capacity_tokens <= 0) {
    return absl::InvalidArgumentError(fmt::format(
        "ContiguousAllocatorOptions.capacity_tokens must be > 0, got {}",
        capacity_tokens));
  }
  if (kind == AllocatorKind::kMax && max_model_len <= 0) {
    return absl::InvalidArgumentError(fmt::format(
        "ContiguousAllocatorOptions.max_model_len must be > 0 for max, got {}",
        max_model_len));
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
