// Embedding pagekv in a serving engine's scheduling loop.
//
// A toy engine serves three requests that share a system prompt: it admits
// them with chunked prefill (checking each step's chunks with a dry run),
// decodes, samples two continuations of one request in parallel (fork with
// copy-on-write), rolls back rejected draft tokens (speculative decoding),
// and finishes. Each step it drains the block
// copies it must perform and the KV events a cluster router would consume,
// and asks the bandwidth model how long the step would take on an H100.
// The "model" here samples deterministic tokens; a real engine runs kernels
// over the block tables the manager exports.
//
// `engine_loop --record-log FILE` also records every manager call to FILE
// (KVCacheConfig::call_log); `pagekv replay-log FILE` replays it.
#include <cstdio>
#include <cstring>
#include <numeric>
#include <variant>
#include <vector>

#include "pagekv/cost/bandwidth_model.h"
#include "pagekv/kv_cache_manager.h"

namespace {

using pagekv::SeqId;
using pagekv::TokenId;

constexpr int kChunk = 256;  // prefill tokens per sequence per step

struct Live {
  const char* name;
  SeqId seq;
  int to_generate;
};

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "engine_loop: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  pagekv::KVCacheConfig config;
  config.block_size = 16;
  config.num_blocks = 1 + 512;  // 8192 token slots
  config.enable_kv_events = true;
  if (argc == 3 && std::strcmp(argv[1], "--record-log") == 0) {
    config.call_log.mode = pagekv::CallLogOptions::Mode::kFile;
    config.call_log.path = argv[2];
  } else if (argc != 1) {
    std::fprintf(stderr, "usage: engine_loop [--record-log FILE]\n");
    return 2;
  }
  auto manager_or = pagekv::KVCacheManager::Create(config);
  if (!manager_or.ok()) return Fail(manager_or.status());
  pagekv::KVCacheManager& kv = **manager_or;
  auto cost_or = pagekv::BandwidthModel::FromNames("llama-3-8b", "h100-sxm");
  if (!cost_or.ok()) return Fail(cost_or.status());

  // Three prompts: a 600-token system prompt plus a question of their own.
  std::vector<TokenId> system(600);
  std::iota(system.begin(), system.end(), 1000);
  std::vector<Live> live;
  for (int i = 0; i < 3; ++i) {
    std::vector<TokenId> prompt = system;
    for (int t = 0; t < 40 + 30 * i; ++t) prompt.push_back(50000 + 100 * i + t);
    auto seq = kv.AddSequence(prompt);
    if (!seq.ok()) return Fail(seq.status());
    live.push_back({i == 0 ? "alice" : i == 1 ? "bob" : "carol", *seq, 40});
  }

