#include "simulate_flags.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fmt/format.h"

namespace pagekv::tools {

absl::StatusOr<std::vector<AllocatorKind>> ParseAllocatorList(
    const std::string& name) {
  if (name == "all") {
    return std::vector<AllocatorKind>{AllocatorKind::kPaged,
                                      AllocatorKind::kMax, AllocatorKind::kPow2,
                                      AllocatorKind::kOracle};
  }
  if (name == "paper") {
    return std::vector<AllocatorKind>{
        AllocatorKind::kPaged, AllocatorKind::kOrcaMax,
        AllocatorKind::kOrcaPow2, AllocatorKind::kOrcaOracle};
  }
  absl::StatusOr<AllocatorKind> kind = ParseAllocatorKind(name);
  if (!kind.ok()) {
    return absl::InvalidArgumentError(fmt::format(
        "{} (or all, paper)", std::string(kind.status().message())));
  }
  return std::vector<AllocatorKind>{*kind};
}

void AddSimulateFlags(CLI::App* /*sim*/, SimulateFlags* /*flags*/) {}

absl::Status ApplySimulateFlags(const SimulateFlags& /*flags*/,
                                SimulatorConfig* /*config*/) {
  return absl::OkStatus();
}

}  // namespace pagekv::tools
