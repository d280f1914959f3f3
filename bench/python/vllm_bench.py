#!/usr/bin/python3
"""Times pagekv.vllm.KVCacheManager through vLLM's scheduler calls.

Three parts, each printed as a table (and all together with --json):

  decode     N running requests, one decode step after another: per-call
             `allocate_slots(req, 1, num_lookahead_tokens=0)` and
             `get_block_ids(allow_none=True)` of the result for every
             request (vLLM's scheduler's calls), and the batch entry
             `allocate_slots_batch`. The same per-call loop on the
             pure-Python model of vLLM's manager
             (python/tests/vllm_reference.py) is the in-process baseline;
             on a builtin that only parses allocate_slots' arguments and
             returns the empty result (`call_floor`) it is the floor any C
             manager called this way pays.
  admission  a 32k-token prompt whose first half is cached: the
             get_computed_blocks + allocate_slots pair (token sync, hashing,
             verification and block caching included), then free.
  trace      the Mooncake conversation trace through the vLLM-shaped API
             (get_computed_blocks, allocate_slots for the prompt, free), at
             several pool capacities, with vLLM's exact block order and with
             reuse_uncached_first; `pagekv cache` at the same capacity is
             the reference, with `--policy vllm` for the former and `lru`
             for the latter: the token hit rates must be equal (exit status
             1 if not).

Build the bench preset first:
  cmake --preset bench && cmake --build --preset bench --target pagekv_python
  PYTHONPATH=build/bench/python /usr/bin/python3 bench/python/vllm_bench.py
Figures are medians; the machine is shared, so compare ratios in one run.
"""

import argparse
import hashlib
import json
import pathlib
import statistics
import sys
import time
from dataclasses import dataclass, field

import numpy as np

import pagekv
from pagekv import vllm as pv
from pagekv._pagekv import _vllm

REPO = pathlib.Path(__file__).resolve().parents[2]
TRACE = REPO / "data" / "traces" / "mooncake" / "conversation_trace.jsonl"
sys.path.insert(0, str(REPO / "python" / "tests"))
from vllm_reference import RefManager  # noqa: E402


@dataclass(frozen=True)
class FullAttentionSpec:
    block_size: int
    num_kv_heads: int = 8
    head_size: int = 128
    dtype: str = "bfloat16"


@dataclass
class KVCacheGroupSpec:
    layer_names: list
    kv_cache_spec: object
    is_eagle_group: bool = False


@dataclass
class KVCacheConfig:
    num_blocks: int
    kv_cache_tensors: list = field(default_factory=list)
    kv_cache_groups: list = field(default_factory=list)


def config(num_blocks, block_size):
    return KVCacheConfig(num_blocks, [], [KVCacheGroupSpec(
        ["model.layers.*"], FullAttentionSpec(block_size))])


def chain_hashes(tokens: np.ndarray, block_size: int, start: list) -> list:
    """SHA-256 chained block hashes (vLLM's shape: parent + block)."""
    out = list(start)
    data = tokens.astype(np.int32, copy=False).tobytes()
    step = 4 * block_size
    parent = out[-1] if out else b"\0" * 32
    for i in range(len(out), len(tokens) // block_size):
        parent = hashlib.sha256(parent + data[i * step:(i + 1) * step]).digest()
        out.append(parent)
    return out


class ConstantList:
    """vLLM's read-only list view (vllm/v1/utils.py): the list is `_x`."""

    __slots__ = ("_x",)

    def __init__(self, x):
        self._x = x

    def __len__(self):
        return len(self._x)

    def __getitem__(self, item):
        return self._x[item]


class BenchRequest:
    """The vLLM Request attributes the manager reads, shaped as vLLM's
    (all_token_ids a ConstantList over the token list, num_tokens a
    property, attributes in the instance dict). A NumPy array of tokens
    is kept as it is: pagekv reads an int32 array in place."""

    def __init__(self, rid, tokens, block_size, hashes=None):
        self.request_id = rid
        self._all_token_ids = tokens
        self.all_token_ids = (tokens if isinstance(tokens, np.ndarray)
                              else ConstantList(tokens))
        self.num_prompt_tokens = len(tokens)
        self.num_computed_tokens = 0
        self.block_size = block_size
        self.block_hashes = hashes if hashes is not None else chain_hashes(
            np.asarray(tokens, np.int32), block_size, [])
        self.lora_request = None
        self.mm_features = None
        self.cache_salt = None
        self.skip_reading_prefix_cache = False
        self.num_preemptions = 0

    @property
    def num_tokens(self):
        return len(self._all_token_ids)

    def append(self, token):
        self._all_token_ids.append(token)
        if len(self._all_token_ids) % self.block_size == 0:
            bs = self.block_size
            tail = np.asarray(self._all_token_ids[-bs:], np.int32).tobytes()
            self.block_hashes.append(hashlib.sha256(
                self.block_hashes[-1] + tail).digest())


def median_us(samples):
    return statistics.median(samples) * 1e6


class Span:
    """Wall and thread CPU time of a code span. The machine is shared: the
    CPU time is the manager's own cost, the wall time adds whatever else
    the machine ran meanwhile. Figures report both; CPU first."""

    def __init__(self):
        self.wall, self.cpu = [], []

    def __enter__(self):
        self._w, self._c = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc):
        self.cpu.append(time.thread_time() - self._c)
        self.wall.append(time.perf_counter() - self._w)

    def medians_us(self):
        return median_us(self.cpu), median_us(self.wall)


