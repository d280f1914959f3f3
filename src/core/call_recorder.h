// CallRecorder: writes a KVCacheManager's public calls to a call log
// (include/pagekv/call_log.h).
//
// How it hooks in: a recording manager holds a pointer to its recorder
// (null when recording is off). Each public method starts with
//
//   PAGEKV_RECORD_CALL(Method, args...);
//
// which, when the pointer is set, hands the call to CallRecorder::Method.
// That clears the pointer, calls the same public method again (which now
// runs normally; nested public calls such as Admit -> AdmitBatch are not
// logged twice), restores the pointer, and encodes the call and its result.
// Off, the cost is one load and one predictable branch per call; the bodies
// of the manager's methods know nothing about recording.
//
// Time: the manager's clock is replaced by a StepClock that reads the real
// clock at most once per recorded call and returns that time for every read
// within it; the record carries the time, so a replay sets a ManualClock to
// exactly what the recorded run saw.
//
// Buffers: kFile appends records to a 1 MiB buffer written out when full,
// at destruction, on DumpCallLog(), on a failed Verify() and on a failed
// pagekv check (every live recorder is flushed from CheckFailed()). kRing
// keeps one reusable string per slot for the last ring_calls records, so a
// steady state allocates nothing; a decode batch's seqs are always written
// in full there (each record stands alone).
//
// Thread-safety: like the manager it belongs to (not thread-safe); the list
// of live recorders used on check failure is guarded by a mutex.
#ifndef PAGEKV_CORE_CALL_RECORDER_H_
#define PAGEKV_CORE_CALL_RECORDER_H_

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "pagekv/call_log.h"
#include "pagekv/kv_cache_manager.h"

// The first line of every recorded public KVCacheManager method.
#define PAGEKV_RECORD_CALL(method, ...)                                \
  if (recorder_ != nullptr) [[unlikely]]                               \
  return ::pagekv::internal::CallRecorder::method(*this __VA_OPT__(, ) \
                                                      __VA_ARGS__)

namespace pagekv::internal {

class CallRecorder {
 public:
  // KVCacheManager::Create() for a config with call_log on: validates it,
  // opens the log (an error naming call_log.path if it cannot be created)
  // and returns a manager that records into it.
  static absl::StatusOr<std::unique_ptr<KVCacheManager>> CreateManager(
      KVCacheConfig config);
  ~CallRecorder();
  CallRecorder(const CallRecorder&) = delete;
  CallRecorder& operator=(const CallRecorder&) = delete;

  // The hooks, one per recorded public method, with the method's signature
  // after the manager. REQUIRES: m.recorder_ != nullptr.
  using M = KVCacheManager;
  static absl::StatusOr<SeqId> AddSequence(M& m, absl::Span<const TokenId> p,
                                           const SequenceOptions& options);
  static absl::Status AppendTokens(M& m, SeqId seq,
                                   absl::Span<const TokenId> tokens);
  static absl::StatusOr<PrefixMatch> MatchPrefix(const M& m, SeqId seq);
  static PrefixMatch MatchPrefix(const M& m, absl::Span<const TokenId> prompt,
                                 const BlockHashExtras& extras);
  static absl::StatusOr<Admission> Admit(M& m, SeqId seq, int64_t max_new);
  static absl::StatusOr<std::vector<Admission>> AdmitBatch(
      M& m, absl::Span<const ReserveRequest> requests);
  static absl::Status Reserve(M& m, SeqId seq, int64_t n, int64_t lookahead);
  static absl::Status AppendDecodeTokens(M& m, absl::Span<const SeqId> seqs,
                                         absl::Span<const TokenId> tokens);
  static absl::StatusOr<int64_t> BlocksToReserve(const M& m, SeqId seq,
                                                 int64_t n, int64_t lookahead);
  static absl::StatusOr<int64_t> BlocksToAdmit(const M& m, SeqId seq,
                                               int64_t max_new);
  static absl::StatusOr<bool> CanReserve(
      const M& m, absl::Span<const ReserveRequest> requests);
  static absl::Status Truncate(M& m, SeqId seq, int64_t num_tokens);
  static absl::StatusOr<SeqId> Fork(M& m, SeqId seq);
  static absl::Status Release(M& m, SeqId seq);
  static absl::Status Reset(M& m);
  static std::vector<BlockCopy> DrainCopies(M& m);
  static std::vector<KVEvent> DrainEvents(M& m);
  static absl::Status Verify(const M& m);

  // kRing: writes the header and the kept records to `path` (empty = the
  // configured path). kFile: writes out the buffer.
  absl::Status Dump(const std::string& path) const;
  // Flushes or dumps every live recorder (called when a pagekv check fails).
  static void OnCheckFailure();

 private:
  class StepClock final : public Clock {
   public:
    explicit StepClock(const Clock* base) : base_(base) {}
    int64_t NowMicros() const override;
    void StartCall() { now_ = -1; }
    // The time the call read, or -1.
    int64_t EndCall() {
      if (now_ >= 0) last_ = now_;
      return now_;
    }

   private:
    const Clock* base_;
    mutable int64_t now_ = -1;
    mutable int64_t last_ = 0;
  };

  explicit CallRecorder(const KVCacheConfig& config);
  absl::Status Open();
  // Runs `call` on `m` with recording suspended; stamps the call's time.
  template <typename Call>
  auto Run(const KVCacheManager& m, Call&& call);
  // Encodes `record` (time already set) and commits it.
  void Write(CallRecord& record);
  // The string the next record is appended to.
  std::string* Out();
  // Counts the record appended to Out() and writes the file buffer out when
  // it is full.
  void Commit();
  absl::Status Flush() const;

  CallLogOptions options_;
  CallLog header_;  // config and flags only; no records
  StepClock clock_;
  int64_t call_time_ = -1;  // the time of the call being recorded
  uint64_t num_calls_ = 0;
  // kFile.
  FILE* file_ = nullptr;
  mutable std::string buffer_;
  std::vector<SeqId> last_batch_;  // the previous decode record's seqs
  bool have_batch_ = false;        // whether there was one
  // kRing: record i lives in ring_[i % ring_.size()].
  std::vector<std::string> ring_;
};

}  // namespace pagekv::internal

#endif  // PAGEKV_CORE_CALL_RECORDER_H_
