// The call recorder: one hook per public KVCacheManager method (see
// call_recorder.h for how they hook in) and the file / ring buffers.
#include "core/call_recorder.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "core/call_log_codec.h"
#include "core/check.h"
#include "fmt/format.h"

namespace pagekv {
namespace internal {
namespace {

constexpr size_t kFileBufferBytes = size_t{1} << 20;

// Every live recorder, for OnCheckFailure().
std::mutex& RegistryMutex() {
  static std::mutex mu;
  return mu;
}
std::vector<CallRecorder*>& Registry() {
  static std::vector<CallRecorder*> recorders;
  return recorders;
}

template <typename T>
CallResult CodeOf(const T& result) {
  CallResult r;
  r.code = result.ok() ? absl::StatusCode::kOk : result.status().code();
  return r;
}
CallResult CodeOf(const absl::Status& st) {
  CallResult r;
  r.code = st.code();
  return r;
}

}  // namespace

int64_t CallRecorder::StepClock::NowMicros() const {
  if (now_ < 0) now_ = std::max(last_, base_->NowMicros());
  return now_;
}

CallRecorder::CallRecorder(const KVCacheConfig& config)
    : options_(config.call_log),
      clock_(config.clock != nullptr ? config.clock : &SteadyClock()) {
  header_.config = config;
  header_.config.call_log = {};
  header_.config.clock = nullptr;
  header_.custom_hash = config.block_hash_fn != &Xxh3BlockHash;
  header_.config.block_hash_fn = &Xxh3BlockHash;
  if (options_.mode == CallLogOptions::Mode::kRing) {
    ring_.resize(static_cast<size_t>(options_.ring_calls));
  }
}

CallRecorder::~CallRecorder() {
  {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    auto& all = Registry();
    all.erase(std::remove(all.begin(), all.end(), this), all.end());
  }
  if (file_ != nullptr) {
    (void)Flush();
    std::fclose(file_);
  }
}

absl::Status CallRecorder::Open() {
  if (options_.mode == CallLogOptions::Mode::kFile) {
    file_ = std::fopen(options_.path.c_str(), "wb");
    if (file_ == nullptr) {
      return absl::InvalidArgumentError(
          fmt::format("call_log.path = '{}': cannot create the file: {}",
                      options_.path, std::strerror(errno)));
    }
    buffer_.reserve(kFileBufferBytes + (size_t{64} << 10));
    EncodeHeader(header_, &buffer_);
    if (absl::Status st = Flush(); !st.ok()) return st;
  }
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Registry().push_back(this);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<KVCacheManager>> CallRecorder::CreateManager(
    KVCacheConfig config) {
  if (absl::Status st = config.Validate(); !st.ok()) return st;
  std::unique_ptr<CallRecorder> rec(new CallRecorder(config));
  if (absl::Status st = rec->Open(); !st.ok()) return st;
  config.call_log = {};
  config.clock = &rec->clock_;
  auto m = KVCacheManager::Create(std::move(config));
  if (!m.ok()) return m.status();
  (*m)->recorder_ = rec.get();
  (*m)->owned_recorder_ = std::move(rec);
  return m;
}

template <typename Call>
auto CallRecorder::Run(const KVCacheManager& m, Call&& call) {
  m.recorder_ = nullptr;
  clock_.StartCall();
  auto result = call();
  call_time_ = clock_.EndCall();
  m.recorder_ = this;
  return result;
}

std::string* CallRecorder::Out() {
  if (ring_.empty()) return &buffer_;
  std::string* slot = &ring_[num_calls_ % ring_.size()];
  slot->clear();
  return slot;
}

void CallRecorder::Commit() {
  ++num_calls_;
  if (file_ != nullptr && buffer_.size() >= kFileBufferBytes) (void)Flush();
}

void CallRecorder::Write(CallRecord& record) {
  record.time_us = call_time_;
  const bool file = ring_.empty();
  EncodeRecord(record, file && have_batch_ ? &last_batch_ : nullptr, Out());
  if (file && record.op == CallOp::kAppendDecodeTokens) {
    last_batch_ = record.seqs;
    have_batch_ = true;
  }
  Commit();
}

absl::Status CallRecorder::Flush() const {
  if (file_ == nullptr) return absl::OkStatus();
  const size_t n = std::fwrite(buffer_.data(), 1, buffer_.size(), file_);
  const bool ok = n == buffer_.size() && std::fflush(file_) == 0;
  buffer_.clear();
  if (!ok) {
    return absl::UnavailableError(
        fmt::format("call log '{}': write failed", options_.path));
  }
  return absl::OkStatus();
}

absl::Status CallRecorder::Dump(const std::string& path) const {
  if (ring_.empty()) return Flush();
  const std::string& to = path.empty() ? options_.path : path;
  CallLog header = header_;
  const uint64_t kept = std::min<uint64_t>(num_calls_, ring_.size());
  header.first_call = num_calls_ - kept;
  std::string bytes;
  EncodeHeader(header, &bytes);
  for (uint64_t i = header.first_call; i < num_calls_; ++i) {
    bytes += ring_[i % ring_.size()];
  }
  FILE* f = std::fopen(to.c_str(), "wb");
  if (f == nullptr) {
    return absl::UnavailableError(
        fmt::format("call log '{}': cannot create the file", to));
  }
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (std::fclose(f) != 0 || !ok) {
    return absl::UnavailableError(
        fmt::format("call log '{}': write failed", to));
  }
  return absl::OkStatus();
}

void CallRecorder::OnCheckFailure() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  for (CallRecorder* r : Registry()) (void)r->Dump("");
}

// --- The hooks -------------------------------------------------------------

absl::StatusOr<SeqId> CallRecorder::AddSequence(
    M& m, absl::Span<const TokenId> prompt, const SequenceOptions& options) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.AddSequence(prompt, options); });
  CallRecord c;
  c.op = CallOp::kAddSequence;
  c.tokens.assign(prompt.begin(), prompt.end());
  c.options = options;
  c.result = CodeOf(result);
  if (result.ok()) c.result.value = static_cast<int64_t>(result->value());
  r.Write(c);
  return result;
}

