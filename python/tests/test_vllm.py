"""pagekv.vllm.KVCacheManager gives vLLM's results where vLLM's own tests
(tests/v1/core/test_prefix_caching.py at the target commit) pin them: block
ids, free order, hits, eagle, sliding window, lookahead, admission gate,
stats and events. The request and spec classes are vLLM-shaped fakes."""

from dataclasses import dataclass

import pytest

import pagekv
from pagekv import vllm as pv
from vllm_fakes import (ChunkedLocalAttentionSpec, FullAttentionSpec,
                        LoRARequest, MambaSpec, MLAAttentionSpec,
                        MultiModalFeatureSpec, PlaceholderRange, Request,
                        RecordingMetrics, SlidingWindowSpec, batch_step,
                        make_config)

BS = 16
COMMON = [i for i in range(3) for _ in range(BS)]


def manager(num_blocks, *specs, **kw):
    specs = specs or (FullAttentionSpec(BS),)
    kw.setdefault("max_model_len", 8192)
    kw.setdefault("hash_block_size", BS)
    m = pv.KVCacheManager(make_config(num_blocks, *specs,
                                      eagle_groups=kw.pop("eagle_groups", ())),
                          **kw)
    return m


def admit(m, req, n=None):
    """get_computed_blocks + allocate_slots for the rest of the prompt."""
    blocks, hit = m.get_computed_blocks(req)
    n = req.num_tokens - hit if n is None else n
    new = m.allocate_slots(req, n, hit, blocks)
    if new is not None:
        req.num_computed_tokens = hit + n
    return blocks, hit, new


def free_order(m):
    return [b.block_id for b in m.block_pool.free_block_queue
            .get_all_free_blocks()]


def test_prefill_ids_free_order_and_eviction_order():
    m = manager(11)
    r0 = Request("0", COMMON + [3] * 7, BS)
    hit_blocks, hit, new = admit(m, r0)
    assert hit == 0 and not hit_blocks.blocks[0]
    assert new.get_block_ids() == ([1, 2, 3, 4],)
    for i, b in enumerate(m.block_pool.blocks[1:4]):
        assert b.block_hash == r0.block_hashes[i] + (0).to_bytes(4, "big")
        assert b.ref_cnt == 1
    assert m.block_pool.blocks[4].block_hash is None

    r1 = Request("1", COMMON + [3] * 5, BS)
    hit_blocks, hit, new = admit(m, r1)
    assert hit_blocks.get_block_ids() == ([1, 2, 3],) and hit == 48
    assert new.get_block_ids() == ([5],)
    assert [b.ref_cnt for b in hit_blocks.blocks[0]] == [2, 2, 2]
    assert m.block_pool.get_num_free_blocks() == 5
    m.free(r0)
    m.free(r1)
    # Never-used first, then in the order refs reached 0, tail first.
    assert free_order(m) == [6, 7, 8, 9, 10, 4, 5, 3, 2, 1]

    r2 = Request("2", COMMON + [3] * 6, BS)
    hit_blocks, hit, new = admit(m, r2)
    assert hit_blocks.get_block_ids() == ([1, 2, 3],)
    assert new.get_block_ids() == ([6],)
    assert m.block_pool.free_block_queue.num_free_blocks == 6
    m.free(r2)
    r3 = Request("3", [99] * 160, BS)
    _, hit, new = admit(m, r3)
    assert hit == 0
    assert new.get_block_ids() == ([7, 8, 9, 10, 4, 5, 6, 3, 2, 1],)
    assert m.block_pool.get_num_free_blocks() == 0
    m.verify()


def test_decode_fills_and_caches_blocks():
    m = manager(11)
    r = Request("0", COMMON + [3] * 7, BS)
    admit(m, r)
    for _ in range(4):
        r.append_output_token_ids(8)
    new = m.allocate_slots(r, 4)
    assert new is m.empty_kv_cache_blocks and len(new.blocks[0]) == 0
    assert m.get_blocks("0").blocks[0][-1].block_hash is None
    r.num_computed_tokens = 59
    for _ in range(19):
        r.append_output_token_ids(7)
    new = m.allocate_slots(r, 19)
    assert len(new.blocks[0]) == 1
    blocks = m.get_blocks("0").blocks[0]
    assert blocks[-2].block_hash is not None and blocks[-1].block_hash is None


