// KV events on the wire: vLLM's message format (vllm/distributed/kv_events.py
// at vLLM main @9aaf83ef5), encoded and decoded.
//
// A message is three ZeroMQ frames:
//
//   [topic, 8-byte big-endian sequence number, msgpack payload]
//
// and the payload is an EventBatch, in one of two layouts:
//
//   array (vLLM's default, msgspec array_like):
//     [ts, [event, ...], data_parallel_rank]     (rank omitted when unset)
//     ["BlockStored", block_hashes, parent_block_hash, token_ids, block_size,
//      lora_id, medium, lora_name, extra_keys, group_idx,
//      kv_cache_spec_kind, kv_cache_spec_sliding_window]
//     ["BlockRemoved", block_hashes, medium, group_idx]
//     ["AllBlocksCleared"]
//   map (msgspec without array_like):
//     {"ts": ..., "events": [...], "data_parallel_rank": ...}
//     {"type": "BlockStored", "block_hashes": ..., ...}
//
// SGLang's batches name the rank attn_dp_rank; both are accepted. docs/
// kv-events.md has a byte-level example. pagekv puts a chain's cache salt in
// the first block's extra_keys entry, as [salt] (an unsigned integer).
//
// Thread-safety: free functions over caller-owned data; safe concurrently.
#ifndef PAGEKV_NET_WIRE_H_
#define PAGEKV_NET_WIRE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "pagekv/kv_cache_config.h"
#include "pagekv/kv_events.h"
#include "pagekv/types.h"

namespace pagekv::net {

enum class WireLayout { kArray, kMap };

// The end-of-replay marker's sequence number, and the gap answer's.
inline constexpr int64_t kEndOfReplaySeq = -1;
inline constexpr int64_t kReplayGapSeq = -2;

// A decoded BlockStored. Optional fields are nullopt when nil or absent.
struct WireBlockStored {
  std::vector<uint64_t> block_hashes;  // bytes hashes are folded to 64 bits
  std::optional<uint64_t> parent_block_hash;
  std::vector<TokenId> token_ids;  // block_size per hash
  int32_t block_size = 0;
  std::optional<int64_t> lora_id;
  std::optional<std::string> medium;
  std::optional<std::string> lora_name;
  uint64_t cache_salt = 0;  // from the first extra_keys entry; 0 = none
  std::optional<int64_t> group_idx;
  std::optional<std::string> kv_cache_spec_kind;
  std::optional<int64_t> kv_cache_spec_sliding_window;
};

struct WireBlockRemoved {
  std::vector<uint64_t> block_hashes;
  std::optional<std::string> medium;
  std::optional<int64_t> group_idx;
};

struct WireAllBlocksCleared {};

using WireEvent =
    std::variant<WireBlockStored, WireBlockRemoved, WireAllBlocksCleared>;

struct WireBatch {
  double ts = 0;
  std::vector<WireEvent> events;
  std::optional<int64_t> data_parallel_rank;  // or SGLang's attn_dp_rank
};

// How a manager's events are written.
struct EncodeOptions {
  WireLayout layout = WireLayout::kArray;
  std::optional<int64_t> data_parallel_rank;  // nullopt: omitted (as msgspec)
  std::string medium = "GPU";
  // The manager's groups, for kv_cache_spec_kind / _sliding_window; a group
  // index past the end is written as full attention.
  std::vector<KVCacheGroupSpec> groups;
};

// Appends the msgpack EventBatch of `events` at time `ts` to *out.
void EncodeBatch(double ts, absl::Span<const KVEvent> events,
                 const EncodeOptions& options, std::string* out);

// Appends the msgpack of a decoded batch to *out (tests, re-publishing).
void EncodeWireBatch(const WireBatch& batch, WireLayout layout,
                     std::string* out);

// Decodes one payload, either layout. InvalidArgument naming the event index
// and field on bad msgpack, wrong arity, unknown tag or wrong types; nothing
// partial is returned.
absl::StatusOr<WireBatch> DecodeBatch(absl::string_view payload);

// The 8-byte big-endian sequence frame, and back (InvalidArgument unless the
// frame is 8 bytes).
std::string EncodeSeq(int64_t seq);
absl::StatusOr<int64_t> DecodeSeq(absl::string_view frame);

}  // namespace pagekv::net

#endif  // PAGEKV_NET_WIRE_H_
