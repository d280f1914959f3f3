// Encoding of KV-event batches in vLLM's msgpack layouts (see wire.h).
#include <cstdint>
#include <string>
#include <variant>

#include "absl/strings/str_cat.h"
#include "net/msgpack_writer.h"
#include "pagekv/net/wire.h"

namespace pagekv::net {
namespace {

using internal::RecordWriter;

// Fields after the tag: BlockStored 11, BlockRemoved 3.
constexpr uint32_t kStoredFields = 11;
constexpr uint32_t kRemovedFields = 3;

// Shape of a BlockStored independent of where it came from.
struct StoredView {
  absl::Span<const uint64_t> hashes;
  std::optional<uint64_t> parent;
  absl::Span<const TokenId> tokens;
  int32_t block_size;
  std::optional<int64_t> lora_id;
  const std::optional<std::string>* medium;
  const std::optional<std::string>* lora_name;
  uint64_t cache_salt;
  std::optional<int64_t> group_idx;
  std::optional<std::string> spec_kind;
  std::optional<int64_t> sliding_window;
};

void WriteHashes(RecordWriter& w, absl::Span<const uint64_t> hashes) {
  auto& pk = w.packer();
  pk.pack_array(static_cast<uint32_t>(hashes.size()));
  for (uint64_t h : hashes) pk.pack_uint64(h);
}

void WriteStored(RecordWriter& w, const StoredView& e) {
  auto& pk = w.packer();
  w.BeginTagged("BlockStored", kStoredFields);
  w.Field("block_hashes");
  WriteHashes(w, e.hashes);
  w.Field("parent_block_hash");
  if (e.parent) {
    pk.pack_uint64(*e.parent);
  } else {
    pk.pack_nil();
  }
  w.Field("token_ids");
  pk.pack_array(static_cast<uint32_t>(e.tokens.size()));
  for (TokenId t : e.tokens) pk.pack_int32(t);
  w.Field("block_size");
  pk.pack_int32(e.block_size);
  w.Field("lora_id");
  w.OptInt(e.lora_id);
  w.Field("medium");
  w.OptStr(*e.medium);
  w.Field("lora_name");
  w.OptStr(*e.lora_name);
  w.Field("extra_keys");
  if (e.cache_salt == 0 || e.hashes.empty()) {
    pk.pack_nil();
  } else {
    // One entry per block: the salt in the first block's, nil after it.
    pk.pack_array(static_cast<uint32_t>(e.hashes.size()));
    pk.pack_array(1);
    pk.pack_uint64(e.cache_salt);
    for (size_t i = 1; i < e.hashes.size(); ++i) pk.pack_nil();
  }
  w.Field("group_idx");
  w.OptInt(e.group_idx);
  w.Field("kv_cache_spec_kind");
  w.OptStr(e.spec_kind);
  w.Field("kv_cache_spec_sliding_window");
  w.OptInt(e.sliding_window);
}

void WriteRemoved(RecordWriter& w, absl::Span<const uint64_t> hashes,
                  const std::optional<std::string>& medium,
                  std::optional<int64_t> group_idx) {
  w.BeginTagged("BlockRemoved", kRemovedFields);
  w.Field("block_hashes");
  WriteHashes(w, hashes);
  w.Field("medium");
  w.OptStr(medium);
  w.Field("group_idx");
  w.OptInt(group_idx);
}

void WriteCleared(RecordWriter& w) { w.BeginTagged("AllBlocksCleared", 0); }

// Opens the batch record and its events array.
void BeginBatch(RecordWriter& w, double ts, size_t num_events,
                const std::optional<int64_t>& rank) {
  w.BeginRecord(rank ? 3 : 2);
  w.Field("ts");
  w.packer().pack_double(ts);
  // The rank comes last in the array layout; in a map any order is fine,
  // but keep the array's.
  w.Field("events");
  w.packer().pack_array(static_cast<uint32_t>(num_events));
}

void EndBatch(RecordWriter& w, const std::optional<int64_t>& rank) {
  if (!rank) return;
  w.Field("data_parallel_rank");
  w.packer().pack_int64(*rank);
}

}  // namespace

void EncodeBatch(double ts, absl::Span<const KVEvent> events,
                 const EncodeOptions& options, std::string* out) {
  RecordWriter w(out, options.layout);
  const std::optional<std::string> medium = options.medium;
  const std::optional<std::string> no_name;
  // Host-tier events name their medium whatever the options say.
  const std::optional<std::string> cpu(MediumName(Medium::kCpu));
  auto medium_of = [&](Medium m) -> const std::optional<std::string>& {
    return m == Medium::kCpu ? cpu : medium;
  };
  BeginBatch(w, ts, events.size(), options.data_parallel_rank);
  for (const KVEvent& event : events) {
    if (const auto* s = std::get_if<BlockStoredEvent>(&event)) {
      const uint32_t g = s->group.value();
      StoredView v{s->block_keys,
                   s->parent_key,
                   s->token_ids,
                   s->block_size,
                   s->lora_id == 0 ? std::nullopt
                                   : std::optional<int64_t>(
                                         static_cast<int64_t>(s->lora_id)),
                   &medium_of(s->medium),
                   &no_name,
                   s->cache_salt,
                   static_cast<int64_t>(g),
                   std::string("full_attention"),
                   std::nullopt};
      if (g < options.groups.size() &&
          options.groups[g].kind != KVCacheGroupSpec::Kind::kFullAttention) {
        v.spec_kind = GroupKindName(options.groups[g].kind);
        if (options.groups[g].kind == KVCacheGroupSpec::Kind::kSlidingWindow) {
          v.sliding_window = options.groups[g].sliding_window;
        }
      }
      WriteStored(w, v);
    } else if (const auto* r = std::get_if<BlockRemovedEvent>(&event)) {
      WriteRemoved(w, r->block_keys, medium_of(r->medium),
                   static_cast<int64_t>(r->group.value()));
    } else {
      WriteCleared(w);
    }
  }
  EndBatch(w, options.data_parallel_rank);
}

void EncodeWireBatch(const WireBatch& batch, WireLayout layout,
                     std::string* out) {
  RecordWriter w(out, layout);
  BeginBatch(w, batch.ts, batch.events.size(), batch.data_parallel_rank);
  for (const WireEvent& event : batch.events) {
    if (const auto* s = std::get_if<WireBlockStored>(&event)) {
      StoredView v{s->block_hashes,
                   s->parent_block_hash,
                   s->token_ids,
                   s->block_size,
                   s->lora_id,
                   &s->medium,
                   &s->lora_name,
                   s->cache_salt,
                   s->group_idx,
                   s->kv_cache_spec_kind,
                   s->kv_cache_spec_sliding_window};
      WriteStored(w, v);
    } else if (const auto* r = std::get_if<WireBlockRemoved>(&event)) {
      WriteRemoved(w, r->block_hashes, r->medium, r->group_idx);
    } else {
      WriteCleared(w);
    }
  }
  EndBatch(w, batch.data_parallel_rank);
}

std::string EncodeSeq(int64_t seq) {
  std::string out(8, '\0');
  const uint64_t u = static_cast<uint64_t>(seq);
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>((u >> (56 - 8 * i)) & 0xff);
  }
  return out;
}

absl::StatusOr<int64_t> DecodeSeq(absl::string_view frame) {
  if (frame.size() != 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("sequence frame must be 8 bytes, got ", frame.size()));
  }
  uint64_t u = 0;
  for (char c : frame) u = (u << 8) | static_cast<uint8_t>(c);
  return static_cast<int64_t>(u);
}

}  // namespace pagekv::net
