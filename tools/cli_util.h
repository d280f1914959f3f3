// Plumbing shared by the `pagekv` subcommands: reporting bad input, checking
// and converting flag values, comma lists, and writing outputs.
//
// Each rule on a flag's value is one CLI11 validator (IntInRange,
// PositiveNumber, ...). A command attaches it to its option with
// `->check(...)`, so the command line is checked while CLI11 parses, and its
// Run function converts the same text with the matching Parse* function,
// which runs the same validator, so a caller that fills the Args struct
// directly (tests, other tools) gets the same rule and the same message.
// Messages name the flag and the value: "--tp must be an integer >= 1, got
// 'two'" (CLI11 prints it as "--tp: must be ...").
//
// Thread-safety: free functions over their arguments; safe to call from any
// thread.
#ifndef PAGEKV_TOOLS_CLI_UTIL_H_
#define PAGEKV_TOOLS_CLI_UTIL_H_

#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pagekv::tools {

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitBadInput = 2;

// Prints "pagekv <command>: <message>" and a newline on `err`; returns
// kExitBadInput.
int BadInput(std::ostream& err, std::string_view command,
             absl::string_view message);
// The same with `status`'s message.
int BadInput(std::ostream& err, std::string_view command,
             const absl::Status& status);

// Validators. Each returns "" for a good value, else a message without the
// flag name ("must be ..., got 'VALUE'").
//
// An integer in [min, max]; the message reads ">= min" when max is the
// largest int64_t.
CLI::Validator IntInRange(int64_t min,
                          int64_t max = std::numeric_limits<int64_t>::max());
// A block size: an integer in [1, kMaxBlockSize], the library's limit.
CLI::Validator BlockSizeValidator();
// A finite number > 0.
CLI::Validator PositiveNumber();
// A finite number in (0, 1].
CLI::Validator Fraction();
// "on" or "off".
CLI::Validator OnOff();

// Runs `validator` on `text`: OK, or InvalidArgument "FLAG MESSAGE".
absl::Status CheckFlag(std::string_view flag, const std::string& text,
                       const CLI::Validator& validator);

// Converting parsers over the validators above; the error is CheckFlag's.
absl::StatusOr<int64_t> ParseIntFlag(
    std::string_view flag, const std::string& text, int64_t min,
    int64_t max = std::numeric_limits<int64_t>::max());
absl::StatusOr<int32_t> ParseBlockSizeFlag(std::string_view flag,
                                           const std::string& text);
absl::StatusOr<double> ParsePositiveFlag(std::string_view flag,
                                         const std::string& text);
absl::StatusOr<double> ParseFractionFlag(std::string_view flag,
                                         const std::string& text);
absl::StatusOr<bool> ParseOnOffFlag(std::string_view flag,
                                    const std::string& text);

// Splits a comma-separated list, trimming blanks around each item ("" gives
// one empty item).
std::vector<std::string> SplitList(const std::string& text);

// Writes `text` to the file `path`, or to `out` when path is "-". OK, or
// InvalidArgument "FLAG: cannot write 'PATH'".
absl::Status WriteOutput(std::string_view flag, const std::string& path,
                         const std::string& text, std::ostream& out);

}  // namespace pagekv::tools

#endif  // PAGEKV_TOOLS_CLI_UTIL_H_
