// libFuzzer target: model and hardware spec JSON. The first byte picks the
// parser; the rest is the JSON text. An accepted spec must pass Validate()
// and its derived figures must be computable (UBSan watches the arithmetic);
// a rejected one must be InvalidArgument or NotFound naming the source.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"

namespace {

void Fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "spec_fuzzer: %s: %.*s\n", what,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

void CheckError(const absl::Status& st, std::string_view source) {
  if (st.code() != absl::StatusCode::kInvalidArgument &&
      st.code() != absl::StatusCode::kNotFound) {
    Fail("unexpected error code", st.ToString());
  }
  if (std::string(st.message()).find(source) == std::string::npos) {
    Fail("error does not name the source", st.ToString());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view json(reinterpret_cast<const char*>(data) + 1,
                              size - 1);
  if (data[0] & 1) {
    constexpr std::string_view kSource = "fuzz/hardware.json";
    auto hw = pagekv::ParseHardwareSpecJson(json, kSource);
    if (!hw.ok()) {
      CheckError(hw.status(), kSource);
      return 0;
    }
    if (absl::Status st = hw->Validate(); !st.ok()) {
      Fail("accepted hardware spec fails Validate()", st.ToString());
    }
    (void)hw->PeakFlops(pagekv::DType::kBf16);
    (void)hw->RidgePoint();
    return 0;
  }
  constexpr std::string_view kSource = "fuzz/model.json";
  auto model = pagekv::ParseModelSpecJson(json, kSource);
  if (!model.ok()) {
    CheckError(model.status(), kSource);
    return 0;
  }
  if (absl::Status st = model->Validate(); !st.ok()) {
    Fail("accepted model spec fails Validate()", st.ToString());
  }
  (void)model->EffectiveLayerGroups();
  (void)model->KvBytesPerToken();
  (void)model->WeightBytes();
  (void)model->ActiveWeightBytes();
  (void)model->StepWeightBytes(4096);
  return 0;
}
