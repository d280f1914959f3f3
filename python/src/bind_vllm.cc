// pagekv._pagekv._vllm.Core: the C++ VllmManager for the pagekv.vllm
// adapter (python/pagekv/vllm.py), which does the duck typing and owns the
// Python block objects. Not a public API: import pagekv.vllm.
//
// Each call that takes a request object first brings the C++ copy of its
// tokens and block hashes up to date, reading only the new tail of
// `request.all_token_ids` and `request.block_hashes` (a list is read in
// place; any other sequence is sliced once). Results come back as the
// adapter's block objects (one per block id, from set_block_objects), so
// no Python list of ids is built on the hot path. All calls hold the GIL:
// they are short, and the scheduler calls from one thread.
#include <Python.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings.h"
#include "pagekv/vllm/manager.h"
#include "pybind11/numpy.h"
#include "pybind11/stl.h"
#include "status.h"

namespace pagekv::python {
namespace {

namespace py = pybind11;
using vllm::ReqHandle;
using vllm::VllmManager;
using IdLists = std::vector<std::vector<int32_t>>;

struct Names {
  py::str all_token_ids{"all_token_ids"}, block_hashes{"block_hashes"},
      num_tokens{"num_tokens"}, num_computed_tokens{"num_computed_tokens"},
      block_id{"block_id"};
};
const Names& N() {
  static const Names* names = new Names();
  return *names;
}

int64_t AttrInt(py::handle obj, const py::str& name) {
  py::object v = py::reinterpret_steal<py::object>(
      PyObject_GetAttr(obj.ptr(), name.ptr()));
  if (!v) throw py::error_already_set();
  const long long x = PyLong_AsLongLong(v.ptr());
  if (x == -1 && PyErr_Occurred()) throw py::error_already_set();
  return x;
}

// seq[from:] as a list or tuple (the object itself when it is one).
py::object Tail(py::handle seq, Py_ssize_t from, Py_ssize_t* offset) {
  if (PyList_Check(seq.ptr()) || PyTuple_Check(seq.ptr())) {
    *offset = from;
    return py::reinterpret_borrow<py::object>(seq);
  }
  *offset = 0;
  py::object s = py::reinterpret_steal<py::object>(
      PySlice_New(py::int_(from).ptr(), Py_None, Py_None));
  py::object t =
      py::reinterpret_steal<py::object>(PyObject_GetItem(seq.ptr(), s.ptr()));
  if (!t) throw py::error_already_set();
  if (!PyList_Check(t.ptr()) && !PyTuple_Check(t.ptr())) {
    t = py::reinterpret_steal<py::object>(PySequence_List(t.ptr()));
    if (!t) throw py::error_already_set();
  }
  return t;
}

PyObject* Item(PyObject* seq, Py_ssize_t i) {
  return PyList_Check(seq) ? PyList_GET_ITEM(seq, i) : PyTuple_GET_ITEM(seq, i);
}

struct Core {
  std::unique_ptr<VllmManager> m;
  py::list objs;    // the adapter's block object per id
  py::tuple empty;  // returned for "no blocks in any group"
  IdLists scratch, hit;
  std::vector<TokenId> tokens;
  // The last hit handed out, so allocate can take it back without reading
  // block ids off the objects again.
  py::object last_hit_obj;
  IdLists last_hit;

  void Sync(ReqHandle h, py::handle req) {
    py::object toks = py::reinterpret_steal<py::object>(
        PyObject_GetAttr(req.ptr(), N().all_token_ids.ptr()));
    if (!toks) throw py::error_already_set();
    const Py_ssize_t n = PyObject_Length(toks.ptr());
    if (n < 0) throw py::error_already_set();
    const Py_ssize_t have = m->NumTokens(h);
    if (n < have) {
      ThrowInvalid("request.all_token_ids has " + std::to_string(n) +
                   " tokens, fewer than the " + std::to_string(have) +
                   " the manager has seen: tokens are append-only");
    }
    if (n > have && ReadBuffer(toks, have, n, h)) {
      // An int32 array, read in place.
    } else if (n > have) {
      Py_ssize_t off;
      py::object t = Tail(toks, have, &off);
      tokens.clear();
      for (Py_ssize_t i = off; i < off + (n - have); ++i) {
        const long long v = PyLong_AsLongLong(Item(t.ptr(), i));
        if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
        if (v < INT32_MIN || v > INT32_MAX) {
          ThrowInvalid("request.all_token_ids[" +
                       std::to_string(have + i - off) +
                       "] = " + std::to_string(v) +
                       " does not fit the 32-bit signed range");
        }
        tokens.push_back(static_cast<TokenId>(v));
      }
      m->AppendTokens(h, tokens);
    }
    SyncKeys(h, req);
  }

