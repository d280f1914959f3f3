// RemoteKVStore: a shared store below the GPU and host tiers that keeps the
// KV payload of full blocks by block key (e.g. Redis, see
// pagekv/net/redis_kv_store.h).
//
// The store holds bytes, never block ids: the engine hands it a host buffer
// per block and gets the bytes back into its own buffers. Every block is
// stored with its verification record (BlockRecord: key, parent key, tokens,
// LoRA, salt, multimodal items) and a checksum, and every load compares the
// stored record with the query's before a byte reaches the caller: a missing,
// wrong, truncated or corrupt value is a miss, never wrong KV.
//
// The intended flow for one prompt (the manager manages ids; the engine moves
// bytes):
//
// clang-format off
//   chain = ComputeBlockChain(manager.config(), prompt, extras)
//   hit   = manager.MatchPrefix(seq)                  GPU tier: hit.num_blocks
//   (host tier continues the walk from there)          host tier: +h blocks
//   want  = chain.blocks[hit.num_blocks + h, MatchableBlocks(n, bs))
//   r     = store.Lookup(want)                         one round trip: r blocks present
//   manager.Admit(seq, budget)                         slots for the tokens after the hit
//   got   = store.Get(want[0, r), buffers)             one round trip: verified prefix
//   copy buffers[0, got) into those slots' blocks instead of prefilling
//   them; prefill computes the rest
//   ...
//   when a block fills (or leaves the GPU): store.Put(records, payloads, ttl)
// clang-format on
//
// Lookup and Get are separate so an engine can size its allocation before the
// bytes arrive; Get re-verifies, so a block evicted between the two is simply
// a shorter prefix.
//
// Faults (store down, slow, restarted, full) never fail a call and never
// block beyond the implementation's timeout: lookups and gets degrade to
// misses, puts are dropped, and each is counted by reason in stats(). Only a
// bad argument returns an error status.
//
// Thread-safety: implementations say; the Redis one is not thread-safe.
#ifndef PAGEKV_REMOTE_KV_STORE_H_
#define PAGEKV_REMOTE_KV_STORE_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pagekv/block_chain.h"

namespace pagekv {

// Why a block was not loaded or not stored (one count per occurrence).
enum class RemoteFault : int {
  kUnavailable = 0,  // call skipped: degraded, waiting out the backoff
  kConnect,          // connecting or authenticating failed
  kTimeout,          // no reply within the timeout (store slow or paused)
  kConnection,       // connection closed or reset (store killed, restarted)
  kServerError,      // an error reply (e.g. LOADING, NOAUTH, WRONGTYPE)
  kOutOfMemory,      // put refused: the store is full
  kCorrupt,          // value unreadable: bad magic, length or checksum
  kMismatch,         // well-formed value of another block (key collision)
  kSizeMismatch,     // payload length differs from the caller's buffer
};
inline constexpr int kNumRemoteFaults = 9;

// "unavailable", "connect", ... (the enumerator's name, snake case).
const char* RemoteFaultName(RemoteFault fault);

struct RemoteStoreStats {
  uint64_t lookups = 0;        // Lookup calls
  uint64_t lookup_blocks = 0;  // blocks asked for
  uint64_t lookup_hits = 0;    // blocks reported present
  uint64_t gets = 0;
  uint64_t get_blocks = 0;
  uint64_t get_hits = 0;  // blocks verified and copied out
  uint64_t bytes_loaded = 0;
  uint64_t puts = 0;
  uint64_t put_blocks = 0;
  uint64_t stored_blocks = 0;  // acknowledged by the store
  uint64_t bytes_stored = 0;
  uint64_t dropped_blocks = 0;  // put_blocks - stored_blocks
  // Blocks looked up or fetched that the store did not have: never stored,
  // evicted by its capacity policy, or expired.
  uint64_t absent = 0;
  uint64_t reconnects = 0;  // successful connections after the first
  std::array<uint64_t, kNumRemoteFaults> faults{};
  bool degraded = false;  // the last operation hit a connection fault

  uint64_t fault(RemoteFault f) const { return faults[static_cast<int>(f)]; }
  // One line: "lookups 3 (12 blocks, 9 hits), gets ..., faults: timeout 1".
  std::string ToString() const;
};

class RemoteKVStore {
 public:
  virtual ~RemoteKVStore() = default;

  // The number of leading blocks of `chain` the store holds with a matching
  // record, in one round trip. Faults make it shorter (0 when the store is
  // unreachable), never longer. Payloads are not read (see Get).
  virtual int32_t Lookup(absl::Span<const BlockRecord> chain) = 0;

  // Loads the leading blocks of `chain` into `buffers` in one round trip,
  // verifying each block's record and payload checksum, and returns how many
  // leading blocks were verified and copied; buffers after those are left
  // untouched. InvalidArgument when the spans' sizes differ.
  // REQUIRES: buffers[i] is as long as the payload that was put.
  virtual absl::StatusOr<int32_t> Get(
      absl::Span<const BlockRecord> chain,
      absl::Span<const absl::Span<uint8_t>> buffers) = 0;

  // Stores payloads[i] under blocks[i] in one round trip, replacing what the
  // key held, expiring after `ttl_ms` (0 = never, -1 = the store's default).
  // Returns how many blocks the store acknowledged; the rest are dropped and
  // counted. InvalidArgument when the spans' sizes differ or ttl_ms < -1.
  virtual absl::StatusOr<int32_t> Put(
      absl::Span<const BlockRecord> blocks,
      absl::Span<const absl::Span<const uint8_t>> payloads,
      int64_t ttl_ms = -1) = 0;

  virtual RemoteStoreStats stats() const = 0;

  // Checks the store's bookkeeping (counters consistent with each other).
  virtual absl::Status Verify() const = 0;
};

}  // namespace pagekv

#endif  // PAGEKV_REMOTE_KV_STORE_H_