def test_evict_order_and_touch():
    m = manager(11)
    r0 = Request("0", list(range(87)), BS)
    assert len(admit(m, r0)[2].blocks[0]) == 6
    r1 = Request("1", list(range(87, 87 + 48)), BS)
    assert len(admit(m, r1)[2].blocks[0]) == 3
    assert m.block_pool.get_num_free_blocks() == 1
    m.free(r0)
    m.free(r1)
    assert free_order(m) == [10, 6, 5, 4, 3, 2, 1, 9, 8, 7]
    r2 = Request("2", list(range(35)), BS)
    hit_blocks, hit, new = admit(m, r2)
    assert hit_blocks.get_block_ids() == ([1, 2],) and hit == 32
    assert new.get_block_ids() == ([10],)
    assert m.block_pool.get_num_free_blocks() == 7


def test_computed_blocks_not_evicted_and_hash_reset_on_reuse():
    m = manager(3)
    admit(m, r0 := Request("0", list(range(16)), BS))
    admit(m, r1 := Request("1", list(range(16, 32)), BS))
    m.free(r0)
    m.free(r1)
    hit_blocks, hit, new = admit(m, Request("2", list(range(32)), BS))
    assert hit_blocks.get_block_ids() == ([1],) and hit == 16
    assert new.get_block_ids() == ([2],)

    m = manager(2)
    admit(m, r := Request("0", list(range(16)), BS))
    m.free(r)
    _, _, new = admit(m, Request("1", list(range(15)), BS))
    assert new.blocks[0][0].block_hash is None


def test_hybrid_ids_group_by_group_and_sliding_window_hits():
    sw = SlidingWindowSpec(BS, 2 * BS)
    m = manager(21, FullAttentionSpec(BS), sw, sw)
    r0 = Request("0", COMMON + [3] * 7, BS)
    _, _, new = admit(m, r0)
    assert new.get_block_ids() == ([1, 2, 3, 4], [5, 6, 7, 8],
                                   [9, 10, 11, 12])
    for g, ids in enumerate(((1, 2, 3), (5, 6, 7), (9, 10, 11))):
        for i, b in enumerate(ids):
            key = m.block_pool.blocks[b].block_hash
            assert key == r0.block_hashes[i] + g.to_bytes(4, "big")
    r1 = Request("1", COMMON + [3] * 5, BS)
    hit_blocks, hit, new = admit(m, r1)
    # Sliding window: only the last cdiv(window - 1, bs) blocks, nulls before.
    assert hit_blocks.get_block_ids() == ([1, 2, 3], [0, 6, 7], [0, 10, 11])
    assert hit == 48
    assert new.get_block_ids() == ([13], [14], [15])
    m.free(r0)
    m.free(r1)

    def hit_after_evicting(ids, rid):
        m.evict_blocks(ids)
        req = Request(rid, COMMON + [3] * 5, BS)
        _, n = m.get_computed_blocks(req)
        # Re-cache what was evicted, as vLLM's _test_partial_request_hit.
        m.allocate_slots(req, req.num_tokens)
        m.free(req)
        return n

    assert hit_after_evicting({5, 9}, "2") == 48       # outside the window
    m2 = manager(21, FullAttentionSpec(BS), sw, sw)
    admit(m2, a := Request("a", COMMON + [3] * 7, BS))
    m2.free(a)
    m2.evict_blocks([1])
    _, n = m2.get_computed_blocks(Request("b", COMMON + [3] * 5, BS))
    assert n == 0                                       # full attention first
    m3 = manager(21, FullAttentionSpec(BS), sw, sw)
    admit(m3, a := Request("a", COMMON + [3] * 7, BS))
    m3.free(a)
    m3.evict_blocks([7])
    _, n = m3.get_computed_blocks(Request("b", COMMON + [3] * 5, BS))
    assert n == 32                                      # last SW block gone


