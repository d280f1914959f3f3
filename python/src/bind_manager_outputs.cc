// KVCacheManager for Python, what the engine reads back: token counts,
// block tables (copied, or exported in place into NumPy buffers, padded or
// as CSR), footprints, copy-on-write copies and host-tier transfer orders
// (and their completions), KV events, statistics, the call log and
// Verify(). The class itself is created in bind_manager.cc.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "arrays.h"
#include "manager_binding.h"
#include "pagekv/kv_cache_manager.h"
#include "pybind11/numpy.h"
#include "pybind11/stl.h"
#include "status.h"

namespace pagekv::python {
namespace {

namespace py = pybind11;
using Release = py::gil_scoped_release;

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

}  // namespace

// Token counts, block tables and their exports, footprints.
void BindManagerTables(ManagerClass& c) {
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

// Host-tier transfer orders, their completions and the tier's counters.
void BindManagerTransfers(ManagerClass& c) {
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
          "dict; all zero without a host tier.");
}

// Copies, events, statistics, the call log, verification.
void BindManagerState(ManagerClass& c) {
  c.def(
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

}  // namespace pagekv::python
