#include "cluster/event_feed.h"

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"

namespace pagekv::cluster::internal {
namespace {

struct ToWire {
  net::WireEvent operator()(const BlockStoredEvent& e) const {
    net::WireBlockStored w;
    w.block_hashes = e.block_keys;
    w.parent_block_hash = e.parent_key;
    w.token_ids = e.token_ids;
    w.block_size = e.block_size;
    if (e.lora_id != 0) w.lora_id = static_cast<int64_t>(e.lora_id);
    w.cache_salt = e.cache_salt;
    w.group_idx = static_cast<int64_t>(e.group.value());
    return w;
  }
  net::WireEvent operator()(const BlockRemovedEvent& e) const {
    net::WireBlockRemoved w;
    w.block_hashes = e.block_keys;
    w.group_idx = static_cast<int64_t>(e.group.value());
    return w;
  }
  net::WireEvent operator()(const AllBlocksClearedEvent&) const {
    return net::WireAllBlocksCleared{};
  }
};

}  // namespace

net::WireBatch ToWireBatch(double ts, absl::Span<const KVEvent> events) {
  net::WireBatch batch;
  batch.ts = ts;
  batch.events.reserve(events.size());
  for (const KVEvent& e : events)
    batch.events.push_back(std::visit(ToWire{}, e));
  return batch;
}

absl::StatusOr<std::unique_ptr<EventFeed>> EventFeed::Create(
    int32_t num_instances, int32_t block_size, uint64_t hash_seed,
    double delay_s) {
  net::ClusterIndexConfig config;
  config.block_size = block_size;
  config.hash_seed = hash_seed;
  absl::StatusOr<std::unique_ptr<net::ClusterIndex>> index =
      net::ClusterIndex::Create(config);
  if (!index.ok()) return index.status();
  std::vector<net::InstanceId> ids;
  for (int32_t i = 0; i < num_instances; ++i) {
    absl::StatusOr<net::InstanceId> id = (*index)->AddInstance(absl::StrCat(i));
    if (!id.ok()) return id.status();
    ids.push_back(*id);
  }
  return std::unique_ptr<EventFeed>(
      new EventFeed(*std::move(index), std::move(ids), delay_s));
}

EventFeed::EventFeed(std::unique_ptr<net::ClusterIndex> index,
                     std::vector<net::InstanceId> ids, double delay_s)
    : index_(std::move(index)), ids_(std::move(ids)), delay_s_(delay_s) {}

void EventFeed::Push(int32_t instance, double now_s,
                     std::vector<KVEvent> events) {
  if (events.empty()) return;
  pending_.emplace(now_s + delay_s_,
                   Pending{instance, ToWireBatch(now_s, events)});
}

absl::Status EventFeed::DeliverUntil(double now_s) {
  while (!pending_.empty() && pending_.begin()->first <= now_s) {
    const Pending& p = pending_.begin()->second;
    absl::Status s =
        index_->Apply(ids_[static_cast<size_t>(p.instance)], p.batch);
    pending_.erase(pending_.begin());
    if (!s.ok()) {
      return absl::InternalError(
          absl::StrCat("cluster index rejected a batch: ", s.message()));
    }
  }
  return absl::OkStatus();
}

void EventFeed::Score(absl::Span<const uint64_t> keys,
                      std::vector<int32_t>* out) const {
  out->assign(ids_.size(), 0);
  for (const net::InstanceScore& s : index_->ScoreKeys(keys)) {
    for (size_t i = 0; i < ids_.size(); ++i) {
      if (ids_[i] == s.instance) (*out)[i] = s.blocks;
    }
  }
}

}  // namespace pagekv::cluster::internal
