"""Shared fixtures: the package under test, the CLI, small managers."""

import json
import os
import pathlib
import subprocess

import pytest

import pagekv

REPO = pathlib.Path(__file__).resolve().parents[2]
TRACES = REPO / "tests" / "data" / "traces"


def cli_path():
    """The pagekv CLI of the same build (set by the CTest case)."""
    return os.environ.get("PAGEKV_CLI")


@pytest.fixture
def cli():
    """Runs the CLI and returns its stdout parsed as JSON."""
    path = cli_path()
    if not path:
        pytest.skip("PAGEKV_CLI is not set (run through ctest)")

    def run(*args):
        out = subprocess.run([path, *map(str, args)], check=True,
                             capture_output=True, text=True)
        return json.loads(out.stdout)
    return run


@pytest.fixture
def kv():
    """A small manager: 64 blocks of 4 tokens, caching and events on."""
    return pagekv.KVCacheManager(num_blocks=65, block_size=4,
                                 enable_kv_events=True)


def snapshot(manager, seqs):
    """Everything observable about a manager, to compare before and after
    a call that must change nothing."""
    s = manager.stats()
    fields = [f for f in dir(s) if not f.startswith("_") and f != "prefix"]
    state = {f: getattr(s, f) for f in fields}
    state["prefix"] = {f: getattr(s.prefix, f) for f in dir(s.prefix)
                       if not f.startswith("_")}
    for q in seqs:
        state[q] = (manager.num_known_tokens(q),
                    manager.num_computed_tokens(q),
                    manager.block_table(q).tolist())
    return state