def test_hit_capped_at_num_tokens_minus_one_and_aligned():
    m = manager(20)
    admit(m, r := Request("0", list(range(48)), BS))
    m.free(r)
    _, n = m.get_computed_blocks(Request("1", list(range(48)), BS))
    assert n == 32  # all 3 blocks cached, but the last token is recomputed
    _, n = m.get_computed_blocks(Request("2", list(range(49)), BS))
    assert n == 48
    _, n = m.get_computed_blocks(Request("3", list(range(40)), BS))
    assert n == 32  # whole blocks only


@pytest.mark.parametrize("length,expect", [(48, 16), (37, 16)])
def test_eagle_drops_the_last_matched_block(length, expect):
    m = manager(10, use_eagle=True)
    admit(m, r := Request("p", [0] * length, BS))
    m.free(r)
    blocks, n = m.get_computed_blocks(Request("e", [0] * length, BS))
    assert len(blocks.blocks[0]) == 1 and n == expect


def test_eagle_with_sliding_window():
    m = manager(10, SlidingWindowSpec(BS, BS), use_eagle=True)
    admit(m, r := Request("p", [0] * 37, BS))
    first = r.block_hashes[0]
    m.free(r)
    blocks, n = m.get_computed_blocks(Request("e", [0] * 37, BS))
    assert len(blocks.blocks[0]) == 1 and n == 16
    cached = m.block_pool.get_cached_block(first, [0])
    assert cached is not None
    m.evict_blocks([cached[0].block_id])
    blocks, n = m.get_computed_blocks(Request("f", [0] * 37, BS))
    assert n == 0 and len(blocks.blocks[0]) == 0


def test_skip_reading_prefix_cache_reads_nothing_but_writes():
    m = manager(20)
    r0 = Request("0", list(range(40)), BS, skip_reading_prefix_cache=True)
    admit(m, Request("w", list(range(40)), BS))
    blocks, n = m.get_computed_blocks(r0)
    assert n == 0 and blocks is m.empty_kv_cache_blocks
    m.allocate_slots(r0, 40)
    assert all(b.block_hash is not None for b in m.get_blocks("0").blocks[0][:2])


def test_recomputed_blocks_are_not_deduplicated():
    m = manager(20, enable_kv_cache_events=True)
    a = Request("a", list(range(32)), BS)
    b = Request("b", list(range(32)), BS)
    assert m.allocate_slots(a, 32).get_block_ids() == ([1, 2],)
    assert m.allocate_slots(b, 32).get_block_ids() == ([3, 4],)
    assert all(m.block_pool.blocks[i].block_hash is not None
               for i in (1, 2, 3, 4))
    # Lookups return the oldest of the duplicates.
    assert m.block_pool.get_cached_block(a.block_hashes[0], [0])[0].block_id \
        == 1
    m.evict_blocks([1])
    assert m.block_pool.get_cached_block(a.block_hashes[0], [0])[0].block_id \
        == 3
    stored = [e for e in m.take_events() if isinstance(e, pv.BlockStored)]
    assert len(stored) == 2


def test_lookahead_counts_toward_allocation_not_caching():
    m = manager(20)
    r = Request("0", list(range(20)), BS)
    new = m.allocate_slots(r, 20, num_lookahead_tokens=20)
    assert new.get_block_ids() == ([1, 2, 3],)
    assert m.block_pool.blocks[1].block_hash is not None
    assert m.block_pool.blocks[2].block_hash is None  # past num_tokens


def test_full_sequence_must_fit():
    sw = SlidingWindowSpec(BS, 4 * BS)
    kw = dict(max_model_len=64 * BS, max_num_batched_tokens=8 * BS)
    m = manager(64 + 13 + 1, FullAttentionSpec(BS), sw, **kw)
    req = Request("long", list(range(32 * BS)), BS)
    assert m.allocate_slots(req, BS, full_sequence_must_fit=True) is not None
    m = manager(5, FullAttentionSpec(BS), sw, **kw)
    req = Request("big", list(range(16 * BS)), BS)
    assert m.allocate_slots(req, BS, full_sequence_must_fit=True) is None
    assert m.block_pool.get_num_free_blocks() == 4
    assert m.allocate_slots(req, BS) is not None  # the first chunk fits


