"""bench/python/vllm_bench.py runs, and on a slice of the Mooncake trace the
vLLM-shaped replay gives the token hit rate of `pagekv cache` at every
capacity: `--policy vllm` in vLLM's order, `--policy lru` with
reuse_uncached_first (pagekv.replay_cache)."""

import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_bench_script_small_run(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "python" / "vllm_bench.py"),
         "--requests", "8", "--steps", "2", "--context", "40",
         "--admission-reps", "1", "--trace-requests", "150",
         "--capacities", "60,400,3000", "--json", str(out)],
        capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    rows = doc["trace"]
    assert len(rows) == 6
    for r in rows:
        assert r["pagekv_cache_policy"] == (
            "lru" if r["reuse_uncached_first"] else "vllm")
        assert r["hit_rate_tokens"] == r["pagekv_cache_hit_rate_tokens"]
        assert 0 < r["hit_rate_tokens"] < 1
    assert doc["admission"]["constant_list"]["hit_tokens"] == 16384
    assert doc["decode"]["batch"]["step_us"] > 0


def test_replay_cache_vllm_policy_refuses_an_infinite_capacity():
    import pagekv
    wl = pagekv.Workload.read(
        str(REPO / "data" / "traces" / "mooncake" / "conversation_trace.jsonl"),
        "mooncake", max_requests=5)
    try:
        pagekv.replay_cache(wl, block_size=512, capacity_blocks=None,
                            policy="vllm")
    except pagekv.InvalidArgument as e:
        assert "policy 'vllm' takes block counts only" in str(e)
    else:
        raise AssertionError("an infinite capacity was accepted")
