// The measurement table of calibration.h: a small CSV dialect (no quoting;
// numbers only), read strictly, every error naming the file, the line and
// the column.
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cost/str_util.h"
#include "pagekv/cost/calibration.h"

namespace pagekv {
namespace {

enum Column { kBatch, kContext, kPrompt, kTp, kStepMs, kTtftMs, kNumColumns };
constexpr std::array<std::string_view, kNumColumns> kColumnNames = {
    "batch", "context", "prompt_tokens", "tp", "step_ms", "ttft_ms"};

// A step longer than an hour or a context beyond 2^40 tokens is a typo.
constexpr double kMaxMs = 3.6e6;
constexpr int64_t kMaxTokens = int64_t{1} << 40;

std::string_view Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (size_t start = 0;;) {
    const size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos
                                      ? std::string_view::npos
                                      : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

// Whole-string parses: "12x" and "" fail.
template <typename T>
bool ParseWhole(std::string_view s, T* out) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

class CsvReader {
 public:
  explicit CsvReader(std::string_view source) : source_(source) {}

  absl::Status Error(int64_t line, std::string_view what) const {
    return absl::InvalidArgumentError(
        internal::Cat(source_, ":", line, ": ", what));
  }
  absl::Status CellError(int64_t line, Column c, std::string_view cell,
                         std::string_view rule) const {
    return Error(line, internal::Cat("field '", kColumnNames[c], "' ", rule,
                                     ", got '", cell, "'"));
  }

  // Maps the header's names to columns; index[c] = position, or -1.
  absl::Status Header(std::string_view text, int64_t line) {
    index_.fill(-1);
    const std::vector<std::string_view> names = Split(text, ',');
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string_view name = Trim(names[i]);
      int found = -1;
      for (int c = 0; c < kNumColumns; ++c) {
        if (kColumnNames[c] == name) found = c;
      }
      if (found < 0) {
        return Error(line, internal::Cat("unknown column '", name,
                                         "' (known: batch, context, "
                                         "prompt_tokens, tp, step_ms, "
                                         "ttft_ms)"));
      }
      if (index_[found] >= 0) {
        return Error(line, internal::Cat("column '", name, "' repeated"));
      }
      index_[found] = static_cast<int>(i);
    }
    for (Column c : {kBatch, kContext, kPrompt}) {
      if (index_[c] < 0) {
        return Error(line,
                     internal::Cat("missing column '", kColumnNames[c], "'"));
      }
    }
    if (index_[kStepMs] < 0 && index_[kTtftMs] < 0) {
      return Error(line, "missing column 'step_ms' or 'ttft_ms'");
    }
    width_ = names.size();
    return absl::OkStatus();
  }

  absl::StatusOr<Measurement> Row(std::string_view text, int64_t line) const {
    const std::vector<std::string_view> cells = Split(text, ',');
    if (cells.size() != width_) {
      return Error(line, internal::Cat("expected ", width_, " fields, got ",
                                       cells.size()));
    }
    auto cell = [&](Column c) -> std::string_view {
      return index_[c] < 0 ? std::string_view() : Trim(cells[index_[c]]);
    };
    Measurement m;
    m.line = line;
    int64_t batch = 0, tp = 1;
    if (absl::Status s = Int(line, kBatch, cell(kBatch), 0, &batch); !s.ok())
      return s;
    if (absl::Status s = Int(line, kContext, cell(kContext), 0, &m.context);
        !s.ok())
      return s;
    if (absl::Status s = Int(line, kPrompt, cell(kPrompt), 0, &m.prompt_tokens);
        !s.ok())
      return s;
    if (index_[kTp] >= 0) {
      if (absl::Status s = Int(line, kTp, cell(kTp), 1, &tp); !s.ok()) return s;
    }
    if (batch > std::numeric_limits<int32_t>::max() ||
        tp > std::numeric_limits<int32_t>::max()) {
      return Error(line, "batch or tp out of range");
    }
    m.batch = static_cast<int32_t>(batch);
    m.tensor_parallel = static_cast<int32_t>(tp);
    if (m.batch == 0 && m.prompt_tokens == 0) {
      return Error(line, "a step needs batch > 0 or prompt_tokens > 0");
    }
    return Time(line, cell(kStepMs), cell(kTtftMs), m);
  }

 private:
  absl::Status Int(int64_t line, Column c, std::string_view text, int64_t min,
                   int64_t* out) const {
    int64_t v = 0;
    if (!ParseWhole(text, &v) || v < min || v > kMaxTokens) {
      return CellError(
          line, c, text,
          internal::Cat("must be an integer in [", min, ", ", kMaxTokens, "]"));
    }
    *out = v;
    return absl::OkStatus();
  }

  absl::StatusOr<Measurement> Time(int64_t line, std::string_view step,
                                   std::string_view ttft, Measurement m) const {
    if (step.empty() == ttft.empty()) {
      return Error(line, "needs exactly one of 'step_ms' and 'ttft_ms'");
    }
    const Column c = step.empty() ? kTtftMs : kStepMs;
    const std::string_view text = step.empty() ? ttft : step;
    double ms = 0;
    if (!ParseWhole(text, &ms) || !std::isfinite(ms) || !(ms > 0) ||
        ms > kMaxMs) {
      return CellError(line, c, text,
                       internal::Cat("must be a number in (0, ", kMaxMs, "]"));
    }
    if (c == kTtftMs && m.prompt_tokens == 0) {
      return Error(line, "a 'ttft_ms' row needs prompt_tokens > 0");
    }
    m.seconds = ms * 1e-3;
    m.ttft = c == kTtftMs;
    return m;
  }

  std::string source_;
  std::array<int, kNumColumns> index_{};
  size_t width_ = 0;
};

}  // namespace

absl::StatusOr<std::vector<Measurement>> ParseMeasurementsCsv(
    std::string_view text, std::string_view source) {
  CsvReader reader(source);
  std::vector<Measurement> rows;
  bool have_header = false;
  int64_t line = 0;
  for (std::string_view raw : Split(text, '\n')) {
    ++line;
    const std::string_view s = Trim(raw);
    if (s.empty() || s.front() == '#') continue;
    if (!have_header) {
      if (absl::Status st = reader.Header(s, line); !st.ok()) return st;
      have_header = true;
      continue;
    }
    absl::StatusOr<Measurement> m = reader.Row(s, line);
    if (!m.ok()) return m.status();
    rows.push_back(*m);
  }
  if (rows.empty()) {
    return absl::InvalidArgumentError(internal::Cat(
        source, ": no measurements (a header line and at least one row)"));
  }
  return rows;
}

absl::StatusOr<std::vector<Measurement>> LoadMeasurementsCsv(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        internal::Cat("cannot open measurements file '", path, "'"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseMeasurementsCsv(text.str(), path);
}

}  // namespace pagekv
