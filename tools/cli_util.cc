#include "cli_util.h"

#include <cmath>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "fmt/format.h"
#include "pagekv/kv_cache_config.h"

namespace pagekv::tools {
namespace {

// The range part of an integer message: ">= 1" or "in [1, 4096]".
std::string RangeText(int64_t min, int64_t max) {
  if (max == std::numeric_limits<int64_t>::max()) {
    return fmt::format(">= {}", min);
  }
  return fmt::format("in [{}, {}]", min, max);
}

bool ParseFinite(const std::string& text, double* value) {
  return absl::SimpleAtod(text, value) && std::isfinite(*value);
}

}  // namespace

int BadInput(std::ostream& err, std::string_view command,
             absl::string_view message) {
  err << "pagekv " << command << ": " << message << "\n";
  return kExitBadInput;
}

int BadInput(std::ostream& err, std::string_view command,
             const absl::Status& status) {
  return BadInput(err, command, status.message());
}

CLI::Validator IntInRange(int64_t min, int64_t max) {
  const std::string range = RangeText(min, max);
  return CLI::Validator(
      [min, max, range](std::string& text) {
        int64_t value = 0;
        if (absl::SimpleAtoi(text, &value) && value >= min && value <= max) {
          return std::string();
        }
        return fmt::format("must be an integer {}, got '{}'", range, text);
      },
      "INT " + range);
}

CLI::Validator BlockSizeValidator() { return IntInRange(1, kMaxBlockSize); }

CLI::Validator PositiveNumber() {
  return CLI::Validator(
      [](std::string& text) {
        double value = 0;
        if (ParseFinite(text, &value) && value > 0) return std::string();
        return fmt::format("must be a number > 0, got '{}'", text);
      },
      "NUMBER > 0");
}

CLI::Validator Fraction() {
  return CLI::Validator(
      [](std::string& text) {
        double value = 0;
        if (ParseFinite(text, &value) && value > 0 && value <= 1) {
          return std::string();
        }
        return fmt::format("must be a number in (0, 1], got '{}'", text);
      },
      "NUMBER in (0, 1]");
}

CLI::Validator OnOff() {
  return CLI::Validator(
      [](std::string& text) {
        if (text == "on" || text == "off") return std::string();
        return fmt::format("must be on or off, got '{}'", text);
      },
      "on|off");
}

absl::Status CheckFlag(std::string_view flag, const std::string& text,
                       const CLI::Validator& validator) {
  const std::string message = validator(text);
  if (message.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(fmt::format("{} {}", flag, message));
}

absl::StatusOr<int64_t> ParseIntFlag(std::string_view flag,
                                     const std::string& text, int64_t min,
                                     int64_t max) {
  if (absl::Status s = CheckFlag(flag, text, IntInRange(min, max)); !s.ok()) {
    return s;
  }
  int64_t value = 0;
  (void)absl::SimpleAtoi(text, &value);  // checked above
  return value;
}

absl::StatusOr<int32_t> ParseBlockSizeFlag(std::string_view flag,
                                           const std::string& text) {
  absl::StatusOr<int64_t> value = ParseIntFlag(flag, text, 1, kMaxBlockSize);
  if (!value.ok()) return value.status();
  return static_cast<int32_t>(*value);
}

absl::StatusOr<double> ParsePositiveFlag(std::string_view flag,
                                         const std::string& text) {
  if (absl::Status s = CheckFlag(flag, text, PositiveNumber()); !s.ok()) {
    return s;
  }
  double value = 0;
  (void)absl::SimpleAtod(text, &value);
  return value;
}

absl::StatusOr<double> ParseFractionFlag(std::string_view flag,
                                         const std::string& text) {
  if (absl::Status s = CheckFlag(flag, text, Fraction()); !s.ok()) return s;
  double value = 0;
  (void)absl::SimpleAtod(text, &value);
  return value;
}

absl::StatusOr<bool> ParseOnOffFlag(std::string_view flag,
                                    const std::string& text) {
  if (absl::Status s = CheckFlag(flag, text, OnOff()); !s.ok()) return s;
  return text == "on";
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  for (absl::string_view piece : absl::StrSplit(text, ',')) {
    items.emplace_back(absl::StripAsciiWhitespace(piece));
  }
  return items;
}

absl::Status WriteOutput(std::string_view flag, const std::string& path,
                         const std::string& text, std::ostream& out) {
  if (path == "-") {
    out << text;
    return absl::OkStatus();
  }
  std::ofstream file(path, std::ios::binary);
  file << text;
  file.close();
  if (!file) {
    return absl::InvalidArgumentError(
        fmt::format("{}: cannot write '{}'", flag, path));
  }
  return absl::OkStatus();
}

}  // namespace pagekv::tools
