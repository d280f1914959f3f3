// Calibration: fitting a HardwareSpec's efficiency, overhead and all-reduce
// parameters to step times measured on a real engine, so the simulator
// matches that engine.
//
// A measurement table is a CSV file with a header line naming its columns,
// in any order:
//
//   batch          decoding sequences in the step (>= 0)
//   context        tokens each of them holds before the step (>= 0)
//   prompt_tokens  tokens of one prefill in the same step (>= 0; 0 = none)
//   tp             tensor-parallel degree (optional column, default 1)
//   step_ms        the measured step time, or
//   ttft_ms        the measured time to first token of the prefill
//
// Each row needs batch > 0 or prompt_tokens > 0 and exactly one of step_ms
// and ttft_ms (both columns may exist; the other cell is left empty). A
// TTFT row is timed as the one step that computes the whole prompt. Blank
// lines and lines starting with '#' are skipped.
//
// The fit minimizes the squared log errors log(estimate / measured) over
// the parameters the table can identify (see FitParameters) with
// Levenberg-Marquardt; docs/cost-model.md describes the method.
//
// Thread-safety: pure functions.
#ifndef PAGEKV_COST_CALIBRATION_H_
#define PAGEKV_COST_CALIBRATION_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"

namespace pagekv {

// One measured step.
struct Measurement {
  int32_t batch = 0;            // >= 0
  int64_t context = 0;          // >= 0
  int64_t prompt_tokens = 0;    // >= 0; batch + prompt_tokens > 0
  int32_t tensor_parallel = 1;  // >= 1
  double seconds = 0;           // > 0, measured
  bool ttft = false;            // read from the ttft_ms column
  int64_t line = 0;             // 1-based line of the CSV file, 0 = none
};

// Returns the rows of a measurement table, or InvalidArgument naming
// `source`, the line and the column of the first bad cell (or the missing
// or unknown column).
absl::StatusOr<std::vector<Measurement>> ParseMeasurementsCsv(
    std::string_view text, std::string_view source);
// Reads and parses a file; NotFound when it cannot be opened.
absl::StatusOr<std::vector<Measurement>> LoadMeasurementsCsv(
    const std::string& path);

struct CalibrationOptions {
  int32_t block_size = 16;       // > 0, pages of the estimated KV reads
  int32_t max_iterations = 300;  // > 0, per start of the optimizer
  // The fields to fit, by JSON key (any of FitParameters' candidates);
  // empty = FitParameters(). The others keep the base's values.
  std::vector<std::string> fit;
};

struct CalibrationResult {
  HardwareSpec hardware;  // the base with the fitted fields replaced
  // The fitted fields, by their JSON keys, in HardwareNumberFields order.
  std::vector<std::string> fitted;
  // Per measurement, in input order: the fitted estimate and its error
  // (estimate / measured - 1).
  std::vector<double> estimated_seconds;
  std::vector<double> relative_errors;
  double median_abs_error = 0;
  double max_abs_error = 0;
};

// Returns the JSON keys of the fields `measurements` can identify:
// memory_efficiency always; step_overhead_us with a step of decodes only;
// compute_efficiency (or compute_efficiency_8bit, per the model's weights)
// and prefill_overhead_us with a prefill; overlap_loss with two distinct
// prefill sizes and compute_half_tokens with three; interconnect_latency_us
// with a tp > 1 row and interconnect_hop_latency_us with two distinct tp > 1.
std::vector<std::string> FitParameters(
    const ModelSpec& model, const HardwareSpec& base,
    const std::vector<Measurement>& measurements);

// Fits `base` to the measurements. Returns InvalidArgument naming a key of
// options.fit that is not a fittable field, the line
// of a row the model cannot run (tp that does not divide the heads or
// exceeds the devices, a context past the model's maximum) or when there
// are fewer rows than fitted parameters.
absl::StatusOr<CalibrationResult> Calibrate(
    const ModelSpec& model, const HardwareSpec& base,
    const std::vector<Measurement>& measurements,
    const CalibrationOptions& options = {});

}  // namespace pagekv

#endif  // PAGEKV_COST_CALIBRATION_H_
