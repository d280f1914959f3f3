// Writing call-log headers and records (the reading half is
// call_log_reader.cc); the layout is in call_log_codec.h.
#include "core/call_log_codec.h"

#include <bit>

#include "fmt/format.h"
#define XXH_INLINE_ALL
#include "xxhash.h"

namespace pagekv::internal {

static_assert(std::endian::native == std::endian::little,
              "call logs store token arrays as raw little-endian int32");

uint32_t RecordChecksum(std::string_view payload) {
  return static_cast<uint32_t>(XXH3_64bits(payload.data(), payload.size()));
}

uint8_t ByteReader::U8() {
  if (!ok_ || remaining() < 1) {
    Fail("a byte past the end");
    return 0;
  }
  return static_cast<uint8_t>(in_[pos_++]);
}

uint32_t ByteReader::U32() {
  if (!ok_ || remaining() < 4) {
    Fail("a 32-bit field past the end");
    return 0;
  }
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v |= uint32_t{static_cast<uint8_t>(in_[pos_ + i])} << (8 * i);
  }
  pos_ += 4;
  return v;
}

uint64_t ByteReader::U64() {
  if (!ok_ || remaining() < 8) {
    Fail("a 64-bit field past the end");
    return 0;
  }
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v |= uint64_t{static_cast<uint8_t>(in_[pos_ + i])} << (8 * i);
  }
  pos_ += 8;
  return v;
}

uint64_t ByteReader::Var() {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (!ok_ || remaining() < 1) {
      Fail("a varint past the end");
      return 0;
    }
    const uint8_t b = static_cast<uint8_t>(in_[pos_++]);
    v |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) return v;
  }
  Fail("a varint longer than 10 bytes");
  return 0;
}

size_t ByteReader::Count(size_t min_item_bytes, std::string_view what) {
  const uint64_t n = Var();
  if (ok_ && n > remaining() / min_item_bytes) {
    Fail(fmt::format("{} count {} exceeds the {} bytes left", what, n,
                     remaining()));
  }
  return ok_ ? static_cast<size_t>(n) : 0;
}

std::string ByteReader::Bytes(std::string_view what) {
  const size_t n = Count(1, what);
  std::string s(in_.substr(pos_, n));
  pos_ += n;
  return s;
}

void ByteReader::Tokens(std::vector<TokenId>* out) {
  const size_t n = Count(sizeof(TokenId), "token");
  out->resize(n);
  if (n > 0) std::memcpy(out->data(), in_.data() + pos_, n * sizeof(TokenId));
  pos_ += n * sizeof(TokenId);
}

void ByteReader::Seqs(std::vector<SeqId>* out) {
  const size_t n = Count(1, "sequence");
  out->resize(n);
  uint64_t prev = 0;
  for (size_t i = 0; i < n; ++i) {
    prev += static_cast<uint64_t>(SVar());
    (*out)[i] = SeqId(prev);
  }
}

namespace {

void EncodeExtras(const BlockHashExtras& e, ByteWriter& w) {
  w.Var(e.lora_id);
  w.Var(e.cache_salt);
  w.Var(e.mm_items.size());
  for (const MultimodalItem& item : e.mm_items) {
    w.Var(item.hash);
    w.SVar(item.offset);
    w.SVar(item.length);
  }
}

void EncodeRequests(absl::Span<const ReserveRequest> requests, ByteWriter& w) {
  w.Var(requests.size());
  for (const ReserveRequest& r : requests) {
    w.Var(r.seq.value());
    w.SVar(r.num_new_tokens);
    w.SVar(r.num_lookahead_tokens);
  }
}

void EncodeMatch(const PrefixMatch& m, ByteWriter& w) {
  w.SVar(m.num_tokens);
  w.SVar(m.num_blocks);
  w.SVar(m.num_evictable_blocks);
}

void EncodeArgs(const CallRecord& r, bool same_batch, ByteWriter& w) {
  switch (r.op) {
    case CallOp::kAddSequence:
      w.Tokens(r.tokens);
      EncodeExtras(r.options.hash_extras, w);
      w.SVar(r.options.retention_priority);
      w.SVar(r.options.retention_duration_us);
      w.U8(r.options.resumed_after_preemption ? 1 : 0);
      break;
    case CallOp::kAppendTokens:
      w.Var(r.seq.value());
      w.Tokens(r.tokens);
      break;
    case CallOp::kMatchPrefixTokens:
      w.Tokens(r.tokens);
      EncodeExtras(r.extras, w);
      break;
    case CallOp::kAdmitBatch:
    case CallOp::kCanReserve:
      EncodeRequests(r.requests, w);
      break;
    case CallOp::kAppendDecodeTokens:
      if (!same_batch) w.Seqs(r.seqs);
      w.Tokens(r.tokens);
      break;
    case CallOp::kReserve:
    case CallOp::kBlocksToReserve:
      w.Var(r.seq.value());
      w.SVar(r.a);
      w.SVar(r.b);
      break;
    case CallOp::kAdmit:
    case CallOp::kBlocksToAdmit:
    case CallOp::kTruncate:
      w.Var(r.seq.value());
      w.SVar(r.a);
      break;
    case CallOp::kMatchPrefixSeq:
    case CallOp::kFork:
    case CallOp::kRelease:
      w.Var(r.seq.value());
      break;
    case CallOp::kReset:
    case CallOp::kDrainCopies:
    case CallOp::kDrainEvents:
    case CallOp::kVerify:
      break;
  }
}

}  // namespace