def test_failed_allocation_leaves_hit_blocks_untouched():
    m = manager(11)
    admit(m, Request("0", COMMON, BS))
    admit(m, r1 := Request("1", COMMON * 2, BS))
    part1 = m.get_blocks("1").blocks[0]
    m.free(r1)
    admit(m, Request("2", [7] * 32, BS))
    assert m.block_pool.get_num_free_blocks() == 5
    r3 = Request("3", COMMON * 3, BS)
    blocks, n = m.get_computed_blocks(r3)
    assert list(blocks.blocks[0]) == list(part1) and n == 96
    assert m.allocate_slots(r3, 48, n, blocks) is None
    assert {b.ref_cnt for b in part1[:3]} == {1}
    assert {b.ref_cnt for b in part1[3:]} == {0}
    m.verify()


def test_prefix_cache_stats():
    m = manager(20, log_stats=True)
    admit(m, r := Request("0", list(range(40)), BS))
    m.free(r)
    r1 = Request("1", list(range(40)), BS)
    r1.num_preemptions = 1
    m.get_computed_blocks(r1)
    m.get_computed_blocks(Request("2", list(range(40)), BS))
    s = m.make_prefix_cache_stats()
    assert (s.requests, s.queries, s.hits) == (2, 80, 32)
    assert (s.preempted_requests, s.preempted_queries, s.preempted_hits) == \
        (1, 40, 32)
    assert not s.reset
    assert m.reset_prefix_cache()
    assert m.make_prefix_cache_stats().reset
    assert manager(4).make_prefix_cache_stats() is None
    assert manager(4).prefix_cache_stats is None


def test_reset_prefix_cache_needs_every_block_free():
    m = manager(11)
    admit(m, r := Request("0", COMMON + [3] * 7, BS))
    assert not m.reset_prefix_cache()
    m.free(r)
    assert m.reset_prefix_cache()
    assert all(b.block_hash is None for b in m.block_pool.blocks)


def test_events_carry_vllm_fields():
    sw = SlidingWindowSpec(BS, 2 * BS)
    m = manager(30, FullAttentionSpec(BS), sw, enable_kv_cache_events=True)
    lora = LoRARequest("adapter", 7)
    mm = [MultiModalFeatureSpec("img0", PlaceholderRange(20, 8))]
    r = Request("0", list(range(40)), BS, lora_request=lora, mm_features=mm,
                cache_salt="tenant")
    m.allocate_slots(r, 40)
    events = m.take_events()
    assert [type(e) for e in events] == [pv.BlockStored, pv.BlockStored]
    e0, e1 = events
    as_int = [int.from_bytes(h, "big") & (2**64 - 1)
              for h in r.block_hashes[:2]]
    assert e0.block_hashes == as_int and e0.parent_block_hash is None
    assert e0.token_ids == list(range(32)) and e0.block_size == BS
    assert (e0.lora_id, e0.lora_name, e0.medium) == (7, "adapter", "GPU")
    assert e0.extra_keys == [("adapter", "tenant"),
                             ("adapter", ("img0", 4))]
    assert (e0.group_idx, e0.kv_cache_spec_kind,
            e0.kv_cache_spec_sliding_window) == (0, "full_attention", None)
    assert (e1.group_idx, e1.kv_cache_spec_kind,
            e1.kv_cache_spec_sliding_window) == (1, "sliding_window", 32)
    assert m.take_events() == []
    m.free(r)
    r2 = Request("1", list(range(100, 140)), BS)
    m.allocate_slots(r2, 40)
    m.free(r2)
    m.evict_blocks([1])
    removed = [e for e in m.take_events() if isinstance(e, pv.BlockRemoved)]
    assert removed and removed[-1].group_idx == 0
    assert m.reset_prefix_cache()
    assert isinstance(m.take_events()[-1], pv.AllBlocksCleared)
    assert manager(4).take_events() == []


