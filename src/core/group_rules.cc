#include "core/group_rules.h"

#include <numeric>

namespace pagekv::internal {

GroupRule GroupRule::Of(const KVCacheGroupSpec& spec, int64_t block_size) {
  GroupRule r;
  r.kind = spec.kind;
  r.bs = block_size;
  r.window = spec.sliding_window;
  r.chunk = spec.attention_chunk_size;
  if (spec.kind == Kind::kState) {
    r.state_align = spec.state_cache_mode == StateCacheMode::kAlign;
    r.state_bs =
        spec.state_block_size == 0 ? block_size : spec.state_block_size;
    r.spec_blocks = spec.num_speculative_blocks;
  }
  return r;
}

GroupRules GroupRules::Of(const KVCacheConfig& config) {
  GroupRules out;
  out.hit_align = config.block_size;
  for (const KVCacheGroupSpec& spec : config.groups) {
    out.rules.push_back(GroupRule::Of(spec, config.block_size));
    const GroupRule& r = out.rules.back();
    out.any_state = out.any_state || r.is_state();
    out.any_state_align =
        out.any_state_align || (r.is_state() && r.state_align);
    const int64_t g = r.HitGranularity();
    if (g == 0 || out.hit_align == 0) {
      out.hit_align = 0;
    } else {
      out.hit_align = std::lcm(out.hit_align, g);
    }
  }
  if (!config.enable_prefix_caching) out.hit_align = 0;
  return out;
}

size_t WindowedHit(const GroupRule& rule, const PrefixIndex& index,
                   const HitQuery& q, size_t limit, size_t align_blocks,
                   std::vector<BlockId>* out) {
  // Right to left from the longest candidate: a miss at block i means no
  // hit longer than i can be served, so the next candidate is the aligned
  // length at or below i.
  size_t l = limit / align_blocks * align_blocks;
  while (l > 0) {
    const size_t start = static_cast<size_t>(
        rule.ReadStartBlock(static_cast<int64_t>(l * q.bs)));
    out->assign(l, kNullBlock);
    size_t missing = l;  // l means none missing
    for (size_t i = l; i-- > start;) {
      const BlockId b = index.Find(q.keys[i]);
      if (b == kNullBlock ||
          !index.Matches(b, kNullBlock, q.parent_key(i), q.tokens_of(i))) {
        missing = i;
        break;
      }
      (*out)[i] = b;
    }
    if (missing == l) {
      // Within the run, also verify parent identity link by link.
      for (size_t i = start + 1; i < l; ++i) {
        if (!index.Matches((*out)[i], (*out)[i - 1], q.parent_key(i),
                           q.tokens_of(i))) {
          missing = i;
          break;
        }
      }
    }
    if (missing == l) return l;
    l = missing / align_blocks * align_blocks;
  }
  out->clear();
  return 0;
}

size_t StateHit(const GroupRule& rule, const PrefixIndex& index,
                const HitQuery& q, size_t limit, size_t align_blocks,
                absl::Span<const uint8_t> fresh, std::vector<BlockId>* out) {
  out->clear();
  if (!rule.state_align) return 0;
  // Right to left: the first cached checkpoint is the longest hit.
  for (size_t l = limit / align_blocks * align_blocks; l > 0;
       l -= align_blocks) {
    const BlockId b = index.Find(q.keys[l - 1]);
    if (b == kNullBlock || (!fresh.empty() && fresh[b.value()] != 0) ||
        !index.Matches(b, kNullBlock, q.parent_key(l - 1), q.tokens_of(l - 1)))
      continue;
    const int64_t entry = rule.StateIndex(static_cast<int64_t>(l * q.bs));
    out->assign(static_cast<size_t>(entry), kNullBlock);
    out->push_back(b);
    return l;
  }
  return 0;
}

}  // namespace pagekv::internal
