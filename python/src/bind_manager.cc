// KVCacheManager for Python: the C++ API with Python names, NumPy in and
// out, one boundary crossing per batch.
//
// Calls that can take long (admission with hashing, the decode batch, the
// exports, verify, reset) release the GIL while the manager runs. The
// manager is single-threaded: a call made while another thread is inside
// the same manager raises RuntimeError instead of racing.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "fmt/format.h"
#include "pagekv/kv_cache_manager.h"
#include "pybind11/numpy.h"
#include "pybind11/stl.h"
#include "status.h"

namespace pagekv::python {
namespace {

namespace py = pybind11;
using Release = py::gil_scoped_release;

struct PyManager {
  std::unique_ptr<KVCacheManager> kv;
  py::object clock;  // keeps the config's ManualClock alive
  std::atomic<bool> busy{false};
  std::vector<SeqId> seqs;  // scratch for batch calls
};

// Marks the manager busy for one call (see the file comment).
class Busy {
 public:
  explicit Busy(PyManager& m) : m_(m) {
    if (m_.busy.exchange(true, std::memory_order_acquire)) {
      throw std::runtime_error(
          "KVCacheManager is not thread-safe: it was called from two "
          "threads at once");
    }
  }
  ~Busy() { m_.busy.store(false, std::memory_order_release); }
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;

