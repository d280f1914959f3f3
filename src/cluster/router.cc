#include "pagekv/cluster/router.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/check.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace pagekv::cluster {
namespace {

constexpr char kRoundRobin[] = "round-robin";
constexpr char kRandom[] = "random";
constexpr char kLeastLoaded[] = "least-loaded";
constexpr char kPrefix[] = "prefix";
constexpr char kApproxPrefix[] = "approx-prefix";

// Among eligible instances, the one with the highest score; ties go to the
// fewest in-flight requests, then the lowest index (deterministic).
template <typename ScoreFn>
int32_t ArgMax(absl::Span<const InstanceLoad> loads,
               absl::Span<const bool> eligible, ScoreFn score) {
  int32_t best = -1;
  double best_score = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < loads.size(); ++i) {
    if (!eligible[i]) continue;
    const double s = score(i);
    if (best < 0 || s > best_score ||
        (s == best_score && loads[i].in_flight < loads[best].in_flight)) {
      best = static_cast<int32_t>(i);
      best_score = s;
    }
  }
  PAGEKV_CHECK(best >= 0, "no eligible instance among {}", loads.size());
  return best;
}

// The llm-d-style score of instance i holding `cached` of `total` blocks.
double LlmdScore(const RouterConfig& c, absl::Span<const InstanceLoad> loads,
                 size_t i, int32_t cached, size_t total) {
  const double fraction =
      total == 0 ? 0.0
                 : static_cast<double>(cached) / static_cast<double>(total);
  return c.w_prefix * fraction - c.w_load * LoadScore(loads, i);
}

class RoundRobinRouter final : public Router {
 public:
  int32_t Pick(const RouteQuery&, absl::Span<const InstanceLoad> loads,
               absl::Span<const bool> eligible) override {
    const auto n = static_cast<uint64_t>(loads.size());
    for (uint64_t j = 0; j < n; ++j) {
      const auto i = static_cast<size_t>((next_ + j) % n);
      if (eligible[i]) {
        next_ = next_ + j + 1;
        return static_cast<int32_t>(i);
      }
    }
    PAGEKV_CHECK(false, "no eligible instance among {}", n);
    return 0;
  }

 private:
  uint64_t next_ = 0;
};

class RandomRouter final : public Router {
 public:
  explicit RandomRouter(uint64_t seed) : state_(seed) {}
  int32_t Pick(const RouteQuery&, absl::Span<const InstanceLoad>,
               absl::Span<const bool> eligible) override {
    const auto count = static_cast<uint64_t>(
        std::count(eligible.begin(), eligible.end(), true));
    uint64_t k = Next() % count;
    for (size_t i = 0; i < eligible.size(); ++i) {
      if (eligible[i] && k-- == 0) return static_cast<int32_t>(i);
    }
    PAGEKV_CHECK(false, "no eligible instance among {}", eligible.size());
    return 0;
  }

 private:
  // splitmix64: the same stream on every platform.
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

class LeastLoadedRouter final : public Router {
 public:
  int32_t Pick(const RouteQuery&, absl::Span<const InstanceLoad> loads,
               absl::Span<const bool> eligible) override {
    return ArgMax(loads, eligible,
                  [&](size_t i) { return -LoadScore(loads, i); });
  }
};

class PrefixRouter final : public Router {
 public:
  explicit PrefixRouter(RouterConfig config) : config_(std::move(config)) {}
  int32_t Pick(const RouteQuery& q, absl::Span<const InstanceLoad> loads,
               absl::Span<const bool> eligible) override {
    PAGEKV_CHECK(q.cached_blocks.size() == loads.size(),
                 "prefix router: {} cached-block counts for {} instances",
                 q.cached_blocks.size(), loads.size());
    const size_t total = q.block_keys.size();
    if (config_.scorer == "cost") {
      // Dynamo's KV router: the cheapest instance, cost = prefill blocks
      // it would compute * scale + blocks its running requests hold.
      return ArgMax(loads, eligible, [&](size_t i) {
        const double uncovered =
            static_cast<double>(total) - q.cached_blocks[i];
        return -(uncovered * config_.prefill_scale +
                 static_cast<double>(loads[i].used_blocks));
      });
    }
    return ArgMax(loads, eligible, [&](size_t i) {
      return LlmdScore(config_, loads, i, q.cached_blocks[i], total);
    });
  }

