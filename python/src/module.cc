// The _pagekv extension module; the pagekv package re-exports it.
#include "bindings.h"
#include "pybind11/pybind11.h"
#include "status.h"

PYBIND11_MODULE(_pagekv, m) {
  m.doc() =
      "pagekv's C++ core: the paged KV-cache manager, the cost model and "
      "the simulator. Import the pagekv package rather than this module.";
  m.attr("__version__") = PAGEKV_VERSION;
  pagekv::python::InitErrors();
  pagekv::python::BindTypes(m);
  pagekv::python::BindManager(m);
  pagekv::python::BindCost(m);
  pagekv::python::BindSim(m);
  pagekv::python::BindRemote(m);
  pagekv::python::BindVllm(m);
}
