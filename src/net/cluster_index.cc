// ClusterIndex: ingest (validate, then apply) and scoring (see
// pagekv/net/cluster_index.h).
#include "pagekv/net/cluster_index.h"

#include <algorithm>
#include <bit>

#include "absl/strings/str_cat.h"

namespace pagekv::net {

absl::Status ClusterIndexConfig::Validate() const {
  if (block_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ClusterIndexConfig.block_size must be positive, got ", block_size));
  }
  if (block_hash_fn == nullptr) {
    return absl::InvalidArgumentError(
        "ClusterIndexConfig.block_hash_fn is null");
  }
  return absl::OkStatus();
}

ClusterIndex::ClusterIndex(ClusterIndexConfig config)
    : config_(config),
      hasher_(config.block_size, config.hash_seed, config.block_hash_fn),
      media_{"GPU"} {}

absl::StatusOr<std::unique_ptr<ClusterIndex>> ClusterIndex::Create(
    ClusterIndexConfig config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  return std::unique_ptr<ClusterIndex>(new ClusterIndex(config));
}

absl::StatusOr<InstanceId> ClusterIndex::AddInstance(const std::string& name) {
  size_t free_slot = instances_.size();
  for (size_t i = 0; i < instances_.size(); ++i) {
    if (instances_[i].live && instances_[i].name == name) {
      return absl::InvalidArgumentError(
          absl::StrCat("instance '", name, "' is already registered"));
    }
    if (!instances_[i].live && free_slot == instances_.size()) free_slot = i;
  }
  if (free_slot >= static_cast<size_t>(kMaxInstances)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot add instance '", name, "': at most ", kMaxInstances));
  }
  if (free_slot == instances_.size()) instances_.emplace_back();
  instances_[free_slot].name = name;
  instances_[free_slot].live = true;
  return static_cast<InstanceId>(free_slot);
}

absl::Status ClusterIndex::RemoveInstance(InstanceId instance) {
  if (absl::Status s = ClearInstance(instance); !s.ok()) return s;
  instances_[instance].live = false;
  instances_[instance].name.clear();
  return absl::OkStatus();
}

absl::Status ClusterIndex::ClearInstance(InstanceId instance) {
  if (instance >= instances_.size() || !instances_[instance].live) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown instance ", instance));
  }
  DropInstance(instance);
  return absl::OkStatus();
}

void ClusterIndex::DropInstance(InstanceId inst) {
  Instance& in = instances_[inst];
  for (const auto& [hm, entry] : in.entries) {
    DropRef(entry.key, inst, hm.second, entry.count);
  }
  in.entries.clear();
  ++stats_.clears;
}

absl::StatusOr<int> ClusterIndex::MediumOf(
    const std::optional<std::string>& name,
    std::vector<std::string>* added) const {
  if (!name.has_value()) return 0;
  for (size_t m = 0; m < media_.size(); ++m) {
    if (media_[m] == *name) return static_cast<int>(m);
  }
  for (size_t m = 0; m < added->size(); ++m) {
    if ((*added)[m] == *name) return static_cast<int>(media_.size() + m);
  }
  if (media_.size() + added->size() >= kMaxMedia) {
    return absl::InvalidArgumentError(absl::StrCat(
        "medium '", *name, "': at most ", kMaxMedia, " media are supported"));
  }
  added->push_back(*name);
  return static_cast<int>(media_.size() + added->size() - 1);
}

absl::Status ClusterIndex::Apply(InstanceId instance, const WireBatch& batch) {
  if (instance >= instances_.size() || !instances_[instance].live) {
    ++stats_.bad_batches;
    return absl::InvalidArgumentError(
        absl::StrCat("unknown instance ", instance));
  }
  // Validate everything first: nothing is applied unless all of it can be.
  std::vector<std::string> added;
  std::vector<uint8_t> media(batch.events.size(), 0);
  for (size_t i = 0; i < batch.events.size(); ++i) {
    const WireEvent& ev = batch.events[i];
    absl::StatusOr<int> m = 0;
    if (const auto* s = std::get_if<WireBlockStored>(&ev)) {
      if (s->block_size != config_.block_size) {
        ++stats_.bad_batches;
        return absl::InvalidArgumentError(
            absl::StrCat("events[", i, "].block_size is ", s->block_size,
                         " but the index keys blocks of ", config_.block_size));
      }
      m = MediumOf(s->medium, &added);
    } else if (const auto* r = std::get_if<WireBlockRemoved>(&ev)) {
      m = MediumOf(r->medium, &added);
    }
    if (!m.ok()) {
      ++stats_.bad_batches;
      return absl::InvalidArgumentError(
          absl::StrCat("events[", i, "]: ", m.status().message()));
    }
    media[i] = static_cast<uint8_t>(*m);
  }
  for (std::string& name : added) media_.push_back(std::move(name));
  for (size_t i = 0; i < batch.events.size(); ++i) {
    const WireEvent& ev = batch.events[i];
    if (const auto* s = std::get_if<WireBlockStored>(&ev)) {
      Store(instance, *s, media[i]);
    } else if (const auto* r = std::get_if<WireBlockRemoved>(&ev)) {
      Remove(instance, *r, media[i]);
    } else {
      DropInstance(instance);
    }
  }
  ++stats_.batches_applied;
  return absl::OkStatus();
}