 private:
  RouterConfig config_;
};

// Routing history: the blocks sent to each instance, oldest forgotten first
// once an instance's history exceeds its cache size.
class ApproxPrefixRouter final : public Router {
 public:
  ApproxPrefixRouter(RouterConfig config, absl::Span<const int64_t> capacity)
      : config_(std::move(config)),
        capacity_(capacity.begin(), capacity.end()),
        fifo_(capacity.size()),
        cached_(capacity.size()) {
    PAGEKV_CHECK(capacity.size() <= 64, "{} instances (at most 64)",
                 capacity.size());
  }

  int32_t Pick(const RouteQuery& q, absl::Span<const InstanceLoad> loads,
               absl::Span<const bool> eligible) override {
    std::fill(cached_.begin(), cached_.end(), 0);
    uint64_t alive = ~uint64_t{0};  // instances still matching the prefix
    for (uint64_t key : q.block_keys) {
      auto it = history_.find(key);
      alive &= it == history_.end() ? 0 : it->second;
      if (alive == 0) break;
      for (size_t i = 0; i < cached_.size(); ++i) {
        if ((alive >> i) & 1) ++cached_[i];
      }
    }
    const size_t total = q.block_keys.size();
    const int32_t pick = ArgMax(loads, eligible, [&](size_t i) {
      return LlmdScore(config_, loads, i, cached_[i], total);
    });
    Remember(pick, q.block_keys);
    return pick;
  }

 private:
  void Remember(int32_t inst, absl::Span<const uint64_t> keys) {
    const uint64_t bit = uint64_t{1} << inst;
    std::deque<uint64_t>& fifo = fifo_[static_cast<size_t>(inst)];
    for (uint64_t key : keys) {
      uint64_t& mask = history_[key];
      if (mask & bit) continue;
      mask |= bit;
      fifo.push_back(key);
    }
    while (static_cast<int64_t>(fifo.size()) >
           capacity_[static_cast<size_t>(inst)]) {
      auto it = history_.find(fifo.front());
      fifo.pop_front();
      it->second &= ~bit;
      if (it->second == 0) history_.erase(it);
    }
  }

  RouterConfig config_;
  std::vector<int64_t> capacity_;
  std::vector<std::deque<uint64_t>> fifo_;  // per instance, oldest first
  // key -> instances it was sent to; bit i set iff the key is in fifo_[i].
  absl::flat_hash_map<uint64_t, uint64_t> history_;
  std::vector<int32_t> cached_;  // scratch
};

}  // namespace

absl::Status RouterConfig::Validate() const {
  const std::vector<std::string> names = RouterNames();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    return absl::InvalidArgumentError(fmt::format(
        "unknown router '{}'; known: {}", name, fmt::join(names, ", ")));
  }
  if (scorer != "llm-d" && scorer != "cost") {
    return absl::InvalidArgumentError(fmt::format(
        "RouterConfig.scorer must be llm-d or cost, got '{}'", scorer));
  }
  for (auto [field, v] :
       {std::pair{"w_prefix", w_prefix}, std::pair{"w_load", w_load},
        std::pair{"prefill_scale", prefill_scale}}) {
    if (!(v >= 0) || !std::isfinite(v)) {
      return absl::InvalidArgumentError(fmt::format(
          "RouterConfig.{} must be a finite number >= 0, got {}", field, v));
    }
  }
  if (affinity_blocks < 0) {
    return absl::InvalidArgumentError(fmt::format(
        "RouterConfig.affinity_blocks must be >= 0, got {}", affinity_blocks));
  }
  if (!(load_bound == 0 || (load_bound >= 1 && std::isfinite(load_bound)))) {
    return absl::InvalidArgumentError(fmt::format(
        "RouterConfig.load_bound must be 0 (off) or a finite number >= 1, "
        "got {}",
        load_bound));
  }
  return absl::OkStatus();
}

std::vector<std::string> RouterNames() {
  return {kRoundRobin, kRandom, kLeastLoaded, kPrefix, kApproxPrefix};
}

