#include "sim/cache_replay_vllm.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "fmt/format.h"
#include "pagekv/vllm/manager.h"

namespace pagekv {
namespace {

vllm::ManagerConfig VllmReplayConfig(const Workload& workload,
                                     const ReplayOptions& options) {
  int64_t longest = 1;
  for (const Request& r : workload.requests) {
    longest = std::max(longest, r.PromptTokens());
  }
  vllm::ManagerConfig c;
  c.num_blocks = static_cast<int32_t>(options.capacity_blocks + 1);
  vllm::GroupSpec full;
  full.block_size = options.block_size;
  c.groups = {full};
  c.hash_block_size = options.block_size;
  c.max_model_len = longest;
  return c;
}

}  // namespace

absl::StatusOr<ReplayResult> ReplayWorkloadVllmOrder(
    const Workload& workload, const ReplayOptions& options) {
  if (options.host_tier.enabled()) {
    return absl::InvalidArgumentError(
        "policy 'vllm' replays vLLM's GPU block pool, which has no host tier");
  }
  if (options.capacity_blocks >= (int64_t{1} << 31) - 1) {
    return absl::InvalidArgumentError(fmt::format(
        "capacity_blocks {} exceeds vLLM's block ids (32-bit) for policy "
        "'vllm'",
        options.capacity_blocks));
  }
  const vllm::ManagerConfig config = VllmReplayConfig(workload, options);
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  vllm::VllmManager m(config);
  const int64_t bs = options.block_size;

  ReplayResult result;
  std::vector<TokenId> prompt;
  std::vector<std::vector<int32_t>> hit, fresh;
  const auto start = std::chrono::steady_clock::now();
  for (const Request& request : workload.requests) {
    prompt.clear();
    request.MaterializePrompt(&prompt);
    const int64_t num_tokens = static_cast<int64_t>(prompt.size());
    BlockHashExtras extras;
    extras.cache_salt = request.cache_salt;
    const vllm::ReqHandle h = m.AddRequest(extras);
    m.AppendTokens(h, prompt);
    // vLLM's keys only name blocks in events, which a replay does not
    // read; the manager matches by its own keys and the tokens.
    for (int64_t i = 0; i < num_tokens / bs; ++i) m.AppendVllmKey(h, "");
    const int64_t n = m.FindLongestCacheHit(h, num_tokens - 1, &hit);
    vllm::AllocateArgs a;
    a.num_tokens = num_tokens;
    a.num_new_tokens = num_tokens - n;
    a.num_new_computed_tokens = n;
    a.new_computed = n > 0 ? &hit : nullptr;
    absl::StatusOr<bool> admitted = m.AllocateSlots(h, a, &fresh);
    if (!admitted.ok()) return admitted.status();
    m.Free(h);
    if (!*admitted) {  // the prompt alone needs more than the capacity
      ++result.skipped_requests;
      result.skipped_prompt_tokens += num_tokens;
      continue;
    }
    ++result.requests;
    result.prompt_tokens += num_tokens;
    result.hit_tokens += n;
    result.query_blocks += num_tokens / bs;
    result.hit_blocks += n / bs;
  }
  const auto end = std::chrono::steady_clock::now();
  result.seconds = std::chrono::duration<double>(end - start).count();
  result.evictions = m.pool().NumEvictions();
  result.cached_blocks = m.pool().NumCachedBlocks();
  return result;
}

}  // namespace pagekv
