"""Exports write into the caller's buffers in place; bad buffers raise."""

import array

import numpy as np
import pytest

import pagekv


@pytest.fixture
def batch():
    kv = pagekv.KVCacheManager(num_blocks=200, block_size=4)
    seqs = []
    for n in (5, 12, 1):
        s = kv.add_sequence(np.arange(n) + 100 * n)
        kv.admit(s, n)
        seqs.append(s)
    return kv, np.array(seqs, dtype=np.uint64)


def tables(kv, seqs):
    return [kv.block_table(int(s)).tolist() for s in seqs]


def test_block_table_into_preallocated_2d(batch):
    kv, seqs = batch
    out = np.full((4, 5), -1, dtype=np.int32)
    before = out.ctypes.data
    assert kv.export_block_table(seqs, 0, out) is None
    assert out.ctypes.data == before  # same memory, written in place
    for row, t in zip(out, tables(kv, seqs)):
        assert row[:len(t)].tolist() == t
        assert (row[len(t):] == 0).all()  # padded with the null block
    assert (out[3] == -1).all()  # rows past the batch untouched


def test_block_table_1d_with_row_width(batch):
    kv, seqs = batch
    flat = np.zeros(3 * 3, dtype=np.int32)
    kv.export_block_table(seqs, 0, flat, row_width=3)
    assert flat.reshape(3, 3).tolist() == kv.block_table_array(seqs).tolist()
    with pytest.raises(pagekv.InvalidArgument, match="row_width"):
        kv.export_block_table(seqs, 0, flat)


@pytest.mark.parametrize("make, match", [
    (lambda: np.zeros((2, 3), np.int32), "holds 6 entries"),
    (lambda: np.zeros((3, 2), np.int32), "wider|row"),
    (lambda: np.zeros((3, 3), np.int64), "int32"),
    (lambda: np.zeros((3, 6), np.int32)[:, ::2], "contiguous"),
])
def test_block_table_bad_buffer_raises_and_keeps_it(batch, make, match):
    kv, seqs = batch
    out = make()
    out[...] = 7
    with pytest.raises(pagekv.InvalidArgument, match=match):
        kv.export_block_table(seqs, 0, out)
    assert (out == 7).all()


def test_read_only_buffer_raises(batch):
    kv, seqs = batch
    out = np.zeros((3, 3), np.int32)
    out.setflags(write=False)
    with pytest.raises(pagekv.InvalidArgument, match="read-only"):
        kv.export_block_table(seqs, 0, out)
    with pytest.raises(pagekv.InvalidArgument, match="read-only"):
        kv.export_csr(seqs, 0, np.zeros(4, np.int32), out.reshape(-1),
                      np.zeros(3, np.int32))
    with pytest.raises(TypeError):
        kv.export_block_table(seqs, 0, [0] * 9, row_width=3)


def test_buffer_protocol_objects(batch):
    kv, seqs = batch
    a = array.array("i", [0] * 9)
    kv.export_block_table(seqs, 0, a, row_width=3)
    b = bytearray(36)
    kv.export_block_table(seqs, 0, memoryview(b).cast("i"), row_width=3)
    expect = kv.block_table_array(seqs).reshape(-1).tolist()
    assert a.tolist() == expect
    assert np.frombuffer(b, np.int32).tolist() == expect


def test_csr_in_place(batch):
    kv, seqs = batch
    indptr = np.zeros(4, np.int32)
    indices = np.zeros(16, np.int32)
    last = np.zeros(3, np.int32)
    n = kv.export_csr(seqs, 0, indptr, indices, last)
    t = tables(kv, seqs)
    assert n == sum(map(len, t))
    assert indptr.tolist() == [0, 2, 5, 6]
    assert indices[:n].tolist() == sum(t, [])
    assert last.tolist() == [1, 4, 1]
    p2, i2, l2 = kv.csr(seqs)
    assert (p2 == indptr).all() and (i2 == indices[:n]).all() and \
        (l2 == last).all()
    with pytest.raises(pagekv.InvalidArgument):
        kv.export_csr(seqs, 0, indptr, np.zeros(5, np.int32), last)
    with pytest.raises(pagekv.InvalidArgument):
        kv.export_csr(seqs, 0, np.zeros(3, np.int32), indices, last)


def test_block_table_is_a_copy(batch):
    kv, seqs = batch
    t = kv.block_table(int(seqs[0]))
    t[0] = 12345
    assert kv.block_table(int(seqs[0]))[0] != 12345
