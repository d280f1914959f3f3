// FillLedger: how many computed tokens each block holds, and their sum over
// the blocks in use (the pool's used token slots, for stats and the
// internal-fragmentation figure). Private to the library.
//
// The ledger does not know block states; its callers say whether a block is
// in use at each change, and Verify() checks the sum against the pool.
// Cost: one 16-bit entry per block; every operation is O(1).
#ifndef PAGEKV_CORE_FILL_LEDGER_H_
#define PAGEKV_CORE_FILL_LEDGER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "pagekv/block_pool.h"
#include "pagekv/types.h"

namespace pagekv::internal {

class FillLedger {
 public:
  explicit FillLedger(size_t num_ids) : fill_(num_ids, 0) {}

  uint32_t fill(BlockId b) const { return fill_[b.value()]; }
  // == sum of fill(b) over in-use blocks.
  uint64_t used_slots() const { return used_; }

  // A block fresh from the pool, or evicted: it holds nothing.
  void Clear(BlockId b) { fill_[b.value()] = 0; }
  // A block that is in use now holds `n` tokens.
  void SetInUse(BlockId b, uint32_t n) {
    used_ = used_ + n - fill_[b.value()];
    fill_[b.value()] = static_cast<uint16_t>(n);
  }
  // A block (in use when `in_use`) now holds `n` tokens.
  void Set(BlockId b, uint32_t n, bool in_use) {
    if (in_use) {
      SetInUse(b, n);
    } else {
      fill_[b.value()] = static_cast<uint16_t>(n);
    }
  }
  // A cached block went back into use: its tokens count again.
  void OnReuse(BlockId b) { used_ += fill_[b.value()]; }
  // The last holder of a block released it: its tokens stop counting.
  void OnLastRelease(BlockId b) { used_ -= fill_[b.value()]; }
  void Prefetch(BlockId b) const { __builtin_prefetch(&fill_[b.value()], 1); }

  // Every fill is at most `block_size` and used_slots() is the sum over the
  // pool's in-use blocks.
  absl::Status Verify(const BlockPool& pool, int32_t block_size) const {
    uint64_t used = 0;
    for (size_t b = 1; b < fill_.size(); ++b) {
      const BlockId id(static_cast<uint32_t>(b));
      if (fill_[b] > block_size) {
        return absl::InternalError(fmt::format(
            "block {} holds {} tokens, more than a block", b, fill_[b]));
      }
      if (pool.state(id) == BlockState::kInUse) used += fill_[b];
    }
    if (used != used_) {
      return absl::InternalError(
          fmt::format("used token slots recorded {} but in-use blocks hold {}",
                      used_, used));
    }
    return absl::OkStatus();
  }

 private:
  std::vector<uint16_t> fill_;  // fill_[b] <= block_size, per block id
  uint64_t used_ = 0;
};

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_FILL_LEDGER_H_