absl::Status CallRecorder::AppendTokens(M& m, SeqId seq,
                                        absl::Span<const TokenId> tokens) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.AppendTokens(seq, tokens); });
  CallRecord c;
  c.op = CallOp::kAppendTokens;
  c.seq = seq;
  c.tokens.assign(tokens.begin(), tokens.end());
  c.result = CodeOf(result);
  r.Write(c);
  return result;
}

absl::StatusOr<PrefixMatch> CallRecorder::MatchPrefix(const M& m, SeqId seq) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.MatchPrefix(seq); });
  CallRecord c;
  c.op = CallOp::kMatchPrefixSeq;
  c.seq = seq;
  c.result = CodeOf(result);
  if (result.ok()) c.result.match = *result;
  r.Write(c);
  return result;
}

PrefixMatch CallRecorder::MatchPrefix(const M& m,
                                      absl::Span<const TokenId> prompt,
                                      const BlockHashExtras& extras) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.MatchPrefix(prompt, extras); });
  CallRecord c;
  c.op = CallOp::kMatchPrefixTokens;
  c.tokens.assign(prompt.begin(), prompt.end());
  c.extras = extras;
  c.result.match = result;
  r.Write(c);
  return result;
}

absl::StatusOr<Admission> CallRecorder::Admit(M& m, SeqId seq,
                                              int64_t max_new) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.Admit(seq, max_new); });
  CallRecord c;
  c.op = CallOp::kAdmit;
  c.seq = seq;
  c.a = max_new;
  c.result = CodeOf(result);
  if (result.ok()) c.result.admissions = {*result};
  r.Write(c);
  return result;
}

absl::StatusOr<std::vector<Admission>> CallRecorder::AdmitBatch(
    M& m, absl::Span<const ReserveRequest> requests) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.AdmitBatch(requests); });
  CallRecord c;
  c.op = CallOp::kAdmitBatch;
  c.requests.assign(requests.begin(), requests.end());
  c.result = CodeOf(result);
  if (result.ok()) c.result.admissions = *result;
  r.Write(c);
  return result;
}

absl::Status CallRecorder::Reserve(M& m, SeqId seq, int64_t n,
                                   int64_t lookahead) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.Reserve(seq, n, lookahead); });
  CallRecord c;
  c.op = CallOp::kReserve;
  c.seq = seq;
  c.a = n;
  c.b = lookahead;
  c.result = CodeOf(result);
  r.Write(c);
  return result;
}

