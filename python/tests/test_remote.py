"""The remote KV tier from Python against a real redis-server on a free
loopback port: round trip into NumPy buffers, a value corrupted in Redis is a
miss, a killed Redis gives misses and dropped puts within a bound."""

import shutil
import socket
import subprocess
import time

import numpy as np
import pytest

import pagekv

BS = 4  # tokens per block


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *map(str, args)],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def redis(tmp_path):
    """A redis-server child; yields its port, killed afterwards."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing: install it (scripts/setup.sh)")
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir",
         str(tmp_path), "--save", "", "--appendonly", "no", "--loglevel",
         "warning"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:  # bounded wait until it answers
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2) as c:
                c.sendall(b"PING\r\n")
                if c.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, "redis-server did not come up"
        assert proc.poll() is None, "redis-server exited"
    yield port, proc
    proc.kill()
    proc.wait()


def store_for(port, timeout_ms=2000, **kw):
    """A store with a generous timeout (a loaded machine must not time out
    by accident); the fault test passes a short one."""
    return pagekv.RedisKVStore(f"redis://127.0.0.1:{port}", layout="bs4-test",
                               block_size=BS, timeout_ms=timeout_ms, **kw)


def payloads(n, nbytes, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, nbytes),
                                                dtype=np.uint8)


def test_round_trip_into_numpy_and_matches_the_manager(redis):
    port, _ = redis
    store = store_for(port)
    prompt = np.arange(1, 6 * BS + 2, dtype=np.int32)  # 6 matchable blocks
    data = payloads(6, 2048, 1)
    assert store.put(prompt, data) == 6
    assert store.lookup(prompt) == 6
    # The GPU pool caches the first 2 blocks; the engine asks the remote
    # tier for the rest of the chain.
    kv = pagekv.KVCacheManager(pagekv.KVCacheConfig(num_blocks=64,
                                                    block_size=BS))
    seq = kv.add_sequence(prompt[:2 * BS + 1])
    kv.admit(seq, 2 * BS + 1)
    kv.release(seq)
    hit = kv.match_prefix(prompt).num_blocks
    assert hit == 2
    assert store.lookup(prompt, first_block=hit) == 4
    out = np.zeros((4, 2048), dtype=np.uint8)
    assert store.get(prompt, out, first_block=hit) == 4
    np.testing.assert_array_equal(out, data[2:])
    # Another salt is another namespace.
    assert store.lookup(prompt, cache_salt=7) == 0
    st = store.stats()
    assert st["stored_blocks"] == 6 and st["get_hits"] == 4
    assert st["bytes_loaded"] == 4 * 2048 and not st["degraded"]
    assert store.delete_namespace() == 6


def test_a_corrupted_value_is_a_miss_and_leaves_the_buffer(redis):
    port, _ = redis
    store = store_for(port, log=False)
    prompt = np.arange(1, 4 * BS + 2, dtype=np.int32)
    data = payloads(4, 1024, 2)
    assert store.put(prompt, data) == 4
    # One payload byte of block 2 (the header is 96 bytes for 4 tokens).
    redis_cli(port, "SETRANGE", store.redis_key(prompt, 2), 500, "Z")
    out = np.full((4, 1024), 0xEE, dtype=np.uint8)
    assert store.get(prompt, out) == 2
    np.testing.assert_array_equal(out[:2], data[:2])
    assert (out[2:] == 0xEE).all()
    assert store.stats()["faults"]["corrupt"] == 1


def test_killed_redis_gives_misses_within_a_bound(redis):
    port, proc = redis
    store = store_for(port, timeout_ms=150, log=False)
    prompt = np.arange(1, 4 * BS + 2, dtype=np.int32)
    assert store.put(prompt, payloads(4, 512, 3)) == 4
    proc.kill()
    proc.wait()
    t0 = time.monotonic()
    assert store.lookup(prompt) == 0
    assert store.put(prompt, payloads(4, 512, 3)) == 0
    out = np.zeros((4, 512), dtype=np.uint8)
    assert store.get(prompt, out) == 0
    assert time.monotonic() - t0 < 2.0  # bound for a 150 ms timeout
    st = store.stats()
    assert st["degraded"] and st["dropped_blocks"] == 4
    assert st["faults"]["connection"] + st["faults"]["connect"] >= 1
    with pytest.raises(pagekv.Error):
        store.server_info()


def test_bad_arguments_raise(redis):
    port, _ = redis
    store = store_for(port)
    prompt = np.arange(1, 2 * BS + 2, dtype=np.int32)
    with pytest.raises(pagekv.InvalidArgument):
        store.put(prompt, payloads(3, 16, 4))  # 3 blocks of a 2-block prompt
    with pytest.raises(pagekv.InvalidArgument):
        store.get(prompt, np.zeros(16, dtype=np.uint8))  # not 2-D
    with pytest.raises(pagekv.InvalidArgument):
        pagekv.RedisKVStore("http://127.0.0.1:1")
    with pytest.raises(pagekv.InvalidArgument):
        pagekv.RedisKVStore(f"redis://127.0.0.1:{port}", model="a:b")
