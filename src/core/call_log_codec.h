// The byte-level encoding of call logs (include/pagekv/call_log.h), shared by
// the recorder and the reader so that both follow one definition.
//
//   record   = u32 length | u32 checksum | payload[length]
//   payload  = u8 op | u8 flags | [varint time_us] | arguments | result
//   result   = u8 status code | (if 0) the call's result fields
//
// Integers are LEB128 varints (zigzag for signed values), fixed-width fields
// little-endian, token arrays a varint count followed by raw int32s. The
// checksum is the low 32 bits of XXH3-64 of the payload.
#ifndef PAGEKV_CORE_CALL_LOG_CODEC_H_
#define PAGEKV_CORE_CALL_LOG_CODEC_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/types/span.h"
#include "pagekv/call_log.h"

namespace pagekv::internal {

// Record flags.
inline constexpr uint8_t kFlagTime = 1;       // a varint time_us follows
inline constexpr uint8_t kFlagSameBatch = 2;  // decode: seqs as last batch
inline constexpr uint8_t kKnownFlags = kFlagTime | kFlagSameBatch;
inline constexpr size_t kRecordHeaderBytes = 8;

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

// Appends encoded values to a string.
class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U32(uint32_t v) {
    char b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
    out_->append(b, 4);
  }
  void U64(uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
    out_->append(b, 8);
  }
  void Var(uint64_t v) {
    char b[10];
    int n = 0;
    while (v >= 0x80) {
      b[n++] = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    b[n++] = static_cast<char>(v);
    out_->append(b, n);
  }
  void SVar(int64_t v) { Var(ZigZag(v)); }
  void Bytes(std::string_view s) {
    Var(s.size());
    out_->append(s);
  }
  // A count and raw little-endian int32s (the host is little-endian; see
  // the static_assert in call_log_codec.cc).
  void Tokens(absl::Span<const TokenId> t) {
    Var(t.size());
    if (t.empty()) return;
    out_->append(reinterpret_cast<const char*>(t.data()),
                 t.size() * sizeof(TokenId));
  }
  // Ids as zigzag deltas from the previous id (the first from 0); written
  // through a stack buffer, 64 ids per append, since a decode batch has
  // thousands.
  void Seqs(absl::Span<const SeqId> seqs) {
    Var(seqs.size());
    char buf[64 * 10];
    int n = 0;
    uint64_t prev = 0;
    for (size_t i = 0; i < seqs.size(); ++i) {
      uint64_t v = ZigZag(static_cast<int64_t>(seqs[i].value() - prev));
      prev = seqs[i].value();
      while (v >= 0x80) {
        buf[n++] = static_cast<char>(v | 0x80);
        v >>= 7;
      }
      buf[n++] = static_cast<char>(v);
      if (n > static_cast<int>(sizeof(buf)) - 10) {
        out_->append(buf, n);
        n = 0;
      }
    }
    out_->append(buf, n);
  }

 private:
  std::string* out_;
};

// Reads encoded values from a byte range, failing (not crashing) at the
// first value that does not fit.
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  size_t pos() const { return pos_; }
  size_t remaining() const { return in_.size() - pos_; }
  // What went wrong first ("varint past the end", ...).
  const std::string& error() const { return error_; }
  void Fail(std::string what) {
    if (ok_) error_ = std::move(what);
    ok_ = false;
  }

  uint8_t U8();
  uint32_t U32();
  uint64_t U64();
  uint64_t Var();
  int64_t SVar() { return UnZigZag(Var()); }
  // A count of items of at least `min_item_bytes` each, checked against the
  // bytes left so that an oversized count fails here, before any allocation.
  size_t Count(size_t min_item_bytes, std::string_view what);
  std::string Bytes(std::string_view what);
  void Tokens(std::vector<TokenId>* out);
  void Seqs(std::vector<SeqId>* out);

 private:
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
  std::string error_;
};

// The low 32 bits of XXH3-64 of `payload`.
uint32_t RecordChecksum(std::string_view payload);

// Encodes the header: magic, version, configuration, first_call.
void EncodeHeader(const CallLog& log, std::string* out);
// Encodes one record (length, checksum and payload) onto *out.
// `prev_decode_seqs`: the seqs of the previous decode record, to write
// kFlagSameBatch when equal; null = never.
void EncodeRecord(const CallRecord& r,
                  const std::vector<SeqId>* prev_decode_seqs, std::string* out);
// Encodes a result into a ByteWriter (the tail of a record's payload).
void EncodeResult(CallOp op, const CallResult& result, ByteWriter& w);
// Starts a record on *out: reserves the length and checksum and writes the
// opcode and flags. FinishRecord() fills the length and checksum in.
size_t BeginRecord(CallOp op, uint8_t flags, int64_t time_us, std::string* out);
void FinishRecord(size_t start, std::string* out);

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_CALL_LOG_CODEC_H_