bool RouterUsesClusterIndex(std::string_view name) { return name == kPrefix; }

double LoadScore(absl::Span<const InstanceLoad> loads, size_t i) {
  int32_t max_queued = 0;
  for (const InstanceLoad& l : loads)
    max_queued = std::max(max_queued, l.queued);
  const double queue =
      max_queued == 0 ? 0.0 : static_cast<double>(loads[i].queued) / max_queued;
  return (queue + loads[i].kv_usage) / 2;
}

absl::StatusOr<std::unique_ptr<Router>> MakeRouter(
    const RouterConfig& config, int32_t num_instances,
    absl::Span<const int64_t> capacity_blocks) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  if (num_instances < 1 || num_instances > 64 ||
      capacity_blocks.size() != static_cast<size_t>(num_instances)) {
    return absl::InvalidArgumentError(fmt::format(
        "a router needs 1..64 instances with a capacity each, got {} and {} "
        "capacities",
        num_instances, capacity_blocks.size()));
  }
  if (config.name == kRoundRobin) return std::make_unique<RoundRobinRouter>();
  if (config.name == kRandom)
    return std::make_unique<RandomRouter>(config.seed);
  if (config.name == kLeastLoaded) {
    return std::make_unique<LeastLoadedRouter>();
  }
  if (config.name == kPrefix) return std::make_unique<PrefixRouter>(config);
  return std::make_unique<ApproxPrefixRouter>(config, capacity_blocks);
}

absl::StatusOr<std::unique_ptr<RoutingPolicy>> RoutingPolicy::Create(
    const RouterConfig& config, int32_t num_instances,
    absl::Span<const int64_t> capacity_blocks) {
  absl::StatusOr<std::unique_ptr<Router>> router =
      MakeRouter(config, num_instances, capacity_blocks);
  if (!router.ok()) return router.status();
  return std::unique_ptr<RoutingPolicy>(
      new RoutingPolicy(config, *std::move(router), num_instances));
}

RoutingPolicy::RoutingPolicy(RouterConfig config,
                             std::unique_ptr<Router> router,
                             int32_t num_instances)
    : config_(std::move(config)),
      router_(std::move(router)),
      eligible_(static_cast<size_t>(num_instances)) {}

int32_t RoutingPolicy::Eligible(absl::Span<const InstanceLoad> loads) {
  std::fill(eligible_.begin(), eligible_.end(), true);
  if (config_.load_bound == 0) return static_cast<int32_t>(loads.size());
  double total = 0;
  for (const InstanceLoad& l : loads) total += l.in_flight;
  // After this request: mean = (total + 1) / n; the +1 slack lets a cold
  // cluster take its first requests anywhere.
  const double cap =
      config_.load_bound * (total + 1) / static_cast<double>(loads.size()) + 1;
  int32_t count = 0;
  for (size_t i = 0; i < loads.size(); ++i) {
    eligible_[i] = loads[i].in_flight + 1 <= cap;
    count += eligible_[i] ? 1 : 0;
  }
  if (count == 0) {  // cannot happen (the least loaded is under the mean)
    std::fill(eligible_.begin(), eligible_.end(), true);
    count = static_cast<int32_t>(loads.size());
  }
  return count;
}

int32_t RoutingPolicy::Route(const RouteQuery& query,
                             absl::Span<const InstanceLoad> loads) {
  const int32_t count = Eligible(loads);
  const bool guarded = count < static_cast<int32_t>(loads.size());
  const auto depth = static_cast<size_t>(config_.affinity_blocks);
  const bool sticky = depth > 0 && query.block_keys.size() >= depth;
  const uint64_t session = sticky ? query.block_keys[depth - 1] : 0;
  if (sticky) {
    auto it = sessions_.find(session);
    if (it != sessions_.end()) {
      if (eligible_[static_cast<size_t>(it->second)]) {
        ++affinity_hits_;
        return it->second;
      }
      ++affinity_breaks_;
    }
  }
  const int32_t pick =
      router_->Pick(query, loads, absl::MakeConstSpan(eligible_));
  if (guarded) ++guarded_;
  if (sticky) sessions_[session] = pick;
  return pick;
}

}  // namespace pagekv::cluster
