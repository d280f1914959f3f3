// Encoding and checking of remote block values (see net/remote_value.h).
#include "net/remote_value.h"

#include <cstring>

#include "absl/status/status.h"
#include "fmt/format.h"
#define XXH_INLINE_ALL
#include "xxhash.h"

namespace pagekv::net::internal {
namespace {

constexpr char kMagic[4] = {'P', 'K', 'V', 'R'};
constexpr uint16_t kVersion = 1;
constexpr size_t kFixed = 56;    // magic .. item count
constexpr size_t kTrailer = 24;  // payload length, payload hash, header hash

static_assert(sizeof(TokenId) == 4, "the value format stores 32-bit tokens");

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(v));
}

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// The record part of the header: bytes [0, R).
void AppendRecord(const BlockRecord& r, std::string* out) {
  out->append(kMagic, sizeof(kMagic));
  Put<uint16_t>(out, kVersion);
  Put<uint16_t>(out, 0);
  Put<uint64_t>(out, r.key);
  Put<uint64_t>(out, r.parent_key);
  Put<uint64_t>(out, r.lora_id);
  Put<uint64_t>(out, r.cache_salt);
  Put<int64_t>(out, r.first_token);
  Put<uint32_t>(out, static_cast<uint32_t>(r.tokens.size()));
  Put<uint32_t>(out, static_cast<uint32_t>(r.mm_items.size()));
  out->append(reinterpret_cast<const char*>(r.tokens.data()),
              r.tokens.size() * sizeof(TokenId));
  for (const MultimodalItem& item : r.mm_items) {
    Put<uint64_t>(out, item.hash);
    Put<int64_t>(out, item.offset);
    Put<int64_t>(out, item.length);
  }
}

size_t RecordSize(const BlockRecord& r) {
  return kFixed + r.tokens.size() * sizeof(TokenId) + r.mm_items.size() * 24;
}

absl::Status Fault(RemoteFault f, RemoteFault* out, std::string what) {
  *out = f;
  return absl::DataLossError(std::move(what));
}

}  // namespace

size_t RemoteHeaderSize(const BlockRecord& record) {
  return RecordSize(record) + kTrailer;
}

void EncodeRemoteValue(const BlockRecord& record,
                       absl::Span<const uint8_t> payload, std::string* out) {
  out->clear();
  out->reserve(RemoteHeaderSize(record) + payload.size());
  AppendRecord(record, out);
  Put<uint64_t>(out, payload.size());
  Put<uint64_t>(out, XXH3_64bits(payload.data(), payload.size()));
  Put<uint64_t>(out, XXH3_64bits(out->data(), out->size()));
  out->append(reinterpret_cast<const char*>(payload.data()), payload.size());
}

absl::Status CheckRemoteHeader(const BlockRecord& record,
                               absl::string_view header, uint64_t* payload_size,
                               RemoteFault* fault) {
  const size_t r = RecordSize(record);
  if (header.size() < r + kTrailer) {
    return Fault(RemoteFault::kCorrupt, fault,
                 fmt::format("header of {} bytes, expected {}", header.size(),
                             r + kTrailer));
  }
  if (std::memcmp(header.data(), kMagic, sizeof(kMagic)) != 0 ||
      Load<uint16_t>(header.data() + 4) != kVersion) {
    return Fault(RemoteFault::kCorrupt, fault, "bad magic or version");
  }
  const uint64_t sum = Load<uint64_t>(header.data() + r + 16);
  if (XXH3_64bits(header.data(), r + 16) != sum) {
    return Fault(RemoteFault::kCorrupt, fault, "header checksum mismatch");
  }
  std::string expected;
  expected.reserve(r);
  AppendRecord(record, &expected);
  if (std::memcmp(header.data(), expected.data(), r) != 0) {
    return Fault(RemoteFault::kMismatch, fault,
                 fmt::format("stored record (key {:016x}, parent {:016x}) is "
                             "not the requested block's",
                             Load<uint64_t>(header.data() + 8),
                             Load<uint64_t>(header.data() + 16)));
  }
  *payload_size = Load<uint64_t>(header.data() + r);
  return absl::OkStatus();
}

absl::Status CheckRemoteValue(const BlockRecord& record,
                              absl::string_view value, size_t buffer_size,
                              absl::string_view* payload, RemoteFault* fault) {
  uint64_t size = 0;
  if (absl::Status s = CheckRemoteHeader(record, value, &size, fault);
      !s.ok()) {
    return s;
  }
  const size_t h = RemoteHeaderSize(record);
  if (value.size() - h != size) {
    return Fault(RemoteFault::kCorrupt, fault,
                 fmt::format("payload of {} bytes, header says {}",
                             value.size() - h, size));
  }
  const uint64_t sum = Load<uint64_t>(value.data() + h - 16);
  if (XXH3_64bits(value.data() + h, size) != sum) {
    return Fault(RemoteFault::kCorrupt, fault, "payload checksum mismatch");
  }
  if (size != buffer_size) {
    return Fault(RemoteFault::kSizeMismatch, fault,
                 fmt::format("payload of {} bytes for a {}-byte buffer", size,
                             buffer_size));
  }
  *payload = value.substr(h, size);
  return absl::OkStatus();
}

}  // namespace pagekv::net::internal
