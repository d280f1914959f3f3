"""pagekv.vllm with vLLM's chunked-local attention and Mamba groups: exact
block ids, tables, free order and hit lengths, traced by hand through
vLLM's ChunkedLocalAttentionManager, MambaManager and coordinators at the
target commit (block size 4 throughout, so the traces stay short)."""

import pytest

from pagekv import vllm as pv
from vllm_fakes import (ChunkedLocalAttentionSpec, FullAttentionSpec,
                        MambaSpec, Request, SlidingWindowSpec, make_config)

BS = 4


def manager(num_blocks, *specs, **kw):
    kw.setdefault("max_model_len", 256)
    kw.setdefault("hash_block_size", BS)
    return pv.KVCacheManager(make_config(num_blocks, *specs), **kw)


def mamba(mode, spec_blocks=0, block_size=BS):
    return MambaSpec(block_size, mamba_cache_mode=mode,
                     num_speculative_blocks=spec_blocks)


def ids(blocks):
    return None if blocks is None else blocks.get_block_ids()


def free_order(m):
    return [b.block_id for b in m.block_pool.free_block_queue
            .get_all_free_blocks()]


def decode(m, req, token, **kw):
    """One decode step: the request gains a token and one slot."""
    req.append_output_token_ids(token)
    new = m.allocate_slots(req, 1, **kw)
    if new is not None:
        req.num_computed_tokens += 1
    return ids(new)


def test_chunked_local_hit_starts_at_the_chunk_of_the_next_token():
    m = manager(10, ChunkedLocalAttentionSpec(BS, 8))
    r0 = Request("0", list(range(14)), BS)
    assert ids(m.allocate_slots(r0, 14)) == ([1, 2, 3, 4],)
    r0.num_computed_tokens = 14
    # 14 tokens, hit capped at 13: the chunk of token 13 starts at 8, so
    # blocks 0-1 are nulls and only block 2 (tokens 8-11) is looked up.
    r2 = Request("2", list(range(12)) + [90, 91], BS)
    blocks, n = m.get_computed_blocks(r2)
    assert (ids(blocks), n) == (([0, 0, 3],), 12)
    assert ids(m.allocate_slots(r2, 2, n, blocks)) == ([5],)
    assert m.get_block_ids("2") == ([0, 0, 3, 5],)
    assert m.block_pool.blocks[3].ref_cnt == 2
    # r0 reaches token 15: tokens 0-7 are a finished chunk, freed tail
    # first behind the never-used blocks.
    assert decode(m, r0, 50) == ([],)
    assert m.get_block_ids("0") == ([0, 0, 3, 4],)
    assert free_order(m) == [6, 7, 8, 9, 2, 1]
    assert m.get_num_common_prefix_blocks("0") == [0]
    m.verify()


def test_chunked_local_counts_tokens_before_the_chunk_as_hit():
    m = manager(10, ChunkedLocalAttentionSpec(BS, 8))
    r = Request("0", list(range(20)), BS)
    # Nothing is cached, yet tokens 0-15 precede the chunk of token 19.
    blocks, n = m.get_computed_blocks(r)
    assert (ids(blocks), n) == (([0, 0, 0, 0],), 16)
    assert ids(m.allocate_slots(r, 4, n, blocks)) == ([1],)
    assert m.get_block_ids("0") == ([0, 0, 0, 0, 1],)
    assert m.block_pool.get_num_free_blocks() == 8
    m.verify()


@pytest.mark.parametrize("spec, fits", [
    (ChunkedLocalAttentionSpec(BS, 8), True),  # cap cdiv(8 + 8, 4) = 4
    (SlidingWindowSpec(BS, 8), False),         # cap cdiv(7 + 8, 4) + 1 = 5
])
def test_admission_cap_of_chunked_local_has_no_extra_block(spec, fits):
    m = manager(5, spec, max_model_len=64, max_num_batched_tokens=8)
    req = Request("0", list(range(40)), BS)
    new = m.allocate_slots(req, 8, full_sequence_must_fit=True)
    assert (ids(new) == ([1, 2],)) if fits else new is None
    assert m.block_pool.get_num_free_blocks() == (2 if fits else 4)


