// Allocation hot path: BlockPool against a bare array free list (the floor).
#include <vector>

#include "benchmark/benchmark.h"
#include "pagekv/block_pool.h"

namespace pagekv {
namespace {

constexpr uint32_t kPoolBlocks = 1 << 16;

// The physical floor: pop and push one id on a plain array stack.
void BM_FreeListFloor(benchmark::State& state) {
  std::vector<uint32_t> stack(kPoolBlocks);
  for (uint32_t i = 0; i < kPoolBlocks; ++i) stack[i] = i;
  uint32_t top = kPoolBlocks;
  for (auto _ : state) {
    uint32_t id = stack[--top];
    benchmark::DoNotOptimize(id);
    stack[top++] = id;
  }
}
BENCHMARK(BM_FreeListFloor);

// Allocate and release one block through the pool (ref counts, states,
// all-or-nothing check).
void BM_AllocateRelease(benchmark::State& state) {
  auto pool = *BlockPool::Create(kPoolBlocks, *MakeEvictionPolicy("lru"));
  BlockId block;
  for (auto _ : state) {
    (void)pool->Allocate(absl::MakeSpan(&block, 1));
    benchmark::DoNotOptimize(block);
    pool->Release(block);
  }
}
BENCHMARK(BM_AllocateRelease);

// The same with the pool full of cached blocks: every allocation evicts the
// LRU victim and every release caches the block again.
void BM_AllocateReleaseEvicting(benchmark::State& state) {
  auto pool = *BlockPool::Create(kPoolBlocks, *MakeEvictionPolicy("lru"));
  std::vector<BlockId> all(pool->num_blocks());
  (void)pool->Allocate(absl::MakeSpan(all));
  for (BlockId b : all) {
    pool->SetKeepsContent(b, true);
    pool->Release(b);
  }
  BlockId block;
  for (auto _ : state) {
    (void)pool->Allocate(absl::MakeSpan(&block, 1));
    pool->SetKeepsContent(block, true);
    pool->Release(block);
  }
}
BENCHMARK(BM_AllocateReleaseEvicting);

}  // namespace
}  // namespace pagekv
