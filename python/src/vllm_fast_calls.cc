// The C builtins pagekv.vllm installs on its objects: allocate_slots with
// vLLM's signature (one METH_FASTCALL call, no pybind11 dispatch and no
// Python frame) and get_block_ids of the empty allocation result, which a
// decode step gets back for most requests.
#include <Python.h>

#include "vllm_core.h"

namespace pagekv::python {
namespace {

namespace py = pybind11;
using vllm::ReqHandle;

PyObject* RequestIdName() {
  static PyObject* name = InternedName("request_id");
  return name;
}
PyObject* BlocksName() {
  static PyObject* name = InternedName("blocks");
  return name;
}

// allocate_slots with vLLM's signature as one METH_FASTCALL builtin bound
// to a manager (pybind11's argument parsing costs more than the call does
// on the decode path). The adapter installs it as the manager instance's
// allocate_slots; its Python method of the same name is the reference.
struct FastAlloc {
  PyObject* core_obj;  // owned: keeps the Core alive
  VllmCore* core;
  PyObject* handles;       // owned: the adapter's request_id -> handle dict
  PyObject* new_handle;    // owned: the adapter's _new_handle
  PyObject* empty_blocks;  // owned: the adapter's empty KVCacheBlocks
  PyObject* blocks_cls;    // owned: KVCacheBlocks
};

constexpr const char* kAllocArgs[] = {"request",
                                      "num_new_tokens",
                                      "num_new_computed_tokens",
                                      "new_computed_blocks",
                                      "num_lookahead_tokens",
                                      "num_external_computed_tokens",
                                      "delay_cache_blocks",
                                      "num_encoder_tokens",
                                      "full_sequence_must_fit"};
constexpr int kNumAllocArgs = 9;

void FreeFastAlloc(PyObject* capsule) {
  auto* f = static_cast<FastAlloc*>(PyCapsule_GetPointer(capsule, nullptr));
  Py_XDECREF(f->core_obj);
  Py_XDECREF(f->handles);
  Py_XDECREF(f->new_handle);
  Py_XDECREF(f->empty_blocks);
  Py_XDECREF(f->blocks_cls);
  delete f;
}

// The index of keyword `name` in kAllocArgs, or kNumAllocArgs. Keyword
// names in a call are interned, so identity finds them; equal strings that
// are not interned still match.
int ArgIndex(PyObject* name) {
  static PyObject** interned = [] {
    auto** names = new PyObject*[kNumAllocArgs];
    for (int i = 0; i < kNumAllocArgs; ++i)
      names[i] = InternedName(kAllocArgs[i]);
    return names;
  }();
  for (int i = 0; i < kNumAllocArgs; ++i) {
    if (name == interned[i]) return i;
  }
  int i = 0;
  while (i < kNumAllocArgs &&
         PyUnicode_CompareWithASCIIString(name, kAllocArgs[i]) != 0) {
    ++i;
  }
  return i;
}

// KVCacheBlocks(blocks) without running its Python __init__ (which only
// stores the tuple): object.__new__ and the `blocks` slot.
PyObject* NewBlocks(PyObject* cls, PyObject* blocks) {
  static PyObject* no_args = PyTuple_New(0);
  auto* type = reinterpret_cast<PyTypeObject*>(cls);
  PyObject* obj = type->tp_new(type, no_args, nullptr);
  if (obj && PyObject_SetAttr(obj, BlocksName(), blocks) != 0) {
    Py_CLEAR(obj);
  }
  return obj;
}

bool Collect(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
             PyObject** out) {
  if (nargs > kNumAllocArgs) {
    PyErr_SetString(PyExc_TypeError, "allocate_slots: too many arguments");
    return false;
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) out[i] = args[i];
  const Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t k = 0; k < nk; ++k) {
    PyObject* name = PyTuple_GET_ITEM(kwnames, k);
    const int i = ArgIndex(name);
    if (i == kNumAllocArgs || out[i] != nullptr) {
      PyErr_Format(PyExc_TypeError,
                   "allocate_slots() got an unexpected or repeated "
                   "argument '%U'",
                   name);
      return false;
    }
    out[i] = args[nargs + k];
  }
  if (!out[0] || !out[1]) {
    PyErr_SetString(PyExc_TypeError,
                    "allocate_slots() needs request and num_new_tokens");
    return false;
  }
  return true;
}

int64_t IntArg(PyObject* o) {
  if (!o) return 0;
  const long long v = PyLong_AsLongLong(o);
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  return v;
}

bool BoolArg(PyObject* o) {
  if (!o) return false;
  const int v = PyObject_IsTrue(o);
  if (v < 0) throw py::error_already_set();
  return v != 0;
}

// The request's handle: from the objects seen before, else from the
// adapter's request_id dict (making one if the request is new).
ReqHandle HandleOf(const FastAlloc& f, PyObject* req) {
  ReqHandle h = f.core->known.Find(req);
  if (h >= 0) return h;
  py::object rid =
      py::reinterpret_steal<py::object>(PyObject_GetAttr(req, RequestIdName()));
  if (!rid) throw py::error_already_set();
  PyObject* h_obj = PyDict_GetItemWithError(f.handles, rid.ptr());
  py::object made;
  if (!h_obj) {
    if (PyErr_Occurred()) throw py::error_already_set();
    made = py::reinterpret_steal<py::object>(
        PyObject_CallOneArg(f.new_handle, req));
    if (!made) throw py::error_already_set();
    h_obj = made.ptr();
  }
  h = static_cast<ReqHandle>(IntArg(h_obj));
  f.core->known.Remember(req, h);
  return h;
}

PyObject* FastAllocate(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                       PyObject* kwnames) {
  auto* f = static_cast<FastAlloc*>(PyCapsule_GetPointer(self, nullptr));
  PyObject* a[kNumAllocArgs] = {};
  if (!Collect(args, nargs, kwnames, a)) return nullptr;
  try {
    if (IntArg(a[7]) != 0) {
      PyErr_SetString(PyExc_NotImplementedError,
                      "pagekv.vllm has no cross-attention groups "
                      "(num_encoder_tokens != 0)");
      return nullptr;
    }
    const ReqHandle h = HandleOf(*f, a[0]);
    py::object nc = py::none();
    if (a[3] && a[3] != Py_None) {
      nc = py::reinterpret_steal<py::object>(
          PyObject_GetAttr(a[3], BlocksName()));
      if (!nc) throw py::error_already_set();
      if (nc.is(f->core->empty)) nc = py::none();
    }
    py::object r =
        VllmAllocate(*f->core, h, a[0], IntArg(a[1]), IntArg(a[2]), nc,
                     IntArg(a[4]), IntArg(a[5]), BoolArg(a[6]), BoolArg(a[8]));
    if (r.is_none()) Py_RETURN_NONE;
    if (r.is(f->core->empty)) {
      Py_INCREF(f->empty_blocks);
      return f->empty_blocks;
    }
    return NewBlocks(f->blocks_cls, r.ptr());
  } catch (py::error_already_set& e) {
    e.restore();
    return nullptr;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
}

PyMethodDef kFastAllocDef = {
    "allocate_slots",
    reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&FastAllocate)),
    METH_FASTCALL | METH_KEYWORDS,
    "allocate_slots(request, num_new_tokens, num_new_computed_tokens=0, "
    "new_computed_blocks=None, num_lookahead_tokens=0, "
    "num_external_computed_tokens=0, delay_cache_blocks=False, "
    "num_encoder_tokens=0, full_sequence_must_fit=False): vLLM's "
    "allocate_slots in C (see KVCacheManager.allocate_slots)."};

