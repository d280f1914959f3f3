#include "sim/workload/json_line.h"

#include <cmath>
#include <string>

#include "cost/json_util.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "sim/workload/readers.h"

namespace pagekv::internal {
namespace {

// How a message names the integers expected: by sign when the upper bound is
// just the type's limit, otherwise by range.
std::string DescribeRange(int64_t min, int64_t max) {
  if (max == std::numeric_limits<int64_t>::max() ||
      max == std::numeric_limits<int32_t>::max()) {
    if (min == 0) return "a non-negative integer";
    if (min == 1) return "a positive integer";
    return fmt::format("an integer >= {}", min);
  }
  return fmt::format("an integer in [{}, {}]", min, max);
}

}  // namespace

// SAX handler: top-level object at depth 1, a field's array at depth 2.
class JsonLineParser::Handler {
 public:
  using Json = nlohmann::json;

  Handler(JsonLineParser* parser, std::string_view line)
      : p_(parser), line_(line) {}

  const std::string& error() const { return error_; }

  bool null() { return Scalar(JsonKind::kNull); }
  bool boolean(bool value) {
    if (JsonField* f = ScalarField(JsonKind::kBool)) f->bool_value = value;
    return error_.empty();
  }
  bool number_integer(Json::number_integer_t value) {
    if (depth_ == 2 && in_array_) {
      if (current_ >= 0) p_->fields_[current_].ints.push_back(value);
      return true;
    }
    if (JsonField* f = ScalarField(JsonKind::kInt)) {
      f->int_value = value;
      f->uint_value = static_cast<uint64_t>(value);
      f->number = static_cast<double>(value);
    }
    return error_.empty();
  }
  bool number_unsigned(Json::number_unsigned_t value) {
    if (value <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return number_integer(static_cast<int64_t>(value));
    }
    if (JsonField* f = ScalarField(JsonKind::kUInt)) {
      f->uint_value = value;
      f->number = static_cast<double>(value);
    }
    return error_.empty();
  }
  bool number_float(Json::number_float_t value, const std::string& literal) {
    if (JsonField* f = ScalarField(JsonKind::kFloat)) {
      f->number = value;
      f->text = literal;
    }
    return error_.empty();
  }
  bool string(std::string& value) {
    if (JsonField* f = ScalarField(JsonKind::kString)) f->text = value;
    return error_.empty();
  }
  bool binary(Json::binary_t& /*value*/) { return Scalar(JsonKind::kArray); }

  bool start_object(std::size_t /*size*/) {
    if (depth_ == 0) {
      depth_ = 1;
      return true;
    }
    Scalar(JsonKind::kObject);
    ++depth_;
    return error_.empty();
  }
  bool end_object() {
    --depth_;
    if (depth_ == 1) in_array_ = false;
    return true;
  }
  bool start_array(std::size_t /*size*/) {
    if (depth_ == 0) return NotAnObject();
    if (depth_ == 1) {
      if (current_ >= 0) {
        JsonField& f = p_->fields_[current_];
        f.present = true;
        f.kind = JsonKind::kIntArray;
        f.ints.clear();
      }
      in_array_ = true;
    } else {
      Scalar(JsonKind::kArray);
    }
    ++depth_;
    return true;
  }
  bool end_array() {
    --depth_;
    if (depth_ == 1) in_array_ = false;
    return true;
  }

  bool key(std::string& name) {
    if (depth_ != 1) return true;
    current_ = -1;
    for (size_t i = 0; i < p_->names_.size(); ++i) {
      if (p_->names_[i] == name) {
        current_ = static_cast<int>(i);
        break;
      }
    }
    if (current_ < 0) {
      if (p_->reject_unknown_) {
        error_ = fmt::format("unknown field {}", Quote(name));
        return false;
      }
      return true;
    }
    if (p_->fields_[current_].present) {
      error_ = fmt::format("duplicate field {}", Quote(name));
      return false;
    }
    return true;
  }

  bool parse_error(std::size_t position, const std::string& /*token*/,
                   const nlohmann::detail::exception& ex) {
    error_ = DescribeJsonParseError(line_, position, ex, /*with_line=*/false);
    return false;
  }

 private:
  static std::string Quote(const std::string& s) {
    return fmt::format("\"{}\"", EscapeJsonText(s));
  }

  bool NotAnObject() {
    error_ = "expected a JSON object";
    return false;
  }

  // Records a scalar (or nested container) of `kind`; returns the field to
  // fill in, or nullptr when the value belongs to no field.
  JsonField* ScalarField(JsonKind kind) {
    if (depth_ == 0) {
      NotAnObject();
      return nullptr;
    }
    if (current_ < 0) return nullptr;
    JsonField& f = p_->fields_[current_];
    if (depth_ == 1) {
      f.present = true;
      f.kind = kind;
      return &f;
    }
    // Inside the field's value: in an array, anything but an int64 spoils
    // it; inside an object, nothing is recorded.
    if (f.kind == JsonKind::kIntArray) f.kind = JsonKind::kArray;
    return nullptr;
  }
  bool Scalar(JsonKind kind) {
    ScalarField(kind);
    return error_.empty();
  }

