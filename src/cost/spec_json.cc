// JSON loading of ModelSpec and HardwareSpec.
//
// Specs are small hand-written files, so the reader favours messages over
// speed: every field is type-checked, unknown fields are rejected (a typo
// must not silently fall back to a default) and each error names the file
// and the field.
#include <cstdint>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string>

#include "cost/hardware_fields.h"
#include "cost/json_util.h"
#include "cost/str_util.h"
#include "nlohmann/json.hpp"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"

namespace pagekv {
namespace {

using nlohmann::json;

#define PAGEKV_RETURN_IF_ERROR(expr)                   \
  do {                                                 \
    if (absl::Status s_ = (expr); !s_.ok()) return s_; \
  } while (false)

// Reads typed fields from one JSON object and remembers which keys it knew.
class FieldReader {
 public:
  FieldReader(const json& object, std::string source, std::string prefix)
      : object_(object),
        source_(std::move(source)),
        prefix_(std::move(prefix)) {}

  absl::Status Error(std::string_view key, std::string_view what) const {
    return absl::InvalidArgumentError(
        internal::Cat(source_, ": field '", prefix_, key, "' ", what));
  }

  // Each reader leaves *out alone when the key is absent.
  absl::Status Int(std::string_view key, int32_t* out) {
    const json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_number_integer()) {
      return Error(key, internal::Cat("must be an integer, got ", v->dump()));
    }
    // Non-negative integers are stored unsigned; above INT64_MAX they would
    // wrap in get<int64_t>().
    const bool huge =
        v->is_number_unsigned() &&
        v->get<uint64_t>() >
            static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    const int64_t x = huge ? 0 : v->get<int64_t>();
    if (huge || x < std::numeric_limits<int32_t>::min() ||
        x > std::numeric_limits<int32_t>::max()) {
      return Error(key, internal::Cat("is out of range: ", v->dump()));
    }
    *out = static_cast<int32_t>(x);
    return absl::OkStatus();
  }
  absl::Status Int64(std::string_view key, int64_t* out) {
    const json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_number_integer()) {
      return Error(key, internal::Cat("must be an integer, got ", v->dump()));
    }
    if (v->is_number_unsigned() &&
        v->get<uint64_t>() >
            static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Error(key, internal::Cat("is out of range: ", v->dump()));
    }
    *out = v->get<int64_t>();
    return absl::OkStatus();
  }
  absl::Status Number(std::string_view key, double* out) {
    const json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_number()) {
      return Error(key, internal::Cat("must be a number, got ", v->dump()));
    }
    *out = v->get<double>();
    return absl::OkStatus();
  }
  // Reads a hardware field in the file's unit, checks its range there (so
  // the message shows the key and value as written) and stores it in SI.
  absl::Status Number(const internal::HardwareNumberField& f,
                      HardwareSpec* spec) {
    double value = 0;
    const json* v = Find(f.json_key);
    if (v == nullptr) return absl::OkStatus();
    PAGEKV_RETURN_IF_ERROR(Number(f.json_key, &value));
    const std::string error =
        internal::HardwareFieldRangeError(f, value, f.json_unit);
    if (!error.empty()) return Error(f.json_key, error);
    spec->*f.member = value * f.json_unit;
    return absl::OkStatus();
  }
  absl::Status String(std::string_view key, std::string* out) {
    const json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_string()) {
      return Error(key, internal::Cat("must be a string, got ", v->dump()));
    }
    *out = v->get<std::string>();
    return absl::OkStatus();
  }
  absl::Status Type(std::string_view key, DType* out) {
    std::string name;
    const json* v = Find(key);
    if (v == nullptr) return absl::OkStatus();
    if (absl::Status s = String(key, &name); !s.ok()) return s;
    absl::StatusOr<DType> dtype = ParseDType(name);
    if (!dtype.ok()) return Error(key, std::string(dtype.status().message()));
    *out = *dtype;
    return absl::OkStatus();
  }
  const json* Array(std::string_view key, absl::Status* status) {
    const json* v = Find(key);
    if (v != nullptr && !v->is_array()) {
      *status = Error(key, internal::Cat("must be an array, got ", v->dump()));
      return nullptr;
    }
    return v;
  }

  // Returns an error naming the first key no reader asked for.
  absl::Status RejectUnknown() const {
    for (const auto& [key, value] : object_.items()) {
      if (known_.count(key) == 0) {
        return absl::InvalidArgumentError(
            internal::Cat(source_, ": unknown field '", prefix_, key, "'"));
      }
    }
    return absl::OkStatus();
  }

 private:
  const json* Find(std::string_view key) {
    known_.emplace(key);
    auto it = object_.find(std::string(key));
    return it == object_.end() ? nullptr : &*it;
  }

  const json& object_;
  std::string source_;
  std::string prefix_;
  std::set<std::string, std::less<>> known_;
};

