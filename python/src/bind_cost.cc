// The cost layer for Python: model and hardware specs (presets, JSON), the
// bandwidth model, footprint builders and the capacity plan.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "bindings.h"
#include "fmt/format.h"
#include "pagekv/cost/bandwidth_model.h"
#include "pagekv/cost/capacity.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"
#include "pagekv/cost/plan.h"
#include "pybind11/stl.h"
#include "status.h"

namespace pagekv::python {
namespace {

namespace py = pybind11;
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

using ModelArg = std::variant<ModelSpec, std::string>;
using HardwareArg = std::variant<HardwareSpec, std::string>;

ModelSpec ToModel(const ModelArg& a) {
  if (auto* s = std::get_if<ModelSpec>(&a)) return *s;
  return Value(ResolveModelSpec(std::get<std::string>(a)));
}

HardwareSpec ToHardware(const HardwareArg& a) {
  if (auto* s = std::get_if<HardwareSpec>(&a)) return *s;
  return Value(ResolveHardwareSpec(std::get<std::string>(a)));
}

DType ToDType(const std::string& name) { return Value(ParseDType(name)); }

void BindModelSpec(py::module_& m) {
  py::class_<LayerGroupSpec>(m, "LayerGroupSpec",
                             "Layers sharing one attention pattern.")
      .def(py::init([](std::string name, int32_t num_layers, int32_t window) {
             return LayerGroupSpec{std::move(name), num_layers, window};
           }),
           py::arg("name") = "full", py::arg("num_layers") = 0,
           py::arg("sliding_window") = 0)
      .def_readwrite("name", &LayerGroupSpec::name)
      .def_readwrite("num_layers", &LayerGroupSpec::num_layers)
      .def_readwrite("sliding_window", &LayerGroupSpec::sliding_window,
                     "Tokens attended to; 0 = full attention.");
  py::class_<ModelSpec>(m, "ModelSpec",
                        "A transformer's shape as memory and bandwidth see "
                        "it. Presets by name (ModelSpec.preset), custom "
                        "specs from JSON (docs/cost-model.md).")
      .def(py::init<>())
      .def_static(
          "preset",
          [](const std::string& n) { return Value(FindModelPreset(n)); },
          py::arg("name"),
          "The preset `name` (e.g. 'llama-3-8b'); NotFound lists the "
          "known names.")
      .def_static("preset_names", &ModelPresetNames)
      .def_static(
          "from_json",
          [](const std::string& text, const std::string& source) {
            return Value(ParseModelSpecJson(text, source));
          },
          py::arg("text"), py::arg("source") = "<json>",
          "Parses a JSON spec; errors name `source` and the field.")
      .def_static(
          "load",
          [](const std::string& path) {
            return Value(LoadModelSpecFile(path));
          },
          py::arg("path"), "Reads a JSON spec file.")
      .def_static(
          "resolve",
          [](const std::string& s) { return Value(ResolveModelSpec(s)); },
          py::arg("name_or_file"), "A preset name, else a JSON file.")
      .def_readwrite("name", &ModelSpec::name)
      .def_readwrite("num_layers", &ModelSpec::num_layers)
      .def_readwrite("hidden_size", &ModelSpec::hidden_size)
      .def_readwrite("num_attention_heads", &ModelSpec::num_attention_heads)
      .def_readwrite("num_kv_heads", &ModelSpec::num_kv_heads)
      .def_readwrite("head_dim", &ModelSpec::head_dim)
      .def_readwrite("intermediate_size", &ModelSpec::intermediate_size)
      .def_readwrite("mla_kv_lora_rank", &ModelSpec::mla_kv_lora_rank)
      .def_readwrite("mla_rope_head_dim", &ModelSpec::mla_rope_head_dim)
      .def_readwrite("num_params", &ModelSpec::num_params)
      .def_readwrite("active_params", &ModelSpec::active_params)
      .def_readwrite("num_experts", &ModelSpec::num_experts)
      .def_readwrite("experts_per_token", &ModelSpec::experts_per_token)
      .def_property(
          "weight_dtype",
          [](const ModelSpec& s) {
            return std::string(DTypeName(s.weight_dtype));
          },
          [](ModelSpec& s, const std::string& d) {
            s.weight_dtype = ToDType(d);
          })
      .def_property(
          "kv_dtype",
          [](const ModelSpec& s) { return std::string(DTypeName(s.kv_dtype)); },
          [](ModelSpec& s, const std::string& d) { s.kv_dtype = ToDType(d); })
      .def_readwrite("kv_scale_group_size", &ModelSpec::kv_scale_group_size)
      .def_readwrite("kv_scale_bytes", &ModelSpec::kv_scale_bytes)
      .def_readwrite("layer_groups", &ModelSpec::layer_groups)
      .def_readwrite("max_context", &ModelSpec::max_context)
      .def(
          "validate", [](const ModelSpec& s) { Check(s.Validate()); },
          "Raises InvalidArgument naming the first bad field.")
      .def(
          "with_kv_dtype",
          [](const ModelSpec& s, const std::string& d) {
            return WithKvDtype(s, ToDType(d));
          },
          py::arg("dtype"), "A copy with the KV dtype (and its scales).")
      .def(
          "kv_bytes_per_token",
          [](const ModelSpec& s, int32_t tp) {
            return Value(KvBytesPerToken(s, tp));
          },
          py::arg("tensor_parallel") = 1,
          "KV bytes of one token over all layers on one device.")
      .def("weight_bytes", &ModelSpec::WeightBytes, "Bytes of all weights.")
      .def("__repr__", [](const ModelSpec& s) {
        return fmt::format("ModelSpec('{}', {} layers)", s.name, s.num_layers);
      });
}

void BindHardwareSpec(py::module_& m) {
  py::class_<HardwareSpec>(m, "HardwareSpec",
                           "One accelerator for the roofline model (SI "
                           "units: bytes, bytes/s, FLOP/s, seconds).")
      .def(py::init<>())
      .def_static(
          "preset",
          [](const std::string& n) { return Value(FindHardwarePreset(n)); },
          py::arg("name"), "The preset `name` (e.g. 'h100-sxm').")
      .def_static("preset_names", &HardwarePresetNames)
      .def_static(
          "from_json",
          [](const std::string& text, const std::string& source) {
            return Value(ParseHardwareSpecJson(text, source));
          },
          py::arg("text"), py::arg("source") = "<json>")
      .def_static(
          "load",
          [](const std::string& p) { return Value(LoadHardwareSpecFile(p)); },
          py::arg("path"))
      .def_static(
          "resolve",
          [](const std::string& s) { return Value(ResolveHardwareSpec(s)); },
          py::arg("name_or_file"))
      .def_readwrite("name", &HardwareSpec::name)
      .def_readwrite("hbm_bytes", &HardwareSpec::hbm_bytes)
      .def_readwrite("hbm_bandwidth", &HardwareSpec::hbm_bandwidth)
      .def_readwrite("peak_flops_bf16", &HardwareSpec::peak_flops_bf16)
      .def_readwrite("peak_flops_fp8", &HardwareSpec::peak_flops_fp8)
      .def_readwrite("peak_flops_int8", &HardwareSpec::peak_flops_int8)
      .def_readwrite("num_devices", &HardwareSpec::num_devices)
      .def_readwrite("interconnect_bandwidth",
                     &HardwareSpec::interconnect_bandwidth)
      .def_readwrite("interconnect_latency_seconds",
                     &HardwareSpec::interconnect_latency_seconds)
      .def_readwrite("interconnect_hop_latency_seconds",
                     &HardwareSpec::interconnect_hop_latency_seconds)
      .def_readwrite("memory_efficiency", &HardwareSpec::memory_efficiency)
      .def_readwrite("compute_efficiency", &HardwareSpec::compute_efficiency)
      .def_readwrite("compute_efficiency_8bit",
                     &HardwareSpec::compute_efficiency_8bit)
      .def_readwrite("compute_half_tokens", &HardwareSpec::compute_half_tokens)
      .def_readwrite("overlap_loss", &HardwareSpec::overlap_loss)
      .def_readwrite("step_overhead_seconds",
                     &HardwareSpec::step_overhead_seconds)
      .def_readwrite("prefill_overhead_seconds",
                     &HardwareSpec::prefill_overhead_seconds)
      .def_readwrite("prefill_layer_overhead_seconds",
                     &HardwareSpec::prefill_layer_overhead_seconds)
      .def("validate", [](const HardwareSpec& s) { Check(s.Validate()); })
      .def(
          "ridge_point",
          [](const HardwareSpec& s, const std::string& d) {
            return s.RidgePoint(ToDType(d));
          },
          py::arg("weight_dtype") = "bf16", "Peak FLOP/s over bandwidth.")
      .def("__repr__", [](const HardwareSpec& s) {
        return fmt::format("HardwareSpec('{}')", s.name);
      });
}

void BindBandwidthModel(py::module_& m) {
  py::class_<StepCost>(m, "StepCost",
                       "The estimated cost of one step (seconds, bytes, "
                       "FLOPs).")
      .def_readonly("seconds", &StepCost::seconds)
      .def_readonly("memory_seconds", &StepCost::memory_seconds)
      .def_readonly("compute_seconds", &StepCost::compute_seconds)
      .def_readonly("overhead_seconds", &StepCost::overhead_seconds)
      .def_readonly("bytes", &StepCost::bytes)
      .def_readonly("kv_read_bytes", &StepCost::kv_read_bytes)
      .def_readonly("kv_write_bytes", &StepCost::kv_write_bytes)
      .def_readonly("weight_bytes", &StepCost::weight_bytes)
      .def_readonly("flops", &StepCost::flops)
      .def_property_readonly(
          "bound",
          [](const StepCost& c) {
            return c.bound == Bound::kMemory ? "memory" : "compute";
          },
          "'memory' or 'compute'.")
      .def_readonly("arithmetic_intensity", &StepCost::arithmetic_intensity);
  py::class_<BandwidthModel>(m, "BandwidthModel",
                             "The roofline cost model of a step. Immutable; "
                             "estimate() may run from many threads.")
      .def(py::init([](const ModelArg& model, const HardwareArg& hardware,
                       int32_t tp, const std::string& granularity,
                       double activation_bytes) {
             BandwidthModelOptions o;
             o.tensor_parallel = tp;
             if (granularity == "page") {
               o.granularity = Granularity::kPage;
             } else if (granularity == "token") {
               o.granularity = Granularity::kToken;
             } else {
               ThrowInvalid(fmt::format(
                   "granularity must be 'page' or 'token', got '{}'",
                   granularity));
             }
             o.activation_bytes = activation_bytes;
             return Value(BandwidthModel::Create(ToModel(model),
                                                 ToHardware(hardware), o));
           }),
           py::arg("model"), py::arg("hardware"), py::kw_only(),
           py::arg("tensor_parallel") = 1, py::arg("granularity") = "page",
           py::arg("activation_bytes") = 2.0,
           "model and hardware are specs, preset names or JSON files.")
      .def(
          "estimate",
          [](const BandwidthModel& bw, const StepFootprint& f) {
            for (const SequenceFootprint& s : f.sequences) {
              if (static_cast<int32_t>(s.groups.size()) !=
                  bw.num_kv_cache_groups()) {
                ThrowInvalid(fmt::format(
                    "footprint of sequence {} has {} groups; the model has {}",
                    s.seq.value(), s.groups.size(), bw.num_kv_cache_groups()));
              }
            }
            if (!f.sequences.empty() && f.block_size <= 0) {
              ThrowInvalid("footprint.block_size must be > 0");
            }
            return bw.Estimate(f);
          },
          py::arg("footprint"), "The StepCost of a step's footprint.")
      .def_property_readonly("ridge_point", &BandwidthModel::RidgePoint)
      .def_property_readonly("num_kv_cache_groups",
                             &BandwidthModel::num_kv_cache_groups)
      .def_property_readonly("model", &BandwidthModel::model)
      .def_property_readonly("hardware", &BandwidthModel::hardware);
}

// Footprints of model-level steps, without a manager.
void BindFootprintBuilders(py::module_& m) {
  m.def(
      "uniform_decode_footprint",
      [](const ModelArg& model, int32_t batch, int64_t context,
         int32_t block_size) {
        if (batch < 0 || context < 0 || block_size <= 0) {
          ThrowInvalid(fmt::format(
              "need batch >= 0, context_tokens >= 0, block_size > 0; got {}, "
              "{}, {}",
              batch, context, block_size));
        }
        return UniformDecodeFootprint(ToModel(model), batch, context,
                                      block_size);
      },
      py::arg("model"), py::arg("batch"), py::arg("context_tokens"),
      py::arg("block_size") = 16,
      "The footprint of a decode step of `batch` sequences of "
      "context_tokens tokens each.");
  m.def(
      "prefill_footprint",
      [](const ModelArg& model, int64_t prompt, int64_t cached,
         int32_t block_size) {
        if (prompt <= 0 || cached < 0 || block_size <= 0) {
          ThrowInvalid(fmt::format(
              "need prompt_tokens > 0, cached_tokens >= 0, block_size > 0; "
              "got {}, {}, {}",
              prompt, cached, block_size));
        }
        return PrefillFootprint(ToModel(model), prompt, cached, block_size);
      },
      py::arg("model"), py::arg("prompt_tokens"), py::arg("cached_tokens") = 0,
      py::arg("block_size") = 16,
      "The footprint of one prefill of prompt_tokens (cached_tokens hit).");
}

std::string PlanJson(const ModelArg& model, const HardwareArg& hardware,
                     int32_t tp, std::optional<std::string> kv_dtype,
                     std::optional<std::string> weight_dtype,
                     std::optional<double> kv_memory_gib,
                     std::optional<double> util, int32_t block_size,
                     int64_t batch, std::optional<int64_t> context) {
  PlanOptions o;
  o.tensor_parallel = tp;
  if (kv_dtype) o.kv_dtype = ToDType(*kv_dtype);
  if (weight_dtype) o.weight_dtype = ToDType(*weight_dtype);
  if (kv_memory_gib && util) {
    ThrowInvalid(
        "kv_memory_gib and gpu_memory_utilization are mutually exclusive");
  }
  if (kv_memory_gib) {
    if (!(*kv_memory_gib > 0)) {
      ThrowInvalid(
          fmt::format("kv_memory_gib must be > 0, got {}", *kv_memory_gib));
    }
    o.kv_memory_bytes = *kv_memory_gib * kGiB;
  }
  if (util) o.gpu_memory_utilization = *util;
  o.block_size = block_size;
  o.batch = batch;
  if (context) {
    if (*context < 1) {
      ThrowInvalid(fmt::format("context must be >= 1, got {}", *context));
    }
    o.context = *context;
  }
  ModelSpec spec = ToModel(model);
  HardwareSpec hw = ToHardware(hardware);
  return CapacityPlanJson(
      Value(MakeCapacityPlan(std::move(spec), std::move(hw), o)));
}

}  // namespace

void BindCost(py::module_& m) {
  BindModelSpec(m);
  BindHardwareSpec(m);
  BindBandwidthModel(m);
  BindFootprintBuilders(m);
  m.def("_plan_json", &PlanJson, py::arg("model"), py::arg("hardware"),
        py::arg("tensor_parallel"), py::arg("kv_dtype"),
        py::arg("weight_dtype"), py::arg("kv_memory_gib"),
        py::arg("gpu_memory_utilization"), py::arg("block_size"),
        py::arg("batch"), py::arg("context"),
        "The JSON of `pagekv plan --json` (see pagekv.plan).");
}

}  // namespace pagekv::python
