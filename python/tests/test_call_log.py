"""Recording a manager's calls from Python (docs/stress.md): the log a
Python engine writes replays identically under `pagekv replay-log`."""
import subprocess

import pytest

import pagekv
from conftest import cli_path


def _run_engine(config):
    kv = pagekv.KVCacheManager.create(config)
    a = kv.add_sequence(list(range(1, 40)))
    kv.admit(a, 39)
    b = kv.fork(a)
    kv.append_decode_tokens([a, b], [7, 8])
    kv.truncate(b, 30)
    kv.release(a)
    kv.release(b)
    return kv


def _replay(path, *extra):
    cli = cli_path()
    if not cli:
        pytest.skip("PAGEKV_CLI is not set (run through ctest)")
    return subprocess.run([cli, "replay-log", str(path), *extra],
                          capture_output=True, text=True)


def test_file_log_replays_identically(tmp_path):
    log = tmp_path / "engine.pkvlog"
    kv = _run_engine(pagekv.KVCacheConfig(num_blocks=64, block_size=4,
                                          call_log=str(log)))
    del kv  # the log is complete when the manager goes
    assert log.read_bytes()[:8] == b"PKVCALL1"
    done = _replay(log)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ring_log_is_written_on_demand(tmp_path):
    log = tmp_path / "ring.pkvlog"
    kv = _run_engine(pagekv.KVCacheConfig(num_blocks=64, block_size=4,
                                          call_log=str(log),
                                          call_log_ring=1000))
    assert not log.exists()
    kv.dump_call_log()
    done = _replay(log)  # the ring never wrapped: it replays whole
    assert done.returncode == 0, done.stdout + done.stderr


def test_dump_without_a_log_is_an_error():
    kv = _run_engine(pagekv.KVCacheConfig(num_blocks=64, block_size=4))
    with pytest.raises(pagekv.FailedPrecondition):
        kv.dump_call_log()


def test_call_log_must_be_a_path():
    with pytest.raises(TypeError, match="call_log"):
        pagekv.KVCacheConfig(num_blocks=64, call_log=3)
