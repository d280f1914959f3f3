// Reading call logs: a bounds-checked parse that names the record number and
// byte offset of the first bad byte and never crashes on any input (fuzzed by
// fuzz/call_log_fuzzer.cc).
#include <fstream>
#include <sstream>

#include "absl/strings/str_join.h"
#include "core/call_log_codec.h"
#include "core/check.h"
#include "fmt/format.h"
#include "pagekv/call_log.h"

namespace pagekv {

using internal::ByteReader;

namespace {

constexpr std::string_view kOpNames[] = {"?",
                                         "AddSequence",
                                         "AppendTokens",
                                         "MatchPrefix",
                                         "MatchPrefix",
                                         "Admit",
                                         "AdmitBatch",
                                         "Reserve",
                                         "AppendDecodeTokens",
                                         "BlocksToReserve",
                                         "BlocksToAdmit",
                                         "CanReserve",
                                         "Truncate",
                                         "Fork",
                                         "Release",
                                         "Reset",
                                         "DrainCopies",
                                         "DrainEvents",
                                         "Verify"};
static_assert(std::size(kOpNames) == kMaxCallOp + 1);

void ReadExtras(ByteReader& r, BlockHashExtras* e) {
  e->lora_id = r.Var();
  e->cache_salt = r.Var();
  const size_t n = r.Count(3, "multimodal item");
  e->mm_items.resize(n);
  for (MultimodalItem& item : e->mm_items) {
    item.hash = r.Var();
    item.offset = r.SVar();
    item.length = r.SVar();
  }
}

void ReadRequests(ByteReader& r, std::vector<ReserveRequest>* out) {
  const size_t n = r.Count(3, "request");
  out->resize(n);
  for (ReserveRequest& q : *out) {
    q.seq = SeqId(r.Var());
    q.num_new_tokens = r.SVar();
    q.num_lookahead_tokens = r.SVar();
  }
}

void ReadMatch(ByteReader& r, PrefixMatch* m) {
  m->num_tokens = r.SVar();
  m->num_blocks = static_cast<int32_t>(r.SVar());
  m->num_evictable_blocks = static_cast<int32_t>(r.SVar());
}

void ReadArgs(ByteReader& r, uint8_t flags, const std::vector<SeqId>& prev,
              CallRecord* c) {
  switch (c->op) {
    case CallOp::kAddSequence:
      r.Tokens(&c->tokens);
      ReadExtras(r, &c->options.hash_extras);
      c->options.retention_priority = static_cast<int32_t>(r.SVar());
      c->options.retention_duration_us = r.SVar();
      c->options.resumed_after_preemption = r.U8() != 0;
      break;
    case CallOp::kAppendTokens:
      c->seq = SeqId(r.Var());
      r.Tokens(&c->tokens);
      break;
    case CallOp::kMatchPrefixTokens:
      r.Tokens(&c->tokens);
      ReadExtras(r, &c->extras);
      break;
    case CallOp::kAdmitBatch:
    case CallOp::kCanReserve:
      ReadRequests(r, &c->requests);
      break;
    case CallOp::kAppendDecodeTokens:
      if (flags & internal::kFlagSameBatch) {
        c->seqs = prev;
      } else {
        r.Seqs(&c->seqs);
      }
      r.Tokens(&c->tokens);
      break;
    case CallOp::kReserve:
    case CallOp::kBlocksToReserve:
      c->seq = SeqId(r.Var());
      c->a = r.SVar();
      c->b = r.SVar();
      break;
    case CallOp::kAdmit:
    case CallOp::kBlocksToAdmit:
    case CallOp::kTruncate:
      c->seq = SeqId(r.Var());
      c->a = r.SVar();
      break;
    case CallOp::kMatchPrefixSeq:
    case CallOp::kFork:
    case CallOp::kRelease:
      c->seq = SeqId(r.Var());
      break;
    default:
      break;
  }
}

void ReadResult(ByteReader& r, CallOp op, CallResult* res) {
  const uint8_t code = r.U8();
  if (code > static_cast<uint8_t>(absl::StatusCode::kUnauthenticated)) {
    r.Fail(fmt::format("status code {} is not an absl::StatusCode", code));
  }
  res->code = static_cast<absl::StatusCode>(code);
  if (res->code != absl::StatusCode::kOk) return;
  switch (op) {
    case CallOp::kAddSequence:
    case CallOp::kFork:
    case CallOp::kDrainEvents:
      res->value = static_cast<int64_t>(r.Var());
      break;
    case CallOp::kBlocksToReserve:
    case CallOp::kBlocksToAdmit:
      res->value = r.SVar();
      break;
    case CallOp::kCanReserve:
      res->value = r.U8();
      break;
    case CallOp::kMatchPrefixSeq:
    case CallOp::kMatchPrefixTokens:
      ReadMatch(r, &res->match);
      break;
    case CallOp::kAdmit:
    case CallOp::kAdmitBatch: {
      const size_t n = r.Count(4, "admission");
      res->admissions.resize(n);
      for (Admission& a : res->admissions) {
        ReadMatch(r, &a.hit);
        a.num_new_tokens = r.SVar();
      }
      break;
    }
    case CallOp::kDrainCopies: {
      const size_t n = r.Count(3, "copy");
      res->copies.resize(n);
      for (BlockCopy& c : res->copies) {
        c.src = BlockId(static_cast<uint32_t>(r.Var()));
        c.dst = BlockId(static_cast<uint32_t>(r.Var()));
        c.group = GroupId(static_cast<uint32_t>(r.Var()));
      }
      break;
    }
    default:
      break;
  }
}

absl::Status Malformed(std::string_view where, size_t offset,
                       std::string_view what) {
  return absl::InvalidArgumentError(
      fmt::format("call log {} at byte offset {}: {}", where, offset, what));
}

absl::Status ParseHeader(ByteReader& r, CallLog* log) {
  std::string magic(8, '\0');
  for (char& ch : magic) ch = static_cast<char>(r.U8());
  if (!r.ok() || magic != std::string_view(kCallLogMagic, 8)) {
    return Malformed("header", 0,
                     "bad magic: not a pagekv call log (expected PKVCALL1)");
  }
  const uint32_t version = r.U32();
  if (!r.ok() || version != kCallLogVersion) {
    return Malformed("header", 8,
                     fmt::format("format version {}, this build reads {}",
                                 version, kCallLogVersion));
  }
  const uint32_t length = r.U32();
  const uint32_t sum = r.U32();
  if (!r.ok() || length > r.remaining()) {
    return Malformed("header", 12, "truncated configuration");
  }
  const size_t body_at = r.pos();
  std::string body(length, '\0');
  for (char& ch : body) ch = static_cast<char>(r.U8());
  if (internal::RecordChecksum(body) != sum) {
    return Malformed("header", body_at, "configuration checksum mismatch");
  }
  ByteReader b(body);
  KVCacheConfig& c = log->config;
  c.num_blocks = b.SVar();
  c.block_size = static_cast<int32_t>(b.SVar());
  c.groups.resize(b.Count(2, "group"));
  for (KVCacheGroupSpec& g : c.groups) {
    const uint8_t kind = b.U8();
    if (kind > 3) b.Fail(fmt::format("group kind {}", kind));
    g.kind = static_cast<KVCacheGroupSpec::Kind>(kind & 3);
    g.sliding_window = static_cast<int32_t>(b.SVar());
    if (g.kind == KVCacheGroupSpec::Kind::kChunkedLocal) {
      g.attention_chunk_size = static_cast<int32_t>(b.SVar());
    } else if (g.kind == KVCacheGroupSpec::Kind::kState) {
      const uint8_t mode = b.U8();
      if (mode > 1) b.Fail(fmt::format("state cache mode {}", mode));
      g.state_cache_mode = static_cast<StateCacheMode>(mode & 1);
      g.num_speculative_blocks = static_cast<int32_t>(b.SVar());
      g.state_block_size = static_cast<int32_t>(b.SVar());
    }
  }
  c.enable_prefix_caching = b.U8() != 0;
  c.enable_kv_events = b.U8() != 0;
  c.hash_seed = b.U64();
  c.eviction_policy = b.Bytes("policy name");
  log->custom_hash = b.U8() != 0;
  log->first_call = b.Var();
  if (!b.ok()) return Malformed("header", body_at + b.pos(), b.error());
  if (absl::Status st = c.Validate(); !st.ok()) {
    return Malformed("header", body_at,
                     fmt::format("bad configuration: {}", st.message()));
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view CallOpName(CallOp op) {
  const auto i = static_cast<uint8_t>(op);
  return i <= kMaxCallOp ? kOpNames[i] : kOpNames[0];
}

bool operator==(const CallResult& a, const CallResult& b) {
  auto same_match = [](const PrefixMatch& x, const PrefixMatch& y) {
    return x.num_tokens == y.num_tokens && x.num_blocks == y.num_blocks &&
           x.num_evictable_blocks == y.num_evictable_blocks;
  };
  if (a.code != b.code || a.value != b.value || !same_match(a.match, b.match) ||
      a.admissions.size() != b.admissions.size() ||
      a.copies.size() != b.copies.size()) {
    return false;
  }
  for (size_t i = 0; i < a.admissions.size(); ++i) {
    if (!same_match(a.admissions[i].hit, b.admissions[i].hit) ||
        a.admissions[i].num_new_tokens != b.admissions[i].num_new_tokens) {
      return false;
    }
  }
  for (size_t i = 0; i < a.copies.size(); ++i) {
    if (a.copies[i].src != b.copies[i].src ||
        a.copies[i].dst != b.copies[i].dst ||
        a.copies[i].group != b.copies[i].group) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<CallLog> ParseCallLog(std::string_view bytes) {
  CallLog log;
  ByteReader r(bytes);
  if (absl::Status st = ParseHeader(r, &log); !st.ok()) return st;
  std::vector<SeqId> prev_decode;
  while (r.remaining() > 0) {
    const size_t at = r.pos();
    const size_t number = log.records.size();
    const std::string where = fmt::format("record {}", number);
    if (r.remaining() < internal::kRecordHeaderBytes) {
      return Malformed(where, at,
                       fmt::format("truncated: {} bytes left, a record header "
                                   "needs 8",
                                   r.remaining()));
    }
    const uint32_t length = r.U32();
    const uint32_t sum = r.U32();
    if (length > kMaxCallRecordBytes || length > r.remaining()) {
      return Malformed(where, at,
                       fmt::format("truncated or oversized: length {} but {} "
                                   "bytes left",
                                   length, r.remaining()));
    }
    const std::string_view payload = bytes.substr(r.pos(), length);
    if (internal::RecordChecksum(payload) != sum) {
      return Malformed(where, at, "checksum mismatch (corrupt record)");
    }
    for (uint32_t i = 0; i < length; ++i) r.U8();
    ByteReader p(payload);
    CallRecord c;
    const uint8_t op = p.U8();
    const uint8_t flags = p.U8();
    if (p.ok() && (op == 0 || op > kMaxCallOp)) {
      return Malformed(where, at, fmt::format("unknown opcode {}", op));
    }
    if (p.ok() && (flags & ~internal::kKnownFlags) != 0) {
      return Malformed(where, at, fmt::format("unknown flags {:#x}", flags));
    }
    c.op = static_cast<CallOp>(op);
    if (flags & internal::kFlagTime) {
      c.time_us = static_cast<int64_t>(p.Var() & (~uint64_t{0} >> 1));
    }
    if ((flags & internal::kFlagSameBatch) &&
        (c.op != CallOp::kAppendDecodeTokens || number == 0)) {
      return Malformed(where, at, "same-batch flag without a previous batch");
    }
    ReadArgs(p, flags, prev_decode, &c);
    ReadResult(p, c.op, &c.result);
    if (p.ok() && p.remaining() != 0) {
      p.Fail(fmt::format("{} bytes after the result", p.remaining()));
    }
    if (!p.ok()) {
      return Malformed(where, at + internal::kRecordHeaderBytes + p.pos(),
                       fmt::format("{} ({})", p.error(), CallOpName(c.op)));
    }
    if (c.op == CallOp::kAppendDecodeTokens) prev_decode = c.seqs;
    log.records.push_back(std::move(c));
  }
  return log;
}

absl::StatusOr<CallLog> ReadCallLog(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(fmt::format("cannot open call log '{}'", path));
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  auto log = ParseCallLog(bytes.str());
  if (!log.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: {}", path, log.status().message()));
  }
  return log;
}

std::string EncodeCallLog(const CallLog& log) {
  std::string out;
  internal::EncodeHeader(log, &out);
  const std::vector<SeqId>* prev = nullptr;
  for (const CallRecord& r : log.records) {
    internal::EncodeRecord(r, prev, &out);
    if (r.op == CallOp::kAppendDecodeTokens) prev = &r.seqs;
  }
  return out;
}

absl::Status WriteCallLog(const std::string& path, const CallLog& log) {
  const std::string bytes = EncodeCallLog(log);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    return absl::UnavailableError(
        fmt::format("cannot write call log '{}'", path));
  }
  return absl::OkStatus();
}

namespace {

std::string Elided(absl::Span<const TokenId> tokens) {
  constexpr size_t kShown = 8;
  std::string s = absl::StrJoin(tokens.subspan(0, kShown), ",");
  if (tokens.size() > kShown) {
    s += fmt::format(",... {} tokens", tokens.size());
  }
  return "[" + s + "]";
}

std::string Requests(absl::Span<const ReserveRequest> requests) {
  std::vector<std::string> parts;
  for (const ReserveRequest& q : requests) {
    parts.push_back(fmt::format("{{seq={}, new={}, lookahead={}}}",
                                q.seq.value(), q.num_new_tokens,
                                q.num_lookahead_tokens));
  }
  return "[" + absl::StrJoin(parts, ", ") + "]";
}

std::string Match(const PrefixMatch& m) {
  return fmt::format("hit {} tokens / {} blocks ({} evictable)", m.num_tokens,
                     m.num_blocks, m.num_evictable_blocks);
}

}  // namespace

std::string DescribeCall(const CallRecord& r) {
  const std::string_view name = CallOpName(r.op);
  const uint64_t seq = r.seq.value();
  switch (r.op) {
    case CallOp::kAddSequence:
      return fmt::format("{}(prompt={}, salt={}, lora={})", name,
                         Elided(r.tokens), r.options.hash_extras.cache_salt,
                         r.options.hash_extras.lora_id);
    case CallOp::kAppendTokens:
      return fmt::format("{}(seq={}, tokens={})", name, seq, Elided(r.tokens));
    case CallOp::kMatchPrefixTokens:
      return fmt::format("{}(prompt={})", name, Elided(r.tokens));
    case CallOp::kAdmitBatch:
    case CallOp::kCanReserve:
      return fmt::format("{}({})", name, Requests(r.requests));
    case CallOp::kAppendDecodeTokens: {
      std::vector<uint64_t> ids;
      for (size_t i = 0; i < std::min<size_t>(r.seqs.size(), 8); ++i) {
        ids.push_back(r.seqs[i].value());
      }
      return fmt::format("{}({} seqs [{}{}], tokens={})", name, r.seqs.size(),
                         absl::StrJoin(ids, ","),
                         r.seqs.size() > 8 ? ",..." : "", Elided(r.tokens));
    }
    case CallOp::kReserve:
    case CallOp::kBlocksToReserve:
      return fmt::format("{}(seq={}, new={}, lookahead={})", name, seq, r.a,
                         r.b);
    case CallOp::kAdmit:
    case CallOp::kBlocksToAdmit:
      return fmt::format("{}(seq={}, max_new={})", name, seq, r.a);
    case CallOp::kTruncate:
      return fmt::format("{}(seq={}, num_tokens={})", name, seq, r.a);
    case CallOp::kMatchPrefixSeq:
    case CallOp::kFork:
    case CallOp::kRelease:
      return fmt::format("{}(seq={})", name, seq);
    default:
      return fmt::format("{}()", name);
  }
}

std::string DescribeResult(CallOp op, const CallResult& res) {
  if (res.code != absl::StatusCode::kOk) {
    return absl::StatusCodeToString(res.code);
  }
  switch (op) {
    case CallOp::kAddSequence:
    case CallOp::kFork:
      return fmt::format("OK seq={}", res.value);
    case CallOp::kBlocksToReserve:
    case CallOp::kBlocksToAdmit:
      return fmt::format("OK {} blocks", res.value);
    case CallOp::kCanReserve:
      return res.value != 0 ? "OK true" : "OK false";
    case CallOp::kDrainEvents:
      return fmt::format("OK {} events", res.value);
    case CallOp::kMatchPrefixSeq:
    case CallOp::kMatchPrefixTokens:
      return "OK " + Match(res.match);
    case CallOp::kAdmit:
    case CallOp::kAdmitBatch: {
      std::vector<std::string> parts;
      for (const Admission& a : res.admissions) {
        parts.push_back(
            fmt::format("{}, {} new", Match(a.hit), a.num_new_tokens));
      }
      return "OK [" + absl::StrJoin(parts, "; ") + "]";
    }
    case CallOp::kDrainCopies: {
      std::vector<std::string> parts;
      for (const BlockCopy& c : res.copies) {
        parts.push_back(fmt::format("{}->{} g{}", c.src.value(), c.dst.value(),
                                    c.group.value()));
      }
      return "OK copies [" + absl::StrJoin(parts, ", ") + "]";
    }
    default:
      return "OK";
  }
}

}  // namespace pagekv