// get_block_ids(allow_none=False) of an empty KVCacheBlocks `self`: None
// with allow_none, else one new empty list per group.
PyObject* EmptyBlockIds(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                        PyObject* kwnames) {
  static PyObject* allow_none_name = InternedName("allow_none");
  const Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  PyObject* kw = nk == 1 ? PyTuple_GET_ITEM(kwnames, 0) : nullptr;
  if (nargs + nk > 1 ||
      (kw && kw != allow_none_name &&
       PyUnicode_CompareWithASCIIString(kw, "allow_none") != 0)) {
    PyErr_SetString(PyExc_TypeError,
                    "get_block_ids() takes one argument, allow_none");
    return nullptr;
  }
  if (nargs + nk == 1) {
    const int allow_none = PyObject_IsTrue(args[0]);
    if (allow_none < 0) return nullptr;
    if (allow_none) Py_RETURN_NONE;
  }
  PyObject* blocks = PyObject_GetAttr(self, BlocksName());
  if (!blocks) return nullptr;
  const Py_ssize_t groups = PyObject_Length(blocks);
  Py_DECREF(blocks);
  if (groups < 0) return nullptr;
  PyObject* out = PyTuple_New(groups);
  if (!out) return nullptr;
  for (Py_ssize_t g = 0; g < groups; ++g) {
    PyObject* list = PyList_New(0);
    if (!list) {
      Py_DECREF(out);
      return nullptr;
    }
    PyTuple_SET_ITEM(out, g, list);
  }
  return out;
}

