"""A failed call raises the mapped exception and leaves the manager exactly
as it was (pool, tables, token counts, statistics)."""

import numpy as np
import pytest

import pagekv
from conftest import snapshot


@pytest.fixture
def full():
    """A manager with three live sequences and almost no free blocks."""
    kv = pagekv.KVCacheManager(num_blocks=13, block_size=4)
    a = kv.add_sequence(list(range(16)))
    kv.admit(a, 16)
    b = kv.add_sequence(list(range(100, 130)))
    kv.admit(b, 30)
    c = kv.fork(b)
    kv.release(kv.add_sequence([5]))  # a released id (stale)
    return kv, [a, b, c]


FAILURES = [
    ("admit too much", pagekv.OutOfBlocks,
     lambda kv, s: kv.admit(kv.add_sequence(list(range(500, 560))), 60)),
    ("reserve too much", pagekv.OutOfBlocks,
     lambda kv, s: (kv.append_tokens(s[0], list(range(40))),
                    kv.reserve(s[0], 40))),
    ("lookahead too much", pagekv.OutOfBlocks,
     lambda kv, s: kv.reserve(s[0], 0, 100)),
    ("admit batch does not fit", pagekv.OutOfBlocks,
     lambda kv, s: kv.admit_batch(
         [(kv.add_sequence(list(range(900, 905))), 5),
          (kv.add_sequence(list(range(700, 760))), 60)])),
    ("reserve past known", pagekv.InvalidArgument,
     lambda kv, s: kv.reserve(s[0], 1)),
    ("negative count", pagekv.InvalidArgument,
     lambda kv, s: kv.reserve(s[0], -1)),
    ("truncate past end", pagekv.InvalidArgument,
     lambda kv, s: kv.truncate(s[1], 31)),
    ("stale sequence", pagekv.InvalidArgument,
     lambda kv, s: kv.release(10**6)),
    ("duplicate in decode batch", pagekv.InvalidArgument,
     lambda kv, s: kv.append_decode_tokens([s[1], s[1]], [1, 2])),
    ("decode lengths differ", pagekv.InvalidArgument,
     lambda kv, s: kv.append_decode_tokens(s, [1, 2])),
    ("admit twice", pagekv.Error, lambda kv, s: kv.admit(s[0], 1)),
    ("reset with live sequences", pagekv.FailedPrecondition,
     lambda kv, s: kv.reset()),
    ("bad group", pagekv.InvalidArgument,
     lambda kv, s: kv.block_table(s[0], 3)),
]


@pytest.mark.parametrize("name, error, call", FAILURES,
                         ids=[f[0] for f in FAILURES])
def test_failed_call_changes_nothing(full, name, error, call):
    kv, seqs = full
    # Sequences the call adds before failing are part of what it may do;
    # the state of everything that existed before must be unchanged.
    before = snapshot(kv, seqs)
    with pytest.raises(error):
        call(kv, seqs)
    after = snapshot(kv, seqs)
    for key in ("num_sequences",):
        before.pop(key), after.pop(key)
    # The failure counter is the one thing a capacity failure changes.
    failures = after.pop("allocation_failures") - \
        before.pop("allocation_failures")
    assert failures == (1 if error is pagekv.OutOfBlocks else 0)
    if name.startswith("reserve too much"):
        # append_tokens succeeded before reserve failed: only known grows.
        known, computed, table = after[seqs[0]]
        after[seqs[0]] = (known - 40, computed, table)
    assert after == before
    kv.verify()


def test_decode_failure_is_atomic(full):
    kv, seqs = full
    for step in range(100):
        before = snapshot(kv, seqs)
        try:
            kv.append_decode_tokens(np.array(seqs, np.uint64),
                                    np.full(3, step, np.int32))
        except pagekv.OutOfBlocks:
            after = snapshot(kv, seqs)
            assert after.pop("allocation_failures") == \
                before.pop("allocation_failures") + 1
            assert after == before
            break
    else:
        pytest.fail("the pool never ran out")
    kv.verify()


def test_messages_name_the_value(full):
    kv, seqs = full
    with pytest.raises(pagekv.InvalidArgument, match="31"):
        kv.truncate(seqs[1], 31)
    with pytest.raises(pagekv.OutOfBlocks, match="blocks"):
        kv.reserve(seqs[0], 0, 100)
