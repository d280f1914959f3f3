// VllmCore: reading vLLM request objects into the C++ VllmManager, and the
// allocate_slots and decode-batch calls on top of it.
#include "vllm_core.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "status.h"

namespace pagekv::python {
namespace {

namespace py = pybind11;
using vllm::ReqHandle;

py::str Interned(const char* name) {
  return py::reinterpret_steal<py::str>(InternedName(name));
}

struct Names {
  py::str all_token_ids = Interned("all_token_ids"),
          block_hashes = Interned("block_hashes"),
          num_computed_tokens = Interned("num_computed_tokens"),
          block_id = Interned("block_id"), wrapped = Interned("_x");
};
const Names& N() {
  static const Names* names = new Names();
  return *names;
}

py::object Attr(py::handle obj, const py::str& name) {
  py::object v = py::reinterpret_steal<py::object>(
      PyObject_GetAttr(obj.ptr(), name.ptr()));
  if (!v) throw py::error_already_set();
  return v;
}

int64_t AsInt(PyObject* v) {
  const long long x = PyLong_AsLongLong(v);
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

// The value of an exact int of at most one 30-bit digit (every token id),
// read without a call; false for anything else (then use AsInt).
inline bool SmallInt(PyObject* o, int64_t* v) {
#if PY_VERSION_HEX < 0x030C0000  // the digit layout of CPython <= 3.11
  if (!PyLong_CheckExact(o)) return false;
  const Py_ssize_t size = Py_SIZE(o);
  if (size < -1 || size > 1) return false;
  const int64_t digit = reinterpret_cast<PyLongObject*>(o)->ob_digit[0];
  *v = size == 0 ? 0 : size * digit;
  return true;
#else
  (void)o;
  (void)v;
  return false;
#endif
}

// How far ahead the loops over Python objects prefetch.
constexpr Py_ssize_t kAhead = 8;

// Reads seq[from:from + count] (a list or tuple of ints) into *out; the
// item at from has index `first` in all_token_ids, for errors. One-digit
// ints (every token id) fit the 32-bit range and are read without a call.
void ReadTokens(PyObject* seq, Py_ssize_t from, Py_ssize_t count,
                Py_ssize_t first, std::vector<TokenId>* out) {
  out->resize(static_cast<size_t>(count));
  PyObject* const* items = PySequence_Fast_ITEMS(seq) + from;
  TokenId* dst = out->data();
  for (Py_ssize_t i = 0; i < count; ++i) {
    int64_t v;
    if (SmallInt(items[i], &v)) {
      dst[i] = static_cast<TokenId>(v);
      continue;
    }
    v = AsInt(items[i]);
    if (v < INT32_MIN || v > INT32_MAX) {
      ThrowInvalid("request.all_token_ids[" + std::to_string(first + i) +
                   "] = " + std::to_string(v) +
                   " does not fit the 32-bit signed range");
    }
    dst[i] = static_cast<TokenId>(v);
  }
}

PyObject* Item(PyObject* seq, Py_ssize_t i) {
  return PyList_Check(seq) ? PyList_GET_ITEM(seq, i) : PyTuple_GET_ITEM(seq, i);
}

Py_ssize_t Length(py::handle seq) {
  if (PyList_Check(seq.ptr())) return PyList_GET_SIZE(seq.ptr());
  const Py_ssize_t n = PyObject_Length(seq.ptr());
  if (n < 0) throw py::error_already_set();
  return n;
}

}  // namespace

PyObject* InternedName(const char* name) {
  PyObject* s = PyUnicode_InternFromString(name);
  if (!s) throw py::error_already_set();
  return s;
}

// vLLM's ConstantList keeps its list in `_x`; reading that list directly
// skips a Python __len__ and __getitem__ per call. Whether a type wraps a
// list is remembered for the last type of each answer.
py::object VllmCore::TokenList(py::handle toks) {
  PyTypeObject* type = Py_TYPE(toks.ptr());
  if (type == &PyList_Type || type == &PyTuple_Type || type == plain_type) {
    return py::reinterpret_borrow<py::object>(toks);
  }
  PyObject* x = PyObject_GetAttr(toks.ptr(), N().wrapped.ptr());
  if (x != nullptr && PyList_CheckExact(x)) {
    wrapper_type = type;
    return py::reinterpret_steal<py::object>(x);
  }
  Py_XDECREF(x);
  PyErr_Clear();
  plain_type = type;
  if (wrapper_type == type) wrapper_type = nullptr;
  return py::reinterpret_borrow<py::object>(toks);
}

int64_t VllmCore::Sync(ReqHandle h, py::handle req, bool whole, bool keys) {
  const py::object attr = Attr(req, N().all_token_ids);
  py::object toks;
  if (PyObject* list = known.TokenList(h, attr.ptr())) {
    toks = py::reinterpret_borrow<py::object>(list);
  } else {
    toks = TokenList(attr);
    known.RememberTokens(h, attr.ptr(), toks.ptr());
  }
  const Py_ssize_t n = Length(toks);
  const Py_ssize_t have = m->NumTokens(h);
  if (n < have) {
    ThrowInvalid("request.all_token_ids has " + std::to_string(n) +
                 " tokens, fewer than the " + std::to_string(have) +
                 " the manager has seen: tokens are append-only");
  }
  const bool copy = n > have && (whole || n >= known.CopyAt(h));
  if (copy && !ReadBuffer(toks, have, n, h)) {
    Py_ssize_t off;
    py::object t = Tail(toks, have, &off);
    ReadTokens(t.ptr(), off, n - have, have, &tokens);
    m->AppendTokens(h, tokens);
  }
  // Recorded once the tokens are in: a refused token leaves it as it was.
  if (copy) {
    const int64_t bs = m->config().hash_block_size;
    known.SetLag(h, false, (n / bs + 1) * bs);
  } else {
    known.SetLag(h, n > have, known.CopyAt(h));
  }
  if (keys && NeedsKeys(h, n)) SyncKeys(h, req);
  return n;
}

// Appends tokens [have, n) from a C-contiguous 1-D int32 buffer (a NumPy
// array); false (nothing read) for anything else.
bool VllmCore::ReadBuffer(py::handle toks, Py_ssize_t have, Py_ssize_t n,
                          ReqHandle h) {
  if (PyList_Check(toks.ptr()) || PyTuple_Check(toks.ptr()) ||
      !PyObject_CheckBuffer(toks.ptr())) {
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

bool VllmCore::NeedsKeys(ReqHandle h, int64_t num_tokens) const {
  // keys < num_tokens / block size, without the division.
  return m->config().enable_caching &&
         (m->NumVllmKeys(h) + 1) * m->config().hash_block_size <= num_tokens;
}

void VllmCore::SyncKeys(ReqHandle h, py::handle req) {
  const Py_ssize_t have = m->NumVllmKeys(h);
  const py::object hashes = Attr(req, N().block_hashes);
  const Py_ssize_t n = Length(hashes);
  if (n <= have) return;
  Py_ssize_t off;
  py::object t = Tail(hashes, have, &off);
  const Py_ssize_t end = off + (n - have);
  for (Py_ssize_t i = off; i < end; ++i) {
    // Each hash is its own object: start loading one a few ahead.
    if (i + kAhead < end) __builtin_prefetch(Item(t.ptr(), i + kAhead));
    PyObject* item = Item(t.ptr(), i);
    char* data;
    Py_ssize_t len;
    if (PyBytes_CheckExact(item)) {
      data = PyBytes_AS_STRING(item);
      len = PyBytes_GET_SIZE(item);
    } else if (PyBytes_AsStringAndSize(item, &data, &len) != 0) {
      throw py::error_already_set();
    }
    m->AppendVllmKey(h, absl::string_view(data, len));
  }
}

void VllmCore::SyncKeysFrom(ReqHandle h, py::handle req, int64_t from,
                            int64_t num_tokens) {
  const int64_t kept = m->FirstKeptVllmKey(h);
  if (kept > from || (kept < from && m->NumVllmKeys(h) == 0)) {
    m->ResetVllmKeys(h, from);
  }
  if (NeedsKeys(h, num_tokens)) SyncKeys(h, req);
}

int64_t VllmCore::FirstKeyNeeded(ReqHandle h, const IdLists* hit) const {
  if (m->IsRunning(h)) return m->FirstKeptVllmKey(h);
  if (hit == nullptr || hit->size() != m->config().groups.size()) return 0;
  size_t blocks = SIZE_MAX;
  for (size_t g = 0; g < hit->size(); ++g) {
    if (m->config().groups[g].kind != vllm::GroupKind::kFullAttention) {
      return 0;
    }
    blocks = std::min(blocks, (*hit)[g].size());
  }
  return blocks == 0 ? 0 : static_cast<int64_t>(blocks) - 1;
}

py::object VllmCore::Objects(const IdLists& ids) {
  bool any = false;
  for (const auto& g : ids) any |= !g.empty();
  if (!any) return empty;
  py::tuple out(ids.size());
  for (size_t g = 0; g < ids.size(); ++g) {
    PyObject* list = PyList_New(ids[g].size());
    if (!list) throw py::error_already_set();
    const size_t n = ids[g].size();
    for (size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) {
        __builtin_prefetch(PyList_GET_ITEM(objs.ptr(), ids[g][i + kAhead]), 1);
      }
      PyObject* o = PyList_GET_ITEM(objs.ptr(), ids[g][i]);
      Py_INCREF(o);
      PyList_SET_ITEM(list, i, o);
    }
    PyTuple_SET_ITEM(out.ptr(), g, list);
  }
  return out;
}

void VllmCore::Ids(py::handle groups, IdLists* out) {
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
      const py::object id = Attr(blk, N().block_id);
      out->back().push_back(static_cast<int32_t>(AsInt(id.ptr())));
    }
  }
}

py::object VllmAllocate(VllmCore& c, ReqHandle h, py::handle req,
                        int64_t num_new, int64_t num_new_computed,
                        py::handle new_computed, int64_t lookahead,
                        int64_t external, bool delay, bool full_fit) {
  vllm::AllocateArgs a;
  a.num_tokens = c.Sync(h, req, /*whole=*/false, /*keys=*/false);
  a.num_computed_tokens = AsInt(Attr(req, N().num_computed_tokens).ptr());
  a.num_new_tokens = num_new;
  a.num_new_computed_tokens = num_new_computed;
  IdLists nc;
  if (!new_computed.is_none()) {
    c.Ids(new_computed, &nc);
    a.new_computed = &nc;
  }
  if (!c.known.KeysSettled(h)) {
    c.SyncKeysFrom(h, req, c.FirstKeyNeeded(h, a.new_computed), a.num_tokens);
  } else if (c.NeedsKeys(h, a.num_tokens)) {
    c.SyncKeys(h, req);  // a running request only appends
  }
  a.num_lookahead_tokens = lookahead;
  a.num_external_computed_tokens = external;
  a.delay_cache_blocks = delay;
  a.full_sequence_must_fit = full_fit;
  if (!Value(c.m->AllocateSlots(h, a, &c.scratch))) return py::none();
  c.known.SettleKeys(h);
  return c.Objects(c.scratch);
}

py::tuple VllmDecodeBatch(VllmCore& c, py::list requests,
                          py::array_t<int32_t> handles,
                          py::array_t<int32_t> new_tokens) {
  const auto hs = handles.unchecked<1>();
  const auto ts = new_tokens.unchecked<1>();
  const py::ssize_t n = hs.shape(0);
  if (ts.shape(0) != n || static_cast<py::ssize_t>(requests.size()) != n) {
    ThrowInvalid("requests, handles and new_tokens differ in length");
  }
  std::vector<int32_t> ids, owner, group;
  py::ssize_t i = 0;
  for (; i < n; ++i) {
    const ReqHandle h = hs(i);
    if (h < 0) ThrowInvalid("handles[" + std::to_string(i) + "] is negative");
    // A request whose partial block the manager has not copied yet gets
    // its tokens from its list (which holds the new token too).
    int64_t num_tokens;
    if (c.known.Lagging(h)) {
      num_tokens = c.Sync(h, requests[i], /*whole=*/true);
    } else if (c.m->AppendAndTryDecode(h, ts(i), &num_tokens)) {
      continue;  // no new blocks
    }
    if (c.NeedsKeys(h, num_tokens)) c.SyncKeys(h, requests[i]);
    vllm::AllocateArgs a;
    a.num_tokens = num_tokens;
    a.num_computed_tokens = a.num_tokens - 1;
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

}  // namespace pagekv::python
