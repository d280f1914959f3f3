#include "sim/contiguous_arena.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pagekv/kv_cache_stats.h"
#include "pagekv/sim/sim_allocator.h"
#include "pagekv/types.h"

namespace pagekv {
namespace {

using internal::ArenaBlock;
using internal::ContiguousArena;

TEST(BuddyArenaTest, GrantsAlignedPowersOfTwo) {
  std::unique_ptr<ContiguousArena> a = internal::MakeBuddyArena(64);
  EXPECT_EQ(a->Granted(25), 32);
  EXPECT_EQ(a->Granted(32), 32);
  EXPECT_EQ(a->Granted(1), 1);
  std::optional<ArenaBlock> b = a->Find(5);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->offset, 0);
  EXPECT_EQ(b->granted, 8);
  a->Take(*b);
  // The split left free blocks of 8, 16 and 32: the next 5 goes to 8.
  std::optional<ArenaBlock> c = a->Find(5);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->offset, 8);
  EXPECT_EQ(a->FreeSlots(), 56);
  EXPECT_EQ(a->LargestFree(), 32);
  EXPECT_TRUE(a->Verify());
}

TEST(BuddyArenaTest, FreedBuddiesMergeBackToTheRoot) {
  std::unique_ptr<ContiguousArena> a = internal::MakeBuddyArena(64);
  std::vector<ArenaBlock> taken;
  for (int i = 0; i < 8; ++i) {
    std::optional<ArenaBlock> b = a->Find(7);
    ASSERT_TRUE(b.has_value());
    a->Take(*b);
    taken.push_back(*b);
  }
  EXPECT_FALSE(a->Find(1).has_value());
  EXPECT_EQ(a->LargestFree(), 0);
  // Freeing every other block leaves 32 free slots but no block over 8.
  for (int i = 0; i < 8; i += 2) a->Free(taken[i]);
  EXPECT_EQ(a->FreeSlots(), 32);
  EXPECT_EQ(a->LargestFree(), 8);
  EXPECT_FALSE(a->Find(9).has_value());
  for (int i = 1; i < 8; i += 2) a->Free(taken[i]);
  EXPECT_EQ(a->LargestFree(), 64);
  EXPECT_TRUE(a->Verify());
}

TEST(BuddyArenaTest, AnyCapacitySplitsIntoAlignedRoots) {
  // 100 = 64 + 32 + 4: three roots that never merge with each other.
  std::unique_ptr<ContiguousArena> a = internal::MakeBuddyArena(100);
  EXPECT_EQ(a->LargestEver(), 64);
  EXPECT_EQ(a->FreeSlots(), 100);
  std::optional<ArenaBlock> b = a->Find(4);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->offset, 96);  // the smallest block that fits, not a split
  a->Take(*b);
  a->Free(*b);
  EXPECT_EQ(a->LargestFree(), 64);
  EXPECT_TRUE(a->Verify());
}

TEST(ContiguousArenaTest, RandomTakesAndFreesKeepTheAccounting) {
  for (bool buddy : {false, true}) {
    std::unique_ptr<ContiguousArena> a =
        buddy ? internal::MakeBuddyArena(1000)
              : internal::MakeFirstFitArena(1000);
    std::mt19937 rng(7);
    std::vector<ArenaBlock> held;
    int64_t granted = 0;
    for (int i = 0; i < 2000; ++i) {
      if (!held.empty() && rng() % 2 == 0) {
        const size_t k = rng() % held.size();
        a->Free(held[k]);
        granted -= held[k].granted;
        held.erase(held.begin() + static_cast<std::ptrdiff_t>(k));
      } else if (std::optional<ArenaBlock> b = a->Find(1 + rng() % 90)) {
        a->Take(*b);
        held.push_back(*b);
        granted += b->granted;
      }
      ASSERT_TRUE(a->Verify()) << "step " << i << " buddy " << buddy;
      ASSERT_EQ(a->FreeSlots() + granted, 1000);
    }
  }
}

std::unique_ptr<SimAllocator> Contiguous(AllocatorKind kind, int64_t slots) {
  ContiguousAllocatorOptions o;
  o.kind = kind;
  o.capacity_tokens = slots;
  o.max_model_len = 256;
  return *MakeContiguousAllocator(o);
}