void ClusterIndex::Store(InstanceId inst, const WireBlockStored& e,
                         uint8_t medium) {
  const size_t n = e.block_hashes.size();
  if (e.group_idx.value_or(0) != 0) {
    stats_.other_group_blocks += n;
    return;
  }
  Instance& in = instances_[inst];
  uint64_t parent;
  if (e.parent_block_hash.has_value()) {
    const Entry* found = nullptr;
    for (int m = 0; m < kMaxMedia && found == nullptr; ++m) {
      // The parent on this event's medium first, then on any other.
      const uint8_t mm = static_cast<uint8_t>((medium + m) % kMaxMedia);
      auto it = in.entries.find(std::make_pair(*e.parent_block_hash, mm));
      if (it != in.entries.end()) found = &it->second;
    }
    if (found == nullptr) {
      stats_.unresolved_blocks += n;
      return;
    }
    parent = found->key;
  } else {
    BlockHashExtras extras;
    extras.lora_id = static_cast<uint64_t>(e.lora_id.value_or(0));
    extras.cache_salt = e.cache_salt;
    parent = hasher_.RootKey(extras);
  }
  const size_t bs = static_cast<size_t>(config_.block_size);
  in.entries.reserve(in.entries.size() + n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t h = config_.block_hash_fn(e.token_ids.data() + i * bs, bs,
                                             config_.hash_seed);
    const uint64_t key = CombineBlockKey(parent, h);
    auto [it, inserted] = in.entries.try_emplace(
        std::make_pair(e.block_hashes[i], medium), Entry{key, 0});
    ++it->second.count;
    AddRef(it->second.key, inst, medium);
    parent = it->second.key;
  }
  stats_.blocks_stored += n;
}

void ClusterIndex::Remove(InstanceId inst, const WireBlockRemoved& e,
                          uint8_t medium) {
  if (e.group_idx.value_or(0) != 0) {
    stats_.other_group_blocks += e.block_hashes.size();
    return;
  }
  Instance& in = instances_[inst];
  for (uint64_t hash : e.block_hashes) {
    auto it = in.entries.find(std::make_pair(hash, medium));
    if (it == in.entries.end()) {
      ++stats_.unknown_removes;
      continue;
    }
    DropRef(it->second.key, inst, medium, 1);
    if (--it->second.count == 0) in.entries.erase(it);
    ++stats_.blocks_removed;
  }
}

void ClusterIndex::AddRef(uint64_t key, InstanceId inst, uint8_t medium) {
  Holders& h = holders_[key];
  h.mask[medium] |= uint64_t{1} << inst;
  for (Ref& r : h.refs) {
    if (r.instance == inst && r.medium == medium) {
      ++r.count;
      return;
    }
  }
  h.refs.push_back(Ref{static_cast<uint16_t>(inst), medium, 1});
}

void ClusterIndex::DropRef(uint64_t key, InstanceId inst, uint8_t medium,
                           uint32_t count) {
  auto it = holders_.find(key);
  if (it == holders_.end()) return;
  Holders& h = it->second;
  for (size_t i = 0; i < h.refs.size(); ++i) {
    Ref& r = h.refs[i];
    if (r.instance != inst || r.medium != medium) continue;
    r.count -= std::min(r.count, count);
    if (r.count == 0) {
      h.mask[medium] &= ~(uint64_t{1} << inst);
      h.refs.erase(h.refs.begin() + i);
    }
    break;
  }
  if (h.refs.empty()) holders_.erase(it);
}

std::vector<InstanceScore> ClusterIndex::Score(
    absl::Span<const TokenId> prompt, const BlockHashExtras& extras) const {
  std::vector<uint64_t> keys;
  keys.reserve(prompt.size() / config_.block_size);
  hasher_.ExtendKeys(prompt, extras, &keys);
  return ScoreKeys(keys);
}

