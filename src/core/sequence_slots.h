// SequenceSlots: where a KVCacheManager keeps its sequences. Private to the
// library.
//
// A sequence lives in a slot; its SeqId is (generation << 32 | slot), so a
// stale id (released, slot reused) fails the generation check in O(1). Each
// slot has two records:
//
// clang-format off
//   SeqHot   32 bytes, in fixed chunks of a flat array: what a decode step
//            reads (counts, generation, batch mark, table length, last block)
//   Sequence the rest (tokens, tables, keys, options), read by the slower
//            operations
// clang-format on
//
// The checking pass of a 1024-sequence decode step reads 32 KiB of hot
// records, which stay in L1 from step to step, instead of one scattered
// Sequence and its table per token.
#ifndef PAGEKV_CORE_SEQUENCE_SLOTS_H_
#define PAGEKV_CORE_SEQUENCE_SLOTS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/types.h"

namespace pagekv::internal {

// The fields of a sequence a decode step reads, two records to a cache line.
// Where a field below also has a home in Sequence, it is a mirror that
// Verify() compares with the original (Sequence::SyncTableMirror refreshes
// it).
struct SeqHot {
  uint32_t generation = 0;  // bumped when the slot is freed
  // Mirror: the last entry of group 0's table, or the null block.
  BlockId last_block;
  // Batch operations stamp the sequences they visit, to find duplicates.
  uint64_t batch_mark = 0;
  int32_t num_known = 0;     // known tokens
  int32_t num_computed = 0;  // <= num_known; these have slots
  // Mirror: the length of every group's table (all groups have the same).
  uint32_t num_blocks = 0;
  bool live = false;
  // False only when every block of the sequence's state groups is its alone
  // (refreshed by ManagerState::SyncStateSharing; may stay true after the
  // other holder left, which only costs the decode fast path).
  bool state_shared = false;
};
static_assert(sizeof(SeqHot) == 32, "two hot records per cache line");

// The rest of a sequence. Per group, the block table is a vector of ids:
//
// clang-format off
//   table:  [ null null | b7  b3  b9 | b12 (partial) | b15 (lookahead) ]
//             dropped[g]   full, indexed   computed     reserved, empty
// clang-format on
//
// `dropped[g]` leading slots of a sliding-window group hold the null block:
// they fell out of the window and went back to the pool. Full-attention
// groups never drop. Each non-null entry holds one reference on its block.
struct Sequence {
  SeqHot* hot = nullptr;  // this slot's record; stable for the slot's life
  uint32_t slot = 0;
  // The known tokens, kept only when prefix caching needs them for hashing
  // (then tokens.size() == num_known()); empty otherwise.
  std::vector<TokenId> tokens;
  absl::InlinedVector<std::vector<BlockId>, 1> tables;  // one per group
  // Leading full computed blocks already offered to the index (0 when prefix
  // caching is off). <= num_computed() / block_size.
  size_t num_indexed = 0;
  SequenceOptions options;
  // Keys of the leading full blocks of `tokens`, computed once, on demand.
  // A memo: it grows inside const lookups (MatchPrefix(seq), BlocksToAdmit),
  // which are therefore not safe to call concurrently with each other.
  mutable std::vector<uint64_t> keys;
  absl::InlinedVector<uint32_t, 1> dropped;  // one per group

  int64_t num_known() const { return hot->num_known; }
  int64_t num_computed() const { return hot->num_computed; }
  // Refreshes the table mirrors of `hot` after the tables changed.
  void SyncTableMirror() {
    const std::vector<BlockId>& table = tables[0];
    hot->num_blocks = static_cast<uint32_t>(table.size());
    hot->last_block = table.empty() ? kNullBlock : table.back();
  }
};

class SequenceSlots {
 public:
  explicit SequenceSlots(size_t num_groups) : num_groups_(num_groups) {}

  // The hot record of a live `seq`, without building a Status: null for an
  // unknown or stale id.
  SeqHot* FindHot(SeqId seq) {
    const uint64_t slot = seq.value() & 0xffffffffu;
    if (slot >= slots_.size()) return nullptr;
    SeqHot& h = hot(static_cast<uint32_t>(slot));
    return h.live && h.generation == (seq.value() >> 32) ? &h : nullptr;
  }
  // The Sequence of a live `seq`, or InvalidArgument naming the id.
  absl::StatusOr<Sequence*> Lookup(SeqId seq);
  absl::StatusOr<const Sequence*> Lookup(SeqId seq) const;

  // The Sequence in `slot`. REQUIRES: slot < num_slots().
  Sequence& at(uint32_t slot) { return *slots_[slot]; }
  const Sequence& at(uint32_t slot) const { return *slots_[slot]; }
  // The Sequence of `seq`. REQUIRES: seq is live (FindHot or Lookup said so).
  Sequence& at(SeqId seq) { return at(static_cast<uint32_t>(seq.value())); }
  SeqHot& hot(uint32_t slot) {
    return hot_chunks_[slot >> kHotChunkBits][slot & (kHotChunk - 1)];
  }
  const SeqHot& hot(uint32_t slot) const {
    return hot_chunks_[slot >> kHotChunkBits][slot & (kHotChunk - 1)];
  }

  // A new live sequence with empty tables (one per group); reuses a freed
  // slot (and its capacity) first.
  SeqId Add(Sequence** out);
  // Frees the slot of `seq`, clearing but keeping its capacity.
  // REQUIRES: seq is live and holds no blocks.
  void Free(SeqId seq);

  size_t num_slots() const { return slots_.size(); }
  uint64_t num_live() const { return num_live_; }

  // Every slot's Sequence and hot record point at each other; the live
  // records number num_live().
  absl::Status Verify() const;

 private:
  static constexpr uint32_t kHotChunkBits = 10;
  static constexpr uint32_t kHotChunk = 1u << kHotChunkBits;

  size_t num_groups_;
  // slots_[i]->slot == i and slots_[i]->hot == &hot(i), for the slot's life.
  std::vector<std::unique_ptr<Sequence>> slots_;
  // hot(i) for i < slots_.size(); chunks never move, so neither do records.
  std::vector<std::unique_ptr<SeqHot[]>> hot_chunks_;
  std::vector<uint32_t> free_slots_;  // slots whose record is not live
  uint64_t num_live_ = 0;             // == live records
};

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_SEQUENCE_SLOTS_H_
