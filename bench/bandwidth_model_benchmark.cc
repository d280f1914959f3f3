// Cost of one BandwidthModel::Estimate() call, which a simulator makes once
// per step: O(sequences * groups) arithmetic, no allocation.
#include "benchmark/benchmark.h"
#include "pagekv/cost/bandwidth_model.h"

namespace pagekv {
namespace {

void BM_EstimateDecodeStep(benchmark::State& state) {
  absl::StatusOr<BandwidthModel> model =
      BandwidthModel::FromNames("llama-3-8b", "h100-sxm");
  if (!model.ok()) {
    state.SkipWithError("cannot build the llama-3-8b/h100-sxm model");
    return;
  }
  const StepFootprint footprint = UniformDecodeFootprint(
      model->model(), static_cast<int32_t>(state.range(0)), 2000, 16);
  for (auto _ : state) {
    StepCost cost = model->Estimate(footprint);
    benchmark::DoNotOptimize(cost);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_EstimateDecodeStep)->Arg(1)->Arg(64)->Arg(1024);

void BM_EstimatePrefillStep(benchmark::State& state) {
  absl::StatusOr<BandwidthModel> model =
      BandwidthModel::FromNames("mistral-7b", "a100-80gb");
  if (!model.ok()) {
    state.SkipWithError("cannot build the mistral-7b/a100-80gb model");
    return;
  }
  const StepFootprint footprint =
      PrefillFootprint(model->model(), state.range(0), 0, 16);
  for (auto _ : state) {
    StepCost cost = model->Estimate(footprint);
    benchmark::DoNotOptimize(cost);
  }
}
BENCHMARK(BM_EstimatePrefillStep)->Arg(8192);

}  // namespace
}  // namespace pagekv