// The hot path (one call per decode step): encoded straight into the
// buffer, without building a CallRecord; the same bytes EncodeRecord()
// writes. A repeated batch costs a memcmp of its ids and a memcpy of its
// tokens.
absl::Status CallRecorder::AppendDecodeTokens(
    M& m, absl::Span<const SeqId> seqs, absl::Span<const TokenId> tokens) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.AppendDecodeTokens(seqs, tokens); });
  const bool file = r.ring_.empty();
  const bool same =
      file && r.have_batch_ && seqs.size() == r.last_batch_.size() &&
      (seqs.empty() || std::memcmp(seqs.data(), r.last_batch_.data(),
                                   seqs.size() * sizeof(SeqId)) == 0);
  std::string* out = r.Out();
  const size_t start =
      BeginRecord(CallOp::kAppendDecodeTokens, same ? kFlagSameBatch : 0,
                  r.call_time_, out);
  ByteWriter w(out);
  if (!same) {
    w.Seqs(seqs);
    if (file) r.last_batch_.assign(seqs.begin(), seqs.end());
  }
  r.have_batch_ = true;
  w.Tokens(tokens);
  EncodeResult(CallOp::kAppendDecodeTokens, CodeOf(result), w);
  FinishRecord(start, out);
  r.Commit();
  return result;
}

absl::StatusOr<int64_t> CallRecorder::BlocksToReserve(const M& m, SeqId seq,
                                                      int64_t n,
                                                      int64_t lookahead) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.BlocksToReserve(seq, n, lookahead); });
  CallRecord c;
  c.op = CallOp::kBlocksToReserve;
  c.seq = seq;
  c.a = n;
  c.b = lookahead;
  c.result = CodeOf(result);
  if (result.ok()) c.result.value = *result;
  r.Write(c);
  return result;
}

absl::StatusOr<int64_t> CallRecorder::BlocksToAdmit(const M& m, SeqId seq,
                                                    int64_t max_new) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.BlocksToAdmit(seq, max_new); });
  CallRecord c;
  c.op = CallOp::kBlocksToAdmit;
  c.seq = seq;
  c.a = max_new;
  c.result = CodeOf(result);
  if (result.ok()) c.result.value = *result;
  r.Write(c);
  return result;
}

absl::StatusOr<bool> CallRecorder::CanReserve(
    const M& m, absl::Span<const ReserveRequest> requests) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.CanReserve(requests); });
  CallRecord c;
  c.op = CallOp::kCanReserve;
  c.requests.assign(requests.begin(), requests.end());
  c.result = CodeOf(result);
  if (result.ok()) c.result.value = *result ? 1 : 0;
  r.Write(c);
  return result;
}

absl::Status CallRecorder::Truncate(M& m, SeqId seq, int64_t num_tokens) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.Truncate(seq, num_tokens); });
  CallRecord c;
  c.op = CallOp::kTruncate;
  c.seq = seq;
  c.a = num_tokens;
  c.result = CodeOf(result);
  r.Write(c);
  return result;
}

absl::StatusOr<SeqId> CallRecorder::Fork(M& m, SeqId seq) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.Fork(seq); });
  CallRecord c;
  c.op = CallOp::kFork;
  c.seq = seq;
  c.result = CodeOf(result);
  if (result.ok()) c.result.value = static_cast<int64_t>(result->value());
  r.Write(c);
  return result;
}

absl::Status CallRecorder::Release(M& m, SeqId seq) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.Release(seq); });
  CallRecord c;
  c.op = CallOp::kRelease;
  c.seq = seq;
  c.result = CodeOf(result);
  r.Write(c);
  return result;
}

absl::Status CallRecorder::Reset(M& m) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.Reset(); });
  CallRecord c;
  c.op = CallOp::kReset;
  c.result = CodeOf(result);
  r.Write(c);
  return result;
}

std::vector<BlockCopy> CallRecorder::DrainCopies(M& m) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.DrainCopies(); });
  CallRecord c;
  c.op = CallOp::kDrainCopies;
  c.result.copies = result;
  r.Write(c);
  return result;
}

std::vector<KVEvent> CallRecorder::DrainEvents(M& m) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.DrainEvents(); });
  CallRecord c;
  c.op = CallOp::kDrainEvents;
  c.result.value = static_cast<int64_t>(result.size());
  r.Write(c);
  return result;
}

absl::Status CallRecorder::Verify(const M& m) {
  CallRecorder& r = *m.recorder_;
  auto result = r.Run(m, [&] { return m.Verify(); });
  CallRecord c;
  c.op = CallOp::kVerify;
  c.result = CodeOf(result);
  r.Write(c);
  if (!result.ok()) (void)r.Dump("");
  return result;
}

}  // namespace internal

absl::Status KVCacheManager::DumpCallLog(const std::string& path) const {
  const internal::CallRecorder* r = owned_recorder_.get();
  if (r == nullptr) {
    return absl::FailedPreconditionError(
        "DumpCallLog: this manager records no call log (KVCacheConfig::"
        "call_log.mode is kOff)");
  }
  return r->Dump(path);
}

}  // namespace pagekv