def test_parent_hash_on_later_blocks():
    m = manager(20, enable_kv_cache_events=True)
    r = Request("0", list(range(20)), BS)
    m.allocate_slots(r, 20)
    r.num_computed_tokens = 20
    r.append_output_token_ids(list(range(20, 32)))
    m.allocate_slots(r, 12)
    e = m.take_events()[-1]
    assert e.parent_block_hash == \
        int.from_bytes(r.block_hashes[0], "big") & (2**64 - 1)
    assert e.token_ids == list(range(16, 32))


def _as_int(h):
    return int.from_bytes(h, "big") & (2**64 - 1)


def test_events_after_a_hit_name_the_hashes_from_the_hit_on():
    """A request's first allocation reads the block hashes from its hit's
    last block on; the stored event names exactly those."""
    m = manager(30, enable_kv_cache_events=True)
    shared = list(range(8 * BS))
    admit(m, r0 := Request("0", shared + [7], BS))
    m.free(r0)
    m.take_events()
    r1 = Request("1", shared + list(range(1000, 1000 + 2 * BS + 3)), BS)
    _, hit, new = admit(m, r1)
    assert hit == 8 * BS and new is not None
    (e,) = m.take_events()
    assert e.parent_block_hash == _as_int(r1.block_hashes[7])
    assert e.block_hashes == [_as_int(h) for h in r1.block_hashes[8:10]]


def test_a_retry_with_a_shorter_hit_reads_the_hashes_again():
    """allocate_slots returns None for a long hit, the hit then shrinks
    (its blocks evicted): the retry caches from the shorter hit on, so the
    hashes it skipped the first time are read again."""
    m = manager(14, enable_kv_cache_events=True)
    shared = list(range(8 * BS))
    admit(m, r0 := Request("0", shared + [7], BS))  # blocks 1-9
    m.free(r0)
    admit(m, r2 := Request("2", list(range(500, 500 + 4 * BS)), BS))
    r1 = Request("1", shared + list(range(1000, 1000 + 2 * BS + 3)), BS)
    blocks, hit = m.get_computed_blocks(r1)
    assert hit == 8 * BS
    assert m.allocate_slots(r1, r1.num_tokens - hit, hit, blocks) is None
    m.free(r2)
    m.evict_blocks(range(3, 9))
    m.take_events()
    _, hit, new = admit(m, r1)
    assert hit == 2 * BS and new is not None
    stored = [e for e in m.take_events() if isinstance(e, pv.BlockStored)]
    assert stored[-1].parent_block_hash == _as_int(r1.block_hashes[1])
    assert stored[-1].block_hashes == [_as_int(h)
                                       for h in r1.block_hashes[2:10]]
    for i, b in enumerate(m.get_blocks("1").blocks[0][:10]):
        assert b.block_hash == r1.block_hashes[i] + (0).to_bytes(4, "big")


@pytest.mark.parametrize("kw", [dict(cache_salt="b"),
                                dict(lora_request=LoRARequest("x", 1)),
                                dict(mm_features=[MultiModalFeatureSpec(
                                    "other", PlaceholderRange(0, 4))])])
def test_extras_separate_prefixes(kw):
    m = manager(40)
    base = dict(cache_salt="a") if "cache_salt" in kw else {}
    if "mm_features" in kw:
        base = dict(mm_features=[MultiModalFeatureSpec(
            "img", PlaceholderRange(0, 4))])
    admit(m, r := Request("0", list(range(40)), BS, **base))
    m.free(r)
    _, n = m.get_computed_blocks(Request("1", list(range(40)), BS, **base))
    assert n == 32
    _, n = m.get_computed_blocks(Request("2", list(range(40)), BS, **kw))
    assert n == 0


def test_hash_collision_cannot_return_other_kv():
    m = manager(20)
    admit(m, r := Request("0", list(range(40)), BS))
    m.free(r)
    forged = Request("1", list(range(1000, 1040)), BS)
    forged.block_hashes[:] = r.block_hashes  # same vLLM keys, other tokens
    blocks, n = m.get_computed_blocks(forged)
    assert n == 0 and not blocks.blocks[0]


def test_block_objects_are_stable():
    m = manager(20)
    _, _, new = admit(m, Request("0", list(range(40)), BS))
    assert new.blocks[0][0] is m.block_pool.blocks[1]
    assert m.get_blocks("0").blocks[0][0] is m.block_pool.blocks[1]
    assert m.block_pool.null_block is m.block_pool.blocks[0]
    assert m.block_pool.null_block.is_null


