#include "pagekv/footprint.h"

#include <algorithm>

#include "pagekv/block_math.h"

namespace pagekv {

GroupFootprint MakeGroupFootprint(int64_t end, int64_t new_tokens,
                                  int64_t window, int64_t block_size) {
  const int64_t first_new = end - new_tokens;
  const int64_t read_from =
      window > 0 ? WindowStartToken(first_new, window) : 0;
  const int64_t end_page = BlocksForTokens(end, block_size);
  GroupFootprint g;
  g.context_tokens = window > 0 ? std::min(end, window) : end;
  g.pages_read = static_cast<int32_t>(end_page - read_from / block_size);
  g.pages_written =
      new_tokens == 0 ? 0
                      : static_cast<int32_t>(end_page - first_new / block_size);
  return g;
}

}  // namespace pagekv
