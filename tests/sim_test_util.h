// Small simulator set-ups shared by the single-instance and cluster tests.
#ifndef PAGEKV_TESTS_SIM_TEST_UTIL_H_
#define PAGEKV_TESTS_SIM_TEST_UTIL_H_

#include <cstdint>

#include "pagekv/cost/hardware_spec.h"
#include "pagekv/cost/model_spec.h"
#include "pagekv/sim/default_workload.h"
#include "pagekv/sim/simulator.h"

namespace pagekv::testing {

inline constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// Llama-3-8B on an H100 with `kv_gib` of KV memory (128 KiB per token).
inline SimulatorConfig SmallSimConfig(double kv_gib) {
  SimulatorConfig c;
  c.model = *FindModelPreset("llama-3-8b");
  c.hardware = *FindHardwarePreset("h100-sxm");
  c.kv_memory_bytes = kv_gib * kGiB;
  return c;
}

// The default workload cut to `n` short requests at 20 req/s.
inline Workload SmallDefaultWorkload(int32_t n) {
  DefaultWorkloadOptions o;
  o.num_requests = n;
  o.arrival_rate_per_s = 20;
  o.document_min_tokens = 200;
  o.document_max_tokens = 1500;
  o.max_sequence_tokens = 4096;
  o.chat_output_mean_tokens = 60;
  o.rag_output_mean_tokens = 30;
  return *MakeDefaultWorkload(o);
}

}  // namespace pagekv::testing

#endif  // PAGEKV_TESTS_SIM_TEST_UTIL_H_
