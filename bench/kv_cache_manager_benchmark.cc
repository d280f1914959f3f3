// Per-step bookkeeping of the manager: a decode step over a batch, and the
// kernel-layout export.
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "pagekv/kv_cache_manager.h"

namespace pagekv {
namespace {

struct Batch {
  std::unique_ptr<KVCacheManager> manager;
  std::vector<SeqId> seqs;
};

// `n` sequences with 1000-token prompts already admitted, in a pool with
// room for every one of them to grow by 64k tokens.
Batch MakeBatch(int n, bool prefix_caching, CallLogOptions log = {}) {
  KVCacheConfig c;
  c.call_log = log;
  c.block_size = 16;
  c.num_blocks = int64_t{n} * (1000 + (1 << 16)) / 16 + 2;
  c.enable_prefix_caching = prefix_caching;
  Batch b;
  b.manager = *KVCacheManager::Create(c);
  std::vector<TokenId> prompt(1000);
  for (int i = 0; i < n; ++i) {
    std::iota(prompt.begin(), prompt.end(), i * 1000);
    SeqId s = *b.manager->AddSequence(prompt);
    (void)b.manager->Admit(s, 1000);
    b.seqs.push_back(s);
  }
  return b;
}

// One decode step through AppendDecodeTokens: every sequence appends its
// sampled token and gets its slot (a new block every 16 steps; with prefix
// caching, full blocks hashed and indexed).
void BM_DecodeStep(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Batch b = MakeBatch(n, state.range(1) != 0);
  std::vector<TokenId> tokens(n, 7);
  int steps = 0;
  for (auto _ : state) {
    absl::Status st = b.manager->AppendDecodeTokens(b.seqs, tokens);
    benchmark::DoNotOptimize(st);
    for (TokenId& t : tokens) ++t;
    if (++steps == (1 << 16) - 16) {  // stay inside the pool
      state.PauseTiming();
      b = MakeBatch(n, state.range(1) != 0);
      steps = 0;
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_DecodeStep)
    ->ArgsProduct({{1024}, {0, 1}})
    ->ArgNames({"seqs", "prefix_caching"});

// The same step as one AppendTokens + Reserve(seq, 1) pair per sequence.
void BM_DecodeStepPerSequence(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Batch b = MakeBatch(n, state.range(1) != 0);
  TokenId token = 7;
  int steps = 0;
  for (auto _ : state) {
    for (SeqId s : b.seqs) {
      (void)b.manager->AppendTokens(s, absl::MakeConstSpan(&token, 1));
      (void)b.manager->Reserve(s, 1);
    }
    ++token;
    if (++steps == (1 << 16) - 16) {
      state.PauseTiming();
      b = MakeBatch(n, state.range(1) != 0);
      steps = 0;
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_DecodeStepPerSequence)
    ->ArgsProduct({{1024}, {0, 1}})
    ->ArgNames({"seqs", "prefix_caching"});

// BM_DecodeStep with the call log on (include/pagekv/call_log.h): mode 0 =
// off (the baseline, in the same process), 1 = ring of 4096 calls, 2 = file
// (written to a temporary file), 3 = file to /dev/null (encoding only).
// log_bytes_per_step: what one decode step adds to a file log.
void BM_DecodeStepRecorded(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const int64_t mode = state.range(2);
  const std::string temp =
      (std::filesystem::temp_directory_path() / "pagekv_bench_call_log.pkvlog")
          .string();
  CallLogOptions log;
  log.mode = mode == 0   ? CallLogOptions::Mode::kOff
             : mode == 1 ? CallLogOptions::Mode::kRing
                         : CallLogOptions::Mode::kFile;
  log.path = mode == 3 ? "/dev/null" : temp;
  // The file's size after the set-up calls, to count only decode steps.
  uintmax_t setup_bytes = 0;
  auto make = [&] {
    Batch b = MakeBatch(n, state.range(1) != 0, log);
    if (mode == 2) {
      (void)b.manager->DumpCallLog();
      setup_bytes = std::filesystem::file_size(temp);
    }
    return b;
  };
  Batch b = make();
  std::vector<TokenId> tokens(n, 7);
  int steps = 0;
  for (auto _ : state) {
    absl::Status st = b.manager->AppendDecodeTokens(b.seqs, tokens);
    benchmark::DoNotOptimize(st);
    for (TokenId& t : tokens) ++t;
    if (++steps == (1 << 12)) {  // bound the file; stay inside the pool
      state.PauseTiming();
      b.manager.reset();  // closes the log before the next one truncates it
      b = make();
      steps = 0;
      state.ResumeTiming();
    }
  }
  if (mode == 2 && steps > 0) {
    (void)b.manager->DumpCallLog();
    state.counters["log_bytes_per_step"] =
        static_cast<double>(std::filesystem::file_size(temp) - setup_bytes) /
        steps;
  }
  b.manager.reset();
  std::filesystem::remove(temp);
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_DecodeStepRecorded)
    ->ArgsProduct({{1024}, {0, 1}, {0, 1, 2, 3}})
    ->ArgNames({"seqs", "prefix_caching", "log"});

// Export the FlashInfer CSR layout of the whole batch.
void BM_ExportCsr(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Batch b = MakeBatch(n, true);
  std::vector<int32_t> indptr(n + 1), indices(n * 64), last(n);
  for (auto _ : state) {
    auto written =
        b.manager->ExportCsr(b.seqs, GroupId(0), absl::MakeSpan(indptr),
                             absl::MakeSpan(indices), absl::MakeSpan(last));
    benchmark::DoNotOptimize(written);
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_ExportCsr)->Arg(1024);

// Export the padded 2-D block table of the whole batch.
void BM_ExportBlockTable(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Batch b = MakeBatch(n, true);
  std::vector<int32_t> table(n * 64);
  for (auto _ : state) {
    auto st = b.manager->ExportBlockTable(b.seqs, GroupId(0), 64,
                                          absl::MakeSpan(table));
    benchmark::DoNotOptimize(st);
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_ExportBlockTable)->Arg(1024);

}  // namespace
}  // namespace pagekv
