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

GroupFootprint MakeGroupFootprint(const KVCacheGroupSpec& spec, int64_t end,
                                  int64_t new_tokens, int64_t block_size) {
  using Kind = KVCacheGroupSpec::Kind;
  switch (spec.kind) {
    case Kind::kSlidingWindow:
      return MakeGroupFootprint(end, new_tokens, spec.sliding_window,
                                block_size);
    case Kind::kChunkedLocal: {
      const int64_t first_new = end - new_tokens;
      const int64_t chunk = spec.attention_chunk_size;
      const int64_t read_from = first_new - first_new % chunk;
      const int64_t end_page = BlocksForTokens(end, block_size);
      GroupFootprint g;
      // The last new token attends within its own chunk.
      g.context_tokens = end == 0 ? 0 : end - (end - 1) / chunk * chunk;
      g.pages_read = static_cast<int32_t>(end_page - read_from / block_size);
      g.pages_written =
          new_tokens == 0
              ? 0
              : static_cast<int32_t>(end_page - first_new / block_size);
      return g;
    }
    case Kind::kState: {
      GroupFootprint g;
      g.pages_read = end - new_tokens > 0 ? 1 : 0;
      g.pages_written = new_tokens > 0 ? 1 : 0;
      return g;
    }
    default:
      return MakeGroupFootprint(end, new_tokens, 0, block_size);
  }
}

}  // namespace pagekv