def test_common_prefix_blocks_and_new_block_ids():
    m = manager(30)
    admit(m, Request("0", list(range(40)), BS))
    admit(m, Request("1", list(range(40)), BS))
    assert m.get_num_common_prefix_blocks("0") == [2]
    admit(m, Request("2", [5] * 20, BS))
    assert m.get_num_common_prefix_blocks("0") == [0]
    assert m.take_new_block_ids() == [1, 2, 3, 4, 5, 6]
    assert m.take_new_block_ids() == []
    mla = manager(30, MLAAttentionSpec(BS))
    admit(mla, Request("0", list(range(40)), BS))
    assert mla.take_new_block_ids() == []  # exact FullAttentionSpec only


def test_batch_decode_matches_per_call():
    def run(batch):
        m = manager(200)
        reqs = [Request(str(i), list(range(i, i + 30)), BS) for i in range(8)]
        for r in reqs:
            admit(m, r)
        results = []
        for step in range(40):
            for r in reqs:
                r.append_output_token_ids(step)
            if batch:
                results.append(batch_step(m, reqs))
            else:
                got = []
                for i, r in enumerate(reqs):
                    new = m.allocate_slots(r, 1)
                    got += [(i, b) for b in new.get_block_ids()[0]]
                results.append(sorted(got))
            for r in reqs:
                r.num_computed_tokens = r.num_tokens
        m.verify()
        return results, [m.get_block_ids(r.request_id) for r in reqs], \
            [b.block_hash for b in m.block_pool.blocks]
    assert run(True) == run(False)


def test_caching_disabled():
    m = manager(20, enable_caching=False)
    admit(m, r := Request("0", list(range(40)), BS))
    blocks, n = m.get_computed_blocks(Request("1", list(range(40)), BS))
    assert n == 0 and blocks is m.empty_kv_cache_blocks
    assert m.block_pool.blocks[1].block_hash is None
    assert m.get_num_common_prefix_blocks("0") == [0]
    m.free(r)
    assert m.block_pool.get_num_free_blocks() == 19


def test_errors_and_unsupported_specs():
    m = manager(20)
    with pytest.raises(ValueError, match="num_new_tokens"):
        m.allocate_slots(Request("0", [1] * 4, BS), 0)
    with pytest.raises(ValueError):
        m.block_pool.get_new_blocks(100)
    with pytest.raises(pagekv.InvalidArgument, match="block_id 99"):
        m.evict_blocks([99])
    for spec in (CrossAttentionSpec(BS), SinkFullAttentionSpec(BS)):
        with pytest.raises(NotImplementedError, match=type(spec).__name__):
            manager(20, FullAttentionSpec(BS), spec)
    with pytest.raises(NotImplementedError, match="'sometimes'"):
        manager(20, FullAttentionSpec(BS),
                MambaSpec(BS, mamba_cache_mode="sometimes"))
    with pytest.raises(NotImplementedError, match="chunked local.*eagle"):
        manager(20, FullAttentionSpec(BS), ChunkedLocalAttentionSpec(BS, 64),
                use_eagle=True)
    with pytest.raises(NotImplementedError, match="context parallelism"):
        manager(20, dcp_world_size=2)
    with pytest.raises(NotImplementedError, match="block sizes"):
        manager(20, FullAttentionSpec(32))
    with pytest.raises(NotImplementedError, match="block sizes"):
        manager(20, FullAttentionSpec(BS), MambaSpec(8192,
                                                     mamba_cache_mode="all"))
    m.verify()


@dataclass(frozen=True)
class CrossAttentionSpec:
    block_size: int


@dataclass(frozen=True)
class SinkFullAttentionSpec:
    block_size: int


