#include "core/sequence_slots.h"

#include "fmt/format.h"

namespace pagekv::internal {

absl::StatusOr<Sequence*> SequenceSlots::Lookup(SeqId seq) {
  if (FindHot(seq) == nullptr) {
    return absl::InvalidArgumentError(fmt::format(
        "unknown sequence {} (never added, or released)", seq.value()));
  }
  return slots_[seq.value() & 0xffffffffu].get();
}

absl::StatusOr<const Sequence*> SequenceSlots::Lookup(SeqId seq) const {
  auto s = const_cast<SequenceSlots*>(this)->Lookup(seq);
  if (!s.ok()) return s.status();
  return *s;
}

SeqId SequenceSlots::Add(Sequence** out) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    if ((slot >> kHotChunkBits) == hot_chunks_.size()) {
      hot_chunks_.push_back(std::make_unique<SeqHot[]>(kHotChunk));
    }
    slots_.push_back(std::make_unique<Sequence>());
    slots_.back()->hot = &hot(slot);
    slots_.back()->slot = slot;
  }
  Sequence& s = *slots_[slot];
  s.hot->live = true;
  s.tables.resize(num_groups_);
  s.dropped.assign(num_groups_, 0);
  ++num_live_;
  *out = &s;
  return SeqId((uint64_t{s.hot->generation} << 32) | slot);
}

void SequenceSlots::Free(SeqId seq) {
  const uint32_t slot = static_cast<uint32_t>(seq.value() & 0xffffffffu);
  Sequence& s = *slots_[slot];
  SeqHot& h = *s.hot;
  h.live = false;
  ++h.generation;
  h.num_known = 0;
  h.num_computed = 0;
  h.state_shared = false;
  s.options = SequenceOptions();
  s.tokens.clear();
  s.keys.clear();
  s.num_indexed = 0;
  for (auto& table : s.tables) table.clear();
  s.SyncTableMirror();
  --num_live_;
  free_slots_.push_back(slot);
}

absl::Status SequenceSlots::Verify() const {
  uint64_t live = 0;
  for (size_t slot = 0; slot < slots_.size(); ++slot) {
    const Sequence& s = *slots_[slot];
    if (s.slot != slot || s.hot != &hot(static_cast<uint32_t>(slot))) {
      return absl::InternalError(
          fmt::format("sequence slot {} points at the wrong hot record", slot));
    }
    if (s.hot->live) ++live;
  }
  if (live != num_live_ ||
      live + free_slots_.size() != static_cast<uint64_t>(slots_.size())) {
    return absl::InternalError(fmt::format(
        "{} live sequence slots and {} free of {}, but {} sequences recorded",
        live, free_slots_.size(), slots_.size(), num_live_));
  }
  return absl::OkStatus();
}

}  // namespace pagekv::internal