  // Appends tokens [have, n) from a C-contiguous 1-D int32 buffer (a NumPy
  // array); false (nothing read) for anything else.
  bool ReadBuffer(py::handle toks, Py_ssize_t have, Py_ssize_t n, ReqHandle h) {
    if (PyList_Check(toks.ptr()) || !PyObject_CheckBuffer(toks.ptr())) {
      return false;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(toks.ptr(), &view, PyBUF_ND | PyBUF_FORMAT) != 0) {
      PyErr_Clear();
      return false;
    }
    const bool ok = view.ndim == 1 && view.itemsize == 4 && view.format &&
                    (view.format[0] == 'i' || view.format[0] == '=' ||
                     view.format[0] == '<') &&
                    (view.format[0] == 'i' || view.format[1] == 'i') &&
                    view.shape[0] == n;
    if (ok) {
      const auto* data = static_cast<const TokenId*>(view.buf);
      m->AppendTokens(h, absl::MakeConstSpan(data + have, n - have));
    }
    PyBuffer_Release(&view);
    return ok;
  }

  void SyncKeys(ReqHandle h, py::handle req) {
    if (!m->config().enable_caching) return;
    py::object hashes = py::reinterpret_steal<py::object>(
        PyObject_GetAttr(req.ptr(), N().block_hashes.ptr()));
    if (!hashes) throw py::error_already_set();
    const Py_ssize_t n = PyObject_Length(hashes.ptr());
    if (n < 0) throw py::error_already_set();
    const Py_ssize_t have = m->NumVllmKeys(h);
    if (n <= have) return;
    Py_ssize_t off;
    py::object t = Tail(hashes, have, &off);
    for (Py_ssize_t i = off; i < off + (n - have); ++i) {
      PyObject* b = Item(t.ptr(), i);
      char* data;
      Py_ssize_t len;
      if (PyBytes_AsStringAndSize(b, &data, &len) != 0) {
        throw py::error_already_set();
      }
      m->AppendVllmKey(h, absl::string_view(data, len));
    }
  }

  // Block objects for ids, per group, or the shared empty tuple.
  py::object Objects(const IdLists& ids) {
    bool any = false;
    for (const auto& g : ids) any |= !g.empty();
    if (!any) return empty;
    py::tuple out(ids.size());
    for (size_t g = 0; g < ids.size(); ++g) {
      PyObject* list = PyList_New(ids[g].size());
      for (size_t i = 0; i < ids[g].size(); ++i) {
        PyObject* o = PyList_GET_ITEM(objs.ptr(), ids[g][i]);
        Py_INCREF(o);
        PyList_SET_ITEM(list, i, o);
      }
      PyTuple_SET_ITEM(out.ptr(), g, list);
    }
    return out;
  }