  double clock_ms = 0;
  for (int step = 0; !live.empty(); ++step) {
    pagekv::StepFootprint footprint;
    std::vector<SeqId> decoding;
    std::vector<TokenId> sampled;
    // A dry run first: do this step's prefill chunks fit together? (A real
    // scheduler would shrink or defer chunks when they do not.)
    std::vector<pagekv::ReserveRequest> chunks;
    for (const Live& r : live) {
      const int64_t computed = *kv.NumComputedTokens(r.seq);
      const int64_t left = *kv.NumKnownTokens(r.seq) - computed;
      if (computed > 0 && left > 0) {
        chunks.push_back({r.seq, std::min<int64_t>(kChunk, left), 0});
      }
    }
    auto fits = kv.CanReserve(chunks);
    if (!fits.ok()) return Fail(fits.status());
    if (!*fits) {
      std::printf("step %2d  prefill chunks do not fit; stopping\n", step);
      return 1;
    }
    // Prefill: admit (first chunk, with the prefix hit) or continue chunks.
    for (Live& r : live) {
      const int64_t known = *kv.NumKnownTokens(r.seq);
      const int64_t computed = *kv.NumComputedTokens(r.seq);
      if (computed == known) {
        decoding.push_back(r.seq);
        sampled.push_back(static_cast<TokenId>(7 * step + known % 97));
        continue;
      }
      int64_t chunk = 0;
      if (computed == 0) {
        auto admitted = kv.Admit(r.seq, kChunk);
        if (!admitted.ok()) return Fail(admitted.status());
        std::printf(
            "step %2d  %-5s admitted: %lld prompt tokens cached, %lld "
            "computed now\n",
            step, r.name, static_cast<long long>(admitted->hit.num_tokens),
            static_cast<long long>(admitted->num_new_tokens));
        chunk = admitted->num_new_tokens;
      } else {
        chunk = std::min<int64_t>(kChunk, known - computed);
        if (absl::Status st = kv.Reserve(r.seq, chunk); !st.ok()) {
          return Fail(st);
        }
      }
      (void)kv.AddToFootprint(r.seq, static_cast<int32_t>(chunk), &footprint);
    }
    // Decode: one call appends every sampled token and reserves its slot.
    if (!decoding.empty()) {
      if (absl::Status st = kv.AppendDecodeTokens(decoding, sampled);
          !st.ok()) {
        return Fail(st);
      }
      for (SeqId s : decoding) (void)kv.AddToFootprint(s, 1, &footprint);
    }
    // Before the kernels: copies for copy-on-write, then the block tables.
    for (const pagekv::BlockCopy& copy : kv.DrainCopies()) {
      std::printf("step %2d  copy block %u -> %u before the kernels\n", step,
                  copy.src.value(), copy.dst.value());
    }
    int stored = 0, removed = 0;
    for (const pagekv::KVEvent& e : kv.DrainEvents()) {
      if (auto* s = std::get_if<pagekv::BlockStoredEvent>(&e)) {
        stored += static_cast<int>(s->block_keys.size());
      } else if (auto* r = std::get_if<pagekv::BlockRemovedEvent>(&e)) {
        removed += static_cast<int>(r->block_keys.size());
      }
    }
    const pagekv::StepCost cost = cost_or->Estimate(footprint);
    clock_ms += cost.seconds * 1e3;
    if (stored + removed > 0 || step % 8 == 0) {
      std::printf(
          "step %2d  %zu seqs, %lld new tokens, %.2f ms (%s-bound); "
          "events: %d blocks stored, %d removed\n",
          step, footprint.sequences.size(),
          static_cast<long long>(footprint.TotalNewTokens()),
          cost.seconds * 1e3,
          cost.bound == pagekv::Bound::kMemory ? "memory" : "compute", stored,
          removed);
    }

    // Bob samples two continuations from step 10 on: fork shares every block.
    if (step == 10) {
      auto twin = kv.Fork(live[1].seq);
      if (!twin.ok()) return Fail(twin.status());
      live.push_back({"bob#2", *twin, 10});
      std::printf("step %2d  bob forked: both share %zu blocks\n", step,
                  kv.BlockTable(*twin, pagekv::GroupId(0))->size());
    }
    // Carol speculates 4 draft tokens at step 20 and 3 are rejected.
    if (step == 20) {
      Live& carol = live[2];
      const int64_t n = *kv.NumKnownTokens(carol.seq);
      std::vector<TokenId> draft = {11, 12, 13, 14};
      (void)kv.AppendTokens(carol.seq, draft);
      if (absl::Status st = kv.Reserve(carol.seq, 4); !st.ok()) return Fail(st);
      if (absl::Status st = kv.Truncate(carol.seq, n + 1); !st.ok()) {
        return Fail(st);
      }
      std::printf(
          "step %2d  carol: 4 draft tokens, 1 accepted, rolled back "
          "to %lld tokens\n",
          step, static_cast<long long>(n + 1));
    }
    // Finish requests that generated their tokens.
    for (size_t i = 0; i < live.size();) {
      bool decoded = false;
      for (SeqId s : decoding) decoded = decoded || s == live[i].seq;
      if (decoded && --live[i].to_generate == 0) {
        std::printf("step %2d  %-5s finished with %lld tokens\n", step,
                    live[i].name,
                    static_cast<long long>(*kv.NumKnownTokens(live[i].seq)));
        (void)kv.Release(live[i].seq);
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    if (absl::Status st = kv.Verify(); !st.ok()) return Fail(st);
  }

  const pagekv::KVCacheStats stats = kv.Stats();
  std::printf(
      "\ndone in %.1f simulated ms: %llu blocks allocated, %llu copy-on-write "
      "copies, prefix hits %llu of %llu prompt tokens (%.0f%%), %llu blocks "
      "left cached for reuse\n",
      clock_ms, static_cast<unsigned long long>(stats.blocks_allocated),
      static_cast<unsigned long long>(stats.cow_copies),
      static_cast<unsigned long long>(stats.prefix.hit_tokens),
      static_cast<unsigned long long>(stats.prefix.query_tokens),
      100.0 * stats.prefix.TokenHitRate(),
      static_cast<unsigned long long>(stats.cached_blocks));
  return stats.in_use_blocks == 0 ? 0 : 1;
}
