"""The shortcuts of pagekv.vllm's decode path give the same results as the
general one: every shape of all_token_ids (list, tuple, vLLM's
ConstantList, an int32 array, any other sequence), block hashes read only
when a block fills, keyword calls, and the empty result's C get_block_ids."""

import numpy as np
import pytest

import pagekv
from pagekv import vllm as pv
from vllm_fakes import (ConstantList, FullAttentionSpec, Request, batch_step,
                        make_config)

BS = 4


class PlainSequence:
    """A sequence with neither a list inside nor the buffer protocol."""

    def __init__(self, x):
        self._items = x

    def __len__(self):
        return len(self._items)

    def __getitem__(self, item):
        return self._items[item]


class WrapsArray:
    """Has an `_x`, but not a list: must be read as a sequence."""

    def __init__(self, x):
        self._x = np.asarray(x, np.int64)

    def __len__(self):
        return len(self._x)

    def __getitem__(self, item):
        return self._x[item].tolist() if isinstance(item, slice) \
            else int(self._x[item])


SHAPES = {
    "list": list,
    "tuple": tuple,
    "constant_list": ConstantList,
    "int32_array": lambda x: np.asarray(x, np.int32),
    "plain_sequence": PlainSequence,
    "wraps_array": WrapsArray,
}


class ShapedRequest(Request):
    """A fake Request whose all_token_ids has the given shape."""

    def __init__(self, rid, tokens, shape):
        self._shape = shape
        super().__init__(rid, tokens, BS)

    @property
    def all_token_ids(self):
        return self._shape(self._all)


def run(shape):
    """Two requests sharing a prefix, decoded for 9 steps; returns every
    result the manager gave."""
    m = pv.KVCacheManager(make_config(32, FullAttentionSpec(BS)),
                          max_model_len=256, hash_block_size=BS)
    seen = []
    reqs = [ShapedRequest(str(i), [7] * 8 + [i] * 3, shape) for i in range(2)]
    for r in reqs:
        blocks, hit = m.get_computed_blocks(r)
        new = m.allocate_slots(r, r.num_tokens - hit, hit, blocks)
        r.num_computed_tokens = r.num_tokens
        seen.append((hit, new.get_block_ids()))
    for step in range(9):
        for r in reqs:
            r.append_output_token_ids(100 + step)
            new = m.allocate_slots(r, 1, num_lookahead_tokens=0)
            r.num_computed_tokens = r.num_tokens
            seen.append(new.get_block_ids(allow_none=True))
    seen.append([m.get_block_ids(r.request_id) for r in reqs])
    seen.append([b.block_hash for b in m.block_pool.blocks])
    m.verify()
    return seen


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_token_sequence_shape_gives_the_same_results(shape):
    assert run(SHAPES[shape]) == run(list)


def test_constant_list_and_list_types_can_alternate():
    m = pv.KVCacheManager(make_config(16, FullAttentionSpec(BS)),
                          max_model_len=64, hash_block_size=BS)
    a = ShapedRequest("a", [1] * 6, ConstantList)
    b = ShapedRequest("b", [1] * 6, PlainSequence)
    c = ShapedRequest("c", [1] * 6, ConstantList)
    for r in (a, b, c):
        blocks, hit = m.get_computed_blocks(r)
        assert m.allocate_slots(r, r.num_tokens - hit, hit, blocks)
    assert [m.get_block_ids(r.request_id) for r in (a, b, c)] == \
        [([1, 2],), ([1, 3],), ([1, 4],)]


def test_block_hashes_are_read_when_a_block_fills():
    m = pv.KVCacheManager(make_config(16, FullAttentionSpec(BS)),
                          max_model_len=64, hash_block_size=BS)
    r = Request("r", [1, 2, 3], BS)
    assert m.allocate_slots(r, 3).get_block_ids() == ([1],)
    r.num_computed_tokens = 3
    r.append_output_token_ids(4)  # block 1 is full: its hash now exists
    assert m.allocate_slots(r, 1).get_block_ids(allow_none=True) is None
    assert m.block_pool.blocks[1].block_hash == \
        r.block_hashes[0] + (0).to_bytes(4, "big")


def test_a_full_block_without_its_hash_is_refused_and_changes_nothing():
    m = pv.KVCacheManager(make_config(16, FullAttentionSpec(BS)),
                          max_model_len=64, hash_block_size=BS)
    r = Request("r", [1, 2, 3], BS)
    m.allocate_slots(r, 3)
    r.num_computed_tokens = 3
    r._all.append(4)  # a token without the block hash vLLM would add
    with pytest.raises(pagekv.FailedPrecondition):
        m.allocate_slots(r, 1)
    assert m.get_block_ids("r") == ([1],)
    assert m.block_pool.blocks[1].block_hash is None
    m.verify()


def test_empty_result_get_block_ids():
    m = pv.KVCacheManager(make_config(16, FullAttentionSpec(BS),
                                      FullAttentionSpec(BS)),
                          max_model_len=64, hash_block_size=BS)
    e = m.empty_kv_cache_blocks
    assert isinstance(e, pv.KVCacheBlocks)
    first = e.get_block_ids()
    assert first == ([], [])
    first[0].append(5)  # the caller's own lists: the next call is fresh
    assert e.get_block_ids() == ([], [])
    assert e.get_block_ids(allow_none=True) is None
    assert e.get_block_ids(True) is None
    assert e.get_block_ids(allow_none=False) == ([], [])
    with pytest.raises(TypeError):
        e.get_block_ids(allow_nothing=True)
    with pytest.raises(TypeError):
        e.get_block_ids(True, False)
    assert e == pv.KVCacheBlocks(([], []))


