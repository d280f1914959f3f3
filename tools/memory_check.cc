#include "memory_check.h"

#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "cli_util.h"
#include "fmt/format.h"

namespace pagekv::tools {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string Gib(uint64_t bytes) {
  return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / kGiB);
}

}  // namespace

uint64_t MemoryEstimate::Total() const {
  uint64_t total = 0;
  for (const auto& [what, bytes] : parts) total += bytes;
  return total;
}

std::string MemoryEstimate::Describe() const {
  std::string text = Gib(Total()) + " (";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) text += ", ";
    text += parts[i].first + " " + Gib(parts[i].second);
  }
  return text + ")";
}

uint64_t WorkloadBytes(const Workload& workload) {
  uint64_t bytes = workload.requests.capacity() * sizeof(Request);
  for (const Request& r : workload.requests) {
    bytes += r.segments.capacity() * sizeof(PromptSegment) +
             r.tokens.capacity() * sizeof(TokenId);
  }
  return bytes;
}

std::optional<uint64_t> AvailableMemoryBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  uint64_t value = 0;
  while (meminfo >> key >> value >> unit) {
    if (key == "MemAvailable:") return value * 1024;  // the unit is kB
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<uint64_t>> ParseMaxMemoryFlag(
    const std::string& text) {
  if (text.empty()) return std::optional<uint64_t>();
  absl::StatusOr<double> gib = ParsePositiveFlag("--max-memory-gib", text);
  if (!gib.ok()) return gib.status();
  return std::optional<uint64_t>(static_cast<uint64_t>(*gib * kGiB));
}

absl::Status CheckMemory(const MemoryEstimate& estimate,
                         std::optional<uint64_t> max_bytes,
                         std::optional<uint64_t> available) {
  const uint64_t total = estimate.Total();
  std::string limit;
  if (max_bytes.has_value() && total > *max_bytes) {
    limit = fmt::format("--max-memory-gib allows {}", Gib(*max_bytes));
  } else if (available.has_value() && total > *available) {
    limit = fmt::format("the machine has {} available", Gib(*available));
  } else {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      fmt::format("this run needs an estimated {}, but {}; {}",
                  estimate.Describe(), limit, estimate.advice));
}

}  // namespace pagekv::tools