absl::Status PrefixSource(const absl::Status& status, std::string_view source) {
  return absl::Status(
      status.code(),
      internal::Cat(source, ": ", std::string(status.message())));
}

absl::StatusOr<json> ParseObject(std::string_view text,
                                 std::string_view source) {
  absl::StatusOr<json> doc =
      internal::ParseJsonDocument(text, /*ignore_comments=*/true);
  if (!doc.ok()) return PrefixSource(doc.status(), source);
  if (!doc->is_object()) {
    return absl::InvalidArgumentError(internal::Cat(
        source, ": expected a JSON object, got ", doc->type_name()));
  }
  return doc;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        internal::Cat("cannot open spec file '", path, "'"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(
        internal::Cat("cannot read spec file '", path, "'"));
  }
  return text.str();
}

}  // namespace

absl::StatusOr<ModelSpec> ParseModelSpecJson(std::string_view json_text,
                                             std::string_view source) {
  absl::StatusOr<json> doc = ParseObject(json_text, source);
  if (!doc.ok()) return doc.status();
  FieldReader r(*doc, std::string(source), "");
  ModelSpec spec;
  std::string base;
  PAGEKV_RETURN_IF_ERROR(r.String("base", &base));
  if (!base.empty()) {
    absl::StatusOr<ModelSpec> preset = FindModelPreset(base);
    if (!preset.ok())
      return r.Error("base", std::string(preset.status().message()));
    spec = *preset;
  }
  PAGEKV_RETURN_IF_ERROR(r.String("name", &spec.name));
  PAGEKV_RETURN_IF_ERROR(r.Int("num_layers", &spec.num_layers));
  PAGEKV_RETURN_IF_ERROR(r.Int("hidden_size", &spec.hidden_size));
  PAGEKV_RETURN_IF_ERROR(
      r.Int("num_attention_heads", &spec.num_attention_heads));
  PAGEKV_RETURN_IF_ERROR(r.Int("num_kv_heads", &spec.num_kv_heads));
  PAGEKV_RETURN_IF_ERROR(r.Int("head_dim", &spec.head_dim));
  PAGEKV_RETURN_IF_ERROR(r.Int("intermediate_size", &spec.intermediate_size));
  PAGEKV_RETURN_IF_ERROR(r.Int("mla_kv_lora_rank", &spec.mla_kv_lora_rank));
  PAGEKV_RETURN_IF_ERROR(r.Int("mla_rope_head_dim", &spec.mla_rope_head_dim));
  PAGEKV_RETURN_IF_ERROR(r.Number("num_params", &spec.num_params));
  PAGEKV_RETURN_IF_ERROR(r.Number("active_params", &spec.active_params));
  PAGEKV_RETURN_IF_ERROR(r.Int("num_experts", &spec.num_experts));
  PAGEKV_RETURN_IF_ERROR(r.Int("experts_per_token", &spec.experts_per_token));
  PAGEKV_RETURN_IF_ERROR(r.Type("weight_dtype", &spec.weight_dtype));
  PAGEKV_RETURN_IF_ERROR(r.Type("kv_dtype", &spec.kv_dtype));
  PAGEKV_RETURN_IF_ERROR(
      r.Int("kv_scale_group_size", &spec.kv_scale_group_size));
  PAGEKV_RETURN_IF_ERROR(r.Int("kv_scale_bytes", &spec.kv_scale_bytes));
  PAGEKV_RETURN_IF_ERROR(r.Int64("max_context", &spec.max_context));
  absl::Status status;
  if (const json* groups = r.Array("layer_groups", &status)) {
    spec.layer_groups.clear();
    for (size_t i = 0; i < groups->size(); ++i) {
      const json& g = (*groups)[i];
      const std::string prefix = internal::Cat("layer_groups[", i, "].");
      if (!g.is_object()) {
        return absl::InvalidArgumentError(
            internal::Cat(source, ": field 'layer_groups[", i,
                          "]' must be an object, got ", g.dump()));
      }
      FieldReader gr(g, std::string(source), prefix);
      LayerGroupSpec group;
      PAGEKV_RETURN_IF_ERROR(gr.String("name", &group.name));
      PAGEKV_RETURN_IF_ERROR(gr.Int("num_layers", &group.num_layers));
      PAGEKV_RETURN_IF_ERROR(gr.Int("sliding_window", &group.sliding_window));
      PAGEKV_RETURN_IF_ERROR(
          gr.Int("attention_chunk_size", &group.attention_chunk_size));
      PAGEKV_RETURN_IF_ERROR(
          gr.Number("state_bytes_per_layer", &group.state_bytes_per_layer));
      std::string mode = "align";
      PAGEKV_RETURN_IF_ERROR(gr.String("state_cache_mode", &mode));
      if (mode != "align" && mode != "none") {
        return absl::InvalidArgumentError(internal::Cat(
            source, ": field '", prefix,
            "state_cache_mode' must be \"align\" or \"none\", got \"", mode,
            "\""));
      }
      group.state_cache_mode =
          mode == "none" ? StateCacheMode::kNone : StateCacheMode::kAlign;
      PAGEKV_RETURN_IF_ERROR(gr.RejectUnknown());
      spec.layer_groups.push_back(std::move(group));
    }
  }
  PAGEKV_RETURN_IF_ERROR(status);
  PAGEKV_RETURN_IF_ERROR(r.RejectUnknown());
  if (absl::Status valid = spec.Validate(); !valid.ok()) {
    return PrefixSource(valid, source);
  }
  return spec;
}

