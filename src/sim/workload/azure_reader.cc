// Azure LLM inference trace (2023/2024) CSV: TIMESTAMP,ContextTokens,
// GeneratedTokens with absolute timestamps "2023-11-16 18:15:46.6805900".
// The trace has no prefix information, so each prompt is one segment with a
// content id of its own (no two requests share cache).
#include <charconv>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string_view>

#include "sim/workload/readers.h"

namespace pagekv::internal {
namespace {

constexpr std::string_view kHeader = "TIMESTAMP,ContextTokens,GeneratedTokens";
constexpr uint64_t kAzureNamespace = 0x617a757265323032ULL;  // "azure202"
constexpr int64_t kMaxLength = std::numeric_limits<int32_t>::max();

// Parses exactly `width` digits (or, with width 0, one or more) from *s.
bool ParseDigits(std::string_view* s, size_t width, int64_t* value) {
  size_t n = 0;
  while (n < s->size() && (*s)[n] >= '0' && (*s)[n] <= '9' &&
         (width == 0 || n < width)) {
    ++n;
  }
  if (n == 0 || (width != 0 && n != width) || n > 18) return false;
  std::from_chars(s->data(), s->data() + n, *value);
  s->remove_prefix(n);
  return true;
}

bool Consume(std::string_view* s, char c) {
  if (s->empty() || s->front() != c) return false;
  s->remove_prefix(1);
  return true;
}

// Timestamps become int64 nanoseconds since the Unix epoch, which reach
// from 1677-09-21 to 2262-04-11; whole years inside that are accepted.
constexpr int64_t kMinYear = 1678;
constexpr int64_t kMaxYear = 2261;

// "YYYY-MM-DD HH:MM:SS[.fraction]" (UTC, up to 9 fraction digits) to
// nanoseconds since the Unix epoch. Returns InvalidArgument (`field
// "TIMESTAMP": ...`) when malformed or outside [kMinYear, kMaxYear].
absl::StatusOr<int64_t> ParseTimestampNs(std::string_view text) {
  const absl::Status malformed = absl::InvalidArgumentError(
      fmt::format("field \"TIMESTAMP\": expected a time like "
                  "\"2023-11-16 18:15:46.6805900\", got \"{}\"",
                  text.substr(0, 40)));
  std::string_view s = text;
  int64_t year, month, day, hour, minute, second;
  if (!ParseDigits(&s, 4, &year) || !Consume(&s, '-') ||
      !ParseDigits(&s, 2, &month) || !Consume(&s, '-') ||
      !ParseDigits(&s, 2, &day) || !Consume(&s, ' ') ||
      !ParseDigits(&s, 2, &hour) || !Consume(&s, ':') ||
      !ParseDigits(&s, 2, &minute) || !Consume(&s, ':') ||
      !ParseDigits(&s, 2, &second)) {
    return malformed;
  }
  int64_t fraction_ns = 0;
  if (Consume(&s, '.')) {
    const size_t digits_before = s.size();
    int64_t fraction;
    if (!ParseDigits(&s, 0, &fraction)) return malformed;
    const size_t digits = digits_before - s.size();
    if (digits > 9) return malformed;
    fraction_ns = fraction;
    for (size_t i = digits; i < 9; ++i) fraction_ns *= 10;
  }
  if (!s.empty()) return malformed;
  const std::chrono::year_month_day ymd{
      std::chrono::year{static_cast<int>(year)},
      std::chrono::month{static_cast<unsigned>(month)},
      std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) return malformed;
  if (year < kMinYear || year > kMaxYear) {
    return absl::InvalidArgumentError(fmt::format(
        "field \"TIMESTAMP\": year {} is out of range (expected {} to {})",
        year, kMinYear, kMaxYear));
  }
  // |days| < 2^17 and |seconds| < 2^34 here, so nothing below overflows.
  const int64_t days = std::chrono::sys_days(ymd).time_since_epoch().count();
  const int64_t seconds = ((days * 24 + hour) * 60 + minute) * 60 + second;
  return seconds * 1'000'000'000 + fraction_ns;
}

// A decimal integer in [min, kMaxLength], the whole field.
absl::StatusOr<int64_t> ParseLength(std::string_view field,
                                    std::string_view name, int64_t min) {
  int64_t value = 0;
  const auto [end, ec] =
      std::from_chars(field.data(), field.data() + field.size(), value);
  const bool whole = ec == std::errc() && end == field.data() + field.size();
  if (whole && value >= min && value <= kMaxLength) return value;
  std::string shown(field.substr(0, 40));
  if (whole || ec == std::errc::result_out_of_range) {
    return absl::InvalidArgumentError(
        fmt::format("field \"{}\": expected an integer in [{}, {}], got {}",
                    name, min, kMaxLength, shown));
  }
  return absl::InvalidArgumentError(
      fmt::format("field \"{}\": expected a {} integer, got \"{}\"", name,
                  min == 0 ? "non-negative" : "positive", shown));
}

}  // namespace

absl::StatusOr<Workload> ParseAzure(std::string_view contents,
                                    std::string_view source) {
  Workload workload;
  workload.name = WorkloadNameFromPath(source);
  LineSplitter lines(contents);
  std::string_view line;
  bool have_header = false;
  int64_t first_ns = 0;
  std::string_view first_timestamp;  // points into `contents`
  int64_t previous_ns = 0;
  while (lines.Next(&line)) {
    const int64_t n = lines.line_number();
    if (IsBlank(line)) continue;
    if (!have_header) {
      if (line != kHeader) {
        return LineError(source, n,
                         fmt::format("expected the header \"{}\", got \"{}\"",
                                     kHeader, line.substr(0, 80)));
      }
      have_header = true;
      continue;
    }
    std::string_view fields[3];
    size_t num_fields = 0;
    for (std::string_view rest = line;; ++num_fields) {
      const size_t comma = rest.find(',');
      if (num_fields < 3) fields[num_fields] = rest.substr(0, comma);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (++num_fields != 3) {
      return LineError(
          source, n,
          fmt::format("expected 3 comma-separated fields, got {}", num_fields));
    }
    absl::StatusOr<int64_t> timestamp_ns = ParseTimestampNs(fields[0]);
    if (!timestamp_ns.ok()) return LineError(source, n, timestamp_ns.status());
    const int64_t ns = *timestamp_ns;
    absl::StatusOr<int64_t> input = ParseLength(fields[1], "ContextTokens", 1);
    if (!input.ok()) return LineError(source, n, input.status());
    absl::StatusOr<int64_t> output =
        ParseLength(fields[2], "GeneratedTokens", 0);
    if (!output.ok()) return LineError(source, n, output.status());
    if (workload.requests.empty()) {
      first_ns = ns;
      first_timestamp = fields[0];
    } else if (ns < previous_ns) {
      return LineError(source, n,
                       fmt::format("field \"TIMESTAMP\": {} is earlier than "
                                   "the previous row's; sort the trace",
                                   fields[0]));
    } else if (first_ns < 0 &&
               ns > std::numeric_limits<int64_t>::max() + first_ns) {
      // ns - first_ns would overflow: more than ~292 years apart.
      return LineError(
          source, n,
          fmt::format("field \"TIMESTAMP\": {} is more than 292 years after "
                      "the first row's ({})",
                      fields[0], first_timestamp));
    }
    previous_ns = ns;

    Request& r = workload.requests.emplace_back();
    r.id = workload.requests.size() - 1;
    r.arrival_s = static_cast<double>(ns - first_ns) * 1e-9;
    // Prefill yields the first token, so a request always produces one.
    r.output_tokens = static_cast<int32_t>(*output < 1 ? 1 : *output);
    r.segments.push_back({NamespacedContentId(kAzureNamespace, r.id),
                          static_cast<int32_t>(*input)});
  }
  if (!have_header) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: empty trace (expected the header \"{}\")", source, kHeader));
  }
  if (workload.requests.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: no requests after the header", source));
  }
  return workload;
}

}  // namespace pagekv::internal
