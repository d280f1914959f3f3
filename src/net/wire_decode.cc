// Decoding of KV-event batches, both layouts (see wire.h). The payload is
// unpacked whole and checked field by field before anything is returned, so
// a consumer never applies part of a malformed batch.
#include <cstdint>
#include <exception>
#include <string>

#include "absl/strings/str_cat.h"
#include "msgpack.hpp"
#include "pagekv/net/wire.h"
#define XXH_INLINE_ALL
#include "xxhash.h"

namespace pagekv::net {
namespace {

using msgpack::object;
namespace type = msgpack::type;

absl::Status Bad(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

bool IsNil(const object* o) { return o == nullptr || o->type == type::NIL; }

absl::StatusOr<int64_t> Int(const object& o, absl::string_view where) {
  if (o.type == type::POSITIVE_INTEGER) {
    if (o.via.u64 > static_cast<uint64_t>(INT64_MAX)) {
      return Bad(where, "integer out of range");
    }
    return static_cast<int64_t>(o.via.u64);
  }
  if (o.type == type::NEGATIVE_INTEGER) return o.via.i64;
  return Bad(where, "expected an integer");
}

absl::StatusOr<std::optional<int64_t>> OptInt(const object* o,
                                              absl::string_view where) {
  if (IsNil(o)) return std::optional<int64_t>();
  auto v = Int(*o, where);
  if (!v.ok()) return v.status();
  return std::optional<int64_t>(*v);
}

absl::StatusOr<std::optional<std::string>> OptStr(const object* o,
                                                  absl::string_view where) {
  if (IsNil(o)) return std::optional<std::string>();
  if (o->type != type::STR) return Bad(where, "expected a string or nil");
  return std::optional<std::string>(
      std::string(o->via.str.ptr, o->via.str.size));
}

// An engine block hash: an integer (vLLM int hashes, any sign) or bytes
// (vLLM's sha256 hashes), folded to 64 bits; the value only names a block.
absl::StatusOr<uint64_t> Hash(const object& o, absl::string_view where) {
  switch (o.type) {
    case type::POSITIVE_INTEGER:
      return o.via.u64;
    case type::NEGATIVE_INTEGER:
      return static_cast<uint64_t>(o.via.i64);
    case type::BIN:
      return XXH3_64bits(o.via.bin.ptr, o.via.bin.size);
    default:
      return Bad(where, "expected a block hash (integer or bytes)");
  }
}

absl::StatusOr<std::vector<uint64_t>> Hashes(const object* o,
                                             absl::string_view where) {
  if (o == nullptr || o->type != type::ARRAY) {
    return Bad(where, "expected an array of block hashes");
  }
  std::vector<uint64_t> out;
  out.reserve(o->via.array.size);
  for (uint32_t i = 0; i < o->via.array.size; ++i) {
    auto h = Hash(o->via.array.ptr[i], where);
    if (!h.ok()) return h.status();
    out.push_back(*h);
  }
  return out;
}

// A record's fields by name, from either layout. `names` is the array
// layout's order after the tag.
class Fields {
 public:
  // `names` must outlive the Fields (static tables below).
  Fields(const object& record, absl::Span<const char* const> names, bool tagged)
      : record_(record), names_(names), offset_(tagged ? 1 : 0) {}

  const object* Get(size_t i) const {
    if (record_.type == type::ARRAY) {
      const size_t at = i + offset_;
      return at < record_.via.array.size ? &record_.via.array.ptr[at] : nullptr;
    }
    const absl::string_view name = names_[i];
    for (uint32_t k = 0; k < record_.via.map.size; ++k) {
      const msgpack::object_kv& kv = record_.via.map.ptr[k];
      if (kv.key.type == type::STR &&
          absl::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == name) {
        return &kv.val;
      }
    }
    return nullptr;
  }

 private:
  const object& record_;
  absl::Span<const char* const> names_;
  size_t offset_;
};

// Field names in the array layout's order (after the tag, for events).
constexpr const char* kStoredNames[] = {"block_hashes",
                                        "parent_block_hash",
                                        "token_ids",
                                        "block_size",
                                        "lora_id",
                                        "medium",
                                        "lora_name",
                                        "extra_keys",
                                        "group_idx",
                                        "kv_cache_spec_kind",
                                        "kv_cache_spec_sliding_window"};
constexpr const char* kRemovedNames[] = {"block_hashes", "medium", "group_idx"};
constexpr const char* kTagName[] = {"type"};
constexpr const char* kBatchNames[] = {"ts", "events", "data_parallel_rank",
                                       "attn_dp_rank"};

absl::Status DecodeSalt(const object* extra, WireBlockStored* e,
                        absl::string_view where) {
  if (IsNil(extra)) return absl::OkStatus();
  if (extra->type != type::ARRAY)
    return Bad(where, "extra_keys: expected an array");
  if (extra->via.array.size != e->block_hashes.size()) {
    return Bad(where, "extra_keys: one entry per block hash expected");
  }
  if (extra->via.array.size == 0) return absl::OkStatus();
  const object& first = extra->via.array.ptr[0];
  if (first.type == type::ARRAY && first.via.array.size >= 1 &&
      first.via.array.ptr[0].type == type::POSITIVE_INTEGER) {
    e->cache_salt = first.via.array.ptr[0].via.u64;
  }
  return absl::OkStatus();
}

absl::StatusOr<WireEvent> DecodeStored(const object& o, const std::string& at) {
  Fields f(o, kStoredNames, true);
  // SGLang and older vLLM stop after lora_id (5 fields); vLLM has up to 11.
  if (o.type == type::ARRAY &&
      (o.via.array.size < 6 || o.via.array.size > 12)) {
    return Bad(at, absl::StrCat("BlockStored with ", o.via.array.size,
                                " elements (6 to 12 expected)"));
  }
  WireBlockStored e;
  auto hashes = Hashes(f.Get(0), at + ".block_hashes");
  if (!hashes.ok()) return hashes.status();
  e.block_hashes = std::move(*hashes);
  if (!IsNil(f.Get(1))) {
    auto p = Hash(*f.Get(1), at + ".parent_block_hash");
    if (!p.ok()) return p.status();
    e.parent_block_hash = *p;
  }
  const object* tokens = f.Get(2);
  if (tokens == nullptr || tokens->type != type::ARRAY) {
    return Bad(at + ".token_ids", "expected an array of token ids");
  }
  e.token_ids.reserve(tokens->via.array.size);
  for (uint32_t i = 0; i < tokens->via.array.size; ++i) {
    auto t = Int(tokens->via.array.ptr[i], at + ".token_ids");
    if (!t.ok()) return t.status();
    if (*t < INT32_MIN || *t > INT32_MAX) {
      return Bad(at + ".token_ids", "token id out of 32-bit range");
    }
    e.token_ids.push_back(static_cast<TokenId>(*t));
  }
  if (f.Get(3) == nullptr) return Bad(at + ".block_size", "missing");
  auto bs = Int(*f.Get(3), at + ".block_size");
  if (!bs.ok()) return bs.status();
  if (*bs <= 0 || *bs > (1 << 20)) {
    return Bad(at + ".block_size", absl::StrCat("bad value ", *bs));
  }
  e.block_size = static_cast<int32_t>(*bs);
  if (e.token_ids.size() != e.block_hashes.size() * e.block_size) {
    return Bad(
        at + ".token_ids",
        absl::StrCat(e.token_ids.size(), " token ids for ",
                     e.block_hashes.size(), " blocks of ", e.block_size));
  }
  auto lora = OptInt(f.Get(4), at + ".lora_id");
  auto medium = OptStr(f.Get(5), at + ".medium");
  auto lora_name = OptStr(f.Get(6), at + ".lora_name");
  auto group = OptInt(f.Get(8), at + ".group_idx");
  auto kind = OptStr(f.Get(9), at + ".kv_cache_spec_kind");
  auto window = OptInt(f.Get(10), at + ".kv_cache_spec_sliding_window");
  for (const absl::Status& s :
       {lora.status(), medium.status(), lora_name.status(), group.status(),
        kind.status(), window.status()}) {
    if (!s.ok()) return s;
  }
  e.lora_id = *lora;
  e.medium = std::move(*medium);
  e.lora_name = std::move(*lora_name);
  e.group_idx = *group;
  e.kv_cache_spec_kind = std::move(*kind);
  e.kv_cache_spec_sliding_window = *window;
  if (absl::Status s = DecodeSalt(f.Get(7), &e, at); !s.ok()) return s;
  return WireEvent(std::move(e));
}

absl::StatusOr<WireEvent> DecodeRemoved(const object& o,
                                        const std::string& at) {
  Fields f(o, kRemovedNames, true);
  if (o.type == type::ARRAY && (o.via.array.size < 2 || o.via.array.size > 4)) {
    return Bad(at, absl::StrCat("BlockRemoved with ", o.via.array.size,
                                " elements (2 to 4 expected)"));
  }
  WireBlockRemoved e;
  auto hashes = Hashes(f.Get(0), at + ".block_hashes");
  if (!hashes.ok()) return hashes.status();
  e.block_hashes = std::move(*hashes);
  auto medium = OptStr(f.Get(1), at + ".medium");
  if (!medium.ok()) return medium.status();
  auto group = OptInt(f.Get(2), at + ".group_idx");
  if (!group.ok()) return group.status();
  e.medium = std::move(*medium);
  e.group_idx = *group;
  return WireEvent(std::move(e));
}

absl::StatusOr<WireEvent> DecodeEvent(const object& o, size_t index) {
  const std::string at = absl::StrCat("events[", index, "]");
  const object* tag = nullptr;
  if (o.type == type::ARRAY && o.via.array.size > 0) {
    tag = &o.via.array.ptr[0];
  } else if (o.type == type::MAP) {
    tag = Fields(o, kTagName, false).Get(0);
  } else {
    return Bad(at, "expected a tagged array or a map");
  }
  if (tag == nullptr || tag->type != type::STR) {
    return Bad(at, "missing event tag");
  }
  const absl::string_view name(tag->via.str.ptr, tag->via.str.size);
  if (name == "BlockStored") return DecodeStored(o, at);
  if (name == "BlockRemoved") return DecodeRemoved(o, at);
  if (name == "AllBlocksCleared") {
    if (o.type == type::ARRAY && o.via.array.size != 1) {
      return Bad(at, "AllBlocksCleared has no fields");
    }
    return WireEvent(WireAllBlocksCleared{});
  }
  return Bad(at, absl::StrCat("unknown event tag '", name, "'"));
}

absl::StatusOr<WireBatch> DecodeObject(const object& root) {
  WireBatch batch;
  const object* ts = nullptr;
  const object* events = nullptr;
  const object* rank = nullptr;
  if (root.type == type::ARRAY) {
    if (root.via.array.size < 2 || root.via.array.size > 3) {
      return Bad("batch", absl::StrCat("array of ", root.via.array.size,
                                       " elements (2 or 3 expected)"));
    }
    ts = &root.via.array.ptr[0];
    events = &root.via.array.ptr[1];
    if (root.via.array.size == 3) rank = &root.via.array.ptr[2];
  } else if (root.type == type::MAP) {
    Fields f(root, kBatchNames, false);
    ts = f.Get(0);
    events = f.Get(1);
    rank = IsNil(f.Get(2)) ? f.Get(3) : f.Get(2);
  } else {
    return Bad("batch", "expected an array or a map");
  }
  if (ts == nullptr) return Bad("batch.ts", "missing");
  if (ts->type == type::FLOAT32 || ts->type == type::FLOAT64) {
    batch.ts = ts->via.f64;
  } else if (ts->type == type::POSITIVE_INTEGER) {
    batch.ts = static_cast<double>(ts->via.u64);
  } else {
    return Bad("batch.ts", "expected a number");
  }
  if (events == nullptr || events->type != type::ARRAY) {
    return Bad("batch.events", "expected an array");
  }
  auto r = OptInt(rank, "batch.data_parallel_rank");
  if (!r.ok()) return r.status();
  batch.data_parallel_rank = *r;
  batch.events.reserve(events->via.array.size);
  for (uint32_t i = 0; i < events->via.array.size; ++i) {
    auto e = DecodeEvent(events->via.array.ptr[i], i);
    if (!e.ok()) return e.status();
    batch.events.push_back(std::move(*e));
  }
  return batch;
}

}  // namespace

absl::StatusOr<WireBatch> DecodeBatch(absl::string_view payload) {
  msgpack::object_handle handle;
  size_t offset = 0;
  try {
    // Bounded: a hostile length prefix cannot make the unpacker allocate
    // more than the payload could hold.
    const size_t n = payload.size();
    msgpack::unpack_limit limit(n, n, n, n, n, 64);
    handle =
        msgpack::unpack(payload.data(), n, offset, nullptr, nullptr, limit);
  } catch (const std::exception& e) {
    return Bad("payload", absl::StrCat("not msgpack (", e.what(), ")"));
  }
  if (offset != payload.size()) {
    return Bad("payload", absl::StrCat(payload.size() - offset,
                                       " trailing bytes after the batch"));
  }
  return DecodeObject(handle.get());
}

}  // namespace pagekv::net
