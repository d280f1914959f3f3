// pagekv._pagekv._vllm.Core: the C++ VllmManager for the pagekv.vllm
// adapter (python/pagekv/vllm.py), which does the duck typing and owns the
// Python block objects. Not a public API: import pagekv.vllm. How requests
// are read is in vllm_core.h; the C fast calls in vllm_fast_calls.cc.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bindings.h"
#include "pagekv/vllm/manager.h"
#include "pybind11/numpy.h"
#include "pybind11/stl.h"
#include "status.h"
#include "vllm_core.h"

namespace pagekv::python {
namespace {

namespace py = pybind11;
using vllm::ReqHandle;
using vllm::VllmManager;

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

// A GroupSpec from the adapter's tuple (python/pagekv/vllm.py, _group_specs).
vllm::GroupSpec GroupSpecFrom(py::handle group) {
  auto t = group.cast<py::tuple>();
  vllm::GroupSpec s;
  s.kind = static_cast<vllm::GroupKind>(t[0].cast<int>());
  s.block_size = t[1].cast<int32_t>();
  s.sliding_window = t[2].cast<int32_t>();
  s.is_eagle_group = t[3].cast<bool>();
  s.spec_class = t[4].cast<int32_t>();
  s.track_new_block_ids = t[5].cast<bool>();
  s.attention_chunk_size = t[6].cast<int32_t>();
  s.mamba_cache_mode = static_cast<vllm::MambaCacheMode>(t[7].cast<int>());
  s.num_speculative_blocks = t[8].cast<int32_t>();
  return s;
}

std::unique_ptr<VllmCore> NewCore(
    int32_t num_blocks, py::list groups, int32_t hash_block_size,
    int64_t max_model_len, int64_t max_num_batched_tokens, bool enable_caching,
    bool use_eagle, bool events, uint64_t seed, bool uncached_first) {
  vllm::ManagerConfig cfg;
  cfg.num_blocks = num_blocks;
  for (py::handle g : groups) cfg.groups.push_back(GroupSpecFrom(g));
  cfg.hash_block_size = hash_block_size;
  cfg.max_model_len = max_model_len;
  cfg.max_num_batched_tokens = max_num_batched_tokens;
  cfg.enable_caching = enable_caching;
  cfg.use_eagle = use_eagle;
  cfg.enable_kv_cache_events = events;
  cfg.hash_seed = seed;
  cfg.reuse_uncached_first = uncached_first;
  Check(cfg.Validate());
  auto c = std::make_unique<VllmCore>();
  c->m = std::make_unique<VllmManager>(cfg);
  c->empty = py::tuple(0);
  return c;
}

using CoreClass = py::class_<VllmCore>;

// The calls on one request: its blocks, hits, allocation, caching, frees.
void BindRequestCalls(CoreClass& core) {
  core.def("set_block_objects",
           [](VllmCore& c, py::list objs, py::tuple empty) {
             c.objs = objs;
             c.empty = empty;
           })
      .def("add_request",
           [](VllmCore& c, uint64_t lora, uint64_t salt,
              std::vector<std::tuple<uint64_t, int64_t, int64_t>> mm) {
             BlockHashExtras x;
             x.lora_id = lora;
             x.cache_salt = salt;
             for (auto& [hash, off, len] : mm)
               x.mm_items.push_back({hash, off, len});
             return c.m->AddRequest(x);
           })
      .def("find_hit",
           [](VllmCore& c, ReqHandle h, py::handle req, int64_t max_len) {
             // A hit needs no block hashes: allocate reads those it caches.
             c.Sync(h, req, /*whole=*/false, /*keys=*/false);
             const int64_t n = c.m->FindLongestCacheHit(h, max_len, &c.hit);
             py::object objs = c.Objects(c.hit);
             c.last_hit_obj = objs;
             c.last_hit = c.hit;
             return py::make_tuple(objs, n);
           })
      .def("allocate", &VllmAllocate)
      .def("decode_batch", &VllmDecodeBatch)
      .def("free",
           [](VllmCore& c, ReqHandle h) {
             c.m->Free(h);
             c.known.Forget(h);
           })
      .def("cache_blocks",
           [](VllmCore& c, ReqHandle h, py::handle req, int64_t n) {
             const int64_t num_tokens = c.Sync(h, req, false, false);
             c.SyncKeysFrom(h, req, c.FirstKeyNeeded(h, nullptr), num_tokens);
             Check(c.m->CacheBlocks(h, n));
           })
      .def(
          "cache_full_blocks",
          [](VllmCore& c, ReqHandle h, py::handle req, std::vector<int32_t> ids,
             int32_t num_cached, int32_t num_full, int32_t group) {
            const int64_t num_tokens = c.Sync(h, req, false, false);
            c.SyncKeysFrom(h, req, std::max(num_cached - 1, 0), num_tokens);
            Check(c.m->CacheFullBlocks(h, ids, num_cached, num_full, group));
          })
      .def("remove_skipped", [](VllmCore& c, ReqHandle h,
                                int64_t n) { c.m->RemoveSkippedBlocks(h, n); })
      .def("blocks",
           [](VllmCore& c, ReqHandle h) {
             IdLists ids;
             for (int32_t g = 0; g < c.m->num_groups(); ++g) {
               ids.push_back(c.m->Blocks(h, g));
             }
             return c.Objects(ids);
           })
      .def("block_ids",
           [](VllmCore& c, ReqHandle h) {
             py::tuple out(c.m->num_groups());
             for (int32_t g = 0; g < c.m->num_groups(); ++g) {
               out[g] = py::cast(c.m->Blocks(h, g));
             }
             return out;
           })
      .def("num_common_prefix_blocks",
           [](VllmCore& c, ReqHandle h) {
             return c.m->NumCommonPrefixBlocks(h);
           })
      .def("take_new_block_ids",
           [](VllmCore& c) { return c.m->TakeNewBlockIds(); })
      .def("new_step_starts", [](VllmCore& c) { c.m->NewStepStarts(); });
}

// The pool's primitives, events and checks.
void BindPoolCalls(CoreClass& core) {
  core.def("take_events",
           [](VllmCore& c) { return EventList(c.m->pool().TakeEvents()); })
      .def("num_pending_events",
           [](VllmCore& c) { return c.m->pool().NumPendingEvents(); })
      .def("enable_metrics", [](VllmCore& c) { c.m->pool().EnableMetrics(); })
      .def("take_metric_events",
           [](VllmCore& c) {
             py::list out;
             for (const auto& e : c.m->pool().TakeMetricEvents()) {
               out.append(py::make_tuple(static_cast<int>(e.kind), e.block));
             }
             return out;
           })
      .def("num_free", [](VllmCore& c) { return c.m->pool().NumFreeBlocks(); })
      .def("usage", [](VllmCore& c) { return c.m->pool().Usage(); })
      .def("ref_cnt",
           [](VllmCore& c, int32_t b) { return c.m->pool().RefCnt(b); })
      .def("block_hash",
           [](VllmCore& c, int32_t b) -> py::object {
             const auto& p = c.m->pool();
             if (b == 0 || !p.IsCached(b)) return py::none();
             std::string k = p.VllmKey(b);
             const uint32_t g = static_cast<uint32_t>(p.CachedGroup(b));
             for (int s = 24; s >= 0; s -= 8)
               k.push_back(char((g >> s) & 0xff));
             return py::bytes(k);
           })
      .def("free_queue", [](VllmCore& c) { return c.m->pool().FreeQueue(); })
      .def("touch", [](VllmCore& c,
                       std::vector<int32_t> ids) { c.m->pool().Touch(ids); })
      .def("free_blocks",
           [](VllmCore& c, std::vector<int32_t> ids) {
             c.m->pool().FreeBlocks(ids);
           })
      .def("get_new_blocks",
           [](VllmCore& c, int32_t n) {
             std::vector<int32_t> out;
             Check(c.m->pool().GetNewBlocks(n, &out));
             return out;
           })
      .def("find_by_vllm_key",
           [](VllmCore& c, py::bytes key, int32_t group) {
             return c.m->pool().FindByVllmKey(std::string(key), group);
           })
      .def("evict_blocks",
           [](VllmCore& c, std::vector<int32_t> ids) {
             Check(c.m->pool().EvictBlocks(ids));
           })
      .def("reset_prefix_cache",
           [](VllmCore& c) { return c.m->pool().ResetPrefixCache(); })
      .def("num_requests", [](VllmCore& c) { return c.m->NumRequests(); })
      .def("verify", [](VllmCore& c) { Check(c.m->Verify()); });
}

}  // namespace

void BindVllm(py::module_& parent) {
  py::module_ m = parent.def_submodule(
      "_vllm", "C++ core of pagekv.vllm (use pagekv.vllm.KVCacheManager)");
  CoreClass core(m, "Core");
  core.def(py::init(&NewCore));
  BindRequestCalls(core);
  BindPoolCalls(core);
  m.def("make_fast_allocate", &MakeFastAllocate,
        "A C allocate_slots bound to (core, handles, new_handle, "
        "empty_blocks, KVCacheBlocks).");
  m.def("make_call_floor", &MakeCallFloor,
        "allocate_slots' argument parsing alone (benchmark floor).");
  m.def("install_empty_block_ids", &InstallEmptyBlockIds,
        "Gives an empty-KVCacheBlocks class a C get_block_ids.");
}

}  // namespace pagekv::python