def test_mamba_align_hit_waits_for_the_next_step():
    m = manager(20, FullAttentionSpec(BS), mamba("align"))
    r0 = Request("0", list(range(10)), BS)
    # The first allocation puts the state block at cdiv(10, 4) - 1 = 2.
    assert ids(m.allocate_slots(r0, 10)) == ([1, 2, 3], [0, 0, 4])
    r0.num_computed_tokens = 10
    assert decode(m, r0, 10) == ([], [])
    # At 12 tokens the state block is full: cached under block_hashes[2].
    assert decode(m, r0, 11) == ([], [])
    assert m.block_pool.blocks[4].block_hash == \
        r0.block_hashes[2] + (1).to_bytes(4, "big")
    r1 = Request("1", list(range(12)) + [7, 7, 7, 7], BS)
    blocks, n = m.get_computed_blocks(r1)
    assert (ids(blocks), n) == (([1, 2, 3], [0, 0, 4]), 12)
    # Cached during this step: refused as if the pool were short.
    free = free_order(m)
    assert m.allocate_slots(r1, 4, n, blocks) is None
    assert free_order(m) == free and m.get_block_ids("1") == ([], [])
    m.new_step_starts()
    assert ids(m.allocate_slots(r1, 4, n, blocks)) == ([5], [6])
    assert m.get_block_ids("1") == ([1, 2, 3, 5], [0, 0, 4, 6])
    assert m.block_pool.blocks[4].ref_cnt == 2
    # r0 moves to a new state block at 13 tokens; at 14 the old one goes.
    assert decode(m, r0, 12) == ([7], [8])
    assert m.get_block_ids("0") == ([1, 2, 3, 7], [0, 0, 4, 8])
    assert decode(m, r0, 13) == ([], [])
    assert m.get_block_ids("0") == ([1, 2, 3, 7], [0, 0, 0, 8])
    assert m.block_pool.blocks[4].ref_cnt == 1  # r1 still holds it
    assert m.get_num_common_prefix_blocks("0") == [3, 0]
    m.verify()


def test_mamba_align_speculative_blocks_move_and_last_state_is_freed():
    m = manager(30, FullAttentionSpec(BS), mamba("align", 1))
    r = Request("0", list(range(20)), BS)
    # 1 state + 1 speculative block; the state of token 3 in block 2.
    assert ids(m.allocate_slots(r, 4)) == ([1], [2, 3])
    r.num_computed_tokens = 4
    # A chunk across two blocks: the speculative block 3 moves up to the
    # new state slot (index 2) leaving a null, and 6 is the new one.
    assert ids(m.allocate_slots(r, 8)) == ([4, 5], [3, 6])
    assert m.get_block_ids("0") == ([1, 4, 5], [2, 0, 3, 6])
    r.num_computed_tokens = 12
    # The null at index 1 stops the plain removal; the state block of two
    # allocations ago (index 0, block 2) goes by last_state_block_idx.
    assert ids(m.allocate_slots(r, 4)) == ([7], [8])
    assert m.get_block_ids("0") == ([1, 4, 5, 7], [0, 0, 3, 6, 8])
    assert free_order(m)[-1] == 2
    r.num_computed_tokens = 16
    assert ids(m.allocate_slots(r, 4)) == ([9], [10])
    assert m.get_block_ids("0") == ([1, 4, 5, 7, 9], [0, 0, 0, 6, 8, 10])
    assert free_order(m)[-2:] == [2, 3]
    # Block 2 stays cached while it waits in the queue.
    assert m.block_pool.blocks[2].block_hash == \
        r.block_hashes[0] + (1).to_bytes(4, "big")
    m.verify()


def test_mamba_hit_is_the_last_cached_state_with_nulls_before():
    m = manager(10, mamba("all"))
    r0 = Request("0", list(range(10)), BS)
    assert ids(m.allocate_slots(r0, 10)) == ([1, 2, 3],)
    r0.num_computed_tokens = 10
    # At 10 computed tokens only the state of token 9 (block 2) is needed:
    # blocks 1 and 0 go, tail first.
    assert decode(m, r0, 10) == ([],)
    assert m.get_block_ids("0") == ([0, 0, 3],)
    assert free_order(m)[-2:] == [2, 1]
    m.new_step_starts()
    r1 = Request("1", list(range(8)) + [5, 5, 5, 5], BS)
    blocks, n = m.get_computed_blocks(r1)
    assert (ids(blocks), n) == (([0, 2],), 8)
    # Block 2 waits in the free queue: touching it costs a free block.
    assert ids(m.allocate_slots(r1, 4, n, blocks)) == ([4],)
    assert m.get_block_ids("1") == ([0, 2, 4],)
    assert 2 not in free_order(m) and 1 in free_order(m)
    m.verify()


def test_eagle_mamba_hit_runs_one_block_past_full_attention():
    # vLLM's Mamba search ignores use_eagle: full attention drops its last
    # matched block (8 tokens), the Mamba group then searches 8 + 4 tokens
    # and finds the state at 12, and the hybrid hit is 12 tokens.
    m = manager(20, FullAttentionSpec(BS), mamba("align"), use_eagle=True)
    r0 = Request("0", list(range(12)), BS)
    assert ids(m.allocate_slots(r0, 12)) == ([1, 2, 3], [0, 0, 4])
    m.new_step_starts()
    r1 = Request("1", list(range(12)) + [9] * 4, BS)
    blocks, n = m.get_computed_blocks(r1)
    assert (ids(blocks), n) == (([1, 2], [0, 0, 4]), 12)
    assert ids(m.allocate_slots(r1, 4, n, blocks)) == ([5, 6], [7])
    # Full attention's block 2 is cached again (vLLM does not deduplicate).
    pool = m.block_pool.blocks
    assert pool[5].block_hash == pool[3].block_hash is not None
    m.verify()


