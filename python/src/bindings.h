// The pieces of the _pagekv extension module, one per binding file, and the
// Python-side configuration object the manager binding shares with them.
#ifndef PAGEKV_PYTHON_BINDINGS_H_
#define PAGEKV_PYTHON_BINDINGS_H_

#include "pagekv/kv_cache_config.h"
#include "pybind11/pybind11.h"

namespace pagekv::python {

// KVCacheConfig as Python sees it: the C++ config plus the Python clock
// object it points to (kept alive with it).
struct PyKVCacheConfig {
  KVCacheConfig config;
  pybind11::object clock;  // a ManualClock, or None for the steady clock
};

void BindTypes(pybind11::module_& m);    // bind_types.cc
void BindManager(pybind11::module_& m);  // bind_manager.cc
void BindCost(pybind11::module_& m);     // bind_cost.cc
void BindSim(pybind11::module_& m);      // bind_sim.cc
void BindRemote(pybind11::module_& m);   // bind_remote.cc
void BindVllm(pybind11::module_& m);     // bind_vllm.cc

}  // namespace pagekv::python

#endif  // PAGEKV_PYTHON_BINDINGS_H_
