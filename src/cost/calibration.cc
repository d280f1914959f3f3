// Calibrate(): Levenberg-Marquardt over the identifiable HardwareSpec fields.
//
// Each parameter is a coordinate of order 1 (an efficiency as is, a time in
// units of 100 us, a token count in hundreds) inside box bounds: a step is
// clamped to the box, and a coordinate on its bound whose descent points
// outward is held for that iteration (a simple active set), so every trial
// is a valid spec and a parameter whose truth is 0 can reach it. Residuals are
// log(estimate / measured), which weighs a 10% miss on a 5 ms decode like one
// on a 2 s prefill. The Jacobian is taken by central differences (the cost
// model has a max() kink where a step turns compute-bound; differences straddle
// it gracefully). A few starts (the base, and the base scaled up and down) make
// the fit independent of how far the base is from the truth; the best one wins.
#include "pagekv/cost/calibration.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "cost/hardware_fields.h"
#include "cost/str_util.h"
#include "pagekv/cost/bandwidth_model.h"

namespace pagekv {
namespace {

using internal::HardwareNumberField;

// The fields a fit may move (the JSON keys).
constexpr const char* kFittable[] = {"memory_efficiency",
                                     "compute_efficiency",
                                     "compute_efficiency_8bit",
                                     "compute_half_tokens",
                                     "overlap_loss",
                                     "step_overhead_us",
                                     "prefill_overhead_us",
                                     "prefill_layer_overhead_us",
                                     "interconnect_latency_us",
                                     "interconnect_hop_latency_us"};

// What the optimizer moves: a field of the spec, in units of `scale` (so
// every coordinate is of order 1), kept inside [lo, hi] by clamping.
struct Param {
  const HardwareNumberField* field;
  double scale;   // SI units per coordinate unit
  double lo, hi;  // bounds, SI units
};

double ToFree(const Param& p, double x) {
  return std::clamp(x, p.lo, p.hi) / p.scale;
}

double FromFree(const Param& p, double u) {
  return std::clamp(u * p.scale, p.lo, p.hi);
}

const HardwareNumberField* FieldByKey(std::string_view key) {
  for (const HardwareNumberField& f : internal::HardwareNumberFields()) {
    if (f.json_key == key) return &f;
  }
  return nullptr;
}

// The rows with their footprints, ready to be estimated many times.
struct Prepared {
  std::vector<StepFootprint> footprints;
  std::vector<int32_t> tp;
  std::vector<double> measured;
  std::set<int32_t> tps;
};

StepFootprint FootprintOf(const ModelSpec& model, const Measurement& m,
                          int32_t block_size) {
  StepFootprint fp =
      UniformDecodeFootprint(model, m.batch, m.context, block_size);
  if (m.prompt_tokens > 0) {
    SequenceFootprint prefill =
        PrefillFootprint(model, m.prompt_tokens, 0, block_size).sequences[0];
    prefill.seq = SeqId(static_cast<uint64_t>(m.batch) + 1);
    fp.sequences.push_back(std::move(prefill));
  }
  return fp;
}

absl::StatusOr<Prepared> Prepare(const ModelSpec& model,
                                 const HardwareSpec& base,
                                 const std::vector<Measurement>& rows,
                                 int32_t block_size) {
  Prepared p;
  for (const Measurement& m : rows) {
    const std::string where =
        m.line > 0 ? internal::Cat("line ", m.line) : std::string("a row");
    const int64_t longest = std::max(m.context + 1, m.prompt_tokens);
    if (model.max_context > 0 && longest > model.max_context) {
      return absl::InvalidArgumentError(internal::Cat(
          where, ": context ", longest, " exceeds the ", model.max_context,
          "-token maximum of model '", model.name, "'"));
    }
    BandwidthModelOptions o;
    o.tensor_parallel = m.tensor_parallel;
    if (absl::StatusOr<BandwidthModel> bw =
            BandwidthModel::Create(model, base, o);
        !bw.ok()) {
      return absl::InvalidArgumentError(internal::Cat(
          where, ": field 'tp': ", std::string(bw.status().message())));
    }
    p.footprints.push_back(FootprintOf(model, m, block_size));
    p.tp.push_back(m.tensor_parallel);
    p.measured.push_back(m.seconds);
    p.tps.insert(m.tensor_parallel);
  }
  return p;
}

// Evaluates the log residuals of `hw` on every row.
class Objective {
 public:
  Objective(const ModelSpec& model, const Prepared& rows)
      : model_(model), rows_(rows) {}