PyMethodDef kEmptyBlockIdsDef = {
    "get_block_ids",
    reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&EmptyBlockIds)),
    METH_FASTCALL | METH_KEYWORDS,
    "get_block_ids(allow_none=False): ([], ...) per group, or None with "
    "allow_none (an empty KVCacheBlocks)."};

// allocate_slots' argument handling alone, returning `self` (an empty
// KVCacheBlocks): the cost any C allocate_slots pays before doing work.
PyObject* CallFloor(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                    PyObject* kwnames) {
  PyObject* a[kNumAllocArgs] = {};
  if (!Collect(args, nargs, kwnames, a)) return nullptr;
  Py_INCREF(self);
  return self;
}

PyMethodDef kCallFloorDef = {
    "allocate_slots_floor",
    reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&CallFloor)),
    METH_FASTCALL | METH_KEYWORDS,
    "allocate_slots' signature with no work: returns the empty result (for "
    "bench/python/vllm_bench.py's floor)."};

}  // namespace

py::object MakeCallFloor(py::object empty_blocks) {
  PyObject* fn = PyCFunction_New(&kCallFloorDef, empty_blocks.ptr());
  if (!fn) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(fn);
}

py::object MakeFastAllocate(py::object core_obj, py::object handles,
                            py::object new_handle, py::object empty_blocks,
                            py::object blocks_cls) {
  if (!PyType_Check(blocks_cls.ptr())) {
    throw py::type_error("make_fast_allocate: KVCacheBlocks must be a class");
  }
  auto* f =
      new FastAlloc{core_obj.release().ptr(),     nullptr,
                    handles.release().ptr(),      new_handle.release().ptr(),
                    empty_blocks.release().ptr(), blocks_cls.release().ptr()};
  f->core = py::handle(f->core_obj).cast<VllmCore*>();
  // Unnamed: PyCapsule_GetPointer then skips a strcmp on every call.
  py::object capsule = py::reinterpret_steal<py::object>(
      PyCapsule_New(f, nullptr, &FreeFastAlloc));
  if (!capsule) throw py::error_already_set();
  PyObject* fn = PyCFunction_New(&kFastAllocDef, capsule.ptr());
  if (!fn) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(fn);
}

void InstallEmptyBlockIds(py::type cls) {
  // A method descriptor, not a builtin stored on the class: CPython then
  // specializes the scheduler's `blocks.get_block_ids(...)` lookup.
  PyObject* descr = PyDescr_NewMethod(
      reinterpret_cast<PyTypeObject*>(cls.ptr()), &kEmptyBlockIdsDef);
  if (!descr) throw py::error_already_set();
  const int rc = PyObject_SetAttrString(cls.ptr(), "get_block_ids", descr);
  Py_DECREF(descr);
  if (rc != 0) throw py::error_already_set();
}

}  // namespace pagekv::python
