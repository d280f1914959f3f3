// Block and window arithmetic shared by every layer: how many blocks hold a
// number of tokens, which block a position falls in, and where a sliding
// window begins. One home, so the manager, the cost model, the simulator and
// an embedding engine round the same way.
#ifndef PAGEKV_BLOCK_MATH_H_
#define PAGEKV_BLOCK_MATH_H_

#include <algorithm>
#include <cstdint>

namespace pagekv {

// ceil(a / b) for a >= 0, b >= 1.
constexpr int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks needed to hold `tokens` tokens: ceil(tokens / block_size).
// REQUIRES: tokens >= 0, block_size >= 1.
constexpr int64_t BlocksForTokens(int64_t tokens, int64_t block_size) {
  return CeilDiv(tokens, block_size);
}

// The first token a query at `position` attends to in a sliding window of
// `window` tokens (the window includes the position itself).
// REQUIRES: window >= 1.
constexpr int64_t WindowStartToken(int64_t position, int64_t window) {
  return std::max<int64_t>(0, position - (window - 1));
}

// The first block a query at `position` reads in a sliding window: blocks
// before it are out of the window and may go back to the pool.
constexpr int64_t WindowStartBlock(int64_t position, int64_t window,
                                   int64_t block_size) {
  return WindowStartToken(position, window) / block_size;
}

// Blocks a sliding-window group needs to serve a prefix hit: the last
// ceil((window - 1) / block_size) blocks before the hit's end.
constexpr int64_t WindowBlocks(int64_t window, int64_t block_size) {
  return CeilDiv(window - 1, block_size);
}

}  // namespace pagekv

#endif  // PAGEKV_BLOCK_MATH_H_
