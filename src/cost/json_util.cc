#include "cost/json_util.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace pagekv::internal {
namespace {

using Json = nlohmann::json;

// SAX handler that builds the DOM and rejects duplicate keys. The stack
// holds the open containers; a pointer to a container stays valid while it
// is open because only its last child (the open one) is ever added to.
class DocumentBuilder {
 public:
  explicit DocumentBuilder(std::string_view text) : text_(text) {}

  Json& root() { return root_; }
  const std::string& error() const { return error_; }

  bool null() { return Add(Json(nullptr)) != nullptr; }
  bool boolean(bool value) { return Add(Json(value)) != nullptr; }
  bool number_integer(Json::number_integer_t value) {
    return Add(Json(value)) != nullptr;
  }
  bool number_unsigned(Json::number_unsigned_t value) {
    return Add(Json(value)) != nullptr;
  }
  bool number_float(Json::number_float_t value,
                    const std::string& /*literal*/) {
    return Add(Json(value)) != nullptr;
  }
  bool string(std::string& value) {
    return Add(Json(std::move(value))) != nullptr;
  }
  bool binary(Json::binary_t& value) {
    return Add(Json::binary(std::move(value))) != nullptr;
  }

  bool start_object(std::size_t /*size*/) { return Open(Json::object()); }
  bool start_array(std::size_t /*size*/) { return Open(Json::array()); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }

  bool key(std::string& name) {
    Frame& f = stack_.back();
    if (f.container->contains(name)) {
      error_ = fmt::format("duplicate field '{}'", Path(name));
      return false;
    }
    f.key = std::move(name);
    return true;
  }

  bool parse_error(std::size_t position, const std::string& /*token*/,
                   const nlohmann::detail::exception& ex) {
    error_ = DescribeJsonParseError(text_, position, ex, /*with_line=*/true);
    return false;
  }

 private:
  struct Frame {
    Json* container;
    std::string label;  // how the parent reaches it: a key, or "[3]"
    bool is_index;      // label is an array index
    std::string key;    // object: the key of the value being read
  };

  // Adds `value` to the open container (or makes it the root); returns it.
  Json* Add(Json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Frame& f = stack_.back();
    if (f.container->is_array()) {
      f.container->push_back(std::move(value));
      return &f.container->back();
    }
    Json& slot = (*f.container)[f.key];
    slot = std::move(value);
    return &slot;
  }

  bool Open(Json container) {
    std::string label;
    bool is_index = false;
    if (!stack_.empty()) {
      const Frame& parent = stack_.back();
      is_index = parent.container->is_array();
      label = is_index ? fmt::format("[{}]", parent.container->size())
                       : EscapeJsonText(parent.key);
    }
    Json* added = Add(std::move(container));
    stack_.push_back({added, std::move(label), is_index, {}});
    return true;
  }

  bool Close() {
    stack_.pop_back();
    return true;
  }

  // Returns the path of `key` in the innermost open object.
  std::string Path(std::string_view key) const {
    std::string path;
    for (size_t i = 1; i < stack_.size(); ++i) {
      if (i > 1 && !stack_[i].is_index) path += '.';
      path += stack_[i].label;
    }
    if (!path.empty()) path += '.';
    path += EscapeJsonText(key);
    return path;
  }

  std::string_view text_;
  Json root_;
  std::vector<Frame> stack_;
  std::string error_;
};

}  // namespace

std::string DescribeJsonParseError(std::string_view text, size_t position,
                                   const std::exception& error,
                                   bool with_line) {
  // what() is "[json.exception.parse_error.101] parse error at line 1,
  // column 7: syntax error ..." or, for a number that overflows, "[json.
  // exception.out_of_range.406] number overflow parsing '1e400'"; keep the
  // part after the position or the tag.
  std::string_view what = error.what();
  if (size_t at = what.find("column "); at != std::string_view::npos) {
    if (size_t colon = what.find(": ", at); colon != std::string_view::npos) {
      what.remove_prefix(colon + 2);
    }
  } else if (size_t tag = what.find("] "); tag != std::string_view::npos) {
    what.remove_prefix(tag + 2);
  }
  // nlohmann counts the byte it stopped at, so `position` is one past it:
  // the column is 1-based.
  const size_t end = std::min(position, text.size());
  const std::string_view before = text.substr(0, end);
  const size_t line = 1 + std::count(before.begin(), before.end(), '\n');
  const size_t newline = before.rfind('\n');
  const size_t column =
      newline == std::string_view::npos ? end : end - newline - 1;
  if (with_line) {
    return fmt::format("invalid JSON at line {}, column {}: {}", line, column,
                       what);
  }
  return fmt::format("invalid JSON at column {}: {}", column, what);
}

std::string EscapeJsonText(std::string_view s) {
  std::string quoted =
      Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
  return quoted.substr(1, quoted.size() - 2);
}

absl::StatusOr<nlohmann::json> ParseJsonDocument(std::string_view text,
                                                 bool ignore_comments) {
  DocumentBuilder builder(text);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.data(), text.data() + text.size(), &builder,
                         Json::input_format_t::json, /*strict=*/true,
                         ignore_comments);
  } catch (const std::exception& e) {  // not expected; keep it off the API
    return absl::InvalidArgumentError(
        fmt::format("invalid JSON: {}", e.what()));
  }
  if (!ok || !builder.error().empty()) {
    return absl::InvalidArgumentError(builder.error().empty()
                                          ? std::string("invalid JSON")
                                          : builder.error());
  }
  return std::move(builder.root());
}

}  // namespace pagekv::internal
