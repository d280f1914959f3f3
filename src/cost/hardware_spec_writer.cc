// HardwareSpecToJson: the inverse of ParseHardwareSpecJson, walking the same
// field table so a new field is written as soon as it can be read.
#include <string>

#include "cost/hardware_fields.h"
#include "nlohmann/json.hpp"
#include "pagekv/cost/hardware_spec.h"

namespace pagekv {

std::string HardwareSpecToJson(const HardwareSpec& spec) {
  nlohmann::ordered_json j;
  j["name"] = spec.name;
  for (const internal::HardwareNumberField& f :
       internal::HardwareNumberFields()) {
    j[std::string(f.json_key)] = spec.*f.member / f.json_unit;
  }
  j["num_devices"] = spec.num_devices;
  return j.dump(2) + "\n";
}

}  // namespace pagekv