std::vector<InstanceScore> ClusterIndex::ScoreKeys(
    absl::Span<const uint64_t> keys) const {
  const int num_media = static_cast<int>(media_.size());
  uint64_t all = 0;
  for (size_t i = 0; i < instances_.size(); ++i) {
    if (instances_[i].live) all |= uint64_t{1} << i;
  }
  // Instances whose run is still unbroken, on any medium and per medium; a
  // bit leaving a mask at block i ends that run at length i.
  uint64_t alive_any = all;
  uint64_t alive[kMaxMedia] = {all, all, all, all};
  int32_t len_any[kMaxInstances] = {};
  int32_t len[kMaxMedia][kMaxInstances] = {};
  auto settle = [](uint64_t dead, int32_t at, int32_t* out) {
    for (; dead != 0; dead &= dead - 1) out[std::countr_zero(dead)] = at;
  };
  constexpr size_t kAhead = 8;
  size_t i = 0;
  for (; i < keys.size(); ++i) {
    if (i + kAhead < keys.size()) holders_.prefetch(keys[i + kAhead]);
    auto it = holders_.find(keys[i]);
    uint64_t any = 0;
    const int32_t at = static_cast<int32_t>(i);
    for (int m = 0; m < num_media; ++m) {
      const uint64_t held = it == holders_.end() ? 0 : it->second.mask[m];
      settle(alive[m] & ~held, at, len[m]);
      alive[m] &= held;
      any |= held;
    }
    settle(alive_any & ~any, at, len_any);
    alive_any &= any;
    if (alive_any == 0) break;
  }
  const int32_t end = static_cast<int32_t>(i);
  settle(alive_any, end, len_any);
  for (int m = 0; m < num_media; ++m) settle(alive[m], end, len[m]);
  std::vector<InstanceScore> out;
  for (size_t k = 0; k < instances_.size(); ++k) {
    if (!instances_[k].live) continue;
    InstanceScore s;
    s.instance = static_cast<InstanceId>(k);
    s.blocks = len_any[k];
    for (int m = 0; m < num_media; ++m) s.blocks_by_medium.push_back(len[m][k]);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<uint64_t> ClusterIndex::Keys(InstanceId instance) const {
  std::vector<uint64_t> out;
  if (instance >= instances_.size()) return out;
  for (const auto& [hm, entry] : instances_[instance].entries) {
    out.push_back(entry.key);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

int64_t ClusterIndex::NumBlocks(InstanceId instance) const {
  if (instance >= instances_.size()) return 0;
  return static_cast<int64_t>(instances_[instance].entries.size());
}

std::vector<InstanceId> ClusterIndex::instances() const {
  std::vector<InstanceId> out;
  for (size_t i = 0; i < instances_.size(); ++i) {
    if (instances_[i].live) out.push_back(static_cast<InstanceId>(i));
  }
  return out;
}

const std::string& ClusterIndex::name(InstanceId instance) const {
  static const std::string kNone;
  return instance < instances_.size() ? instances_[instance].name : kNone;
}

absl::Status ClusterIndex::Verify() const {
  // Reference totals per (key, instance, medium) from the instances' side.
  absl::flat_hash_map<uint64_t, uint64_t> expected;  // key -> sum of counts
  for (size_t i = 0; i < instances_.size(); ++i) {
    for (const auto& [hm, entry] : instances_[i].entries) {
      if (entry.count == 0) {
        return absl::InternalError(absl::StrCat(
            "instance ", i, " keeps hash ", hm.first, " with no references"));
      }
      auto it = holders_.find(entry.key);
      if (it == holders_.end() ||
          (it->second.mask[hm.second] & (uint64_t{1} << i)) == 0) {
        return absl::InternalError(absl::StrCat(
            "key ", entry.key, " of instance ", i, " has no holder bit"));
      }
      expected[entry.key] += entry.count;
    }
  }
  for (const auto& [key, h] : holders_) {
    uint64_t total = 0;
    uint64_t mask[kMaxMedia] = {};
    for (const Ref& r : h.refs) {
      total += r.count;
      mask[r.medium] |= uint64_t{1} << r.instance;
    }
    if (h.refs.empty() || total != expected[key]) {
      return absl::InternalError(absl::StrCat("key ", key, ": holders count ",
                                              total, ", instances ",
                                              expected[key]));
    }
    for (int m = 0; m < kMaxMedia; ++m) {
      if (mask[m] != h.mask[m]) {
        return absl::InternalError(
            absl::StrCat("key ", key, ": medium ", m, " mask disagrees"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace pagekv::net