absl::StatusOr<HardwareSpec> ParseHardwareSpecJson(std::string_view json_text,
                                                   std::string_view source) {
  absl::StatusOr<json> doc = ParseObject(json_text, source);
  if (!doc.ok()) return doc.status();
  FieldReader r(*doc, std::string(source), "");
  HardwareSpec spec;
  std::string base;
  PAGEKV_RETURN_IF_ERROR(r.String("base", &base));
  if (!base.empty()) {
    absl::StatusOr<HardwareSpec> preset = FindHardwarePreset(base);
    if (!preset.ok())
      return r.Error("base", std::string(preset.status().message()));
    spec = *preset;
  }
  PAGEKV_RETURN_IF_ERROR(r.String("name", &spec.name));
  for (const internal::HardwareNumberField& f :
       internal::HardwareNumberFields()) {
    PAGEKV_RETURN_IF_ERROR(r.Number(f, &spec));
  }
  PAGEKV_RETURN_IF_ERROR(r.Int("num_devices", &spec.num_devices));
  PAGEKV_RETURN_IF_ERROR(r.RejectUnknown());
  if (absl::Status valid = spec.Validate(); !valid.ok()) {
    return PrefixSource(valid, source);
  }
  return spec;
}

absl::StatusOr<ModelSpec> LoadModelSpecFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseModelSpecJson(*text, path);
}

absl::StatusOr<HardwareSpec> LoadHardwareSpecFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseHardwareSpecJson(*text, path);
}

absl::StatusOr<ModelSpec> ResolveModelSpec(std::string_view name_or_file) {
  absl::StatusOr<ModelSpec> preset = FindModelPreset(name_or_file);
  if (preset.ok()) return preset;
  std::ifstream probe{std::string(name_or_file)};
  if (!probe) {
    return absl::NotFoundError(internal::Cat(
        "'", name_or_file, "' is neither a model preset nor a readable file; ",
        std::string(preset.status().message())));
  }
  return LoadModelSpecFile(std::string(name_or_file));
}

absl::StatusOr<HardwareSpec> ResolveHardwareSpec(
    std::string_view name_or_file) {
  absl::StatusOr<HardwareSpec> preset = FindHardwarePreset(name_or_file);
  if (preset.ok()) return preset;
  std::ifstream probe{std::string(name_or_file)};
  if (!probe) {
    return absl::NotFoundError(
        internal::Cat("'", name_or_file,
                      "' is neither a hardware preset nor a readable file; ",
                      std::string(preset.status().message())));
  }
  return LoadHardwareSpecFile(std::string(name_or_file));
}

}  // namespace pagekv
