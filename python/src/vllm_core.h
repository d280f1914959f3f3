// The state behind pagekv._pagekv._vllm.Core: the C++ VllmManager plus what
// the adapter (python/pagekv/vllm.py) needs to talk to it cheaply. Shared by
// the pybind11 class (bind_vllm.cc) and the C fast calls
// (vllm_fast_calls.cc). Not a public API.
//
// Each call that takes a request object first brings the C++ copy of its
// tokens (those of full blocks at least) and block hashes up to date,
// reading only the new tail of
// `request.all_token_ids` (a list, a tuple, an int32 buffer, or vLLM's
// ConstantList, whose list is read in place) and, only when the manager
// lacks hashes for full blocks it may cache, `request.block_hashes` (a
// hit's blocks are already cached: get_computed_blocks reads no hash, and
// a request's first allocate_slots reads them from its hit's last block
// on). The request's
// token count is len(all_token_ids), as vLLM's Request.num_tokens is.
// Results come back as the adapter's block objects (one per block id), so
// no Python list of ids is built on the hot path. All calls hold the GIL.
#ifndef PAGEKV_PYTHON_VLLM_CORE_H_
#define PAGEKV_PYTHON_VLLM_CORE_H_

#include <Python.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "pagekv/vllm/manager.h"
#include "pybind11/numpy.h"
#include "pybind11/pybind11.h"
#include "vllm_known_requests.h"

namespace pagekv::python {

using IdLists = std::vector<std::vector<int32_t>>;

struct VllmCore {
  std::unique_ptr<vllm::VllmManager> m;
  pybind11::list objs;    // the adapter's block object per id
  pybind11::tuple empty;  // returned for "no blocks in any group"
  IdLists scratch, hit;
  std::vector<TokenId> tokens;
  // The last hit handed out, so allocate can take it back without reading
  // block ids off the objects again.
  pybind11::object last_hit_obj;
  IdLists last_hit;
  // Types seen for all_token_ids: the last one that wraps a list in `_x`
  // (vLLM's ConstantList) and the last one that does not.
  PyTypeObject* wrapper_type = nullptr;
  PyTypeObject* plain_type = nullptr;
  // Request objects and token lists seen, by identity (until free).
  KnownRequests known;

  // Brings the request's tokens and block hashes up to date. Returns its
  // token count. The manager reads the tokens of full blocks only, so the
  // tokens of a partial block are copied once it fills (most decode steps
  // fill none), or with `whole`.
  // Without `keys`, the block hashes are left to SyncKeysFrom.
  int64_t Sync(vllm::ReqHandle h, pybind11::handle req, bool whole = false,
               bool keys = true);
  // Whether the manager lacks vLLM block hashes for some of the request's
  // full blocks (of num_tokens tokens), and reading the ones it lacks.
  bool NeedsKeys(vllm::ReqHandle h, int64_t num_tokens) const;
  void SyncKeys(vllm::ReqHandle h, pybind11::handle req);
  // Brings the block hashes up to date from block `from` on: the ones
  // before may stay unread (see VllmManager::ResetVllmKeys), and are read
  // again if an earlier call left out some from `from` on.
  void SyncKeysFrom(vllm::ReqHandle h, pybind11::handle req, int64_t from,
                    int64_t num_tokens);
  // The first block hash allocate_slots can read. A request's first
  // allocation caches from the end of the hit it is given (`hit`: its
  // blocks per group, or null), so the hashes of the hit's blocks but the
  // last are never read; later ones keep what they have. Only when every
  // group is full attention (other kinds cache from elsewhere).
  int64_t FirstKeyNeeded(vllm::ReqHandle h, const IdLists* hit) const;
  // Block objects for ids, per group, or the shared empty tuple.
  pybind11::object Objects(const IdLists& ids);
  // Block ids of a KVCacheBlocks.blocks tuple (lists of block objects).
  void Ids(pybind11::handle groups, IdLists* out);

 private:
  pybind11::object TokenList(pybind11::handle toks);
  bool ReadBuffer(pybind11::handle toks, Py_ssize_t have, Py_ssize_t n,
                  vllm::ReqHandle h);
};

// allocate_slots on a request (new_computed: a KVCacheBlocks.blocks tuple
// or None). Returns the new blocks as Objects(), or None when the pool is
// short.
pybind11::object VllmAllocate(VllmCore& c, vllm::ReqHandle h,
                              pybind11::handle req, int64_t num_new,
                              int64_t num_new_computed,
                              pybind11::handle new_computed, int64_t lookahead,
                              int64_t external, bool delay, bool full_fit);

// The decode step at once: for each i, append new_tokens[i] to request i
// and allocate_slots(request, 1). Stops at the first request the pool
// cannot serve. Returns (number served, new block ids, their request
// index, their group).
pybind11::tuple VllmDecodeBatch(VllmCore& c, pybind11::list requests,
                                pybind11::array_t<int32_t> handles,
                                pybind11::array_t<int32_t> new_tokens);

// `name` as an interned Python string (a new reference): attribute and
// keyword lookups then match it by identity instead of comparing
// characters. Throws the Python error if it cannot be made.
PyObject* InternedName(const char* name);

// The C builtins the adapter installs (vllm_fast_calls.cc):
// allocate_slots with vLLM's signature, bound to one manager.
pybind11::object MakeFastAllocate(pybind11::object core_obj,
                                  pybind11::object handles,
                                  pybind11::object new_handle,
                                  pybind11::object empty_blocks,
                                  pybind11::object blocks_cls);
// A builtin with allocate_slots' signature that parses its arguments and
// returns empty_blocks: the floor of any C allocate_slots, for benchmarks.
pybind11::object MakeCallFloor(pybind11::object empty_blocks);
// Sets cls.get_block_ids (cls: the class of a manager's one empty
// KVCacheBlocks) to a C method: None with allow_none, else one new empty
// list per group.
void InstallEmptyBlockIds(pybind11::type cls);

}  // namespace pagekv::python

#endif  // PAGEKV_PYTHON_VLLM_CORE_H_
