#include "core/host_tier.h"

#include <algorithm>
#include <bit>

#include "absl/strings/str_join.h"
#include "core/check.h"
#include "fmt/format.h"

namespace pagekv {

namespace {
constexpr const char* kStorePolicyNames[] = {
    "write-through", "write-through-selective", "write-back"};
}  // namespace

std::string_view StorePolicyName(StorePolicy policy) {
  return kStorePolicyNames[static_cast<int>(policy)];
}

absl::StatusOr<StorePolicy> ParseStorePolicy(std::string_view name) {
  for (int i = 0; i < 3; ++i) {
    if (name == kStorePolicyNames[i]) return static_cast<StorePolicy>(i);
  }
  return absl::InvalidArgumentError(
      fmt::format("unknown store policy \"{}\"; known policies: {}", name,
                  absl::StrJoin(kStorePolicyNames, ", ")));
}

absl::Status HostTierConfig::Validate() const {
  if (num_blocks < 0 || num_blocks >= (int64_t{1} << 31)) {
    return absl::InvalidArgumentError(fmt::format(
        "host_tier.num_blocks = {}: must be in [0, 2^31 - 1]", num_blocks));
  }
  if (num_blocks == 0 && capacity_bytes > 0 && block_bytes == 0) {
    return absl::InvalidArgumentError(fmt::format(
        "host_tier.capacity_bytes = {} needs host_tier.block_bytes > 0 to "
        "size the tier in blocks",
        capacity_bytes));
  }
  if (enabled() && (Blocks() < 1 || Blocks() >= (int64_t{1} << 31))) {
    return absl::InvalidArgumentError(fmt::format(
        "host_tier: capacity_bytes = {} / block_bytes = {} gives {} blocks; "
        "need [1, 2^31 - 1]",
        capacity_bytes, block_bytes, Blocks()));
  }
  if (auto policy = MakeEvictionPolicy(eviction_policy); !policy.ok()) {
    return absl::InvalidArgumentError(fmt::format(
        "host_tier.eviction_policy: {}", policy.status().message()));
  }
  if (store_hit_threshold < 1 || store_hit_threshold > 255) {
    return absl::InvalidArgumentError(
        fmt::format("host_tier.store_hit_threshold = {}: must be in [1, 255]",
                    store_hit_threshold));
  }
  if (admission_min_lookups < 0 || admission_min_lookups > 255) {
    return absl::InvalidArgumentError(
        fmt::format("host_tier.admission_min_lookups = {}: must be in [0, 255]",
                    admission_min_lookups));
  }
  return absl::OkStatus();
}

namespace internal {

HostTier::HostTier(const HostTierConfig& config, uint32_t gpu_blocks,
                   int32_t block_size, std::unique_ptr<EvictionPolicy> policy,
                   bool events)
    : config_(config),
      block_size_(block_size),
      num_blocks_(static_cast<uint32_t>(config.Blocks())),
      index_(num_blocks_ + 1, block_size),
      policy_(std::move(policy)),
      state_(num_blocks_ + 1, State::kFree),
      pins_(num_blocks_ + 1, 0),
      lora_(num_blocks_ + 1, 0),
      salt_(num_blocks_ + 1, 0),
      first_(num_blocks_ + 1, 0),
      emit_events_(events) {
  policy_->Init(num_blocks_ + 1);
  free_.reserve(num_blocks_);
  for (uint32_t h = num_blocks_; h >= 1; --h) free_.push_back(h);
  if (config_.admission_min_lookups > 1) {
    lookups_.assign(std::bit_ceil(uint64_t{num_blocks_} * 4), 0);
    lookup_mask_ = lookups_.size() - 1;
  }
  if (config_.store_policy == StorePolicy::kWriteThroughSelective) {
    gpu_hits_.assign(gpu_blocks + 1, 0);
  }
  stats_.capacity_blocks = num_blocks_;
  stats_.block_bytes = config_.block_bytes;
}

uint64_t HostTier::MemoryBytes(uint64_t host_blocks, uint64_t gpu_blocks,
                               int32_t block_size, uint64_t policy_bytes) {
  const uint64_t n = host_blocks + 1;
  uint64_t bytes =
      PrefixIndex::MemoryBytes(static_cast<uint32_t>(n), block_size) +
      n * (policy_bytes + sizeof(State) + sizeof(uint16_t) +
           2 * sizeof(uint64_t) + sizeof(uint8_t)) +
      host_blocks * sizeof(uint32_t);
  (void)gpu_blocks;
  return bytes;
}

void HostTier::ExtendWalk(absl::Span<const uint64_t> keys, uint64_t root,
                          absl::Span<const TokenId> tokens, size_t from,
                          size_t limit, std::vector<uint32_t>* out) const {
  const size_t bs = static_cast<size_t>(block_size_);
  for (size_t i = from; i < limit; ++i) {
    if (i + 2 < limit) index_.Prefetch(keys[i + 2]);
    const BlockId h = index_.Find(keys[i]);
    if (h == kNullBlock || state_[h.value()] != State::kReady) return;
    const uint64_t parent_key = i == 0 ? root : keys[i - 1];
    if (!index_.Matches(h, kNullBlock, parent_key,
                        tokens.subspan(i * bs, bs))) {
      return;
    }
    out->push_back(h.value());
  }
}

void HostTier::CountLookups(absl::Span<const uint64_t> keys) {
  if (lookups_.empty()) return;
  for (uint64_t key : keys) {
    uint8_t& c = lookups_[LookupSlot(key)];
    if (c < 255) ++c;
  }
}

bool HostTier::PassesFilter(uint64_t key) const {
  return lookups_.empty() ||
         lookups_[LookupSlot(key)] >= config_.admission_min_lookups;
}

void HostTier::Pin(uint32_t h) {
  PAGEKV_CHECK(state_[h] == State::kReady,
               "host tier: pinning host block {} in state {}", h,
               static_cast<int>(state_[h]));
  if (pins_[h] == 0) {
    policy_->OnReused(BlockId(h));
    ++pinned_;
  }
  PAGEKV_CHECK(pins_[h] < UINT16_MAX, "host tier: block {} pinned 65535 times",
               h);
  ++pins_[h];
}

void HostTier::AddLoad(uint32_t h, BlockId gpu_block) {
  PAGEKV_DCHECK(pins_[h] > 0, "host tier: load of unpinned block {}", h);
  orders_.push_back({TransferOrder::Kind::kLoad,
                     TransferOrder::When::kBeforeKernels, gpu_block, h,
                     GroupId(0), index_.key(BlockId(h))});
  ++stats_.loads_issued;
}

void HostTier::OnGpuIndexed(const StoreSource& src) {
  if (!gpu_hits_.empty()) gpu_hits_[src.gpu_block.value()] = 0;
  if (config_.store_policy != StorePolicy::kWriteThrough) return;
  IssueStore(src, TransferOrder::When::kAfterKernels);
}

void HostTier::OnGpuHits(absl::Span<const BlockId> blocks,
                         const PrefixIndex& index) {
  if (gpu_hits_.empty()) return;
  const auto k = static_cast<uint8_t>(config_.store_hit_threshold);
  for (size_t i = 0; i < blocks.size(); ++i) {
    const BlockId b = blocks[i];
    uint8_t& hits = gpu_hits_[b.value()];
    if (hits < 255) ++hits;
    if (hits != k) continue;
    StoreSource src{
        b, index.key(b), index.parent_key(b), i == 0, index.tokens(b), 0, 0};
    IssueStore(src, TransferOrder::When::kBeforeKernels);
  }
}

void HostTier::OnGpuEvicted(BlockId block, const PrefixIndex& index) {
  if (!gpu_hits_.empty()) gpu_hits_[block.value()] = 0;
  if (config_.store_policy != StorePolicy::kWriteBack) return;
  // The GPU index keeps no extras or depth: the parent key is given always
  // (a first block's is its root key, which consumers do not know).
  StoreSource src{block, index.key(block),    index.parent_key(block),
                  false, index.tokens(block), 0,
                  0};
  IssueStore(src, TransferOrder::When::kBeforeKernels);
}

uint32_t HostTier::IssueStore(const StoreSource& src,
                              TransferOrder::When when) {
  if (index_.Find(src.key) != kNullBlock) return 0;  // pending or ready
  if (!PassesFilter(src.key)) {
    ++stats_.stores_filtered;
    return 0;
  }
  const uint32_t h = TakeBlock();
  if (h == 0) {
    ++stats_.stores_dropped;
    return 0;
  }
  const bool inserted = index_.Insert(BlockId(h), src.key, kNullBlock,
                                      src.parent_key, src.tokens);
  PAGEKV_CHECK(inserted, "host tier: key {} was absent but insert failed",
               src.key);
  state_[h] = State::kPending;
  lora_[h] = src.lora_id;
  salt_[h] = src.cache_salt;
  first_[h] = src.first ? 1 : 0;
  ++pending_;
  if (src.gpu_block != kNullBlock) {
    orders_.push_back({TransferOrder::Kind::kStore, when, src.gpu_block, h,
                       GroupId(0), src.key});
  }
  ++stats_.stores_issued;
  return h;
}

uint32_t HostTier::TakeBlock() {
  if (!free_.empty()) {
    const uint32_t h = free_.back();
    free_.pop_back();
    return h;
  }
  if (policy_->size() == 0) return 0;
  const uint32_t h = policy_->PickVictim(0).value();
  PAGEKV_CHECK(state_[h] == State::kReady && pins_[h] == 0,
               "host tier: policy picked block {} that is not evictable", h);
  EmitRemoved(h);
  index_.Erase(BlockId(h));
  state_[h] = State::kFree;
  ++stats_.evictions;
  return h;
}

void HostTier::EmitRemoved(uint32_t h) {
  if (!emit_events_) return;
  BlockRemovedEvent e;
  e.block_keys.push_back(index_.key(BlockId(h)));
  e.group = GroupId(0);
  e.medium = Medium::kCpu;
  events_.emplace_back(std::move(e));
}

// The host block holding h's parent key, if any, as the policy's parent.
EvictionHints HostTier::HintsFor(uint32_t h) const {
  EvictionHints hints;
  const BlockId parent = index_.Find(index_.parent_key(BlockId(h)));
  if (parent != BlockId(h)) hints.parent = parent;
  return hints;
}

absl::Status HostTier::CompleteLoad(uint32_t h) {
  if (h == 0 || h > num_blocks_ || pins_[h] == 0) {
    return absl::FailedPreconditionError(fmt::format(
        "CompleteLoad({}): host block {} has no load in flight", h, h));
  }
  if (--pins_[h] == 0) {
    --pinned_;
    policy_->OnEvictable(BlockId(h), HintsFor(h));
  }
  ++stats_.loads_completed;
  stats_.bytes_loaded += config_.block_bytes;
  return absl::OkStatus();
}

absl::Status HostTier::CompleteStore(uint32_t h, bool success) {
  if (h == 0 || h > num_blocks_ || state_[h] != State::kPending) {
    return absl::FailedPreconditionError(fmt::format(
        "CompleteStore({}): host block {} has no store in flight", h, h));
  }
  --pending_;
  if (!success) {
    index_.Erase(BlockId(h));
    state_[h] = State::kFree;
    free_.push_back(h);
    ++stats_.stores_failed;
    return absl::OkStatus();
  }
  state_[h] = State::kReady;
  policy_->OnEvictable(BlockId(h), HintsFor(h));
  ++stats_.stores_completed;
  stats_.bytes_stored += config_.block_bytes;
  if (emit_events_) {
    BlockStoredEvent e;
    e.block_keys.push_back(index_.key(BlockId(h)));
    if (!first_[h]) e.parent_key = index_.parent_key(BlockId(h));
    const auto tokens = index_.tokens(BlockId(h));
    e.token_ids.assign(tokens.begin(), tokens.end());
    e.block_size = block_size_;
    e.lora_id = lora_[h];
    e.cache_salt = salt_[h];
    e.group = GroupId(0);
    e.medium = Medium::kCpu;
    events_.emplace_back(std::move(e));
  }
  return absl::OkStatus();
}

std::vector<TransferOrder> HostTier::DrainOrders() {
  std::vector<TransferOrder> out;
  out.swap(orders_);
  return out;
}

void HostTier::Clear() {
  PAGEKV_CHECK(idle(), "host tier: Clear with transfers in flight");
  while (policy_->size() > 0) {
    const uint32_t h = policy_->PickVictim(0).value();
    index_.Erase(BlockId(h));
    state_[h] = State::kFree;
    free_.push_back(h);
  }
  // Lookup counts are request history, not content: they stay.
  policy_->Init(num_blocks_ + 1);
}

HostTierStats HostTier::Stats() const {
  HostTierStats s = stats_;
  s.pending_blocks = pending_;
  s.pinned_blocks = pinned_;
  s.free_blocks = free_.size();
  s.ready_blocks = num_blocks_ - free_.size() - pending_;
  return s;
}

absl::Status HostTier::Verify() const {
  if (absl::Status s = index_.Verify(); !s.ok()) return s;
  if (absl::Status s = policy_->Verify(); !s.ok()) return s;
  uint32_t pending = 0, pinned = 0, ready_unpinned = 0, free = 0;
  for (uint32_t h = 1; h <= num_blocks_; ++h) {
    const bool indexed = index_.contains(BlockId(h));
    switch (state_[h]) {
      case State::kFree:
        ++free;
        if (indexed || pins_[h] != 0) {
          return absl::InternalError(fmt::format(
              "host block {} is free but indexed ({}) or pinned ({})", h,
              indexed, pins_[h]));
        }
        break;
      case State::kPending:
        ++pending;
        if (!indexed || pins_[h] != 0) {
          return absl::InternalError(fmt::format(
              "host block {} is pending but unindexed or pinned ({})", h,
              pins_[h]));
        }
        break;
      case State::kReady:
        if (!indexed) {
          return absl::InternalError(
              fmt::format("host block {} is ready but not indexed", h));
        }
        if (pins_[h] > 0) {
          ++pinned;
        } else {
          ++ready_unpinned;
        }
        break;
    }
  }
  if (pending != pending_ || pinned != pinned_ || free != free_.size() ||
      ready_unpinned != policy_->size() ||
      index_.size() != num_blocks_ - free) {
    return absl::InternalError(fmt::format(
        "host tier accounting: {} pending (counted {}), {} pinned (counted "
        "{}), {} free (stack {}), {} evictable (policy {}), {} indexed",
        pending, pending_, pinned, pinned_, free, free_.size(), ready_unpinned,
        policy_->size(), index_.size()));
  }
  for (uint32_t h : free_) {
    if (h == 0 || h > num_blocks_ || state_[h] != State::kFree) {
      return absl::InternalError(
          fmt::format("host free stack holds block {} that is not free", h));
    }
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace pagekv
