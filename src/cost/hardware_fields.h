// HardwareSpec's floating-point fields as a table: the struct's name, how a
// JSON spec file spells it (key and unit) and the valid range.
//
// HardwareSpec::Validate() and the JSON reader both walk this one table, so
// the rules live in one place and an error names the field the way the
// reader of the message wrote it: `hbm_bytes` for code that filled in the
// struct, `hbm_gb` (in GB) for a spec file.
#ifndef PAGEKV_COST_HARDWARE_FIELDS_H_
#define PAGEKV_COST_HARDWARE_FIELDS_H_

#include <string>
#include <string_view>

#include "absl/types/span.h"
#include "pagekv/cost/hardware_spec.h"

namespace pagekv::internal {

struct HardwareNumberField {
  double HardwareSpec::*member;
  std::string_view name;      // the struct's field, e.g. "hbm_bytes"
  std::string_view json_key;  // the spec file's key, e.g. "hbm_gb"
  double json_unit;           // struct units per JSON unit, e.g. 1e9
  // Valid range, in the struct's units: (min, max] or [min, max]. The upper
  // bounds are far beyond any real device; they keep derived figures (token
  // counts, simulated times) finite and inside int64.
  double min;
  bool min_inclusive;
  double max;
};

// Returns every double field of HardwareSpec, in declaration order.
absl::Span<const HardwareNumberField> HardwareNumberFields();

// Returns "" when `value` (in the struct's units times `unit`, i.e. the
// bounds are divided by `unit`) is a finite number in f's range, else
// "must be in (0, 1e+06], got -80". Pass unit = 1 for the struct's units and
// f.json_unit for the file's.
std::string HardwareFieldRangeError(const HardwareNumberField& f, double value,
                                    double unit);

}  // namespace pagekv::internal

#endif  // PAGEKV_COST_HARDWARE_FIELDS_H_
