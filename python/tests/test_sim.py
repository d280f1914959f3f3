"""simulate() and replay_cache() return what the CLI's --json prints."""

import json

import numpy as np
import pytest

import pagekv
from conftest import TRACES

MOONCAKE = TRACES / "sample_mooncake.jsonl"
JSONL = TRACES / "sample_pagekv.jsonl"


def drop_wall_time(doc):
    rows = doc if isinstance(doc, list) else [doc]
    for r in rows:
        r.pop("replay_seconds")
    return doc


@pytest.mark.parametrize("kwargs, flags", [
    (dict(max_requests=25), ["--max-requests", 25]),
    (dict(max_requests=25, allocator="paged", block_size=32,
          policy="s3fifo", max_num_seqs=8, preemption="lowest-priority",
          kv_memory_gib=1.5, rate_scale=2.0, seed=3),
     ["--max-requests", 25, "--allocator", "paged", "--block-size", 32,
      "--policy", "s3fifo", "--max-num-seqs", 8, "--preemption",
      "lowest-priority", "--kv-memory-gib", 1.5, "--rate-scale", 2,
      "--seed", 3]),
])
def test_simulate_default_equals_cli(cli, kwargs, flags):
    want = cli("simulate", *flags, "--json", "-")
    got = pagekv.simulate(**kwargs)
    assert got.to_dict() == want
    assert [r.allocator for r in got.results] == \
        [r["allocator"] for r in want["results"]]


@pytest.mark.parametrize("trace", [MOONCAKE, JSONL])
def test_simulate_trace_equals_cli(cli, trace):
    want = cli("simulate", "--workload", trace, "--allocator", "all",
               "--prefix-caching", "off", "--json", "-")
    got = pagekv.simulate(str(trace), allocator="all", prefix_caching=False)
    assert got.to_dict() == want


def test_simulate_python_requests_equals_cli_on_same_file(cli, tmp_path):
    rng = np.random.default_rng(5)
    system = list(range(1000, 1300))
    requests, lines = [], []
    for i in range(12):
        prompt = system + rng.integers(0, 30000, 20 + 10 * i).tolist()
        requests.append(pagekv.Request(prompt, output_tokens=5 + i,
                                       arrival_s=0.25 * i))
        lines.append(json.dumps({"arrival_s": 0.25 * i,
                                 "prompt_tokens": prompt,
                                 "output_length": 5 + i}))
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(lines) + "\n")
    want = cli("simulate", "--workload", path, "--json", "-")
    got = pagekv.simulate(pagekv.Workload(requests, name="mine"))
    assert got.to_dict() == want
    as_dicts = [dict(prompt=r.prompt(), output_tokens=r.output_tokens,
                     arrival_s=r.arrival_s) for r in requests]
    again = pagekv.simulate(as_dicts).to_dict()
    assert again["results"] == want["results"]
    paged = got["paged"]
    assert paged.completed == 12
    assert len(paged.requests["finish_s"]) == 12
    assert (paged.requests["finish_s"] >= paged.requests["arrival_s"]).all()
    assert len(paged.timeline["time_s"]) > 0


def test_simulate_errors():
    with pytest.raises(pagekv.InvalidArgument, match="block_size"):
        pagekv.simulate(max_requests=5, block_size=0)
    with pytest.raises(pagekv.InvalidArgument, match="allocator|paged"):
        pagekv.simulate(max_requests=5, allocator="buddy")
    with pytest.raises(pagekv.Error, match="no_such_file"):
        pagekv.simulate("no_such_file.jsonl")
    with pytest.raises(pagekv.InvalidArgument, match="output"):
        pagekv.simulate([pagekv.Request([1, 2, 3], output_tokens=0)])
    with pytest.raises(TypeError):
        pagekv.simulate(42)


def test_replay_cache_equals_cli(cli):
    want = cli("cache", "--trace", MOONCAKE, "--block-size", 16,
               "--capacity-blocks", 100, "--json", "-")
    got = pagekv.replay_cache(str(MOONCAKE), block_size=16,
                              capacity_blocks=100)
    assert drop_wall_time(got.to_dict()) == drop_wall_time(want)
    assert got.replay_seconds >= 0


def test_replay_cache_sweep_equals_cli(cli):
    want = cli("cache", "--trace", MOONCAKE, "--block-size", 16,
               "--capacity-blocks", "100,inf", "--policy", "all", "--json",
               "-")
    got = pagekv.replay_cache(str(MOONCAKE), block_size=16,
                              capacity_blocks=[100, None], policy="all")
    assert [drop_wall_time(r.to_dict()) for r in got] == \
        drop_wall_time(want)


def test_replay_cache_of_python_requests():
    shared = list(range(64))
    reqs = [pagekv.Request(shared + [1000 + i] * 8) for i in range(10)]
    r = pagekv.replay_cache(reqs, block_size=16)
    assert r.requests == 10 and r.hit_tokens == 9 * 64
    assert r.infinite_capacity
    with pytest.raises(pagekv.InvalidArgument, match="policy|fifo"):
        pagekv.replay_cache(reqs, policy="fifo")
