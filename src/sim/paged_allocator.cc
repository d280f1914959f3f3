// The paged SimAllocator: a thin adapter over KVCacheManager.
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/check.h"
#include "fmt/format.h"
#include "pagekv/clock.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/sim/sim_allocator.h"

namespace pagekv {
namespace internal {
namespace {

class PagedAllocator final : public SimAllocator {
 public:
  PagedAllocator(std::unique_ptr<ManualClock> clock,
                 std::unique_ptr<KVCacheManager> manager, double bytes_per_slot)
      : clock_(std::move(clock)),
        manager_(std::move(manager)),
        bytes_per_slot_(bytes_per_slot),
        has_host_tier_(manager_->config().host_tier.enabled()) {}

  AllocatorKind kind() const override { return AllocatorKind::kPaged; }
  KVCacheManager* manager() override { return manager_.get(); }

  // Time moves once a step has run: the simulated engine has done the
  // step's copies, which also lets the next step hit the state checkpoints
  // this one computed (KVCacheManager::DrainCopies).
  void SetTimeMicros(int64_t now_us) override {
    clock_->Set(now_us);
    manager_->DrainCopies();
  }

  absl::Status CheckFits(int64_t prompt_tokens,
                         int64_t final_tokens) const override {
    // Conservative: every group holds ceil(final / block_size) blocks (a
    // sliding-window group may need fewer, but a long prefill chunk holds
    // more than its window while it is computed).
    const int64_t bs = manager_->block_size();
    const int64_t need = (final_tokens + bs - 1) / bs * manager_->num_groups();
    const int64_t have = static_cast<int64_t>(manager_->Stats().total_blocks);
    if (need > have) {
      return absl::ResourceExhaustedError(fmt::format(
          "prompt of {} tokens growing to {} tokens needs {} blocks of {} "
          "tokens; the whole cache has {}",
          prompt_tokens, final_tokens, need, bs, have));
    }
    return absl::OkStatus();
  }

  int64_t MaxSlots(int64_t /*prompt_tokens*/,
                   int64_t final_tokens) const override {
    const int64_t bs = manager_->block_size();
    return (final_tokens + bs - 1) / bs * manager_->num_groups() * bs;
  }

  absl::StatusOr<SeqId> AddSequence(absl::Span<const TokenId> prompt,
                                    int64_t /*final_tokens*/,
                                    const SequenceOptions& options) override {
    return manager_->AddSequence(prompt, options);
  }

  bool CanAdmitWholePrompt(SeqId seq) const override {
    absl::StatusOr<int64_t> known = manager_->NumKnownTokens(seq);
    if (!known.ok()) return false;
    absl::StatusOr<int64_t> need = manager_->BlocksToAdmit(seq, *known);
    if (!need.ok()) return false;
    const KVCacheStats stats = manager_->Stats();
    return *need <=
           static_cast<int64_t>(stats.free_blocks + stats.cached_blocks);
  }

  absl::StatusOr<Admission> Admit(SeqId seq, int64_t max_new_tokens) override {
    return Transfer(manager_->Admit(seq, max_new_tokens));
  }

  absl::Status Reserve(SeqId seq, int64_t num_new_tokens) override {
    return Transfer(manager_->Reserve(seq, num_new_tokens));
  }

  absl::Status AppendToken(SeqId seq, TokenId token) override {
    return Transfer(
        manager_->AppendTokens(seq, absl::MakeConstSpan(&token, 1)));
  }

  absl::Status AppendDecodeTokens(absl::Span<const SeqId> seqs,
                                  absl::Span<const TokenId> tokens) override {
    return Transfer(manager_->AppendDecodeTokens(seqs, tokens));
  }

  absl::Status Release(SeqId seq) override {
    return Transfer(manager_->Release(seq));
  }

  absl::Status AddToFootprint(SeqId seq, int32_t new_tokens,
                              StepFootprint* footprint) const override {
    return manager_->AddToFootprint(seq, new_tokens, footprint);
  }

  MemoryBreakdown Memory() const override {
    const KVCacheStats s = manager_->Stats();
    const auto bs = static_cast<int64_t>(s.block_size);
    MemoryBreakdown m;
    m.token_states = static_cast<int64_t>(s.used_token_slots);
    m.internal_fragmentation = static_cast<int64_t>(s.empty_token_slots);
    m.cached = static_cast<int64_t>(s.cached_blocks) * bs;
    m.free = static_cast<int64_t>(s.free_blocks) * bs;
    m.bytes_per_slot = bytes_per_slot_;
    PAGEKV_DCHECK(m.capacity() == static_cast<int64_t>(s.total_blocks) * bs,
                  "paged breakdown adds up to {} slots, the pool has {}",
                  m.capacity(), s.total_blocks * s.block_size);
    return m;
  }

  PrefixCacheStats PrefixStats() const override {
    return manager_->Stats().prefix;
  }

  TierTraffic TakeTierTraffic() override {
    TierTraffic t = traffic_;
    traffic_ = {};
    return t;
  }
  HostTierStats HostStats() const override {
    return manager_->Stats().host_tier;
  }

 private:
  // Carries out the transfers `result`'s call ordered, as an engine whose
  // copies always succeed, and counts them; passes `result` through.
  template <typename T>
  T Transfer(T result) {
    if (!has_host_tier_) return result;
    bool any_store = false;
    for (const TransferOrder& o : manager_->DrainTransfers()) {
      absl::Status s = o.kind == TransferOrder::Kind::kStore
                           ? manager_->CompleteStore(o.host_block, true)
                           : manager_->CompleteLoad(o.host_block);
      PAGEKV_CHECK(s.ok(), "completing a fresh transfer failed: {}",
                   s.ToString());
      if (o.kind == TransferOrder::Kind::kStore) {
        ++traffic_.stored_blocks;
        any_store = true;
      } else {
        ++traffic_.loaded_blocks;
      }
    }
    traffic_.store_jobs += any_store ? 1 : 0;
    return result;
  }

  // The manager's clock (eviction recency): only SetTimeMicros() moves it.
  // Declared first, so it outlives the manager reading it.
  std::unique_ptr<ManualClock> clock_;
  std::unique_ptr<KVCacheManager> manager_;
  double bytes_per_slot_;
  bool has_host_tier_;
  TierTraffic traffic_;
};

}  // namespace
}  // namespace internal

absl::StatusOr<std::unique_ptr<SimAllocator>> MakePagedAllocator(
    KVCacheConfig config, double kv_bytes_per_slot) {
  if (!(kv_bytes_per_slot >= 0)) {
    return absl::InvalidArgumentError(fmt::format(
        "kv_bytes_per_slot must be >= 0, got {}", kv_bytes_per_slot));
  }
  if (config.clock != nullptr) {
    return absl::InvalidArgumentError(
        "KVCacheConfig.clock must be null for a paged SimAllocator: it keeps "
        "its own clock at the time given by SetTimeMicros()");
  }
  auto clock = std::make_unique<ManualClock>(0);
  config.clock = clock.get();
  absl::StatusOr<std::unique_ptr<KVCacheManager>> manager =
      KVCacheManager::Create(std::move(config));
  if (!manager.ok()) return manager.status();
  return std::unique_ptr<SimAllocator>(
      std::make_unique<internal::PagedAllocator>(
          std::move(clock), *std::move(manager), kv_bytes_per_slot));
}

}  // namespace pagekv