  // Block ids of a KVCacheBlocks.blocks tuple (lists of block objects).
  void Ids(py::handle groups, IdLists* out) {
    if (groups.is(last_hit_obj)) {
      bool same = true;
      for (size_t g = 0; g < last_hit.size(); ++g) {
        same &= PyObject_Length(Item(groups.ptr(), g)) ==
                static_cast<Py_ssize_t>(last_hit[g].size());
      }
      if (same) {
        *out = last_hit;
        return;
      }
    }
    out->clear();
    for (py::handle group : groups) {
      out->emplace_back();
      for (py::handle blk : group) {
        out->back().push_back(static_cast<int32_t>(AttrInt(blk, N().block_id)));
      }
    }
  }
};

py::object Allocate(Core& c, ReqHandle h, py::handle req, int64_t num_new,
                    int64_t num_new_computed, py::handle new_computed,
                    int64_t lookahead, int64_t external, bool delay,
                    bool full_fit) {
  c.Sync(h, req);
  vllm::AllocateArgs a;
  a.num_computed_tokens = AttrInt(req, N().num_computed_tokens);
  a.num_tokens = AttrInt(req, N().num_tokens);
  a.num_new_tokens = num_new;
  a.num_new_computed_tokens = num_new_computed;
  IdLists nc;
  if (!new_computed.is_none()) {
    c.Ids(new_computed, &nc);
    a.new_computed = &nc;
  }
  a.num_lookahead_tokens = lookahead;
  a.num_external_computed_tokens = external;
  a.delay_cache_blocks = delay;
  a.full_sequence_must_fit = full_fit;
  if (!Value(c.m->AllocateSlots(h, a, &c.scratch))) return py::none();
  return c.Objects(c.scratch);
}

// The decode step at once: for each i, append new_tokens[i] to request i
// and allocate_slots(request, 1). Stops at the first request the pool
// cannot serve. Returns (number served, new block ids, their request
// index, their group).
py::tuple DecodeBatch(Core& c, py::list requests, py::array_t<int32_t> handles,
                      py::array_t<int32_t> new_tokens) {
  const auto hs = handles.unchecked<1>();
  const auto ts = new_tokens.unchecked<1>();
  const py::ssize_t n = hs.shape(0);
  if (ts.shape(0) != n || static_cast<py::ssize_t>(requests.size()) != n) {
    ThrowInvalid("requests, handles and new_tokens differ in length");
  }
  const int32_t bs = c.m->config().hash_block_size;
  std::vector<int32_t> ids, owner, group;
  py::ssize_t i = 0;
  for (; i < n; ++i) {
    const ReqHandle h = hs(i);
    if (h < 0) ThrowInvalid("handles[" + std::to_string(i) + "] is negative");
    const TokenId t = ts(i);
    c.m->AppendTokens(h, absl::MakeConstSpan(&t, 1));
    const int64_t num_tokens = c.m->NumTokens(h);
    if (num_tokens % bs == 0) c.SyncKeys(h, requests[i]);
    vllm::AllocateArgs a;
    a.num_tokens = num_tokens;
    a.num_computed_tokens = num_tokens - 1;
    a.num_new_tokens = 1;
    if (!Value(c.m->AllocateSlots(h, a, &c.scratch))) break;
    for (size_t g = 0; g < c.scratch.size(); ++g) {
      for (int32_t b : c.scratch[g]) {
        ids.push_back(b);
        owner.push_back(static_cast<int32_t>(i));
        group.push_back(static_cast<int32_t>(g));
      }
    }
  }
  auto arr = [](const std::vector<int32_t>& v) {
    return py::array_t<int32_t>(static_cast<py::ssize_t>(v.size()), v.data());
  };
  return py::make_tuple(i, arr(ids), arr(owner), arr(group));
}

py::list EventList(std::vector<vllm::VllmEvent> events) {
  py::list out;
  for (auto& e : events) {
    py::list hashes;
    for (const auto& k : e.block_hashes) hashes.append(py::bytes(k));
    py::object parent = e.parent_block_hash
                            ? py::object(py::bytes(*e.parent_block_hash))
                            : py::object(py::none());
    out.append(py::make_tuple(static_cast<int>(e.type), e.group, hashes, parent,
                              py::cast(e.token_ids), e.block_size,
                              py::cast(e.block_starts), e.owner));
  }
  return out;
}

// allocate_slots with vLLM's signature as one METH_FASTCALL builtin bound
// to a manager (pybind11's argument parsing costs more than the call does
// on the decode path). The adapter installs it as the manager instance's
// allocate_slots; its Python method of the same name is the reference.
struct FastAlloc {
  PyObject* core_obj;  // owned: keeps the Core alive
  Core* core;
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
  auto* f = static_cast<FastAlloc*>(PyCapsule_GetPointer(capsule, "alloc"));
  Py_XDECREF(f->core_obj);
  Py_XDECREF(f->handles);
  Py_XDECREF(f->new_handle);
  Py_XDECREF(f->empty_blocks);
  Py_XDECREF(f->blocks_cls);
  delete f;
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
    int i = 0;
    while (i < kNumAllocArgs &&
           PyUnicode_CompareWithASCIIString(name, kAllocArgs[i]) != 0) {
      ++i;
    }
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

PyObject* FastAllocate(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                       PyObject* kwnames) {
  auto* f = static_cast<FastAlloc*>(PyCapsule_GetPointer(self, "alloc"));
  PyObject* a[kNumAllocArgs] = {};
  if (!Collect(args, nargs, kwnames, a)) return nullptr;
  try {
    if (IntArg(a[7]) != 0) {
      PyErr_SetString(PyExc_NotImplementedError,
                      "pagekv.vllm has no cross-attention groups "
                      "(num_encoder_tokens != 0)");
      return nullptr;
    }
    py::object rid = py::reinterpret_steal<py::object>(
        PyObject_GetAttrString(a[0], "request_id"));
    if (!rid) throw py::error_already_set();
    PyObject* h_obj = PyDict_GetItemWithError(f->handles, rid.ptr());
    py::object made;
    if (!h_obj) {
      if (PyErr_Occurred()) throw py::error_already_set();
      made = py::reinterpret_steal<py::object>(
          PyObject_CallOneArg(f->new_handle, a[0]));
      if (!made) throw py::error_already_set();
      h_obj = made.ptr();
    }
    const auto h = static_cast<ReqHandle>(IntArg(h_obj));
    py::object nc = py::none();
    if (a[3] && a[3] != Py_None) {
      nc = py::reinterpret_steal<py::object>(
          PyObject_GetAttrString(a[3], "blocks"));
      if (!nc) throw py::error_already_set();
      if (nc.is(f->core->empty)) nc = py::none();
    }
    py::object r =
        Allocate(*f->core, h, a[0], IntArg(a[1]), IntArg(a[2]), nc,
                 IntArg(a[4]), IntArg(a[5]), BoolArg(a[6]), BoolArg(a[8]));
    if (r.is_none()) Py_RETURN_NONE;
    if (r.is(f->core->empty)) {
      Py_INCREF(f->empty_blocks);
      return f->empty_blocks;
    }
    return PyObject_CallOneArg(f->blocks_cls, r.ptr());
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

py::object MakeFastAllocate(py::object core_obj, py::object handles,
                            py::object new_handle, py::object empty_blocks,
                            py::object blocks_cls) {
  auto* f =
      new FastAlloc{core_obj.release().ptr(),     nullptr,
                    handles.release().ptr(),      new_handle.release().ptr(),
                    empty_blocks.release().ptr(), blocks_cls.release().ptr()};
  f->core = py::handle(f->core_obj).cast<Core*>();
  py::object capsule = py::reinterpret_steal<py::object>(
      PyCapsule_New(f, "alloc", &FreeFastAlloc));
  if (!capsule) throw py::error_already_set();
  PyObject* fn = PyCFunction_New(&kFastAllocDef, capsule.ptr());
  if (!fn) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(fn);
}

}  // namespace

void BindVllm(py::module_& parent) {
  py::module_ m = parent.def_submodule(
      "_vllm", "C++ core of pagekv.vllm (use pagekv.vllm.KVCacheManager)");
  py::class_<Core>(m, "Core")
      .def(py::init([](int32_t num_blocks, py::list groups,
                       int32_t hash_block_size, int64_t max_model_len,
                       int64_t max_num_batched_tokens, bool enable_caching,
                       bool use_eagle, bool events, uint64_t seed,
                       bool uncached_first) {
        vllm::ManagerConfig cfg;
        cfg.num_blocks = num_blocks;
        for (py::handle g : groups) {
          auto t = g.cast<py::tuple>();
          vllm::GroupSpec s;
          s.kind = static_cast<vllm::GroupKind>(t[0].cast<int>());
          s.block_size = t[1].cast<int32_t>();
          s.sliding_window = t[2].cast<int32_t>();
          s.is_eagle_group = t[3].cast<bool>();
          s.spec_class = t[4].cast<int32_t>();
          s.track_new_block_ids = t[5].cast<bool>();
          s.attention_chunk_size = t[6].cast<int32_t>();
          s.mamba_cache_mode =
              static_cast<vllm::MambaCacheMode>(t[7].cast<int>());
          s.num_speculative_blocks = t[8].cast<int32_t>();
          cfg.groups.push_back(s);
        }
        cfg.hash_block_size = hash_block_size;
        cfg.max_model_len = max_model_len;
        cfg.max_num_batched_tokens = max_num_batched_tokens;
        cfg.enable_caching = enable_caching;
        cfg.use_eagle = use_eagle;
        cfg.enable_kv_cache_events = events;
        cfg.hash_seed = seed;
        cfg.reuse_uncached_first = uncached_first;
        Check(cfg.Validate());
        auto c = std::make_unique<Core>();
        c->m = std::make_unique<VllmManager>(cfg);
        c->empty = py::tuple(0);
        return c;
      }))
      .def("set_block_objects",
           [](Core& c, py::list objs, py::tuple empty) {
             c.objs = objs;
             c.empty = empty;
           })
      .def("add_request",
           [](Core& c, uint64_t lora, uint64_t salt,
              std::vector<std::tuple<uint64_t, int64_t, int64_t>> mm) {
             BlockHashExtras x;
             x.lora_id = lora;
             x.cache_salt = salt;
             for (auto& [hash, off, len] : mm)
               x.mm_items.push_back({hash, off, len});
             return c.m->AddRequest(x);
           })
      .def("find_hit",
           [](Core& c, ReqHandle h, py::handle req, int64_t max_len) {
             c.Sync(h, req);
             const int64_t n = c.m->FindLongestCacheHit(h, max_len, &c.hit);
             py::object objs = c.Objects(c.hit);
             c.last_hit_obj = objs;
             c.last_hit = c.hit;
             return py::make_tuple(objs, n);
           })
      .def("allocate", &Allocate)
      .def("decode_batch", &DecodeBatch)
      .def("free", [](Core& c, ReqHandle h) { c.m->Free(h); })
      .def("cache_blocks",
           [](Core& c, ReqHandle h, py::handle req, int64_t n) {
             c.Sync(h, req);
             Check(c.m->CacheBlocks(h, n));
           })
      .def("cache_full_blocks",
           [](Core& c, ReqHandle h, py::handle req, std::vector<int32_t> ids,
              int32_t num_cached, int32_t num_full, int32_t group) {
             c.Sync(h, req);
             Check(c.m->CacheFullBlocks(h, ids, num_cached, num_full, group));
           })
      .def("remove_skipped", [](Core& c, ReqHandle h,
                                int64_t n) { c.m->RemoveSkippedBlocks(h, n); })
      .def("blocks",
           [](Core& c, ReqHandle h) {
             IdLists ids;
             for (int32_t g = 0; g < c.m->num_groups(); ++g) {
               ids.push_back(c.m->Blocks(h, g));
             }
             return c.Objects(ids);
           })
      .def("block_ids",
           [](Core& c, ReqHandle h) {
             py::tuple out(c.m->num_groups());
             for (int32_t g = 0; g < c.m->num_groups(); ++g) {
               out[g] = py::cast(c.m->Blocks(h, g));
             }
             return out;
           })
      .def("num_common_prefix_blocks",
           [](Core& c, ReqHandle h) { return c.m->NumCommonPrefixBlocks(h); })
      .def("take_new_block_ids", [](Core& c) { return c.m->TakeNewBlockIds(); })
      .def("new_step_starts", [](Core& c) { c.m->NewStepStarts(); })
      .def("take_events",
           [](Core& c) { return EventList(c.m->pool().TakeEvents()); })
      .def("num_pending_events",
           [](Core& c) { return c.m->pool().NumPendingEvents(); })
      .def("num_free", [](Core& c) { return c.m->pool().NumFreeBlocks(); })
      .def("usage", [](Core& c) { return c.m->pool().Usage(); })
      .def("ref_cnt", [](Core& c, int32_t b) { return c.m->pool().RefCnt(b); })
      .def("block_hash",
           [](Core& c, int32_t b) -> py::object {
             const auto& p = c.m->pool();
             if (b == 0 || !p.IsCached(b)) return py::none();
             std::string k = p.VllmKey(b);
             const uint32_t g = static_cast<uint32_t>(p.CachedGroup(b));
             for (int s = 24; s >= 0; s -= 8)
               k.push_back(char((g >> s) & 0xff));
             return py::bytes(k);
           })
      .def("free_queue", [](Core& c) { return c.m->pool().FreeQueue(); })
      .def("touch",
           [](Core& c, std::vector<int32_t> ids) { c.m->pool().Touch(ids); })
      .def("free_blocks",
           [](Core& c, std::vector<int32_t> ids) {
             c.m->pool().FreeBlocks(ids);
           })
      .def("get_new_blocks",
           [](Core& c, int32_t n) {
             std::vector<int32_t> out;
             Check(c.m->pool().GetNewBlocks(n, &out));
             return out;
           })
      .def("find_by_vllm_key",
           [](Core& c, py::bytes key, int32_t group) {
             return c.m->pool().FindByVllmKey(std::string(key), group);
           })
      .def("evict_blocks",
           [](Core& c, std::vector<int32_t> ids) {
             Check(c.m->pool().EvictBlocks(ids));
           })
      .def("reset_prefix_cache",
           [](Core& c) { return c.m->pool().ResetPrefixCache(); })
      .def("num_requests", [](Core& c) { return c.m->NumRequests(); })
      .def("verify", [](Core& c) { Check(c.m->Verify()); });
  m.def("make_fast_allocate", &MakeFastAllocate,
        "A C allocate_slots bound to (core, handles, new_handle, "
        "empty_blocks, KVCacheBlocks).");
}

}  // namespace pagekv::python
