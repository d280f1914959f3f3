// KVCacheManager for Python: the C++ API with Python names, NumPy in and
// out, one boundary crossing per batch. This file binds construction and
// the calls that change sequences (add, append, match, admit, reserve, the
// decode batch, dry runs, truncate, fork, release, reset);
// bind_manager_outputs.cc binds what the engine reads back.
//
// Calls that can take long (admission with hashing, the decode batch, the
// exports, verify, reset) release the GIL while the manager runs. The
// manager is single-threaded: a call made while another thread is inside
// the same manager raises RuntimeError instead of racing (manager_binding.h).
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "fmt/format.h"
#include "manager_binding.h"
#include "pagekv/kv_cache_manager.h"
#include "pybind11/numpy.h"
#include "pybind11/stl.h"
#include "status.h"

namespace pagekv::python {
namespace {

namespace py = pybind11;
using Release = py::gil_scoped_release;

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
  BindManagerTables(c);
  BindManagerTransfers(c);
  BindManagerState(c);
}

}  // namespace pagekv::python
