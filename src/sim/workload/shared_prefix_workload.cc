#include "pagekv/sim/shared_prefix_workload.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "sim/workload/readers.h"

namespace pagekv {
namespace {

using internal::NamespacedContentId;

// Namespaces of the content ids: group prefixes and questions.
constexpr uint64_t kPrefixNs = 0x5368617265645046ULL;    // "SharedPF"
constexpr uint64_t kQuestionNs = 0x5368617265645155ULL;  // "SharedQU"
constexpr int64_t kMaxRequests = 10'000'000;

// Uniform in [0, 1) from the raw bits of mt19937_64 (fixed by the standard).
double Uniform(std::mt19937_64& g) {
  return static_cast<double>(g() >> 11) * 0x1.0p-53;
}

}  // namespace

int64_t SharedPrefixOptions::num_requests() const {
  return int64_t{num_groups} * users_per_group * questions_per_user;
}

absl::Status SharedPrefixOptions::Validate() const {
  for (auto [field, v] :
       {std::pair{"num_groups", num_groups},
        std::pair{"shared_prefix_tokens", shared_prefix_tokens},
        std::pair{"users_per_group", users_per_group},
        std::pair{"questions_per_user", questions_per_user},
        std::pair{"question_tokens", question_tokens},
        std::pair{"output_tokens", output_tokens}}) {
    if (v < 1) {
      return absl::InvalidArgumentError(
          fmt::format("SharedPrefixOptions.{} must be >= 1, got {}", field, v));
    }
  }
  if (!(rate_per_s > 0) || !std::isfinite(rate_per_s)) {
    return absl::InvalidArgumentError(fmt::format(
        "SharedPrefixOptions.rate_per_s must be a finite number > 0, got {}",
        rate_per_s));
  }
  if (!(ramp_start_rate_per_s >= 0) || !std::isfinite(ramp_start_rate_per_s)) {
    return absl::InvalidArgumentError(fmt::format(
        "SharedPrefixOptions.ramp_start_rate_per_s must be a finite number "
        ">= 0, got {}",
        ramp_start_rate_per_s));
  }
  if (num_requests() > kMaxRequests) {
    return absl::InvalidArgumentError(fmt::format(
        "SharedPrefixOptions: groups x users x questions = {} requests, more "
        "than {}",
        num_requests(), kMaxRequests));
  }
  return absl::OkStatus();
}

absl::StatusOr<Workload> MakeSharedPrefixWorkload(
    const SharedPrefixOptions& o) {
  if (absl::Status s = o.Validate(); !s.ok()) return s;
  // Every (group, user, question) once, then a seeded Fisher-Yates shuffle
  // (on raw engine bits, not std::shuffle, whose draws differ by library).
  const int64_t n = o.num_requests();
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  std::mt19937_64 g(o.seed);
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(g() % static_cast<uint64_t>(i + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  Workload w;
  w.name = "shared-prefix";
  w.requests.resize(static_cast<size_t>(n));
  double t = 0;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t item = order[static_cast<size_t>(k)];
    const int64_t group =
        item / (int64_t{o.users_per_group} * o.questions_per_user);
    Request& r = w.requests[static_cast<size_t>(k)];
    r.id = static_cast<uint64_t>(k);
    double rate = o.rate_per_s;
    if (o.ramp_start_rate_per_s > 0 && n > 1) {
      const double f = static_cast<double>(k) / static_cast<double>(n - 1);
      rate = o.ramp_start_rate_per_s +
             (o.rate_per_s - o.ramp_start_rate_per_s) * f;
    }
    if (k > 0) t += -std::log1p(-Uniform(g)) / rate;
    r.arrival_s = t;
    r.output_tokens = o.output_tokens;
    r.segments.push_back(
        {NamespacedContentId(kPrefixNs, static_cast<uint64_t>(group)),
         o.shared_prefix_tokens});
    r.segments.push_back(
        {NamespacedContentId(kQuestionNs, static_cast<uint64_t>(item)),
         o.question_tokens});
  }
  return w;
}

}  // namespace pagekv