 private:
  PyManager& m_;
};

// Reads sequence ids (ints or an integer array) into m.seqs.
absl::Span<const SeqId> Seqs(PyManager& m, py::handle obj, const char* name) {
  IntArgs<uint64_t> ids(obj, name);
  m.seqs.resize(ids.size());
  if (ids.size() > 0) {
    static_assert(sizeof(SeqId) == sizeof(uint64_t) &&
                  std::is_trivially_copyable_v<SeqId>);
    std::memcpy(static_cast<void*>(m.seqs.data()), ids.span().data(),
                ids.size() * sizeof(SeqId));
  }
  return m.seqs;
}

std::vector<MultimodalItem> MmItems(py::handle obj) {
  std::vector<MultimodalItem> items;
  if (obj.is_none()) return items;
  for (py::handle item : obj) {
    if (py::isinstance<MultimodalItem>(item)) {
      items.push_back(item.cast<MultimodalItem>());
    } else {
      auto t = item.cast<std::tuple<uint64_t, int64_t, int64_t>>();
      items.push_back({std::get<0>(t), std::get<1>(t), std::get<2>(t)});
    }
  }
  return items;
}

BlockHashExtras Extras(uint64_t lora_id, uint64_t cache_salt,
                       py::handle mm_items) {
  BlockHashExtras e;
  e.lora_id = lora_id;
  e.cache_salt = cache_salt;
  e.mm_items = MmItems(mm_items);
  return e;
}

// Reads a batch: ReserveRequest objects or (seq, n[, lookahead]) tuples.
std::vector<ReserveRequest> Requests(py::handle obj) {
  std::vector<ReserveRequest> out;
  for (py::handle item : obj) {
    if (py::isinstance<ReserveRequest>(item)) {
      out.push_back(item.cast<ReserveRequest>());
      continue;
    }
    py::tuple t(py::reinterpret_borrow<py::object>(item));
    if (t.size() != 2 && t.size() != 3) {
      ThrowInvalid(fmt::format(
          "a request is (seq, num_new_tokens[, num_lookahead_tokens]) or a "
          "ReserveRequest, got {}",
          std::string(py::repr(item))));
    }
    ReserveRequest r{SeqId(t[0].cast<uint64_t>()), t[1].cast<int64_t>(),
                     t.size() == 3 ? t[2].cast<int64_t>() : 0};
    out.push_back(r);
  }
  return out;
}

std::unique_ptr<PyManager> Create(const PyKVCacheConfig& config) {
  auto m = std::make_unique<PyManager>();
  m->kv = Value(KVCacheManager::Create(config.config));
  m->clock = config.clock;
  return m;
}

std::unique_ptr<PyManager> CreateFrom(py::object config,
                                      const py::kwargs& kwargs) {
  if (!config.is_none()) {
    if (kwargs.size() > 0) {
      throw py::type_error("pass either a KVCacheConfig or keyword fields");
    }
    return Create(config.cast<const PyKVCacheConfig&>());
  }
  py::object cls = py::module_::import("pagekv._pagekv").attr("KVCacheConfig");
  return Create(cls(**kwargs).cast<const PyKVCacheConfig&>());
}

py::array_t<int32_t> TableArray(absl::Span<const BlockId> table) {
  py::array_t<int32_t> out(static_cast<py::ssize_t>(table.size()));
  if (!table.empty()) {
    std::memcpy(out.mutable_data(), table.data(), table.size() * 4);
  }
  return out;
}

void ExportBlockTable(PyManager& m, py::handle seqs, uint32_t group,
                      py::handle out, std::optional<int32_t> row_width) {
  Busy busy(m);
  absl::Span<const SeqId> ids = Seqs(m, seqs, "seqs");
  OutBuffer buf(out, "out");
  int32_t width = 0;
  if (row_width) {
    width = *row_width;
  } else if (buf.ndim() == 2) {
    width = static_cast<int32_t>(buf.shape(1));
  } else {
    ThrowInvalid("out is not two-dimensional: pass row_width");
  }
  absl::Status st;
  {
    Release release;
    st = m.kv->ExportBlockTable(ids, GroupId(group), width, buf.span());
  }
  Check(st);
}

int64_t ExportCsr(PyManager& m, py::handle seqs, uint32_t group,
                  py::handle indptr, py::handle indices,
                  py::handle last_page_len) {
  Busy busy(m);
  absl::Span<const SeqId> ids = Seqs(m, seqs, "seqs");
  OutBuffer p(indptr, "indptr"), i(indices, "indices"),
      l(last_page_len, "last_page_len");
  absl::StatusOr<int64_t> n;
  {
    Release release;
    n = m.kv->ExportCsr(ids, GroupId(group), p.span(), i.span(), l.span());
  }
  return Value(std::move(n));
}

py::array_t<int32_t> BlockTableArray(PyManager& m, py::handle seqs,
                                     uint32_t group,
                                     std::optional<int32_t> row_width) {
  int32_t width = 0;
  {
    Busy busy(m);
    for (SeqId s : Seqs(m, seqs, "seqs")) {
      auto t = Value(m.kv->BlockTable(s, GroupId(group)));
      width = std::max<int32_t>(width, static_cast<int32_t>(t.size()));
    }
  }
  if (row_width) width = *row_width;
  const py::ssize_t rows = static_cast<py::ssize_t>(m.seqs.size());
  py::array_t<int32_t> out({rows, static_cast<py::ssize_t>(width)});
  ExportBlockTable(m, seqs, group, out, width);
  return out;
}

py::tuple Csr(PyManager& m, py::handle seqs, uint32_t group) {
  size_t bound = 0;
  {
    Busy busy(m);
    for (SeqId s : Seqs(m, seqs, "seqs")) {
      bound += Value(m.kv->BlockTable(s, GroupId(group))).size();
    }
  }
  const auto n = static_cast<py::ssize_t>(m.seqs.size());
  py::array_t<int32_t> indptr(n + 1), indices(static_cast<py::ssize_t>(bound)),
      last(n);
  const int64_t used = ExportCsr(m, seqs, group, indptr, indices, last);
  py::object view = indices[py::slice(0, used, 1)];
  return py::make_tuple(indptr, view, last);
}

using ManagerClass = py::class_<PyManager>;

// Adding sequences, appending tokens, prefix lookups.
void BindSequences(ManagerClass& c) {
  c.def(
       "add_sequence",
       [](PyManager& self, py::handle prompt, uint64_t lora_id,
          uint64_t cache_salt, py::handle mm_items, int32_t priority,
          int64_t retention_duration_us, bool resumed) {
         Busy busy(self);
         IntArgs<int32_t> tokens(prompt, "prompt");
         SequenceOptions o;
         o.hash_extras = Extras(lora_id, cache_salt, mm_items);
         o.retention_priority = priority;
         o.retention_duration_us = retention_duration_us;
         o.resumed_after_preemption = resumed;
         Check(o.Validate());
         return Value(self.kv->AddSequence(tokens.span(), o)).value();
       },
       py::arg("prompt"), py::kw_only(), py::arg("lora_id") = 0,
       py::arg("cache_salt") = 0, py::arg("mm_items") = py::none(),
       py::arg("priority") = kDefaultRetentionPriority,
       py::arg("retention_duration_us") = -1,
       py::arg("resumed_after_preemption") = false,
       "Adds a sequence whose known tokens are `prompt`; returns its id. "
       "It holds no blocks until admit(). lora_id, cache_salt and "
       "mm_items ((hash, offset, length) or MultimodalItem, sorted) key "
       "its blocks; priority (0..100) is the retention priority of its "
       "cached blocks for the 'priority' policy, for "
       "retention_duration_us (negative: forever).")
      .def(
          "append_tokens",
          [](PyManager& self, uint64_t seq, py::handle tokens) {
            Busy busy(self);
            IntArgs<int32_t> t(tokens, "tokens");
            Check(self.kv->AppendTokens(SeqId(seq), t.span()));
          },
          py::arg("seq"), py::arg("tokens"),
          "Appends known tokens; they get slots at a later reserve().")
      .def(
          "match_prefix",
          [](PyManager& self, py::handle seq_or_prompt, uint64_t lora_id,
             uint64_t cache_salt, py::handle mm_items) {
            Busy busy(self);
            if (PyLong_Check(seq_or_prompt.ptr())) {
              return Value(
                  self.kv->MatchPrefix(SeqId(seq_or_prompt.cast<uint64_t>())));
            }
            IntArgs<int32_t> t(seq_or_prompt, "prompt");
            const BlockHashExtras e = Extras(lora_id, cache_salt, mm_items);
            Release release;
            return self.kv->MatchPrefix(t.span(), e);
          },
          py::arg("seq_or_prompt"), py::kw_only(), py::arg("lora_id") = 0,
          py::arg("cache_salt") = 0, py::arg("mm_items") = py::none(),
          "The longest cached prefix of a sequence (an id, before admit) or "
          "of a prompt with the given extras. Read-only.")
      .def(
          "admit",
          [](PyManager& self, uint64_t seq, int64_t max_new_tokens) {
            Busy busy(self);
            absl::StatusOr<Admission> a;
            {
              Release release;
              a = self.kv->Admit(SeqId(seq), max_new_tokens);
            }
            return Value(std::move(a));
          },
          py::arg("seq"), py::arg("max_new_tokens"),
          "Claims the sequence's prefix hit and reserves slots for up to "
          "max_new_tokens tokens after it; returns the Admission. Raises "
          "OutOfBlocks (nothing changed) when the blocks are not there.");
}

// Admission, reservation and the decode batch.
void BindAllocation(ManagerClass& c) {
  c.def(
       "admit_batch",
       [](PyManager& self, py::handle requests) {
         Busy busy(self);
         std::vector<ReserveRequest> r = Requests(requests);
         absl::StatusOr<std::vector<Admission>> a;
         {
           Release release;
           a = self.kv->AdmitBatch(r);
         }
         return Value(std::move(a));
       },
       py::arg("requests"),
       "Admits (seq, max_new_tokens) requests together, claiming every "
       "hit before allocating; all or nothing. Returns the Admissions.")
      .def(
          "reserve",
          [](PyManager& self, uint64_t seq, int64_t n, int64_t lookahead) {
            Busy busy(self);
            Check(self.kv->Reserve(SeqId(seq), n, lookahead));
          },
          py::arg("seq"), py::arg("num_new_tokens"),
          py::arg("num_lookahead_tokens") = 0,
          "Gives the next num_new_tokens known tokens slots (and reserves "
          "lookahead slots). All or nothing; OutOfBlocks changes nothing.")
      .def(
          "append_decode_tokens",
          [](PyManager& self, py::handle seqs, py::handle tokens) {
            Busy busy(self);
            absl::Span<const SeqId> ids = Seqs(self, seqs, "seqs");
            IntArgs<int32_t> t(tokens, "tokens");
            absl::Status st;
            {
              Release release;
              st = self.kv->AppendDecodeTokens(ids, t.span());
            }
            Check(st);
          },
          py::arg("seqs"), py::arg("tokens"),
          "One decode step: appends tokens[i] to seqs[i] and gives it a "
          "slot, for the whole batch, all or nothing. Arrays of uint64 seq "
          "ids and int32 tokens are read in place.");
}

// Dry runs, truncate, fork, release and reset.
void BindDryRunsAndEdits(ManagerClass& c) {
  c.def(
       "blocks_to_reserve",
       [](PyManager& self, uint64_t seq, int64_t n, int64_t lookahead) {
         Busy busy(self);
         return Value(self.kv->BlocksToReserve(SeqId(seq), n, lookahead));
       },
       py::arg("seq"), py::arg("num_new_tokens"),
       py::arg("num_lookahead_tokens") = 0,
       "Dry run of reserve(): blocks it would take from the pool.")
      .def(
          "blocks_to_admit",
          [](PyManager& self, uint64_t seq, int64_t max_new_tokens) {
            Busy busy(self);
            return Value(self.kv->BlocksToAdmit(SeqId(seq), max_new_tokens));
          },
          py::arg("seq"), py::arg("max_new_tokens"),
          "Dry run of admit(): blocks it would take, counting claimed "
          "evictable hits.")
      .def(
          "can_reserve",
          [](PyManager& self, py::handle requests) {
            Busy busy(self);
            std::vector<ReserveRequest> r = Requests(requests);
            return Value(self.kv->CanReserve(r));
          },
          py::arg("requests"),
          "Whether reserve() would succeed for every (seq, num_new_tokens"
          "[, lookahead]) request, called in order.")
      .def(
          "truncate",
          [](PyManager& self, uint64_t seq, int64_t n) {
            Busy busy(self);
            Check(self.kv->Truncate(SeqId(seq), n));
          },
          py::arg("seq"), py::arg("num_tokens"),
          "Shortens the sequence to its first num_tokens known tokens "
          "(speculative rollback), freeing blocks tail first.")
      .def(
          "fork",
          [](PyManager& self, uint64_t seq) {
            Busy busy(self);
            return Value(self.kv->Fork(SeqId(seq))).value();
          },
          py::arg("seq"),
          "A new sequence sharing every block (copy-on-write); returns its "
          "id.")
      .def(
          "release",
          [](PyManager& self, uint64_t seq) {
            Busy busy(self);
            Check(self.kv->Release(SeqId(seq)));
          },
          py::arg("seq"),
          "Releases the sequence's blocks tail first; full blocks stay "
          "cached.")
      .def(
          "reset",
          [](PyManager& self) {
            Busy busy(self);
            absl::Status st;
            {
              Release release;
              st = self.kv->Reset();
            }
            Check(st);
          },
          "Drops all cached content. FailedPrecondition if a sequence is "
          "live.");
}

// Token counts, block tables and their exports, footprints.
void BindTables(ManagerClass& c) {
  c.def(
       "num_known_tokens",
       [](PyManager& self, uint64_t seq) {
         Busy busy(self);
         return Value(self.kv->NumKnownTokens(SeqId(seq)));
       },
       py::arg("seq"))
      .def(
          "num_computed_tokens",
          [](PyManager& self, uint64_t seq) {
            Busy busy(self);
            return Value(self.kv->NumComputedTokens(SeqId(seq)));
          },
          py::arg("seq"))
      .def(
          "block_table",
          [](PyManager& self, uint64_t seq, uint32_t group) {
            Busy busy(self);
            return TableArray(
                Value(self.kv->BlockTable(SeqId(seq), GroupId(group))));
          },
          py::arg("seq"), py::arg("group") = 0,
          "A copy of the sequence's block table in `group` (int32; 0 is "
          "the null block).")
      .def("export_block_table", &ExportBlockTable, py::arg("seqs"),
           py::arg("group"), py::arg("out"), py::kw_only(),
           py::arg("row_width") = py::none(),
           "Writes the padded 2-D block table of seqs into `out` in place "
           "(a writable C-contiguous int32 buffer: 2-D (rows, width), or "
           "1-D with row_width), padded with 0. Raises InvalidArgument "
           "when out is too small, read-only or not int32.")
      .def("export_csr", &ExportCsr, py::arg("seqs"), py::arg("group"),
           py::arg("indptr"), py::arg("indices"), py::arg("last_page_len"),
           "Writes the CSR page layout (FlashInfer) into the three int32 "
           "buffers in place; returns the number of indices written.")
      .def("block_table_array", &BlockTableArray, py::arg("seqs"),
           py::arg("group") = 0, py::arg("row_width") = py::none(),
           "Allocating export_block_table: a new (len(seqs), width) int32 "
           "array, width defaulting to the longest table.")
      .def("csr", &Csr, py::arg("seqs"), py::arg("group") = 0,
           "Allocating export_csr: (indptr, indices, last_page_len).")
      .def(
          "add_to_footprint",
          [](PyManager& self, uint64_t seq, int32_t new_tokens,
             StepFootprint& footprint) {
            Busy busy(self);
            Check(self.kv->AddToFootprint(SeqId(seq), new_tokens, &footprint));
          },
          py::arg("seq"), py::arg("new_tokens"), py::arg("footprint"),
          "Appends the sequence's footprint for a step that computed its "
          "last new_tokens tokens (call after reserve/admit).");
}

// Copies, events, statistics, verification.
void BindState(ManagerClass& c) {
  c.def(
       "drain_transfers",
       [](PyManager& self) {
         Busy busy(self);
         py::list out;
         for (const TransferOrder& o : self.kv->DrainTransfers()) {
           out.append(py::make_tuple(
               o.kind == TransferOrder::Kind::kLoad ? "load" : "store",
               o.when == TransferOrder::When::kBeforeKernels ? "before"
                                                             : "after",
               o.gpu_block.value(), o.host_block, o.key));
         }
         return out;
       },
       "Host-tier transfer orders since the last call, as tuples (kind "
       "'load'|'store', when 'before'|'after' the step's kernels, gpu_block, "
       "host_block, key). Empty without a host tier.")
      .def(
          "complete_load",
          [](PyManager& self, uint32_t host_block) {
            Busy busy(self);
            Check(self.kv->CompleteLoad(host_block));
          },
          py::arg("host_block"),
          "The engine finished the load out of host_block (unpins it). "
          "Raises if no load of it is in flight.")
      .def(
          "complete_store",
          [](PyManager& self, uint32_t host_block, bool success) {
            Busy busy(self);
            Check(self.kv->CompleteStore(host_block, success));
          },
          py::arg("host_block"), py::arg("success"),
          "The engine finished (success) or gave up the store into "
          "host_block. Raises if no store of it is in flight.")
      .def(
          "host_tier_stats",
          [](PyManager& self) {
            Busy busy(self);
            const HostTierStats s = self.kv->Stats().host_tier;
            py::dict d;
            d["capacity_blocks"] = s.capacity_blocks;
            d["hit_blocks"] = s.hit_blocks;
            d["hit_tokens"] = s.hit_tokens;
            d["stores_issued"] = s.stores_issued;
            d["stores_completed"] = s.stores_completed;
            d["stores_failed"] = s.stores_failed;
            d["stores_dropped"] = s.stores_dropped;
            d["loads_issued"] = s.loads_issued;
            d["loads_completed"] = s.loads_completed;
            d["evictions"] = s.evictions;
            d["pending_blocks"] = s.pending_blocks;
            d["ready_blocks"] = s.ready_blocks;
            d["pinned_blocks"] = s.pinned_blocks;
            d["free_blocks"] = s.free_blocks;
            return d;
          },
          "The host tier's counters and occupancy (HostTierStats) as a "
          "dict; all zero without a host tier.")
      .def(
          "drain_copies",
          [](PyManager& self) {
            Busy busy(self);
            return self.kv->DrainCopies();
          },
          "The copy-on-write copies requested since the last call, to run "
          "before the kernels.")
      .def(
          "drain_events",
          [](PyManager& self) {
            Busy busy(self);
            std::vector<KVEvent> events = self.kv->DrainEvents();
            py::list out;
            for (KVEvent& e : events) {
              std::visit([&](auto& v) { out.append(py::cast(std::move(v))); },
                         e);
            }
            return out;
          },
          "The KV events since the last call: BlockStored, BlockRemoved and "
          "AllBlocksCleared objects (empty unless enable_kv_events).")
      .def(
          "stats",
          [](PyManager& self) {
            Busy busy(self);
            return self.kv->Stats();
          },
          "Memory use and counters (KVCacheStats).")
      .def(
          "dump_call_log",
          [](PyManager& self, const std::string& path) {
            Busy busy(self);
            Check(self.kv->DumpCallLog(path));
          },
          py::arg("path") = "",
          "Writes the call log out now (a ring's last calls to `path`, or "
          "call_log when empty). Raises pagekv.FailedPrecondition when the "
          "manager records no log.")
      .def(
          "verify",
          [](PyManager& self) {
            Busy busy(self);
            absl::Status st;
            {
              Release release;
              st = self.kv->Verify();
            }
            Check(st);
          },
          "Checks every invariant; raises pagekv.Error naming the broken "
          "one.")
      .def_property_readonly(
          "block_size", [](PyManager& self) { return self.kv->block_size(); })
      .def_property_readonly(
          "num_groups", [](PyManager& self) { return self.kv->num_groups(); })
      .def(
          "noop", [](PyManager&) {},
          "Does nothing: measures the cost of crossing the binding.");
}

}  // namespace

void BindManager(py::module_& m) {
  ManagerClass c(
      m, "KVCacheManager",
      "The paged KV-cache manager (C++ pagekv::KVCacheManager).\n\n"
      "Sequence ids are ints. Every method either succeeds or raises and\n"
      "leaves the manager exactly as it was: pagekv.OutOfBlocks when the\n"
      "pool is short of blocks, pagekv.InvalidArgument /\n"
      "pagekv.FailedPrecondition (both ValueError) for a bad argument.\n"
      "Token arguments take lists or NumPy arrays of any integer dtype.\n\n"
      "Thread-safety: single-threaded; call it from the scheduler's thread.\n"
      "A call that overlaps another thread's call raises RuntimeError.");
  c.def(py::init(&CreateFrom), py::arg("config") = py::none(),
        "Creates a manager from a KVCacheConfig or from its keyword "
        "fields.")
      .def_static("create", &CreateFrom, py::arg("config") = py::none(),
                  "Same as the constructor.");
  BindSequences(c);
  BindAllocation(c);
  BindDryRunsAndEdits(c);
  BindTables(c);
  BindState(c);
}

}  // namespace pagekv::python