def test_block_pool_primitives():
    m = manager(6)
    pool = m.block_pool
    got = pool.get_new_blocks(3)
    assert [b.block_id for b in got] == [1, 2, 3]
    pool.free_blocks(got[::-1])
    assert free_order(m) == [4, 5, 3, 2, 1]
    pool.touch([pool.blocks[2]])
    assert pool.blocks[2].ref_cnt == 1 and 2 not in free_order(m)
    assert pool.get_usage() == pytest.approx(1 / 5)
    r = Request("0", list(range(32)), BS)
    pool.cache_full_blocks(r, [pool.blocks[2], pool.blocks[4]], 0, 2, BS, 0)
    assert pool.get_cached_block(r.block_hashes[1], [0])[0] is pool.blocks[4]


@pytest.mark.parametrize("uncached_first,hit", [(False, 0), (True, 16)])
def test_reuse_uncached_first_keeps_cached_blocks(uncached_first, hit):
    m = manager(5, reuse_uncached_first=uncached_first)
    for rid, toks in (("a", range(20)), ("b", range(100, 120))):
        admit(m, r := Request(rid, list(toks), BS))
        m.free(r)
    # vLLM's queue is now [2 (a's partial), 1 (a's full), 4, 3]; a request
    # needing two blocks takes 2 and 1 in vLLM, 2 and 4 with the option.
    _, _, new = admit(m, Request("c", [7] * 20, BS))
    assert new.get_block_ids() == (([2, 4],) if uncached_first else ([2, 1],))
    _, n = m.get_computed_blocks(Request("d", list(range(20)), BS))
    assert n == hit
    m.verify()


def test_c_allocate_slots_matches_the_python_method():
    def run(use_c):
        m = manager(11)
        call = m.allocate_slots if use_c else \
            (lambda *a, **k: pv.KVCacheManager.allocate_slots(m, *a, **k))
        out = []
        for rid, toks in (("0", COMMON + [3] * 7), ("1", COMMON + [3] * 5)):
            r = Request(rid, toks, BS)
            blocks, n = m.get_computed_blocks(r)
            new = call(r, r.num_tokens - n, num_new_computed_tokens=n,
                       new_computed_blocks=blocks, num_lookahead_tokens=4)
            out.append(new.get_block_ids())
        out.append(call(Request("2", [1] * 200, BS), 200))
        return out, free_order(m)
    assert run(True) == run(False)
    m = manager(11)
    with pytest.raises(TypeError, match="unexpected"):
        m.allocate_slots(Request("0", [1] * 4, BS), 4, bogus=1)
    with pytest.raises(TypeError):
        m.allocate_slots(Request("0", [1] * 4, BS))
    with pytest.raises(NotImplementedError):
        m.allocate_slots(Request("0", [1] * 4, BS), 4, num_encoder_tokens=3)
    assert m.allocate_slots(Request("0", [1] * 4, BS), 4,
                            full_sequence_must_fit=True).get_block_ids() \
        == ([1],)


def test_shrinking_token_list_is_rejected():
    m = manager(20)
    r = Request("0", list(range(20)), BS)
    m.allocate_slots(r, 20)
    del r._all[-5:]
    with pytest.raises(pagekv.InvalidArgument, match="append-only"):
        m.allocate_slots(r, 1)
    m.verify()


def test_metrics_collector_gets_vllms_block_calls_in_order():
    metrics = RecordingMetrics()
    m = manager(8, metrics_collector=metrics)
    assert m.metrics_collector is metrics
    a = Request("a", list(range(2 * BS + 1)), BS)
    admit(m, a)  # blocks 1..3 from a fresh pool: each evicted, then given
    assert metrics.calls == [("evicted", 1), ("allocated", 1),
                             ("evicted", 2), ("allocated", 2),
                             ("evicted", 3), ("allocated", 3)]
    metrics.calls.clear()
    m.free(a)
    assert metrics.calls == []
    b = Request("b", list(range(2 * BS)) + [99, 98], BS)
    admit(m, b)  # hits 1, 2 (touched), then a never-used block: 4
    assert metrics.calls == [("accessed", 1), ("accessed", 2),
                             ("evicted", 4), ("allocated", 4)]
    metrics.calls.clear()
    m.evict_blocks({3})
    m.free(b)
    assert m.reset_prefix_cache()
    assert metrics.calls == [("evicted", 3), ("reset",)]

