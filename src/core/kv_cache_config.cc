#include "pagekv/kv_cache_config.h"

#include <limits>

#include "absl/strings/str_join.h"
#include "core/check.h"
#include "core/status_macros.h"
#include "fmt/format.h"

namespace pagekv {
namespace {

using Kind = KVCacheGroupSpec::Kind;

// The fields of groups[g] its kind uses; fields of other kinds are ignored.
absl::Status ValidateGroup(const KVCacheGroupSpec& group, size_t g,
                           int32_t block_size) {
  switch (group.kind) {
    case Kind::kFullAttention:
      return absl::OkStatus();
    case Kind::kSlidingWindow:
      if (group.sliding_window < 1) {
        return absl::InvalidArgumentError(
            fmt::format("groups[{}].sliding_window = {}: must be >= 1", g,
                        group.sliding_window));
      }
      return absl::OkStatus();
    case Kind::kChunkedLocal:
      if (group.attention_chunk_size < 1) {
        return absl::InvalidArgumentError(
            fmt::format("groups[{}].attention_chunk_size = {}: must be >= 1", g,
                        group.attention_chunk_size));
      }
      return absl::OkStatus();
    case Kind::kState:
      break;
    default:
      return absl::InvalidArgumentError(
          fmt::format("groups[{}].kind = {}: not a known kind", g,
                      static_cast<int>(group.kind)));
  }
  if (group.state_cache_mode != StateCacheMode::kNone &&
      group.state_cache_mode != StateCacheMode::kAlign) {
    return absl::InvalidArgumentError(
        fmt::format("groups[{}].state_cache_mode = {}: must be kNone or kAlign",
                    g, static_cast<int>(group.state_cache_mode)));
  }
  if (group.num_speculative_blocks < 0 || group.num_speculative_blocks > 16) {
    return absl::InvalidArgumentError(fmt::format(
        "groups[{}].num_speculative_blocks = {}: must be in [0, 16]", g,
        group.num_speculative_blocks));
  }
  const int32_t sbs = group.state_block_size;
  if (sbs != 0 &&
      (sbs < block_size || sbs % block_size != 0 || sbs > (1 << 24))) {
    return absl::InvalidArgumentError(fmt::format(
        "groups[{}].state_block_size = {}: must be 0 or a multiple of "
        "block_size {} up to 2^24",
        g, sbs, block_size));
  }
  return absl::OkStatus();
}

}  // namespace

const char* GroupKindName(KVCacheGroupSpec::Kind kind) {
  switch (kind) {
    case Kind::kFullAttention:
      return "full_attention";
    case Kind::kSlidingWindow:
      return "sliding_window";
    case Kind::kChunkedLocal:
      return "chunked_local";
    case Kind::kState:
      return "state";
  }
  return "unknown";
}

absl::Status KVCacheConfig::Validate() const {
  if (block_size < 1 || block_size > kMaxBlockSize) {
    return absl::InvalidArgumentError(
        fmt::format("block_size = {}: must be in [1, {}] tokens", block_size,
                    kMaxBlockSize));
  }
  if (num_blocks < 2 ||
      num_blocks >= int64_t{std::numeric_limits<uint32_t>::max()}) {
    return absl::InvalidArgumentError(fmt::format(
        "num_blocks = {}: must be in [2, 2^32 - 2] (it includes the null "
        "block)",
        num_blocks));
  }
  if (groups.empty()) {
    return absl::InvalidArgumentError("groups: at least one KV-cache group");
  }
  if (groups.size() > 64) {
    return absl::InvalidArgumentError(
        fmt::format("groups: {} groups, at most 64", groups.size()));
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    PAGEKV_RETURN_IF_ERROR(ValidateGroup(groups[g], g, block_size));
  }
  if (!eviction_policy_factory) {
    if (auto policy = pagekv::MakeEvictionPolicy(eviction_policy);
        !policy.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("eviction_policy: {}", policy.status().message()));
    }
  }
  if (call_log.mode != CallLogOptions::Mode::kOff && call_log.path.empty()) {
    return absl::InvalidArgumentError(
        "call_log.path: a call log needs a file to write to");
  }
  if (call_log.mode == CallLogOptions::Mode::kRing &&
      (call_log.ring_calls < 1 || call_log.ring_calls > (int64_t{1} << 24))) {
    return absl::InvalidArgumentError(fmt::format(
        "call_log.ring_calls = {}: must be in [1, 2^24]", call_log.ring_calls));
  }
  if (host_tier.enabled()) {
    if (absl::Status s = host_tier.Validate(); !s.ok()) return s;
    if (!enable_prefix_caching || groups.size() != 1 ||
        groups[0].kind != KVCacheGroupSpec::Kind::kFullAttention) {
      return absl::InvalidArgumentError(fmt::format(
          "host_tier: needs prefix caching and exactly one full-attention "
          "group (got prefix caching {}, {} groups)",
          enable_prefix_caching ? "on" : "off", groups.size()));
    }
    if (call_log.mode != CallLogOptions::Mode::kOff) {
      return absl::InvalidArgumentError(
          "host_tier: the call log does not record transfers; turn one off");
    }
  }
  if (block_hash_fn == nullptr) {
    return absl::InvalidArgumentError("block_hash_fn: must not be null");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<EvictionPolicy>>
KVCacheConfig::MakeEvictionPolicy() const {
  if (!eviction_policy_factory) {
    auto policy = pagekv::MakeEvictionPolicy(eviction_policy);
    if (!policy.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("eviction_policy: {}", policy.status().message()));
    }
    return policy;
  }
  std::unique_ptr<EvictionPolicy> policy = eviction_policy_factory();
  if (policy == nullptr) {
    return absl::InvalidArgumentError(
        "eviction_policy_factory: returned a null policy");
  }
  return policy;
}

absl::Status SequenceOptions::Validate() const {
  if (retention_priority < kMinRetentionPriority ||
      retention_priority > kMaxRetentionPriority) {
    return absl::InvalidArgumentError(fmt::format(
        "retention_priority = {}: must be in [{}, {}]", retention_priority,
        kMinRetentionPriority, kMaxRetentionPriority));
  }
  int64_t end = -1;
  for (size_t i = 0; i < hash_extras.mm_items.size(); ++i) {
    const MultimodalItem& item = hash_extras.mm_items[i];
    if (item.offset < 0 || item.length < 0 || item.offset < end) {
      return absl::InvalidArgumentError(fmt::format(
          "hash_extras.mm_items[{}] (offset {}, length {}): offsets must be "
          "non-negative, sorted and non-overlapping",
          i, item.offset, item.length));
    }
    end = item.offset + item.length;
  }
  return absl::OkStatus();
}

}  // namespace pagekv
