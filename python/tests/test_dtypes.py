"""Token and sequence arguments: lists, tuples, ranges and NumPy arrays of
any integer dtype that fits, contiguous or not; anything else raises."""

import numpy as np
import pytest

import pagekv

PROMPT = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9]


def stored_tokens(prompt):
    kv = pagekv.KVCacheManager(num_blocks=20, block_size=4,
                               enable_kv_events=True)
    s = kv.add_sequence(prompt)
    kv.admit(s, len(PROMPT))
    return kv.drain_events()[0].token_ids, kv.match_prefix(PROMPT)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16,
                                   np.int32, np.uint32, np.int64, np.uint64,
                                   np.intp])
def test_integer_dtypes(dtype):
    assert stored_tokens(np.array(PROMPT, dtype=dtype))[0] == PROMPT[:12]


def test_sequences_and_strided_arrays():
    wide = np.zeros(2 * len(PROMPT), np.int64)
    wide[::2] = PROMPT
    for prompt in (PROMPT, tuple(PROMPT), wide[::2],
                   np.array(PROMPT[::-1], np.int32)[::-1]):
        assert stored_tokens(prompt)[0] == PROMPT[:12]
    kv = pagekv.KVCacheManager(num_blocks=20, block_size=4,
                               enable_kv_events=True)
    kv.admit(kv.add_sequence(range(10)), 10)
    assert kv.drain_events()[0].token_ids == list(range(8))


@pytest.mark.parametrize("bad, error, match", [
    (np.array([1, 2**31], np.int64), pagekv.InvalidArgument, r"prompt\[1\]"),
    ([1, 2**40], pagekv.InvalidArgument, r"prompt\[1\]"),
    (np.array([1.0, 2.0]), pagekv.InvalidArgument, "integers"),
    ([1, 2.5], pagekv.InvalidArgument, r"prompt\[1\]"),
    ([True, 2], pagekv.InvalidArgument, r"prompt\[0\]"),
    (np.zeros((2, 2), np.int32), pagekv.InvalidArgument, "one-dimensional"),
    ("abc", TypeError, "prompt"),
    (5, TypeError, "prompt"),
])
def test_bad_tokens_raise(bad, error, match):
    kv = pagekv.KVCacheManager(num_blocks=20, block_size=4)
    with pytest.raises(error, match=match):
        kv.add_sequence(bad)
    assert kv.stats().num_sequences == 0


def test_negative_token_fits_int32_and_passes():
    kv = pagekv.KVCacheManager(num_blocks=20, block_size=4)
    # -1 fits int32, so the binding passes it through unchanged.
    s = kv.add_sequence([-1, 2])
    assert kv.num_known_tokens(s) == 2


def test_sequence_id_arrays_of_any_integer_dtype():
    kv = pagekv.KVCacheManager(num_blocks=50, block_size=4)
    seqs = [kv.add_sequence([1, 2, 3]) for _ in range(3)]
    for s in seqs:
        kv.admit(s, 3)
    for ids in (np.array(seqs, np.uint64), np.array(seqs, np.int64), seqs,
                np.array(seqs * 2, np.int64)[::2]):
        kv.append_decode_tokens(ids, np.array([7, 8, 9], np.int16))
    assert [kv.num_known_tokens(s) for s in seqs] == [7, 7, 7]
    with pytest.raises(pagekv.InvalidArgument, match="seqs"):
        kv.append_decode_tokens(np.array([-1], np.int64), [1])