  // Returns false when a parameter vector yields an invalid spec.
  bool Residuals(const HardwareSpec& hw, std::vector<double>* r) const {
    std::map<int32_t, std::optional<BandwidthModel>> models;
    for (int32_t tp : rows_.tps) {
      BandwidthModelOptions o;
      o.tensor_parallel = tp;
      absl::StatusOr<BandwidthModel> m = BandwidthModel::Create(model_, hw, o);
      if (!m.ok()) return false;
      models[tp].emplace(*std::move(m));
    }
    r->resize(rows_.measured.size());
    for (size_t i = 0; i < r->size(); ++i) {
      const double est =
          models[rows_.tp[i]]->Estimate(rows_.footprints[i]).seconds;
      (*r)[i] = std::log(est / rows_.measured[i]);
    }
    return true;
  }

 private:
  const ModelSpec& model_;
  const Prepared& rows_;
};

HardwareSpec Apply(const HardwareSpec& base, const std::vector<Param>& params,
                   const std::vector<double>& u) {
  HardwareSpec hw = base;
  for (size_t j = 0; j < params.size(); ++j) {
    hw.*(params[j].field->member) = FromFree(params[j], u[j]);
  }
  return hw;
}

double SumSquares(const std::vector<double>& r) {
  double s = 0;
  for (double x : r) s += x * x;
  return s;
}

// Solves a x = b (n x n, row-major) by Gaussian elimination with partial
// pivoting; returns false when a is singular.
bool Solve(std::vector<double> a, std::vector<double> b,
           std::vector<double>* x) {
  const size_t n = b.size();
  for (size_t c = 0; c < n; ++c) {
    size_t pivot = c;
    for (size_t r = c + 1; r < n; ++r) {
      if (std::abs(a[r * n + c]) > std::abs(a[pivot * n + c])) pivot = r;
    }
    if (std::abs(a[pivot * n + c]) < 1e-300) return false;
    for (size_t k = 0; k < n; ++k) std::swap(a[c * n + k], a[pivot * n + k]);
    std::swap(b[c], b[pivot]);
    for (size_t r = c + 1; r < n; ++r) {
      const double f = a[r * n + c] / a[c * n + c];
      for (size_t k = c; k < n; ++k) a[r * n + k] -= f * a[c * n + k];
      b[r] -= f * b[c];
    }
  }
  x->assign(n, 0);
  for (size_t c = n; c-- > 0;) {
    double s = b[c];
    for (size_t k = c + 1; k < n; ++k) s -= a[c * n + k] * (*x)[k];
    (*x)[c] = s / a[c * n + c];
  }
  return true;
}

// The Jacobian of the residuals at u, by central differences, column-major
// (j[k * rows + i] = d r_i / d u_k); false if a probe was invalid.
bool Jacobian(const Objective& obj, const HardwareSpec& base,
              const std::vector<Param>& params, const std::vector<double>& u,
              size_t rows, std::vector<double>* j) {
  j->assign(rows * params.size(), 0);
  std::vector<double> plus, minus;
  for (size_t k = 0; k < params.size(); ++k) {
    const double h = 1e-6 * std::max(1.0, std::abs(u[k]));
    std::vector<double> up = u, down = u;
    up[k] += h;
    down[k] -= h;
    if (!obj.Residuals(Apply(base, params, up), &plus) ||
        !obj.Residuals(Apply(base, params, down), &minus)) {
      return false;
    }
    for (size_t i = 0; i < rows; ++i) {
      (*j)[k * rows + i] = (plus[i] - minus[i]) / (2 * h);
    }
  }
  return true;
}

// One Levenberg-Marquardt run from u; returns the final sum of squares.
double Minimize(const Objective& obj, const HardwareSpec& base,
                const std::vector<Param>& params, int32_t max_iterations,
                std::vector<double>* u) {
  const size_t n = params.size();
  std::vector<double> r;
  if (!obj.Residuals(Apply(base, params, *u), &r)) return HUGE_VAL;
  double cost = SumSquares(r);
  double lambda = 1e-3;
  std::vector<double> jac, trial_r, delta;
  for (int32_t it = 0; it < max_iterations && cost > 1e-24; ++it) {
    if (!Jacobian(obj, base, params, *u, r.size(), &jac)) break;
    std::vector<double> a(n * n, 0), g(n, 0);
    for (size_t p = 0; p < n; ++p) {
      for (size_t i = 0; i < r.size(); ++i) {
        g[p] -= jac[p * r.size() + i] * r[i];
      }
      for (size_t q = 0; q < n; ++q) {
        double s = 0;
        for (size_t i = 0; i < r.size(); ++i) {
          s += jac[p * r.size() + i] * jac[q * r.size() + i];
        }
        a[p * n + q] = s;
      }
    }
    // A coordinate on its bound whose descent leads outward stays put this
    // iteration (an active constraint), so the others move as if it were
    // fixed instead of being dragged by a step the clamp would cut.
    for (size_t p = 0; p < n; ++p) {
      const double lo = params[p].lo / params[p].scale;
      const double hi = params[p].hi / params[p].scale;
      if (((*u)[p] <= lo && g[p] < 0) || ((*u)[p] >= hi && g[p] > 0)) {
        for (size_t q = 0; q < n; ++q) a[p * n + q] = a[q * n + p] = 0;
        a[p * n + p] = 1;
        g[p] = 0;
      }
    }
    bool improved = false;
    while (lambda < 1e12) {
      std::vector<double> damped = a;
      for (size_t p = 0; p < n; ++p) {
        damped[p * n + p] += lambda * std::max(a[p * n + p], 1e-12);
      }
      std::vector<double> trial = *u;
      if (Solve(damped, g, &delta)) {
        for (size_t p = 0; p < n; ++p) {
          trial[p] =
              std::clamp(trial[p] + delta[p], params[p].lo / params[p].scale,
                         params[p].hi / params[p].scale);
        }
        if (obj.Residuals(Apply(base, params, trial), &trial_r) &&
            SumSquares(trial_r) < cost) {
          const double before = cost;
          *u = std::move(trial);
          r = trial_r;
          cost = SumSquares(r);
          lambda = std::max(lambda / 3, 1e-12);
          improved = before - cost > 1e-15 * before;
          break;
        }
      }
      lambda *= 4;
    }
    if (!improved) break;
  }
  return cost;
}

std::vector<Param> ParamsFor(const std::vector<std::string>& keys) {
  std::vector<Param> params;
  for (const std::string& key : keys) {
    const HardwareNumberField* f = FieldByKey(key);
    if (key == "overlap_loss") {
      params.push_back(Param{f, 1, 0, 1});
    } else if (f->max == 1) {  // an efficiency
      params.push_back(Param{f, 1, 0.01, 1});
    } else if (key == "compute_half_tokens") {
      params.push_back(Param{f, 100, 0, 1e6});
    } else {  // a time: 100 us per unit, up to a second
      params.push_back(Param{f, 1e-4, 0, 1});
    }
  }
  return params;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

std::vector<std::string> FitParameters(
    const ModelSpec& model, const HardwareSpec& base,
    const std::vector<Measurement>& measurements) {
  bool decode_only = false, prefill = false;
  std::set<int64_t> prompts;
  std::set<int32_t> tps;
  for (const Measurement& m : measurements) {
    decode_only |= m.prompt_tokens == 0;
    prefill |= m.prompt_tokens > 0;
    if (m.prompt_tokens > 0) prompts.insert(m.prompt_tokens + m.batch);
    if (m.tensor_parallel > 1) tps.insert(m.tensor_parallel);
  }
  const bool eight_bit =
      (model.weight_dtype == DType::kFp8 && base.peak_flops_fp8 > 0) ||
      (model.weight_dtype == DType::kInt8 && base.peak_flops_int8 > 0);
  std::vector<std::string> wanted = {"memory_efficiency"};
  if (prefill) {
    wanted.push_back(eight_bit ? "compute_efficiency_8bit"
                               : "compute_efficiency");
  }
  if (prompts.size() >= 2) wanted.push_back("overlap_loss");
  if (prompts.size() >= 3) wanted.push_back("compute_half_tokens");
  if (decode_only) wanted.push_back("step_overhead_us");
  if (prefill) wanted.push_back("prefill_overhead_us");
  if (!tps.empty()) wanted.push_back("interconnect_latency_us");
  if (tps.size() >= 2) wanted.push_back("interconnect_hop_latency_us");
  // In the field table's order, so reports list them as spec files do.
  std::vector<std::string> keys;
  for (const HardwareNumberField& f : internal::HardwareNumberFields()) {
    if (std::find(wanted.begin(), wanted.end(), f.json_key) != wanted.end()) {
      keys.emplace_back(f.json_key);
    }
  }
  return keys;
}

absl::StatusOr<CalibrationResult> Calibrate(
    const ModelSpec& model, const HardwareSpec& base,
    const std::vector<Measurement>& measurements,
    const CalibrationOptions& options) {
  if (options.block_size <= 0 || options.max_iterations <= 0) {
    return absl::InvalidArgumentError(internal::Cat(
        "calibration: block_size (", options.block_size,
        ") and max_iterations (", options.max_iterations, ") must be > 0"));
  }
  if (measurements.empty()) {
    return absl::InvalidArgumentError("calibration: no measurements");
  }
  absl::StatusOr<Prepared> rows =
      Prepare(model, base, measurements, options.block_size);
  if (!rows.ok()) return rows.status();
  CalibrationResult result;
  result.fitted = FitParameters(model, base, measurements);
  if (!options.fit.empty()) {
    for (const std::string& key : options.fit) {
      if (std::find(std::begin(kFittable), std::end(kFittable), key) ==
          std::end(kFittable)) {
        return absl::InvalidArgumentError(internal::Cat(
            "calibration: cannot fit field '", key,
            "' (fittable: ", absl::StrJoin(kFittable, ", "), ")"));
      }
    }
    result.fitted.clear();
    for (const HardwareNumberField& f : internal::HardwareNumberFields()) {
      if (std::find(options.fit.begin(), options.fit.end(), f.json_key) !=
          options.fit.end()) {
        result.fitted.emplace_back(f.json_key);
      }
    }
  }
  if (measurements.size() < result.fitted.size()) {
    return absl::InvalidArgumentError(internal::Cat(
        measurements.size(), " measurements cannot determine the ",
        result.fitted.size(), " parameters they touch; add rows"));
  }
  const std::vector<Param> params = ParamsFor(result.fitted);
  const Objective objective(model, *rows);
  std::vector<double> best;
  double best_cost = HUGE_VAL;
  for (const double scale : {1.0, 0.5, 2.0}) {
    std::vector<double> u;
    for (const Param& p : params) {
      const double x = base.*(p.field->member);
      u.push_back(ToFree(p, (x > 0 ? x : p.scale) * scale));
    }
    const double cost =
        Minimize(objective, base, params, options.max_iterations, &u);
    if (cost < best_cost) best_cost = cost, best = u;
  }
  result.hardware = Apply(base, params, best);
  std::vector<double> r;
  objective.Residuals(result.hardware, &r);
  std::vector<double> abs_errors;
  for (size_t i = 0; i < r.size(); ++i) {
    const double est = rows->measured[i] * std::exp(r[i]);
    result.estimated_seconds.push_back(est);
    result.relative_errors.push_back(est / rows->measured[i] - 1);
    abs_errors.push_back(std::abs(result.relative_errors.back()));
  }
  result.median_abs_error = Median(abs_errors);
  result.max_abs_error =
      *std::max_element(abs_errors.begin(), abs_errors.end());
  return result;
}

}  // namespace pagekv
