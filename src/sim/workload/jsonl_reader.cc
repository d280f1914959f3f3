// pagekv JSONL (docs/workload-formats.md): one request per line, either
//   {"arrival_s": 0.5, "prompt_tokens": [1, 2, 3], "output_length": 8}
// or
//   {"arrival_s": 0.5, "prompt_length": 900, "shared_prefix_id": 7,
//    "shared_prefix_length": 600, "output_length": 8}
// with optional "priority" (0-100) and "salt" (a string). Unknown and
// duplicate fields are errors.
#include <cstdint>
#include <limits>
#include <string_view>

#include "sim/workload/json_line.h"
#include "sim/workload/readers.h"
#define XXH_INLINE_ALL
#include "xxhash.h"

namespace pagekv::internal {
namespace {

constexpr int64_t kMaxLength = std::numeric_limits<int32_t>::max();
constexpr uint64_t kSharedNamespace = 0x736861726564706bULL;  // "sharedpk"
constexpr uint64_t kUniqueNamespace = 0x756e69717565706bULL;  // "uniquepk"

enum Field : size_t {
  kArrival,
  kPromptTokens,
  kPromptLength,
  kSharedPrefixId,
  kSharedPrefixLength,
  kOutputLength,
  kPriority,
  kSalt,
};
constexpr std::string_view kFieldNames[] = {"arrival_s",
                                            "prompt_tokens",
                                            "prompt_length",
                                            "shared_prefix_id",
                                            "shared_prefix_length",
                                            "output_length",
                                            "priority",
                                            "salt"};

// Fills the prompt of `r` from the parsed line. Returns an error without
// the "file:line:" prefix.
absl::Status FillPrompt(const JsonLineParser& p, Request& r) {
  const bool has_tokens = p.field(kPromptTokens).present;
  const bool has_length = p.field(kPromptLength).present;
  const bool has_id = p.field(kSharedPrefixId).present;
  const bool has_shared_len = p.field(kSharedPrefixLength).present;
  if (has_tokens == has_length) {
    return absl::InvalidArgumentError(
        "expected exactly one of the fields \"prompt_tokens\" and "
        "\"prompt_length\"");
  }
  if (has_tokens) {
    if (has_id || has_shared_len) {
      return absl::InvalidArgumentError(
          "\"shared_prefix_id\" and \"shared_prefix_length\" go with "
          "\"prompt_length\", not \"prompt_tokens\"");
    }
    absl::StatusOr<absl::Span<const int64_t>> tokens =
        p.IntArray(kPromptTokens, 0, std::numeric_limits<TokenId>::max());
    if (!tokens.ok()) return tokens.status();
    if (tokens->empty()) {
      return p.FieldError(kPromptTokens, "expected at least one token");
    }
    if (static_cast<int64_t>(tokens->size()) > kMaxLength) {
      return p.FieldError(kPromptTokens, "more than 2^31 - 1 tokens");
    }
    r.tokens.assign(tokens->begin(), tokens->end());
    return absl::OkStatus();
  }
  absl::StatusOr<int64_t> length = p.Int(kPromptLength, 1, kMaxLength);
  if (!length.ok()) return length.status();
  if (has_id != has_shared_len) {
    return absl::InvalidArgumentError(
        "\"shared_prefix_id\" and \"shared_prefix_length\" must be given "
        "together");
  }
  int64_t shared = 0;
  if (has_id) {
    absl::StatusOr<uint64_t> id = p.UInt64(kSharedPrefixId);
    if (!id.ok()) return id.status();
    absl::StatusOr<int64_t> shared_len = p.Int(kSharedPrefixLength, 1, *length);
    if (!shared_len.ok()) return shared_len.status();
    shared = *shared_len;
    r.segments.push_back({NamespacedContentId(kSharedNamespace, *id),
                          static_cast<int32_t>(shared)});
  }
  if (*length > shared) {
    r.segments.push_back({NamespacedContentId(kUniqueNamespace, r.id),
                          static_cast<int32_t>(*length - shared)});
  }
  return absl::OkStatus();
}

// Fills everything but the prompt.
absl::Status FillScalars(const JsonLineParser& p, Request& r) {
  absl::StatusOr<double> arrival = p.Number(kArrival, 0);
  if (!arrival.ok()) return arrival.status();
  r.arrival_s = *arrival;
  absl::StatusOr<int64_t> output = p.Int(kOutputLength, 1, kMaxLength);
  if (!output.ok()) return output.status();
  r.output_tokens = static_cast<int32_t>(*output);
  if (p.field(kPriority).present) {
    absl::StatusOr<int64_t> priority =
        p.Int(kPriority, kMinPriority, kMaxPriority);
    if (!priority.ok()) return priority.status();
    r.priority = static_cast<int32_t>(*priority);
  }
  if (p.field(kSalt).present) {
    absl::StatusOr<std::string_view> salt = p.String(kSalt);
    if (!salt.ok()) return salt.status();
    if (!salt->empty()) {
      const uint64_t h = XXH3_64bits(salt->data(), salt->size());
      r.cache_salt = h == 0 ? 1 : h;  // 0 means "no salt"
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Workload> ParsePagekvJsonl(std::string_view contents,
                                          std::string_view source) {
  Workload workload;
  workload.name = WorkloadNameFromPath(source);
  JsonLineParser parser(kFieldNames, /*reject_unknown=*/true);
  double previous_arrival = 0;
  absl::Status status =
      ForEachJsonLine(contents, source, parser, [&]() -> absl::Status {
        Request r;
        r.id = workload.requests.size();
        if (absl::Status s = FillScalars(parser, r); !s.ok()) {
          return s;
        }
        if (absl::Status s = FillPrompt(parser, r); !s.ok()) {
          return s;
        }
        if (r.arrival_s < previous_arrival) {
          return parser.FieldError(
              kArrival, fmt::format("{} is earlier than the previous "
                                    "request's {}; sort the trace",
                                    r.arrival_s, previous_arrival));
        }
        previous_arrival = r.arrival_s;
        workload.requests.push_back(std::move(r));
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return workload;
}

}  // namespace pagekv::internal
