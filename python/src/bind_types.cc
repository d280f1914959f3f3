// Value types of the manager's API: configuration, results, events,
// statistics and step footprints.
#include <cstdint>
#include <string>
#include <vector>

#include "bindings.h"
#include "fmt/format.h"
#include "pagekv/clock.h"
#include "pagekv/eviction_policy.h"
#include "pagekv/footprint.h"
#include "pagekv/kv_cache_manager.h"
#include "pagekv/kv_cache_stats.h"
#include "pagekv/kv_events.h"
#include "pybind11/stl.h"
#include "status.h"

namespace pagekv::python {
namespace {

namespace py = pybind11;

std::string TypeName(py::handle v) {
  return py::str(py::type::handle_of(v).attr("__name__"));
}

// Casts `value` for field `field`, raising TypeError naming the field.
template <typename T>
T Field(py::handle value, const char* field, const char* expected) {
  const bool is_bool = PyBool_Check(value.ptr());
  if constexpr (!std::is_same_v<T, bool>) {
    if (is_bool) {
      throw py::type_error(fmt::format("KVCacheConfig.{} must be {}, got bool",
                                       field, expected));
    }
  } else if (!is_bool) {
    throw py::type_error(fmt::format("KVCacheConfig.{} must be {}, got {}",
                                     field, expected, TypeName(value)));
  }
  try {
    return value.cast<T>();
  } catch (const py::cast_error&) {
    throw py::type_error(fmt::format("KVCacheConfig.{} must be {}, got {} {}",
                                     field, expected, TypeName(value),
                                     std::string(py::repr(value))));
  }
}

constexpr const char* kConfigFields =
    "num_blocks, block_size, groups, enable_prefix_caching, "
    "eviction_policy, hash_seed, enable_kv_events, clock, call_log, "
    "call_log_ring, host_tier_blocks, host_tier_policy, store_policy";

void SetConfigField(PyKVCacheConfig& c, const std::string& key, py::handle v) {
  KVCacheConfig& k = c.config;
  if (key == "num_blocks") {
    k.num_blocks = Field<int64_t>(v, "num_blocks", "an int");
  } else if (key == "block_size") {
    k.block_size = Field<int32_t>(v, "block_size", "an int");
  } else if (key == "groups") {
    try {
      k.groups = v.cast<std::vector<KVCacheGroupSpec>>();
    } catch (const py::cast_error&) {
      throw py::type_error(fmt::format(
          "KVCacheConfig.groups must be a list of KVCacheGroupSpec, got {}",
          std::string(py::repr(v))));
    }
  } else if (key == "enable_prefix_caching") {
    k.enable_prefix_caching = Field<bool>(v, key.c_str(), "a bool");
  } else if (key == "enable_kv_events") {
    k.enable_kv_events = Field<bool>(v, key.c_str(), "a bool");
  } else if (key == "eviction_policy") {
    if (!py::isinstance<py::str>(v)) {
      throw py::type_error(fmt::format(
          "KVCacheConfig.eviction_policy must be a str, got {}", TypeName(v)));
    }
    k.eviction_policy = v.cast<std::string>();
  } else if (key == "call_log") {
    // Record every manager call to this file (docs/stress.md); None = off.
    if (v.is_none()) {
      k.call_log.mode = CallLogOptions::Mode::kOff;
      k.call_log.path.clear();
    } else {
      if (!py::isinstance<py::str>(v)) {
        throw py::type_error(fmt::format(
            "KVCacheConfig.call_log must be a str path or None, got {}",
            TypeName(v)));
      }
      k.call_log.path = v.cast<std::string>();
      if (k.call_log.mode == CallLogOptions::Mode::kOff) {
        k.call_log.mode = CallLogOptions::Mode::kFile;
      }
    }
  } else if (key == "call_log_ring") {
    // Keep only the last N calls in memory, written to call_log on
    // dump_call_log() or a failed check; 0 = every call to the file.
    const int64_t n = Field<int64_t>(v, "call_log_ring", "an int");
    k.call_log.ring_calls = n > 0 ? n : k.call_log.ring_calls;
    if (n > 0) k.call_log.mode = CallLogOptions::Mode::kRing;
  } else if (key == "host_tier_blocks") {
    // A host tier of this many blocks under the pool (docs/tiers.md).
    k.host_tier.num_blocks = Field<int64_t>(v, key.c_str(), "an int");
  } else if (key == "host_tier_policy") {
    k.host_tier.eviction_policy = Field<std::string>(v, key.c_str(), "a str");
  } else if (key == "store_policy") {
    k.host_tier.store_policy =
        Value(ParseStorePolicy(Field<std::string>(v, key.c_str(), "a str")));
  } else if (key == "hash_seed") {
    k.hash_seed = Field<uint64_t>(v, "hash_seed", "an int in [0, 2^64)");
  } else if (key == "clock") {
    if (v.is_none()) {
      k.clock = nullptr;
    } else if (py::isinstance<ManualClock>(v)) {
      k.clock = v.cast<ManualClock*>();
    } else {
      throw py::type_error(fmt::format(
          "KVCacheConfig.clock must be a ManualClock or None, got {}",
          TypeName(v)));
    }
    c.clock = py::reinterpret_borrow<py::object>(v);
  } else {
    throw py::type_error(
        fmt::format("KVCacheConfig got an unknown field '{}' (fields: {})", key,
                    kConfigFields));
  }
}

std::string GroupRepr(const KVCacheGroupSpec& g) {
  switch (g.kind) {
    case KVCacheGroupSpec::Kind::kFullAttention:
      return "KVCacheGroupSpec.full_attention()";
    case KVCacheGroupSpec::Kind::kSlidingWindow:
      return fmt::format("KVCacheGroupSpec.sliding_window({})",
                         g.sliding_window);
    case KVCacheGroupSpec::Kind::kChunkedLocal:
      return fmt::format("KVCacheGroupSpec.chunked_local({})",
                         g.attention_chunk_size);
    case KVCacheGroupSpec::Kind::kState:
      break;
  }
  return fmt::format(
      "KVCacheGroupSpec.state('{}', num_speculative_blocks={}, "
      "state_block_size={})",
      g.state_cache_mode == StateCacheMode::kAlign ? "align" : "none",
      g.num_speculative_blocks, g.state_block_size);
}

KVCacheGroupSpec MakeStateGroup(const std::string& mode,
                                int32_t num_speculative_blocks,
                                int32_t state_block_size) {
  if (mode != "none" && mode != "align") {
    throw py::value_error(fmt::format(
        "KVCacheGroupSpec.state: mode must be 'none' or 'align', got '{}'",
        mode));
  }
  return KVCacheGroupSpec::State(
      mode == "align" ? StateCacheMode::kAlign : StateCacheMode::kNone,
      num_speculative_blocks, state_block_size);
}

bool SameGroup(const KVCacheGroupSpec& a, const KVCacheGroupSpec& b) {
  return a.kind == b.kind && a.sliding_window == b.sliding_window &&
         a.attention_chunk_size == b.attention_chunk_size &&
         a.state_cache_mode == b.state_cache_mode &&
         a.num_speculative_blocks == b.num_speculative_blocks &&
         a.state_block_size == b.state_block_size;
}

void BindConfig(py::module_& m) {
  py::class_<KVCacheGroupSpec>(
      m, "KVCacheGroupSpec",
      "A KV-cache group: the layers sharing one block table per sequence.")
      .def_static("full_attention", &KVCacheGroupSpec::FullAttention,
                  "A full-attention group.")
      .def_static("sliding_window", &KVCacheGroupSpec::SlidingWindow,
                  py::arg("window"),
                  "A sliding-window group of `window` tokens (>= 1).")
      .def_static("chunked_local", &KVCacheGroupSpec::ChunkedLocal,
                  py::arg("chunk"),
                  "A chunked-local attention group (Llama 4): a token "
                  "attends within its `chunk`-token chunk.")
      .def_static("state", &MakeStateGroup, py::arg("mode") = "none",
                  py::arg("num_speculative_blocks") = 0,
                  py::arg("state_block_size") = 0,
                  "A Mamba / linear-attention state group; `mode` 'none' "
                  "(never cached) or 'align' (checkpoints every "
                  "`state_block_size` tokens; 0 = the config's block size).")
      .def_property_readonly(
          "kind",
          [](const KVCacheGroupSpec& g) { return GroupKindName(g.kind); },
          "'full_attention', 'sliding_window', 'chunked_local' or 'state'.")
      .def_readonly("window", &KVCacheGroupSpec::sliding_window,
                    "Attention window in tokens (sliding-window groups).")
      .def_readonly("chunk", &KVCacheGroupSpec::attention_chunk_size,
                    "Chunk in tokens (chunked-local groups).")
      .def_property_readonly(
          "mode",
          [](const KVCacheGroupSpec& g) {
            return g.state_cache_mode == StateCacheMode::kAlign ? "align"
                                                                : "none";
          },
          "State caching mode (state groups): 'none' or 'align'.")
      .def_readonly("num_speculative_blocks",
                    &KVCacheGroupSpec::num_speculative_blocks,
                    "Speculative state blocks (state groups).")
      .def_readonly("state_block_size", &KVCacheGroupSpec::state_block_size,
                    "Tokens between checkpoints (state groups, 'align').")
      .def("__eq__", &SameGroup)
      .def("__repr__", &GroupRepr);

  py::class_<ManualClock>(m, "ManualClock",
                          "A clock that moves only when told to (for "
                          "eviction recency and retention); microseconds.")
      .def(py::init<int64_t>(), py::arg("now_us") = 0)
      .def_property_readonly("now_us", &ManualClock::NowMicros)
      .def("set", &ManualClock::Set, py::arg("now_us"))
      .def("advance", &ManualClock::Advance, py::arg("delta_us"));

  py::class_<PyKVCacheConfig>(
      m, "KVCacheConfig",
      "Configuration of a KVCacheManager, from keyword arguments.\n\n"
      "Fields: num_blocks (pool size including the null block 0),\n"
      "block_size (tokens per block, default 16), groups (list of\n"
      "KVCacheGroupSpec, default one full-attention group),\n"
      "enable_prefix_caching (default True), eviction_policy (one of\n"
      "eviction_policy_names(), default 'lru'), hash_seed (default 0),\n"
      "enable_kv_events (default False), clock (a ManualClock or None).\n\n"
      "Raises TypeError naming the field for an unknown field or a value of\n"
      "the wrong type, pagekv.InvalidArgument naming it for a bad value.")
      .def(py::init([](const py::kwargs& kwargs) {
        PyKVCacheConfig c;
        for (auto [key, value] : kwargs) {
          SetConfigField(c, key.cast<std::string>(), value);
        }
        Check(c.config.Validate());
        return c;
      }))
      .def_property_readonly(
          "num_blocks",
          [](const PyKVCacheConfig& c) { return c.config.num_blocks; })
      .def_property_readonly(
          "block_size",
          [](const PyKVCacheConfig& c) { return c.config.block_size; })
      .def_property_readonly(
          "groups", [](const PyKVCacheConfig& c) { return c.config.groups; })
      .def_property_readonly("enable_prefix_caching",
                             [](const PyKVCacheConfig& c) {
                               return c.config.enable_prefix_caching;
                             })
      .def_property_readonly(
          "eviction_policy",
          [](const PyKVCacheConfig& c) { return c.config.eviction_policy; })
      .def_property_readonly(
          "hash_seed",
          [](const PyKVCacheConfig& c) { return c.config.hash_seed; })
      .def_property_readonly(
          "enable_kv_events",
          [](const PyKVCacheConfig& c) { return c.config.enable_kv_events; })
      .def_property_readonly("clock",
                             [](const PyKVCacheConfig& c) { return c.clock; })
      .def("__repr__", [](const PyKVCacheConfig& c) {
        return fmt::format(
            "KVCacheConfig(num_blocks={}, block_size={}, groups={}, "
            "enable_prefix_caching={}, eviction_policy='{}', hash_seed={}, "
            "enable_kv_events={})",
            c.config.num_blocks, c.config.block_size, c.config.groups.size(),
            c.config.enable_prefix_caching ? "True" : "False",
            c.config.eviction_policy, c.config.hash_seed,
            c.config.enable_kv_events ? "True" : "False");
      });

  m.def("eviction_policy_names", &EvictionPolicyNames,
        "The names KVCacheConfig.eviction_policy accepts.");
}

void BindResults(py::module_& m) {
  py::class_<PrefixMatch>(m, "PrefixMatch",
                          "The longest cached prefix of a prompt.")
      .def_readonly("num_tokens", &PrefixMatch::num_tokens,
                    "Hit tokens: whole blocks, at most prompt length - 1.")
      .def_readonly("num_blocks", &PrefixMatch::num_blocks)
      .def_readonly("num_evictable_blocks", &PrefixMatch::num_evictable_blocks,
                    "Hit blocks with no references (claiming them consumes "
                    "free capacity).")
      .def("__eq__",
           [](const PrefixMatch& a, const PrefixMatch& b) {
             return a.num_tokens == b.num_tokens &&
                    a.num_blocks == b.num_blocks &&
                    a.num_evictable_blocks == b.num_evictable_blocks;
           })
      .def("__repr__", [](const PrefixMatch& p) {
        return fmt::format(
            "PrefixMatch(num_tokens={}, num_blocks={}, "
            "num_evictable_blocks={})",
            p.num_tokens, p.num_blocks, p.num_evictable_blocks);
      });
  py::class_<Admission>(m, "Admission", "The result of admitting a sequence.")
      .def_readonly("hit", &Admission::hit, "The claimed prefix hit.")
      .def_readonly("num_new_tokens", &Admission::num_new_tokens,
                    "Tokens after the hit that got slots now.")
      .def("__repr__", [](const Admission& a) {
        return fmt::format("Admission(hit_tokens={}, num_new_tokens={})",
                           a.hit.num_tokens, a.num_new_tokens);
      });
  py::class_<BlockCopy>(m, "BlockCopy",
                        "A copy to perform before the step's kernels: "
                        "block src into block dst in group `group`.")
      .def_property_readonly("src",
                             [](const BlockCopy& c) { return c.src.value(); })
      .def_property_readonly("dst",
                             [](const BlockCopy& c) { return c.dst.value(); })
      .def_property_readonly("group",
                             [](const BlockCopy& c) { return c.group.value(); })
      .def("__repr__", [](const BlockCopy& c) {
        return fmt::format("BlockCopy(src={}, dst={}, group={})", c.src.value(),
                           c.dst.value(), c.group.value());
      });
  py::class_<ReserveRequest>(m, "ReserveRequest",
                             "One sequence's request in a batch: new tokens "
                             "and lookahead slots.")
      .def(py::init([](uint64_t seq, int64_t n, int64_t lookahead) {
             return ReserveRequest{SeqId(seq), n, lookahead};
           }),
           py::arg("seq"), py::arg("num_new_tokens"),
           py::arg("num_lookahead_tokens") = 0)
      .def_property_readonly(
          "seq", [](const ReserveRequest& r) { return r.seq.value(); })
      .def_readonly("num_new_tokens", &ReserveRequest::num_new_tokens)
      .def_readonly("num_lookahead_tokens",
                    &ReserveRequest::num_lookahead_tokens);
  py::class_<MultimodalItem>(m, "MultimodalItem",
                             "A multimodal input at prompt positions "
                             "[offset, offset + length), by content hash.")
      .def(py::init([](uint64_t hash, int64_t offset, int64_t length) {
             return MultimodalItem{hash, offset, length};
           }),
           py::arg("hash"), py::arg("offset"), py::arg("length"))
      .def_readonly("hash", &MultimodalItem::hash)
      .def_readonly("offset", &MultimodalItem::offset)
      .def_readonly("length", &MultimodalItem::length);
}

void BindEvents(py::module_& m) {
  py::class_<BlockStoredEvent>(m, "BlockStored",
                               "Consecutive blocks of one chain became "
                               "cached (keys in chain order).")
      .def_readonly("block_keys", &BlockStoredEvent::block_keys)
      .def_readonly("parent_key", &BlockStoredEvent::parent_key,
                    "Key of the block before the first, or None.")
      .def_readonly("token_ids", &BlockStoredEvent::token_ids,
                    "block_size tokens per key.")
      .def_readonly("block_size", &BlockStoredEvent::block_size)
      .def_readonly("lora_id", &BlockStoredEvent::lora_id)
      .def_readonly("cache_salt", &BlockStoredEvent::cache_salt)
      .def_property_readonly(
          "group", [](const BlockStoredEvent& e) { return e.group.value(); })
      .def("__repr__", [](const BlockStoredEvent& e) {
        return fmt::format("BlockStored({} blocks, group={})",
                           e.block_keys.size(), e.group.value());
      });
  py::class_<BlockRemovedEvent>(m, "BlockRemoved",
                                "Blocks were evicted or dropped.")
      .def_readonly("block_keys", &BlockRemovedEvent::block_keys)
      .def_property_readonly(
          "group", [](const BlockRemovedEvent& e) { return e.group.value(); })
      .def("__repr__", [](const BlockRemovedEvent& e) {
        return fmt::format("BlockRemoved({} blocks, group={})",
                           e.block_keys.size(), e.group.value());
      });
  py::class_<AllBlocksClearedEvent>(m, "AllBlocksCleared",
                                    "Every cached block was dropped (reset).")
      .def("__repr__",
           [](const AllBlocksClearedEvent&) { return "AllBlocksCleared()"; });
}

void BindStats(py::module_& m) {
  py::class_<PrefixCacheStats>(m, "PrefixCacheStats",
                               "Prefix-cache counters since creation.")
      .def_readonly("queries", &PrefixCacheStats::queries)
      .def_readonly("query_tokens", &PrefixCacheStats::query_tokens)
      .def_readonly("hit_tokens", &PrefixCacheStats::hit_tokens)
      .def_readonly("query_blocks", &PrefixCacheStats::query_blocks)
      .def_readonly("hit_blocks", &PrefixCacheStats::hit_blocks)
      .def_readonly("resumed_queries", &PrefixCacheStats::resumed_queries)
      .def_readonly("resumed_query_tokens",
                    &PrefixCacheStats::resumed_query_tokens)
      .def_readonly("resumed_hit_tokens", &PrefixCacheStats::resumed_hit_tokens)
      .def_property_readonly("token_hit_rate", &PrefixCacheStats::TokenHitRate)
      .def_property_readonly("block_hit_rate", &PrefixCacheStats::BlockHitRate);
  py::class_<KVCacheStats>(m, "KVCacheStats",
                           "Memory use (blocks, token slots) and counters; "
                           "total == free + cached + in_use.")
      .def_readonly("block_size", &KVCacheStats::block_size)
      .def_readonly("total_blocks", &KVCacheStats::total_blocks)
      .def_readonly("free_blocks", &KVCacheStats::free_blocks)
      .def_readonly("cached_blocks", &KVCacheStats::cached_blocks)
      .def_readonly("in_use_blocks", &KVCacheStats::in_use_blocks)
      .def_readonly("num_sequences", &KVCacheStats::num_sequences)
      .def_readonly("used_token_slots", &KVCacheStats::used_token_slots)
      .def_readonly("empty_token_slots", &KVCacheStats::empty_token_slots)
      .def_readonly("blocks_allocated", &KVCacheStats::blocks_allocated)
      .def_readonly("evictions", &KVCacheStats::evictions)
      .def_readonly("cow_copies", &KVCacheStats::cow_copies)
      .def_readonly("allocation_failures", &KVCacheStats::allocation_failures)
      .def_readonly("prefix", &KVCacheStats::prefix)
      .def_readonly("index_bytes_per_block",
                    &KVCacheStats::index_bytes_per_block)
      .def_property_readonly("block_usage", &KVCacheStats::BlockUsage)
      .def_property_readonly("token_usage", &KVCacheStats::TokenUsage);
}

void BindFootprint(py::module_& m) {
  py::class_<GroupFootprint>(m, "GroupFootprint",
                             "One sequence's use of one group in a step.")
      .def_readonly("context_tokens", &GroupFootprint::context_tokens)
      .def_readonly("pages_read", &GroupFootprint::pages_read)
      .def_readonly("pages_written", &GroupFootprint::pages_written);
  py::class_<SequenceFootprint>(m, "SequenceFootprint",
                                "One scheduled sequence in a step.")
      .def_property_readonly(
          "seq", [](const SequenceFootprint& s) { return s.seq.value(); })
      .def_readonly("new_tokens", &SequenceFootprint::new_tokens)
      .def_readonly("cached_tokens", &SequenceFootprint::cached_tokens)
      .def_readonly("is_prefill", &SequenceFootprint::is_prefill)
      .def_property_readonly("groups", [](const SequenceFootprint& s) {
        return std::vector<GroupFootprint>(s.groups.begin(), s.groups.end());
      });
  py::class_<StepFootprint>(m, "StepFootprint",
                            "Everything one step touches: fill it with "
                            "KVCacheManager.add_to_footprint, price it with "
                            "BandwidthModel.estimate.")
      .def(py::init<>())
      .def_readonly("block_size", &StepFootprint::block_size)
      .def_readonly("sequences", &StepFootprint::sequences)
      .def_property_readonly("total_new_tokens", &StepFootprint::TotalNewTokens)
      .def("__len__",
           [](const StepFootprint& f) { return f.sequences.size(); });
}

}  // namespace

void BindTypes(py::module_& m) {
  BindConfig(m);
  BindResults(m);
  BindEvents(m);
  BindStats(m);
  BindFootprint(m);
}

}  // namespace pagekv::python
