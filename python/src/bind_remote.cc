// The remote KV tier for Python: RedisKVStore over a prompt's chain, one
// call (and one Redis round trip) per batch, payloads as 2-D uint8 buffers
// (NumPy arrays) read and written in place with the GIL released.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "fmt/format.h"
#include "pagekv/block_chain.h"
#include "pagekv/net/redis_kv_store.h"
#include "pybind11/stl.h"
#include "status.h"

namespace pagekv::python {
namespace {

namespace py = pybind11;

// A store plus the manager settings its chains are keyed with.
struct PyRemoteStore {
  std::unique_ptr<net::RedisKVStore> store;
  KVCacheConfig keys;  // block_size, hash_seed
};

// The blocks [first, first + n) of `tokens`' chain (n < 0: up to the
// matchable blocks), after checking the range.
std::vector<BlockRecord> Blocks(const PyRemoteStore& s,
                                absl::Span<const TokenId> tokens,
                                const BlockHashExtras& extras, int64_t first,
                                int64_t n) {
  const int64_t matchable =
      MatchableBlocks(static_cast<int64_t>(tokens.size()), s.keys.block_size);
  const int64_t full = static_cast<int64_t>(tokens.size()) / s.keys.block_size;
  if (n < 0) n = std::max<int64_t>(matchable - first, 0);
  if (first < 0 || first + n > full) {
    ThrowInvalid(fmt::format(
        "blocks [{}, {}) of a {}-token prompt: it has {} full blocks of {}",
        first, first + n, tokens.size(), full, s.keys.block_size));
  }
  std::vector<BlockRecord> chain =
      ComputeBlockChain(s.keys, tokens, extras, first + n).blocks;
  chain.erase(chain.begin(), chain.begin() + first);
  return chain;
}

// A 2-D C-contiguous byte buffer: rows are blocks.
struct Rows {
  BufferView view;
  int64_t rows = 0;
  int64_t bytes = 0;  // per row
  uint8_t* data() const { return static_cast<uint8_t*>(view.view().buf); }
};

void ReadRows(py::handle obj, bool writable, const char* name, Rows* out) {
  const int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_ND |
                    (writable ? PyBUF_WRITABLE : 0);
  if (!out->view.Get(obj.ptr(), flags) || out->view.view().ndim != 2 ||
      out->view.view().itemsize != 1) {
    ThrowInvalid(fmt::format(
        "{} must be a{} C-contiguous 2-D uint8 array (blocks x bytes), got {}",
        name, writable ? " writable" : "", std::string(py::repr(obj))));
  }
  out->rows = out->view.view().shape[0];
  out->bytes = out->view.view().shape[1];
}

BlockHashExtras MakeExtras(uint64_t lora_id, uint64_t cache_salt,
                           const std::vector<MultimodalItem>& items) {
  BlockHashExtras e;
  e.lora_id = lora_id;
  e.cache_salt = cache_salt;
  e.mm_items = items;
  return e;
}

py::dict StatsDict(const RemoteStoreStats& s) {
  py::dict d;
  d["lookups"] = s.lookups;
  d["lookup_blocks"] = s.lookup_blocks;
  d["lookup_hits"] = s.lookup_hits;
  d["gets"] = s.gets;
  d["get_blocks"] = s.get_blocks;
  d["get_hits"] = s.get_hits;
  d["bytes_loaded"] = s.bytes_loaded;
  d["puts"] = s.puts;
  d["put_blocks"] = s.put_blocks;
  d["stored_blocks"] = s.stored_blocks;
  d["bytes_stored"] = s.bytes_stored;
  d["dropped_blocks"] = s.dropped_blocks;
  d["absent"] = s.absent;
  d["reconnects"] = s.reconnects;
  d["degraded"] = s.degraded;
  py::dict faults;
  for (int i = 0; i < kNumRemoteFaults; ++i) {
    faults[RemoteFaultName(static_cast<RemoteFault>(i))] = s.faults[i];
  }
  d["faults"] = faults;
  return d;
}

PyRemoteStore Create(const std::string& url, const std::string& model,
                     const std::string& layout, int32_t block_size,
                     uint64_t hash_seed, int64_t timeout_ms,
                     int64_t default_ttl_ms, bool log) {
  net::RedisKVStoreConfig c = Value(net::RedisKVStoreConfig::FromUrl(url));
  c.model = model;
  c.layout = layout;
  c.timeout_ms = timeout_ms;
  c.default_ttl_ms = default_ttl_ms;
  c.log = log;
  if (block_size <= 0) {
    ThrowInvalid(fmt::format("block_size must be > 0, got {}", block_size));
  }
  PyRemoteStore s;
  s.keys.block_size = block_size;
  s.keys.hash_seed = hash_seed;
  s.store = Value(net::RedisKVStore::Create(std::move(c)));
  return s;
}

using Items = std::vector<MultimodalItem>;

int32_t Lookup(PyRemoteStore& s, py::handle tokens, int64_t first_block,
               int64_t num_blocks, uint64_t lora_id, uint64_t cache_salt,
               const Items& mm_items) {
  IntArgs<int32_t> t(tokens, "tokens");
  const BlockHashExtras e = MakeExtras(lora_id, cache_salt, mm_items);
  const auto chain = Blocks(s, t.span(), e, first_block, num_blocks);
  py::gil_scoped_release release;
  return s.store->Lookup(chain);
}

int32_t Get(PyRemoteStore& s, py::handle tokens, py::handle out,
            int64_t first_block, uint64_t lora_id, uint64_t cache_salt,
            const Items& mm_items) {
  IntArgs<int32_t> t(tokens, "tokens");
  Rows rows;
  ReadRows(out, /*writable=*/true, "out", &rows);
  const BlockHashExtras e = MakeExtras(lora_id, cache_salt, mm_items);
  const auto chain = Blocks(s, t.span(), e, first_block, rows.rows);
  std::vector<absl::Span<uint8_t>> bufs;
  for (int64_t i = 0; i < rows.rows; ++i) {
    bufs.emplace_back(rows.data() + i * rows.bytes, rows.bytes);
  }
  py::gil_scoped_release release;
  return Value(s.store->Get(chain, bufs));
}

int32_t Put(PyRemoteStore& s, py::handle tokens, py::handle payloads,
            int64_t first_block, int64_t ttl_ms, uint64_t lora_id,
            uint64_t cache_salt, const Items& mm_items) {
  IntArgs<int32_t> t(tokens, "tokens");
  Rows rows;
  ReadRows(payloads, /*writable=*/false, "payloads", &rows);
  const BlockHashExtras e = MakeExtras(lora_id, cache_salt, mm_items);
  const auto chain = Blocks(s, t.span(), e, first_block, rows.rows);
  std::vector<absl::Span<const uint8_t>> in;
  for (int64_t i = 0; i < rows.rows; ++i) {
    in.emplace_back(rows.data() + i * rows.bytes, rows.bytes);
  }
  py::gil_scoped_release release;
  return Value(s.store->Put(chain, in, ttl_ms));
}

py::dict ServerInfo(PyRemoteStore& s) {
  const net::RedisServerInfo i = Value(s.store->ServerInfo());
  py::dict d;
  d["used_memory"] = i.used_memory;
  d["maxmemory"] = i.maxmemory;
  d["maxmemory_policy"] = i.maxmemory_policy;
  d["evicted_keys"] = i.evicted_keys;
  d["expired_keys"] = i.expired_keys;
  return d;
}

std::string RedisKey(const PyRemoteStore& s, py::handle tokens, int64_t block,
                     uint64_t lora_id, uint64_t cache_salt) {
  IntArgs<int32_t> t(tokens, "tokens");
  const auto chain =
      Blocks(s, t.span(), MakeExtras(lora_id, cache_salt, {}), block, 1);
  return s.store->RedisKey(chain[0]);
}

}  // namespace

void BindRemote(py::module_& m) {
  py::class_<PyRemoteStore>(
      m, "RedisKVStore",
      "The remote KV tier on Redis (docs/remote-tier.md). Blocks are named "
      "by the manager's keys for `tokens` (block_size, hash_seed, lora_id, "
      "cache_salt, mm_items as the manager's), every load is verified "
      "against tokens and parent, and Redis faults are misses or dropped "
      "puts counted in stats(), never exceptions. Not thread-safe.")
      .def(py::init(&Create), py::arg("url"), py::arg("model") = "default",
           py::arg("layout") = "default", py::arg("block_size") = 16,
           py::arg("hash_seed") = 0, py::arg("timeout_ms") = 200,
           py::arg("default_ttl_ms") = 0, py::arg("log") = true,
           "Connects to redis://[[user]:password@]host[:port] (or starts "
           "degraded); InvalidArgument for a bad URL or setting.")
      .def("lookup", &Lookup, py::arg("tokens"), py::arg("first_block") = 0,
           py::arg("num_blocks") = -1, py::arg("lora_id") = 0,
           py::arg("cache_salt") = 0, py::arg("mm_items") = Items{},
           "How many leading blocks of [first_block, first_block + "
           "num_blocks) of the prompt's chain Redis holds (num_blocks -1: up "
           "to the last matchable block). 0 when Redis is unreachable.")
      .def("get", &Get, py::arg("tokens"), py::arg("out"),
           py::arg("first_block") = 0, py::arg("lora_id") = 0,
           py::arg("cache_salt") = 0, py::arg("mm_items") = Items{},
           "Loads blocks first_block.. (one per row of `out`, a writable "
           "blocks x bytes uint8 array) in place; returns how many leading "
           "rows were verified and written (the rest are untouched).")
      .def("put", &Put, py::arg("tokens"), py::arg("payloads"),
           py::arg("first_block") = 0, py::arg("ttl_ms") = -1,
           py::arg("lora_id") = 0, py::arg("cache_salt") = 0,
           py::arg("mm_items") = Items{},
           "Stores one block per row of `payloads` (blocks x bytes uint8) "
           "from first_block on, expiring after ttl_ms (0 never, -1 the "
           "default); returns how many Redis acknowledged.")
      .def(
          "stats",
          [](const PyRemoteStore& s) { return StatsDict(s.store->stats()); },
          "Counters (lookups, hits, bytes, dropped, absent, ...) and "
          "faults by reason, as a dict.")
      .def("server_info", &ServerInfo,
           "Redis's memory and eviction figures; pagekv.Error if Redis is "
           "unreachable.")
      .def(
          "delete_namespace",
          [](PyRemoteStore& s) { return Value(s.store->DeleteNamespace()); },
          "Deletes this model and layout's blocks; returns how many.")
      .def("redis_key", &RedisKey, py::arg("tokens"), py::arg("block"),
           py::arg("lora_id") = 0, py::arg("cache_salt") = 0,
           "The Redis key of one block (tooling).");
}

}  // namespace pagekv::python
