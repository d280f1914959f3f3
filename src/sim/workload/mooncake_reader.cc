// Mooncake JSONL: {"timestamp": ms, "input_length": N, "output_length": N,
// "hash_ids": [...]} per line. hash_ids are chained prefix-block ids, one per
// 512-token block: equal id at equal position = the same prefix block. Each
// id becomes a 512-token segment with that content id (the last segment
// holds the remainder), so equal ids synthesize equal tokens.
#include <cstdint>
#include <limits>
#include <string_view>

#include "sim/workload/json_line.h"
#include "sim/workload/readers.h"

namespace pagekv::internal {
namespace {

constexpr int64_t kMooncakeBlockTokens = 512;
constexpr int64_t kMaxLength = std::numeric_limits<int32_t>::max();

enum Field : size_t { kTimestamp, kInputLength, kOutputLength, kHashIds };
constexpr std::string_view kFieldNames[] = {"timestamp", "input_length",
                                            "output_length", "hash_ids"};

}  // namespace

absl::StatusOr<Workload> ParseMooncake(std::string_view contents,
                                       std::string_view source) {
  Workload workload;
  workload.name = WorkloadNameFromPath(source);
  // Other Mooncake traces add fields; unknown ones are skipped.
  JsonLineParser parser(kFieldNames, /*reject_unknown=*/false);
  double previous_ms = 0;
  absl::Status status =
      ForEachJsonLine(contents, source, parser, [&]() -> absl::Status {
        absl::StatusOr<double> timestamp_ms = parser.Number(kTimestamp, 0);
        if (!timestamp_ms.ok()) return timestamp_ms.status();
        absl::StatusOr<int64_t> input = parser.Int(kInputLength, 1, kMaxLength);
        if (!input.ok()) return input.status();
        absl::StatusOr<int64_t> output =
            parser.Int(kOutputLength, 0, kMaxLength);
        if (!output.ok()) return output.status();
        absl::StatusOr<absl::Span<const int64_t>> hash_ids =
            parser.IntArray(kHashIds, 0, std::numeric_limits<int64_t>::max());
        if (!hash_ids.ok()) return hash_ids.status();

        const int64_t blocks =
            (*input + kMooncakeBlockTokens - 1) / kMooncakeBlockTokens;
        if (static_cast<int64_t>(hash_ids->size()) != blocks) {
          return parser.FieldError(
              kHashIds,
              fmt::format("has {} ids, expected ceil(input_length / {}) = {}",
                          hash_ids->size(), kMooncakeBlockTokens, blocks));
        }
        if (*timestamp_ms < previous_ms) {
          return parser.FieldError(
              kTimestamp,
              fmt::format("{} ms is earlier than the previous request's {} "
                          "ms; sort the trace by timestamp",
                          *timestamp_ms, previous_ms));
        }
        previous_ms = *timestamp_ms;

        Request& r = workload.requests.emplace_back();
        r.id = workload.requests.size() - 1;
        r.arrival_s = *timestamp_ms / 1000.0;
        // Prefill yields the first token, so a request always produces one.
        r.output_tokens = static_cast<int32_t>(*output < 1 ? 1 : *output);
        r.segments.reserve(hash_ids->size());
        int64_t remaining = *input;
        for (int64_t id : *hash_ids) {
          const int64_t len = remaining < kMooncakeBlockTokens
                                  ? remaining
                                  : kMooncakeBlockTokens;
          r.segments.push_back(
              {static_cast<uint64_t>(id), static_cast<int32_t>(len)});
          remaining -= len;
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return workload;
}

}  // namespace pagekv::internal