  JsonLineParser* p_;
  std::string_view line_;
  int depth_ = 0;
  int current_ = -1;  // field index of the current key, -1 = skipped
  bool in_array_ = false;
  std::string error_;
};

JsonLineParser::JsonLineParser(absl::Span<const std::string_view> field_names,
                               bool reject_unknown)
    : names_(field_names),
      reject_unknown_(reject_unknown),
      fields_(field_names.size()) {}

absl::Status JsonLineParser::Parse(std::string_view line) {
  for (JsonField& f : fields_) {
    f.present = false;
    f.ints.clear();
  }
  Handler handler(this, line);
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(line.data(), line.data() + line.size(),
                                   &handler,
                                   nlohmann::json::input_format_t::json,
                                   /*strict=*/true, /*ignore_comments=*/false);
  } catch (const std::exception& e) {  // not expected; keep it off the API
    return absl::InvalidArgumentError(
        fmt::format("invalid JSON: {}", e.what()));
  }
  if (!ok || !handler.error().empty()) {
    return absl::InvalidArgumentError(handler.error().empty()
                                          ? std::string("invalid JSON")
                                          : handler.error());
  }
  return absl::OkStatus();
}

absl::Status JsonLineParser::Missing(size_t i) const {
  return absl::InvalidArgumentError(
      fmt::format("missing field \"{}\"", names_[i]));
}

absl::Status JsonLineParser::FieldError(size_t i, std::string_view what) const {
  return absl::InvalidArgumentError(
      fmt::format("field \"{}\": {}", names_[i], what));
}

std::string JsonLineParser::Describe(size_t i) const {
  const JsonField& f = fields_[i];
  switch (f.kind) {
    case JsonKind::kNull:
      return "null";
    case JsonKind::kBool:
      return f.bool_value ? "true" : "false";
    case JsonKind::kInt:
      return fmt::format("{}", f.int_value);
    case JsonKind::kUInt:
      return fmt::format("{}", f.uint_value);
    case JsonKind::kFloat:
      return f.text;
    case JsonKind::kString: {
      std::string s =
          f.text.size() > 40 ? f.text.substr(0, 40) + "..." : f.text;
      return nlohmann::json(s).dump(-1, ' ', false,
                                    nlohmann::json::error_handler_t::replace);
    }
    case JsonKind::kIntArray:
    case JsonKind::kArray:
      return "an array";
    case JsonKind::kObject:
      return "an object";
  }
  return "?";
}

absl::StatusOr<int64_t> JsonLineParser::Int(size_t i, int64_t min,
                                            int64_t max) const {
  const JsonField& f = fields_[i];
  if (!f.present) return Missing(i);
  if (f.kind == JsonKind::kInt && f.int_value >= min && f.int_value <= max) {
    return f.int_value;
  }
  if (f.kind == JsonKind::kInt || f.kind == JsonKind::kUInt) {
    return FieldError(i, fmt::format("expected an integer in [{}, {}], got {}",
                                     min, max, Describe(i)));
  }
  return FieldError(i, fmt::format("expected {}, got {}",
                                   DescribeRange(min, max), Describe(i)));
}

absl::StatusOr<uint64_t> JsonLineParser::UInt64(size_t i) const {
  const JsonField& f = fields_[i];
  if (!f.present) return Missing(i);
  if ((f.kind == JsonKind::kInt && f.int_value >= 0) ||
      f.kind == JsonKind::kUInt) {
    return f.uint_value;
  }
  return FieldError(
      i, fmt::format("expected an integer in [0, 2^64), got {}", Describe(i)));
}

absl::StatusOr<double> JsonLineParser::Number(size_t i, double min) const {
  const JsonField& f = fields_[i];
  if (!f.present) return Missing(i);
  const bool numeric = f.kind == JsonKind::kInt || f.kind == JsonKind::kUInt ||
                       f.kind == JsonKind::kFloat;
  if (numeric && std::isfinite(f.number) && f.number >= min) return f.number;
  return FieldError(i, fmt::format("expected a finite number >= {}, got {}",
                                   min, Describe(i)));
}

absl::StatusOr<std::string_view> JsonLineParser::String(size_t i) const {
  const JsonField& f = fields_[i];
  if (!f.present) return Missing(i);
  if (f.kind == JsonKind::kString) return std::string_view(f.text);
  return FieldError(i, fmt::format("expected a string, got {}", Describe(i)));
}

absl::StatusOr<absl::Span<const int64_t>> JsonLineParser::IntArray(
    size_t i, int64_t min, int64_t max) const {
  const JsonField& f = fields_[i];
  if (!f.present) return Missing(i);
  if (f.kind != JsonKind::kIntArray) {
    return FieldError(i, fmt::format("expected an array of integers, got {}",
                                     f.kind == JsonKind::kArray
                                         ? std::string("a non-integer element")
                                         : Describe(i)));
  }
  for (size_t k = 0; k < f.ints.size(); ++k) {
    if (f.ints[k] < min || f.ints[k] > max) {
      return FieldError(
          i, fmt::format("element {}: expected an integer in [{}, {}], got {}",
                         k, min, max, f.ints[k]));
    }
  }
  return absl::Span<const int64_t>(f.ints);
}

absl::Status ForEachJsonLine(std::string_view contents, std::string_view source,
                             JsonLineParser& parser,
                             absl::FunctionRef<absl::Status()> on_line) {
  LineSplitter lines(contents);
  std::string_view line;
  bool any = false;
  while (lines.Next(&line)) {
    const int64_t n = lines.line_number();
    if (IsBlank(line)) continue;
    any = true;
    if (line.substr(0, kUtf8Bom.size()) == kUtf8Bom) {
      return LineError(source, n,
                       "byte-order mark inside the file (only the first line "
                       "may start with one)");
    }
    if (absl::Status s = parser.Parse(line); !s.ok()) {
      return LineError(source, n, s);
    }
    if (absl::Status s = on_line(); !s.ok()) return LineError(source, n, s);
  }
  if (!any) {
    return absl::InvalidArgumentError(
        fmt::format("{}: no requests (empty trace)", source));
  }
  return absl::OkStatus();
}

}  // namespace pagekv::internal
