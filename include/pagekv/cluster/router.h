// Routers: which instance of a simulated cluster serves an arriving request.
//
// A router sees, for every instance, its load (InstanceLoad) and, for the
// prefix-aware ones, how much of the prompt the instance is believed to hold:
//
//   round-robin    instance (k mod N) for the k-th request.
//   random         uniform, from a seeded generator.
//   least-loaded   the lowest load, load = (queue share + KV usage) / 2,
//                  queue share = queued requests / the most queued on any
//                  instance (a load-only router, as llm-d's queue and
//                  KV-utilization scorers together).
//   prefix         precise: the longest cached prefix on each instance from
//                  the cluster index (net/cluster_index.h) fed by the
//                  instances' KV events, possibly delayed. Scorer "llm-d":
//                  max w_prefix * cached fraction - w_load * load; scorer
//                  "cost" (Dynamo's KV router): min uncovered prefill
//                  blocks * prefill_scale + decode blocks (blocks in use).
//   approx-prefix  the same llm-d score, but "cached" means "this router
//                  sent these blocks there" (routing history, no events),
//                  each instance's history bounded by its cache size.
//
// Two guards wrap every router (RouterConfig): session affinity (requests
// whose first `affinity_blocks` blocks are equal stick to one instance) and
// bounded load (an instance whose in-flight requests exceed load_bound times
// the mean, plus one, is skipped, as consistent hashing with bounded loads).
//
// Thread-safety: not thread-safe; one cluster simulation drives a router.
#ifndef PAGEKV_CLUSTER_ROUTER_H_
#define PAGEKV_CLUSTER_ROUTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace pagekv::cluster {

// An instance's state as a router sees it when a request arrives.
struct InstanceLoad {
  int32_t running = 0;      // admitted, unfinished
  int32_t queued = 0;       // routed, not admitted yet (waiting or in transit)
  int32_t in_flight = 0;    // routed, not finished or rejected
  double kv_usage = 0;      // allocated slots / capacity, in [0, 1]
  int64_t used_blocks = 0;  // pool blocks held by live requests
  int64_t capacity_blocks = 0;  // pool blocks (>= 1)
};

// The request being routed: its prompt as the keys of its full blocks (the
// cluster index's hasher) and, for the prefix router, the blocks each
// instance holds of it.
struct RouteQuery {
  uint64_t request_id = 0;
  absl::Span<const uint64_t> block_keys;
  // Per instance: leading blocks of block_keys cached there (prefix router:
  // from the cluster index; empty for the other routers).
  absl::Span<const int32_t> cached_blocks;
  double now_s = 0;
};

struct RouterConfig {
  // round-robin | random | least-loaded | prefix | approx-prefix.
  std::string name = "round-robin";
  uint64_t seed = 1;  // random
  // prefix: "llm-d" or "cost" (see the top of the file).
  std::string scorer = "llm-d";
  double w_prefix = 3;       // >= 0
  double w_load = 2;         // >= 0
  double prefill_scale = 1;  // cost scorer, >= 0
  // Session affinity over the first affinity_blocks blocks; 0 = off.
  int32_t affinity_blocks = 0;  // >= 0
  // Bounded load: skip an instance with in_flight > load_bound * mean + 1;
  // 0 = off, otherwise >= 1.
  double load_bound = 0;

  // OK, or InvalidArgument naming the bad field and value.
  absl::Status Validate() const;
};

// Returns the router names above, in that order.
std::vector<std::string> RouterNames();

// Whether the router named `name` wants RouteQuery::cached_blocks.
bool RouterUsesClusterIndex(std::string_view name);

class Router {
 public:
  virtual ~Router() = default;
  // Returns the instance for `query`, an index into `loads`, among the
  // instances with eligible[i] true. REQUIRES: loads.size() ==
  // eligible.size() == the instance count; at least one eligible; for
  // prefix, query.cached_blocks.size() == loads.size().
  virtual int32_t Pick(const RouteQuery& query,
                       absl::Span<const InstanceLoad> loads,
                       absl::Span<const bool> eligible) = 0;
};

// The load of one instance relative to the others, in [0, 1]: the mean of
// its queue share (queued / max queued; 0 when none is queued) and its KV
// usage. REQUIRES: i < loads.size().
double LoadScore(absl::Span<const InstanceLoad> loads, size_t i);

// A router by config.name for `num_instances` instances.
// `capacity_blocks[i]` bounds approx-prefix's history of instance i.
// InvalidArgument for an unknown name or bad config (listing the names).
absl::StatusOr<std::unique_ptr<Router>> MakeRouter(
    const RouterConfig& config, int32_t num_instances,
    absl::Span<const int64_t> capacity_blocks);

// Session affinity and bounded load around a router (see the top of the
// file). Route() decides and remembers; it is what the simulator calls.
class RoutingPolicy {
 public:
  static absl::StatusOr<std::unique_ptr<RoutingPolicy>> Create(
      const RouterConfig& config, int32_t num_instances,
      absl::Span<const int64_t> capacity_blocks);

  // Returns the instance for `query`. REQUIRES: loads.size() == the
  // instance count.
  int32_t Route(const RouteQuery& query, absl::Span<const InstanceLoad> loads);

  // Requests sent to their session's instance by affinity; requests whose
  // session instance the bounded-load guard excluded (routed afresh); and
  // decisions taken while the guard excluded at least one instance.
  int64_t affinity_hits() const { return affinity_hits_; }
  int64_t affinity_breaks() const { return affinity_breaks_; }
  int64_t guarded_decisions() const { return guarded_; }

 private:
  RoutingPolicy(RouterConfig config, std::unique_ptr<Router> router,
                int32_t num_instances);
  // Marks the instances the bounded-load guard allows; returns how many.
  int32_t Eligible(absl::Span<const InstanceLoad> loads);

  RouterConfig config_;
  std::unique_ptr<Router> router_;
  absl::InlinedVector<bool, 16> eligible_;  // scratch, one per instance
  // Session key (the affinity_blocks-th block key) -> instance.
  absl::flat_hash_map<uint64_t, int32_t> sessions_;
  int64_t affinity_hits_ = 0;
  int64_t affinity_breaks_ = 0;
  int64_t guarded_ = 0;
};

}  // namespace pagekv::cluster

#endif  // PAGEKV_CLUSTER_ROUTER_H_