def test_keyword_names_that_are_not_interned_still_match():
    m = pv.KVCacheManager(make_config(16, FullAttentionSpec(BS)),
                          max_model_len=64, hash_block_size=BS)
    r = Request("r", [1, 2, 3, 4, 5], BS)
    name = "".join(["num_lookahead", "_tokens"])  # built at run time
    new = m.allocate_slots(r, 5, **{name: 3})
    assert new.get_block_ids() == ([1, 2],)
    with pytest.raises(TypeError, match="unexpected"):
        m.allocate_slots(r, 1, **{"".join(["num_", "bogus"]): 1})


def fresh_manager(num_blocks=32):
    return pv.KVCacheManager(make_config(num_blocks, FullAttentionSpec(BS)),
                             max_model_len=256, hash_block_size=BS)


def test_a_request_object_is_kept_until_free_and_then_released():
    import gc
    import weakref
    m = fresh_manager()
    r = Request("r", [1, 2, 3, 4, 5], BS)
    assert m.allocate_slots(r, 5).get_block_ids() == ([1, 2],)
    ref = weakref.ref(r)
    del r
    gc.collect()
    assert ref() is not None  # the manager holds it while it runs
    m.free(ref())
    gc.collect()
    assert ref() is None


def test_a_freed_object_admitted_again_gets_fresh_state():
    m = fresh_manager()
    r = Request("r", [1, 2, 3, 4, 5], BS)
    other = Request("o", [9] * 6, BS)
    m.allocate_slots(r, 5)
    m.free(r)
    m.allocate_slots(other, 6)  # may take r's old handle
    r.num_computed_tokens = 0
    blocks, hit = m.get_computed_blocks(r)
    assert hit == 4
    new = m.allocate_slots(r, 5 - hit, hit, blocks)
    assert m.get_block_ids("r") == (blocks.get_block_ids()[0] +
                                    new.get_block_ids()[0],)
    assert m.get_block_ids("o") == ([3, 4],)
    m.verify()


def test_two_objects_with_one_request_id_share_its_state():
    m = fresh_manager()
    a = Request("x", [1, 2, 3], BS)
    m.allocate_slots(a, 3)
    b = Request("x", [1, 2, 3], BS)  # the same request, seen anew
    b.num_computed_tokens = 3
    b.append_output_token_ids([4, 5])
    assert m.allocate_slots(b, 2).get_block_ids() == ([2],)
    a.num_computed_tokens = 4
    a.append_output_token_ids([4, 5])
    assert m.allocate_slots(a, 1).get_block_ids(allow_none=True) is None
    assert m.get_block_ids("x") == ([1, 2],)
    m.free(a)
    assert m.get_block_ids("x") == ([],)
    m.verify()


def decode_steps(m, reqs, steps, batch_from):
    """Decodes every request for `steps` steps, per call before step
    batch_from and through allocate_slots_batch from it on."""
    seen = []
    for step in range(steps):
        for r in reqs:
            r.append_output_token_ids(50 + step)
        if step >= batch_from:
            seen.append(batch_step(m, reqs))
        else:
            seen.append([m.allocate_slots(r, 1).get_block_ids()
                         for r in reqs])
        for r in reqs:
            r.num_computed_tokens = r.num_tokens
    return seen


@pytest.mark.parametrize("batch_from", [1, 2, 3, 5])
def test_batch_after_per_call_steps_inside_a_block(batch_from):
    # Per-call steps leave a partial block's tokens in the request's list
    # only; a batch step must read them from there before its own token.
    def run(batch_from):
        m = fresh_manager(64)
        reqs = [Request(str(i), [i] * 5 + [7], BS) for i in range(3)]
        for r in reqs:
            m.allocate_slots(r, r.num_tokens)
            r.num_computed_tokens = r.num_tokens
        decode_steps(m, reqs, 12, batch_from)
        m.verify()
        twin = Request("twin", list(reqs[0].all_token_ids), BS)
        hit = m.get_computed_blocks(twin)[1]
        return ([m.get_block_ids(r.request_id) for r in reqs],
                [b.block_hash for b in m.block_pool.blocks], hit)
    got = run(batch_from)
    assert got == run(99)
    assert got[2] == 16  # every full block, tokens included, was cached


ODD_TOKENS = [-(2 ** 30) - 3, -7, 0, 1, 2 ** 30 + 5, 2 ** 31 - 1, True,
              np.int64(9), 11]


def test_tokens_of_every_int_form_are_read_by_value():
    # One-digit ints take a fast path; others (two digits, negative, bool,
    # NumPy scalars) the general one. Both must give the same values.
    m = fresh_manager()
    a = Request("a", ODD_TOKENS, BS)
    m.allocate_slots(a, a.num_tokens)
    same = [int(t) for t in ODD_TOKENS]
    b = ShapedRequest("b", same, SHAPES["int32_array"])  # read as bytes
    b.block_hashes = list(a.block_hashes)
    assert m.get_computed_blocks(b)[1] == 8
    c = Request("c", same[:4] + [2 ** 30 + 6] + same[5:], BS)
    c.block_hashes = list(a.block_hashes)  # a collision: tokens differ
    assert m.get_computed_blocks(c)[1] == 4
    m.verify()


@pytest.mark.parametrize("bad", [2 ** 31, -(2 ** 31) - 1, 2 ** 70])
def test_a_token_outside_32_bits_is_refused_and_changes_nothing(bad):
    m = fresh_manager()
    r = Request("r", [1, 2, 3, bad, 5], BS)
    with pytest.raises((pagekv.InvalidArgument, OverflowError)):
        m.allocate_slots(r, 5)
    assert m.block_pool.get_num_free_blocks() == 31
    m.verify()
