#include "tier_flags.h"

#include <cmath>
#include <cstdint>

#include "absl/strings/numbers.h"
#include "fmt/format.h"
#include "fmt/ostream.h"
#include "pagekv/eviction_policy.h"

namespace pagekv::tools {

void AddTierFlags(CLI::App* sim, TierFlags* flags) {
  const std::string group = "KV tiers";
  sim->add_option("--host-memory-gib", flags->host_memory_gib,
                  "Host tier under the GPU pool: GiB of host memory per "
                  "device for KV blocks (default: none)")
      ->group(group);
  sim->add_option("--host-policy", flags->host_policy,
                  "Eviction policy of the host tier: lru (default), arc, "
                  "s3fifo, leaf-lru, priority")
      ->group(group);
  sim->add_option("--store-policy", flags->store_policy,
                  "write-through (default: store every full block), "
                  "write-through-selective (on its k-th hit) or write-back "
                  "(when the GPU evicts it)")
      ->group(group);
  sim->add_option("--store-hit-threshold", flags->store_hit_threshold,
                  "write-through-selective: store on the k-th hit (default 2)")
      ->group(group);
  sim->add_option("--admission-min-lookups", flags->admission_min_lookups,
                  "Store only keys looked up at least k times (default 0: "
                  "off)")
      ->group(group);
}

namespace {

absl::Status IntFlag(const char* flag, const std::string& text, int64_t min,
                     int64_t max, int32_t* out) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v < min || v > max) {
    return absl::InvalidArgumentError(fmt::format(
        "{} must be an integer in [{}, {}], got '{}'", flag, min, max, text));
  }
  *out = static_cast<int32_t>(v);
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyTierFlags(const TierFlags& flags, SimulatorConfig* config) {
  HostTierConfig& tier = config->host_tier;
  if (flags.host_memory_gib.empty()) {
    for (const std::string* f :
         {&flags.host_policy, &flags.store_policy, &flags.store_hit_threshold,
          &flags.admission_min_lookups}) {
      if (!f->empty()) {
        return absl::InvalidArgumentError(
            "--host-policy, --store-policy, --store-hit-threshold and "
            "--admission-min-lookups need --host-memory-gib");
      }
    }
    return absl::OkStatus();
  }
  double gib = 0;
  if (!absl::SimpleAtod(flags.host_memory_gib, &gib) || !(gib > 0) ||
      !std::isfinite(gib) || gib > 1e6) {
    return absl::InvalidArgumentError(
        fmt::format("--host-memory-gib must be a number in (0, 1e6], got '{}'",
                    flags.host_memory_gib));
  }
  tier.capacity_bytes = static_cast<uint64_t>(gib * 1024 * 1024 * 1024);
  if (!flags.host_policy.empty()) {
    if (auto p = MakeEvictionPolicy(flags.host_policy); !p.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("--host-policy: {}", std::string(p.status().message())));
    }
    tier.eviction_policy = flags.host_policy;
  }
  if (!flags.store_policy.empty()) {
    absl::StatusOr<StorePolicy> p = ParseStorePolicy(flags.store_policy);
    if (!p.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("--store-policy: {}", std::string(p.status().message())));
    }
    tier.store_policy = *p;
  }
  if (!flags.store_hit_threshold.empty()) {
    if (absl::Status s =
            IntFlag("--store-hit-threshold", flags.store_hit_threshold, 1, 255,
                    &tier.store_hit_threshold);
        !s.ok()) {
      return s;
    }
  }
  if (!flags.admission_min_lookups.empty()) {
    if (absl::Status s =
            IntFlag("--admission-min-lookups", flags.admission_min_lookups, 0,
                    255, &tier.admission_min_lookups);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

void PrintTierSummary(const SimulationReport& with,
                      const SimulationReport& without, std::ostream& out) {
  const TierReport& t = with.tier;
  constexpr double kGiB = 1024.0 * 1024 * 1024;
  fmt::print(
      out, "\nKV tiers (host tier of {} blocks, {:.2f} GiB)\n",
      t.host.capacity_blocks,
      static_cast<double>(t.host.capacity_blocks * t.host.block_bytes) / kGiB);
  fmt::print(out,
             "  prompt tokens hit: GPU {:.4f}, host {:.4f}, total {:.4f} "
             "(without the tier: {:.4f})\n",
             t.gpu_hit_rate, t.host_hit_rate, t.gpu_hit_rate + t.host_hit_rate,
             without.prefix_hit_rate);
  fmt::print(out,
             "  host hits: {} tokens, {} loaded, {} recomputed (cheaper than "
             "the load)\n",
             t.host_hit_tokens, t.loaded_host_tokens, t.recomputed_host_tokens);
  fmt::print(out,
             "  moved: {:.3f} GiB loaded, {:.3f} GiB stored ({} blocks); host "
             "evictions {}, stores dropped {}, filtered {}\n",
             t.bytes_loaded / kGiB, t.bytes_stored / kGiB, t.stored_blocks,
             t.host.evictions, t.host.stores_dropped, t.host.stores_filtered);
  fmt::print(out,
             "  time: {:.3f} s waiting for loads, stores kept the link busy "
             "{:.3f} s and added {:.3f} s to steps (write-through overhead, "
             "{:.2f}% of busy time)\n",
             t.load_s, t.store_link_s, t.store_overhead_s,
             with.busy_s > 0 ? 100 * t.store_overhead_s / with.busy_s : 0.0);
  fmt::print(out,
             "  TTFT mean {:.4f} s, p50 {:.4f} s, p99 {:.4f} s; without the "
             "tier {:.4f} / {:.4f} / {:.4f} s\n",
             with.ttft.mean, with.ttft.p50, with.ttft.p99, without.ttft.mean,
             without.ttft.p50, without.ttft.p99);
  fmt::print(out, "  TPOT mean {:.5f} s (without the tier {:.5f} s)\n",
             with.tpot.mean, without.tpot.mean);
}

}  // namespace pagekv::tools