# --- decode ------------------------------------------------------------------
def decode(num_requests, context, steps, bs):
    rng = np.random.default_rng(1)
    blocks = num_requests * ((context + steps + 2 * bs) // bs + 1) + 1

    def fresh():
        reqs = [BenchRequest(str(i), rng.integers(0, 32000, context).tolist(),
                             bs) for i in range(num_requests)]
        return reqs

    out = {}
    for mode in ("per_call", "batch", "python_model", "call_floor"):
        reqs = fresh()
        if mode == "python_model":
            kv = RefManager(blocks, bs, [("full", 0, 0, False)], 1 << 20)
            alloc = kv.allocate
        elif mode == "call_floor":
            kv = pv.KVCacheManager(config(blocks, bs), max_model_len=1 << 20,
                                   hash_block_size=bs)
            alloc = kv.allocate_slots
            floor = _vllm.make_call_floor(kv.empty_kv_cache_blocks)
        else:
            kv = pv.KVCacheManager(config(blocks, bs), max_model_len=1 << 20,
                                   hash_block_size=bs)
            alloc = kv.allocate_slots
        for r in reqs:
            assert alloc(r, r.num_tokens) is not None
            r.num_computed_tokens = r.num_tokens
        handles = None
        if mode == "batch":
            handles = np.array([kv.request_handle(r) for r in reqs], np.int32)
        span = Span()
        for step in range(steps):
            toks = rng.integers(0, 32000, num_requests).astype(np.int32)
            for r, t in zip(reqs, toks.tolist()):
                r.append(t)
            with span:
                step_once(mode, kv, floor if mode == "call_floor" else alloc,
                          reqs, handles, toks)
            for r in reqs:
                r.num_computed_tokens = r.num_tokens
        cpu, wall = span.medians_us()
        out[mode] = {"step_us": cpu, "wall_step_us": wall,
                     "per_request_ns": cpu * 1e3 / num_requests}
    out["ratio_python_model_over_per_call"] = (
        out["python_model"]["step_us"] / out["per_call"]["step_us"])
    out["ratio_python_model_over_batch"] = (
        out["python_model"]["step_us"] / out["batch"]["step_us"])
    return out


def step_once(mode, kv, alloc, reqs, handles, toks):
    """One decode step of every request, in the given mode."""
    if mode == "batch":
        kv.allocate_slots_batch(reqs, handles, toks)
    elif mode in ("per_call", "call_floor"):
        # As vLLM's scheduler calls them (sched/scheduler.py at the target
        # commit: allocate_slots for a running request, then
        # get_block_ids(allow_none=True) for the scheduler output).
        for r in reqs:
            alloc(r, 1, num_lookahead_tokens=0).get_block_ids(allow_none=True)
    else:
        for r in reqs:
            [list(g) for g in alloc(r, 1)]


# --- admission ---------------------------------------------------------------
def admission(prompt, shared, bs, reps):
    rng = np.random.default_rng(2)
    base = rng.integers(0, 32000, prompt).astype(np.int32)
    out = {}
    for kind in ("numpy_int32", "constant_list"):
        kv = pv.KVCacheManager(config(4 * prompt // bs + 8, bs),
                               max_model_len=1 << 20, hash_block_size=bs)
        first = BenchRequest("warm", base.copy() if kind == "numpy_int32"
                             else base.tolist(), bs)
        kv.allocate_slots(first, prompt)  # caches the shared half for good
        t_admit, t_free, hits = Span(), Span(), []
        for i in range(reps):
            toks = base.copy()
            toks[shared:] = rng.integers(0, 32000, prompt - shared)
            hashes = chain_hashes(toks, bs, [])
            tok = toks if kind == "numpy_int32" else toks.tolist()
            req = BenchRequest(f"r{i}", tok, bs, hashes)
            with t_admit:
                blocks, n = kv.get_computed_blocks(req)
                new = kv.allocate_slots(req, prompt - n, n, blocks)
            with t_free:
                kv.free(req)
            assert new is not None
            hits.append(n)
        (admit, admit_wall), (free, _) = t_admit.medians_us(), t_free.medians_us()
        out[kind] = {"admit_us": admit, "wall_admit_us": admit_wall,
                     "free_us": free, "hit_tokens": statistics.median(hits)}
    return out


# --- trace -------------------------------------------------------------------
def trace_replay(capacities, bs, max_requests):
    wl = pagekv.Workload.read(str(TRACE), "mooncake",
                              max_requests=max_requests)
    prompts = []
    for r in wl.requests:  # tokens and vLLM-style hashes, made once
        toks = np.asarray(r.prompt(), np.int32)
        prompts.append((toks, chain_hashes(toks, bs, [])))
    rows, refs = [], {}
    for cap, uncached_first in [(c, u) for c in capacities
                                for u in (False, True)]:
        kv = pv.KVCacheManager(config(cap + 1, bs), max_model_len=1 << 30,
                               hash_block_size=bs, log_stats=True,
                               reuse_uncached_first=uncached_first)
        per_req, skipped, hits, queries = [], 0, 0, 0
        for i, (toks, hashes) in enumerate(prompts):
            req = BenchRequest(str(i), toks, bs, list(hashes))
            t0 = time.perf_counter()
            blocks, n = kv.get_computed_blocks(req)
            new = kv.allocate_slots(req, req.num_tokens - n, n, blocks)
            kv.free(req)
            per_req.append(time.perf_counter() - t0)
            # Like pagekv cache, a prompt larger than the pool is skipped
            # and left out of the rates (allocate_slots returns None).
            skipped += new is None
            if new is not None:
                hits += n
                queries += req.num_tokens
        stats = kv.make_prefix_cache_stats()
        assert stats.hits >= hits and stats.queries >= queries
        # pagekv cache's replay of the same order: its LRU uses uncached
        # blocks first, its "vllm" policy is vLLM's queue.
        policy = "lru" if uncached_first else "vllm"
        if (cap, policy) not in refs:
            refs[cap, policy] = pagekv.replay_cache(
                wl, block_size=bs, capacity_blocks=cap,
                policy=policy).to_dict()
        ref = refs[cap, policy]
        rows.append({
            "capacity_blocks": cap,
            "reuse_uncached_first": uncached_first,
            "hit_rate_tokens": hits / queries,
            "pagekv_cache_policy": policy,
            "pagekv_cache_hit_rate_tokens": ref["hit_rate_tokens"],
            "hit_tokens": hits,
            "pagekv_cache_hit_tokens": ref.get("hit_tokens"),
            "prompt_tokens": queries,
            "skipped_requests": skipped,
            "pagekv_cache_skipped": ref.get("skipped_requests"),
            "per_request_us": median_us(per_req),
            "mean_per_request_us": statistics.mean(per_req) * 1e6,
        })
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=1024)
    ap.add_argument("--context", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--block-size", type=int, default=16)
    ap.add_argument("--admission-reps", type=int, default=50)
    ap.add_argument("--trace-block-size", type=int, default=512)
    ap.add_argument("--capacities", default="17089,51269,170900")
    ap.add_argument("--trace-requests", type=int, default=0)
    ap.add_argument("--skip", default="", help="comma list of parts to skip")
    ap.add_argument("--json", help="write all figures here")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    doc = {}
    if "decode" not in skip:
        d = doc["decode"] = decode(a.requests, a.context, a.steps,
                                   a.block_size)
        print(f"decode step, {a.requests} requests, {a.context}-token "
              f"contexts, block {a.block_size} (median of {a.steps} steps)")
        for k in ("per_call", "batch", "python_model", "call_floor"):
            print(f"  {k:13s} {d[k]['step_us']:9.1f} us/step CPU "
                  f"{d[k]['per_request_ns']:7.0f} ns/request "
                  f"({d[k]['wall_step_us']:.1f} us wall)")
        print(f"  python model / per-call {d['ratio_python_model_over_per_call']:.1f}x,"
              f" / batch {d['ratio_python_model_over_batch']:.1f}x")
    if "admission" not in skip:
        d = doc["admission"] = admission(32768, 16384, a.block_size,
                                         a.admission_reps)
        print("admission, 32768-token prompt, first 16384 cached "
              f"(median of {a.admission_reps})")
        for k, v in d.items():
            print(f"  {k:13s} get_computed_blocks+allocate_slots "
                  f"{v['admit_us']:8.1f} us CPU ({v['wall_admit_us']:.1f} "
                  f"wall), free {v['free_us']:6.1f} us, "
                  f"hit {v['hit_tokens']:.0f} tokens")
    ok = True
    if "trace" not in skip:
        caps = [int(c) for c in a.capacities.split(",")]
        rows = doc["trace"] = trace_replay(caps, a.trace_block_size,
                                           a.trace_requests)
        print(f"Mooncake conversation trace, block {a.trace_block_size}")
        for r in rows:
            same = abs(r["hit_rate_tokens"]
                       - r["pagekv_cache_hit_rate_tokens"]) < 1e-12
            mode = "uncached-first" if r["reuse_uncached_first"] else "vllm"
            ok &= same
            print(f"  capacity {r['capacity_blocks']:7d} {mode:14s}: hit "
                  f"rate {r['hit_rate_tokens']:.6f} vs pagekv cache "
                  f"--policy {r['pagekv_cache_policy']:4s} "
                  f"{r['pagekv_cache_hit_rate_tokens']:.6f} "
                  f"({'equal' if same else 'DIFFERENT'}), "
                  f"{r['per_request_us']:.1f} us/request median "
                  f"({r['mean_per_request_us']:.1f} mean), "
                  f"skipped {r['skipped_requests']}")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(doc, indent=2))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
