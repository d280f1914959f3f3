// The bytes of one block in a remote store: its verification record, the
// payload's length and checksum, a checksum of all that, then the payload.
//
// clang-format off
//   offset  size   field (little-endian)
//   0       4      magic "PKVR"
//   4       2      version (1)          6   2   reserved (0)
//   8       8      key                  16  8   parent key
//   24      8      LoRA id              32  8   cache salt
//   40      8      first token position
//   48      4      number of tokens n   52  4   number of multimodal items m
//   56      4n     token ids
//   56+4n   24m    items: content hash, offset, length (8 bytes each)
//   R       8      payload length       R+8 8   payload XXH3-64
//   R+16    8      XXH3-64 of bytes [0, R+16)          (R = 56 + 4n + 24m)
//   R+24    ...    payload
// clang-format on
//
// Everything before the payload is the *header*: a reader that knows the
// record it expects knows the header's length, so a lookup can fetch just the
// header (GETRANGE) and check it without moving the payload.
#ifndef PAGEKV_NET_REMOTE_VALUE_H_
#define PAGEKV_NET_REMOTE_VALUE_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "pagekv/block_chain.h"
#include "pagekv/remote_kv_store.h"

namespace pagekv::net::internal {

// Bytes of the header of a value for `record`.
size_t RemoteHeaderSize(const BlockRecord& record);

// Replaces *out with the value storing `payload` under `record`.
void EncodeRemoteValue(const BlockRecord& record,
                       absl::Span<const uint8_t> payload, std::string* out);

// Whether `header` (at least the first RemoteHeaderSize(record) bytes of a
// value) is intact and names `record`: kCorrupt for a short header or a bad
// magic, version or checksum, kMismatch for an intact header of another
// block. On success *payload_size is the payload's length.
absl::Status CheckRemoteHeader(const BlockRecord& record,
                               absl::string_view header, uint64_t* payload_size,
                               RemoteFault* fault);

// Checks a whole value as CheckRemoteHeader does, plus its length and its
// payload's checksum (kCorrupt) and the payload's length against
// `buffer_size` (kSizeMismatch). On success *payload views the payload
// inside `value`.
absl::Status CheckRemoteValue(const BlockRecord& record,
                              absl::string_view value, size_t buffer_size,
                              absl::string_view* payload, RemoteFault* fault);

}  // namespace pagekv::net::internal

#endif  // PAGEKV_NET_REMOTE_VALUE_H_