def test_mamba_none_without_caching_takes_one_max_len_block_and_spec():
    m = manager(10, FullAttentionSpec(BS), mamba("none", 1, block_size=64),
                max_model_len=64, enable_caching=False)
    r = Request("0", list(range(10)), BS)
    assert ids(m.allocate_slots(r, 10)) == ([1, 2, 3], [4, 5])
    r.num_computed_tokens = 10
    for t in range(10, 20):
        decode(m, r, t)
    assert m.get_block_ids("0") == ([1, 2, 3, 6, 7], [4, 5])
    assert m.take_new_block_ids() == [1, 2, 3, 6, 7]  # full attention only
    m.free(r)  # group by group, each tail first
    assert free_order(m)[-7:] == [7, 6, 3, 2, 1, 5, 4]


def test_events_name_the_new_kinds(monkeypatch):
    monkeypatch.setenv("VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES", "0")
    m = manager(20, FullAttentionSpec(BS), ChunkedLocalAttentionSpec(BS, 8),
                mamba("align"), enable_kv_cache_events=True)
    r = Request("0", list(range(8)), BS)
    m.allocate_slots(r, 8)
    stored = [e for e in m.take_events() if isinstance(e, pv.BlockStored)]
    assert [(e.group_idx, e.kv_cache_spec_kind,
             e.kv_cache_spec_sliding_window) for e in stored] == [
        (0, "full_attention", None), (1, "chunked_local_attention", None),
        (2, "mamba", None)]
    # The Mamba group caches only its state block (index 1).
    assert stored[2].block_hashes == [r.block_hashes[1]]
    assert stored[1].block_hashes == r.block_hashes[:2]


def state(m, rids):
    pool = m.block_pool
    return (free_order(m), [b.ref_cnt for b in pool.blocks],
            [b.block_hash for b in pool.blocks],
            [m.get_block_ids(r) for r in rids], m.take_events())


@pytest.mark.parametrize("specs, chunks, num_blocks", [
    # The chunk of tokens 0-7 is freed, then 2 blocks are short.
    ((FullAttentionSpec(BS), ChunkedLocalAttentionSpec(BS, 8)), (10, 8), 8),
    # The last state block is freed by align mode, then 2 are short.
    ((FullAttentionSpec(BS), mamba("align", 1)), (4, 8, 4), 7),
    ((FullAttentionSpec(BS), mamba("all", 1)), (9, 8), 9),
    # Chunked local alone: blocks 0-1 go, then 3 blocks are short.
    ((ChunkedLocalAttentionSpec(BS, 8),), (9, 12), 4),
    # Every kind at once, each freeing what it no longer reads.
    ((FullAttentionSpec(BS), SlidingWindowSpec(BS, 8),
      ChunkedLocalAttentionSpec(BS, 8), mamba("align", 1)), (6, 6, 8), 15),
])
def test_failed_allocation_changes_only_what_remove_skipped_does(
        specs, chunks, num_blocks):
    twins = [manager(num_blocks, *specs, enable_kv_cache_events=True)
             for _ in range(2)]
    reqs = [Request("0", list(range(40)), BS) for _ in twins]
    for m, r in zip(twins, reqs):
        for c in chunks[:-1]:
            assert m.allocate_slots(r, c) is not None
            r.num_computed_tokens += c
    (m, r), (twin, tr) = zip(twins, reqs)
    before = state(twin, ["0"])
    assert state(m, ["0"]) == before  # (and drains the events of both)
    assert m.allocate_slots(r, chunks[-1]) is None
    twin.remove_skipped_blocks("0", tr.num_computed_tokens)
    after = state(twin, ["0"])
    assert after[0] != before[0]  # remove_skipped_blocks did free blocks
    assert state(m, ["0"]) == after
    m.verify()


def test_refused_mamba_hit_changes_nothing():
    m, twin = (manager(20, FullAttentionSpec(BS), mamba("align", 1))
               for _ in range(2))
    for x in (m, twin):
        x.allocate_slots(Request("0", list(range(8)), BS), 8)
    r1, t1 = (Request("1", list(range(8)) + [3] * 5, BS) for _ in range(2))
    blocks, n = m.get_computed_blocks(r1)
    assert (ids(blocks), n) == (([1, 2], [0, 3]), 8)
    twin.get_computed_blocks(t1)
    for full_fit in (False, True):
        assert m.allocate_slots(r1, 5, n, blocks,
                                full_sequence_must_fit=full_fit) is None
    assert state(m, ["0", "1"]) == state(twin, ["0", "1"])
