// The table of eviction policies selectable by name.
#include <functional>

#include "absl/strings/str_join.h"
#include "core/eviction/arc_policy.h"
#include "core/eviction/leaf_lru_policy.h"
#include "core/eviction/lru_policy.h"
#include "core/eviction/priority_policy.h"
#include "core/eviction/s3fifo_policy.h"
#include "pagekv/eviction_policy.h"

namespace pagekv {
namespace {

struct PolicyEntry {
  const char* name;
  std::unique_ptr<EvictionPolicy> (*make)();
};

template <typename Policy>
std::unique_ptr<EvictionPolicy> Make() {
  return std::make_unique<Policy>();
}

constexpr PolicyEntry kPolicies[] = {
    {"lru", &Make<internal::LruPolicy>},
    {"leaf-lru", &Make<internal::LeafLruPolicy>},
    {"s3fifo", &Make<internal::S3FifoPolicy>},
    {"priority", &Make<internal::PriorityPolicy>},
    {"arc", &Make<internal::ArcPolicy>},
};

}  // namespace

absl::StatusOr<std::unique_ptr<EvictionPolicy>> MakeEvictionPolicy(
    std::string_view name) {
  for (const PolicyEntry& entry : kPolicies) {
    if (name == entry.name) return entry.make();
  }
  return absl::InvalidArgumentError(
      fmt::format("unknown eviction policy \"{}\"; known policies: {}", name,
                  absl::StrJoin(EvictionPolicyNames(), ", ")));
}

std::vector<std::string> EvictionPolicyNames() {
  std::vector<std::string> names;
  for (const PolicyEntry& entry : kPolicies) names.emplace_back(entry.name);
  return names;
}

}  // namespace pagekv