void EncodeResult(CallOp op, const CallResult& result, ByteWriter& w) {
  w.U8(static_cast<uint8_t>(result.code));
  if (result.code != absl::StatusCode::kOk) return;
  switch (op) {
    case CallOp::kAddSequence:
    case CallOp::kFork:
    case CallOp::kDrainEvents:
      w.Var(static_cast<uint64_t>(result.value));
      break;
    case CallOp::kBlocksToReserve:
    case CallOp::kBlocksToAdmit:
      w.SVar(result.value);
      break;
    case CallOp::kCanReserve:
      w.U8(result.value != 0 ? 1 : 0);
      break;
    case CallOp::kMatchPrefixSeq:
    case CallOp::kMatchPrefixTokens:
      EncodeMatch(result.match, w);
      break;
    case CallOp::kAdmit:
    case CallOp::kAdmitBatch:
      w.Var(result.admissions.size());
      for (const Admission& a : result.admissions) {
        EncodeMatch(a.hit, w);
        w.SVar(a.num_new_tokens);
      }
      break;
    case CallOp::kDrainCopies:
      w.Var(result.copies.size());
      for (const BlockCopy& c : result.copies) {
        w.Var(c.src.value());
        w.Var(c.dst.value());
        w.Var(c.group.value());
      }
      break;
    default:
      break;
  }
}

size_t BeginRecord(CallOp op, uint8_t flags, int64_t time_us,
                   std::string* out) {
  const size_t start = out->size();
  out->append(kRecordHeaderBytes, '\0');
  ByteWriter w(out);
  w.U8(static_cast<uint8_t>(op));
  w.U8(time_us >= 0 ? static_cast<uint8_t>(flags | kFlagTime) : flags);
  if (time_us >= 0) w.Var(static_cast<uint64_t>(time_us));
  return start;
}

void FinishRecord(size_t start, std::string* out) {
  const size_t body = start + kRecordHeaderBytes;
  const auto length = static_cast<uint32_t>(out->size() - body);
  const uint32_t sum =
      RecordChecksum(std::string_view(out->data() + body, length));
  for (int i = 0; i < 4; ++i) {
    (*out)[start + i] = static_cast<char>(length >> (8 * i));
    (*out)[start + 4 + i] = static_cast<char>(sum >> (8 * i));
  }
}

void EncodeRecord(const CallRecord& r,
                  const std::vector<SeqId>* prev_decode_seqs,
                  std::string* out) {
  const bool same = r.op == CallOp::kAppendDecodeTokens &&
                    prev_decode_seqs != nullptr && *prev_decode_seqs == r.seqs;
  const size_t start =
      BeginRecord(r.op, same ? kFlagSameBatch : 0, r.time_us, out);
  ByteWriter w(out);
  EncodeArgs(r, same, w);
  EncodeResult(r.op, r.result, w);
  FinishRecord(start, out);
}

void EncodeHeader(const CallLog& log, std::string* out) {
  out->append(kCallLogMagic, sizeof(kCallLogMagic));
  ByteWriter w(out);
  w.U32(kCallLogVersion);
  std::string body;
  ByteWriter b(&body);
  const KVCacheConfig& c = log.config;
  b.SVar(c.num_blocks);
  b.SVar(c.block_size);
  b.Var(c.groups.size());
  for (const KVCacheGroupSpec& g : c.groups) {
    b.U8(static_cast<uint8_t>(g.kind));
    b.SVar(g.sliding_window);
    // The hybrid kinds append their fields (older kinds encode as before).
    if (g.kind == KVCacheGroupSpec::Kind::kChunkedLocal) {
      b.SVar(g.attention_chunk_size);
    } else if (g.kind == KVCacheGroupSpec::Kind::kState) {
      b.U8(static_cast<uint8_t>(g.state_cache_mode));
      b.SVar(g.num_speculative_blocks);
      b.SVar(g.state_block_size);
    }
  }
  b.U8(c.enable_prefix_caching ? 1 : 0);
  b.U8(c.enable_kv_events ? 1 : 0);
  b.U64(c.hash_seed);
  b.Bytes(c.eviction_policy);
  b.U8(log.custom_hash ? 1 : 0);
  b.Var(log.first_call);
  w.U32(static_cast<uint32_t>(body.size()));
  w.U32(RecordChecksum(body));
  out->append(body);
}

}  // namespace pagekv::internal
