#!/usr/bin/env python3
"""Timing of the pagekv Python API, with ratios to the same operations in
C++ (the Google Benchmarks of bench/).

Run against a `bench` preset build (-O2, checks off):

    cmake --preset bench && cmake --build --preset bench --target \\
        pagekv_python kv_cache_manager_benchmark prefix_cache_benchmark
    PYTHONPATH=build/bench/python /usr/bin/python3 bench/python/bench_api.py \\
        --cpp build/bench/bench

Each figure is the median over `--repetitions` runs of the mean CPU time
per call in a run; the C++ figures are the medians of 5 Google Benchmark
repetitions (CPU time), run right after in a child process. The set-ups
mirror the C++ benchmarks: 1024 sequences with 1000-token prompts (block
16) for the decode step and the exports; a 2048-token prompt whose first
half is shared, in a full pool of 16384 blocks, for admit + release.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import pagekv


def per_call(fn, calls, repetitions):
    """Median over repetitions of the mean CPU seconds per call (CPU time,
    as the Google Benchmark figures are, so a loaded machine's waiting for
    a core is not counted)."""
    fn()  # warm up
    runs = []
    for _ in range(repetitions):
        t0 = time.process_time()
        for _ in range(calls):
            fn()
        runs.append((time.process_time() - t0) / calls)
    return statistics.median(runs)


def make_batch(n, prefix_caching):
    kv = pagekv.KVCacheManager(num_blocks=n * (1000 + (1 << 16)) // 16 + 2,
                               block_size=16,
                               enable_prefix_caching=prefix_caching)
    seqs = np.empty(n, np.uint64)
    for i in range(n):
        s = kv.add_sequence(np.arange(i * 1000, i * 1000 + 1000,
                                      dtype=np.int32))
        kv.admit(s, 1000)
        seqs[i] = s
    return kv, seqs


def bench_decode(repetitions, prefix_caching):
    kv, seqs = make_batch(1024, prefix_caching)
    tokens = np.full(1024, 7, np.int32)

    def step():
        kv.append_decode_tokens(seqs, tokens)
    # 1000 steps per run: all runs stay inside each sequence's room.
    return per_call(step, 1000, repetitions)


def bench_exports(repetitions):
    kv, seqs = make_batch(1024, True)
    indptr = np.zeros(1025, np.int32)
    indices = np.zeros(1024 * 64, np.int32)
    last = np.zeros(1024, np.int32)
    table = np.zeros((1024, 64), np.int32)
    csr = per_call(lambda: kv.export_csr(seqs, 0, indptr, indices, last),
                   2000, repetitions)
    bt = per_call(lambda: kv.export_block_table(seqs, 0, table), 2000,
                  repetitions)
    return csr, bt


def bench_admit_release(repetitions):
    kv = pagekv.KVCacheManager(num_blocks=1 << 14, block_size=16)
    rng = np.random.default_rng(3)
    prompt = rng.integers(0, 1 << 30, 2048).astype(np.int32)
    state = {"unique": 0}

    def admit_release():
        state["unique"] += 1
        prompt[1024] = state["unique"]  # a new tail every time
        s = kv.add_sequence(prompt)
        kv.admit(s, 1 << 30)
        kv.release(s)
    return per_call(admit_release, 3000, repetitions)


def bench_noop(repetitions):
    kv = pagekv.KVCacheManager(num_blocks=10)
    return per_call(kv.noop, 200000, repetitions)


def cpp_medians(binary, pattern):
    """{benchmark name: median CPU seconds} of a Google Benchmark run."""
    out = subprocess.run(
        [binary, f"--benchmark_filter={pattern}",
         "--benchmark_repetitions=5",
         "--benchmark_report_aggregates_only=true",
         "--benchmark_format=json"], check=True, capture_output=True,
        text=True).stdout
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    medians = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            medians[b["run_name"]] = b["cpu_time"] * scale[b["time_unit"]]
    return medians


CPP_NAMES = {
    "decode_step_1024": "BM_DecodeStep/seqs:1024/prefix_caching:0",
    "decode_step_1024_prefix_caching":
        "BM_DecodeStep/seqs:1024/prefix_caching:1",
    "export_csr_1024x63": "BM_ExportCsr/1024",
    "export_block_table_1024x64": "BM_ExportBlockTable/1024",
    "admit_release_2048": "BM_AdmitRelease",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--cpp", help="directory of the C++ benchmark "
                        "binaries (e.g. build/bench/bench); omitted: no "
                        "ratios")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    r = args.repetitions
    print(f"pagekv {pagekv.__version__}, {sys.executable}", flush=True)
    py = {
        "decode_step_1024": bench_decode(r, False),
        "decode_step_1024_prefix_caching": bench_decode(r, True),
    }
    py["export_csr_1024x63"], py["export_block_table_1024x64"] = \
        bench_exports(r)
    py["admit_release_2048"] = bench_admit_release(r)
    py["noop_call"] = bench_noop(r)
    cpp = {}
    if args.cpp:
        cpp.update(cpp_medians(
            os.path.join(args.cpp, "kv_cache_manager_benchmark"),
            "BM_DecodeStep/seqs:1024|BM_Export"))
        cpp.update(cpp_medians(
            os.path.join(args.cpp, "prefix_cache_benchmark"),
            "BM_AdmitRelease"))
    rows = []
    for key, seconds in py.items():
        c = cpp.get(CPP_NAMES.get(key, ""))
        rows.append({"operation": key, "python_us": seconds * 1e6,
                     "cpp_us": c * 1e6 if c else None,
                     "ratio": seconds / c if c else None})
        ratio = f"{seconds / c:5.2f}x" if c else "    -"
        cpp_text = f"{c * 1e6:9.3f} us" if c else "           -"
        print(f"  {key:<32} python {seconds * 1e6:9.3f} us   "
              f"C++ {cpp_text}   {ratio}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