// Admits a request of `prompt` tokens that ends at `final_tokens`.
SeqId AdmitOne(SimAllocator& a, int64_t prompt, int64_t final_tokens) {
  std::vector<TokenId> tokens(static_cast<size_t>(prompt), 1);
  SeqId s = *a.AddSequence(tokens, final_tokens, {});
  EXPECT_TRUE(a.Admit(s, prompt).ok());
  return s;
}

TEST(OrcaAllocatorTest, Pow2RoundsTheOutputAndBuddyRoundsTheRegion) {
  // The paper's example: an output of 25 reserves 32 slots after the
  // prompt; prompt 100 + 32 = 132 takes a buddy block of 256.
  std::unique_ptr<SimAllocator> a = Contiguous(AllocatorKind::kOrcaPow2, 1024);
  AdmitOne(*a, 100, 125);
  const MemoryBreakdown m = a->Memory();
  EXPECT_EQ(m.token_states, 100);
  EXPECT_EQ(m.reserved, 25);
  EXPECT_EQ(m.internal_fragmentation, 7);  // 132 - 125
  // 124 slots of buddy rounding; the rest of the arena is free blocks of
  // 256 and 512, of which the 512 counts as free.
  EXPECT_EQ(m.external_fragmentation, 124 + 256);
  EXPECT_EQ(m.free, 512);
  EXPECT_EQ(m.capacity(), 1024);
}

TEST(OrcaAllocatorTest, Pow2NeverReservesPastTheModelLength) {
  // max_model_len 256: prompt 100 + an output of 100 would round to
  // 100 + 128 = 228 (a 256 block), but an output of 130 to 100 + 256 =
  // 356, a 512 block twice the context. It reserves the 256 Max would.
  std::unique_ptr<SimAllocator> a = Contiguous(AllocatorKind::kOrcaPow2, 1024);
  AdmitOne(*a, 100, 230);
  const MemoryBreakdown m = a->Memory();
  EXPECT_EQ(m.reserved, 130);
  EXPECT_EQ(m.internal_fragmentation, 256 - 230);
  EXPECT_EQ(m.external_fragmentation, 256);  // the free 256 beside it
  EXPECT_EQ(m.free, 512);
  // A request ending at the context exactly reserves the context.
  std::unique_ptr<SimAllocator> b = Contiguous(AllocatorKind::kOrcaPow2, 1024);
  AdmitOne(*b, 1, 256);
  EXPECT_EQ(b->Memory().internal_fragmentation, 0);
}

TEST(OrcaAllocatorTest, OracleAndMaxReserveAsTheFirstFitKinds) {
  std::unique_ptr<SimAllocator> oracle =
      Contiguous(AllocatorKind::kOrcaOracle, 1024);
  AdmitOne(*oracle, 100, 125);
  EXPECT_EQ(oracle->Memory().internal_fragmentation, 0);
  EXPECT_EQ(oracle->Memory().external_fragmentation, 3 + 128 + 256);
  std::unique_ptr<SimAllocator> max = Contiguous(AllocatorKind::kOrcaMax, 1024);
  AdmitOne(*max, 100, 125);
  EXPECT_EQ(max->Memory().internal_fragmentation, 256 - 125);
  EXPECT_EQ(max->Memory().external_fragmentation, 256);  // 512 is free
  EXPECT_EQ(*ParseAllocatorKind("orca-pow2"), AllocatorKind::kOrcaPow2);
  EXPECT_EQ(AllocatorKindName(AllocatorKind::kOrcaOracle), "orca-oracle");
}

TEST(OrcaAllocatorTest, RejectsARequestLargerThanTheLargestBuddyBlock) {
  // 1000 slots: the largest block is 512; oracle of 600 needs 1024.
  std::unique_ptr<SimAllocator> a =
      Contiguous(AllocatorKind::kOrcaOracle, 1000);
  absl::Status s = a->CheckFits(500, 600);
  EXPECT_TRUE(absl::IsResourceExhausted(s));
  EXPECT_THAT(s.message(), testing::HasSubstr("largest buddy block 512"));
  EXPECT_TRUE(
      Contiguous(AllocatorKind::kOracle, 1000)->CheckFits(500, 600).ok());
}

}  // namespace
}  // namespace pagekv
