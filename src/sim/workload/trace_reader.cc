#include "pagekv/sim/trace_reader.h"

#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>

#include "fmt/format.h"
#include "sim/workload/readers.h"

namespace pagekv {
namespace internal {

LineSplitter::LineSplitter(std::string_view contents) : rest_(contents) {
  if (rest_.substr(0, kUtf8Bom.size()) == kUtf8Bom) {
    rest_.remove_prefix(kUtf8Bom.size());
  }
}

bool LineSplitter::Next(std::string_view* line) {
  if (rest_.empty()) return false;
  const size_t end = rest_.find('\n');
  std::string_view l = rest_.substr(0, end);
  rest_.remove_prefix(end == std::string_view::npos ? rest_.size() : end + 1);
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  ++line_number_;
  *line = l;
  return true;
}

bool IsBlank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

absl::Status LineError(std::string_view source, int64_t line,
                       std::string_view message) {
  return absl::InvalidArgumentError(
      fmt::format("{}:{}: {}", source, line, message));
}

absl::Status LineError(std::string_view source, int64_t line,
                       const absl::Status& status) {
  const auto message = status.message();  // an absl::string_view
  return LineError(source, line,
                   std::string_view(message.data(), message.size()));
}

std::string WorkloadNameFromPath(std::string_view path) {
  if (size_t slash = path.find_last_of('/'); slash != std::string_view::npos) {
    path.remove_prefix(slash + 1);
  }
  if (size_t dot = path.rfind('.'); dot != std::string_view::npos && dot > 0) {
    path = path.substr(0, dot);
  }
  return std::string(path);
}

}  // namespace internal

std::string_view TraceFormatName(TraceFormat format) {
  switch (format) {
    case TraceFormat::kMooncake:
      return "mooncake";
    case TraceFormat::kAzure:
      return "azure";
    case TraceFormat::kJsonl:
      return "jsonl";
  }
  return "?";
}

absl::StatusOr<TraceFormat> ParseTraceFormat(std::string_view name) {
  for (TraceFormat f :
       {TraceFormat::kMooncake, TraceFormat::kAzure, TraceFormat::kJsonl}) {
    if (name == TraceFormatName(f)) return f;
  }
  return absl::InvalidArgumentError(fmt::format(
      "unknown trace format \"{}\"; expected mooncake, azure or jsonl", name));
}

absl::StatusOr<TraceFormat> GuessTraceFormat(std::string_view path,
                                             std::string_view contents) {
  if (path.ends_with(".csv") || path.ends_with(".CSV")) {
    return TraceFormat::kAzure;
  }
  internal::LineSplitter lines(contents);
  std::string_view line;
  while (lines.Next(&line)) {
    if (internal::IsBlank(line)) continue;
    if (line.starts_with("TIMESTAMP,")) return TraceFormat::kAzure;
    if (line.find("\"hash_ids\"") != std::string_view::npos ||
        line.find("\"input_length\"") != std::string_view::npos) {
      return TraceFormat::kMooncake;
    }
    if (line.find("\"arrival_s\"") != std::string_view::npos)
      return TraceFormat::kJsonl;
    break;
  }
  return absl::InvalidArgumentError(fmt::format(
      "{}: cannot guess the trace format from the name or the first line; "
      "name it: mooncake, azure or jsonl",
      path));
}

absl::StatusOr<Workload> ParseTrace(std::string_view contents,
                                    TraceFormat format,
                                    std::string_view source_name) {
  switch (format) {
    case TraceFormat::kMooncake:
      return internal::ParseMooncake(contents, source_name);
    case TraceFormat::kAzure:
      return internal::ParseAzure(contents, source_name);
    case TraceFormat::kJsonl:
      return internal::ParsePagekvJsonl(contents, source_name);
  }
  return absl::InvalidArgumentError("unknown trace format");
}

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> file(std::fopen(path.c_str(), "rb"));
  if (file == nullptr) {
    return absl::ErrnoToStatus(errno, fmt::format("cannot open {}", path));
  }
  std::string contents;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) {
    contents.append(buffer, n);
  }
  if (std::ferror(file.get())) {
    return absl::ErrnoToStatus(errno, fmt::format("cannot read {}", path));
  }
  return contents;
}

}  // namespace

absl::StatusOr<Workload> ReadWorkload(const std::string& path,
                                      std::string_view format,
                                      const WorkloadOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  absl::StatusOr<TraceFormat> parsed_format =
      format.empty() ? absl::StatusOr<TraceFormat>(TraceFormat::kJsonl)
                     : ParseTraceFormat(format);
  if (!parsed_format.ok()) return parsed_format.status();
  absl::StatusOr<std::string> contents = ReadFile(path);
  if (!contents.ok()) return contents.status();
  if (format.empty()) {
    parsed_format = GuessTraceFormat(path, *contents);
    if (!parsed_format.ok()) return parsed_format.status();
  }
  absl::StatusOr<Workload> workload =
      ParseTrace(*contents, *parsed_format, path);
  if (!workload.ok()) return workload.status();
  return ApplyWorkloadOptions(*std::move(workload), options);
}

}  // namespace pagekv
