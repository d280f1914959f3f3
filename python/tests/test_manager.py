"""The manager's API from Python: every method, with the C++ semantics."""

import numpy as np
import pytest

import pagekv


def test_version():
    assert pagekv.__version__.count(".") == 2


def test_config_keywords_and_defaults():
    c = pagekv.KVCacheConfig(num_blocks=10)
    assert (c.num_blocks, c.block_size, c.enable_prefix_caching,
            c.eviction_policy, c.enable_kv_events) == (10, 16, True, "lru",
                                                       False)
    assert c.groups == [pagekv.KVCacheGroupSpec.full_attention()]


@pytest.mark.parametrize("kwargs, field", [
    (dict(num_blocks=1), "num_blocks"),
    (dict(num_blocks=10, block_size=0), "block_size"),
    (dict(num_blocks=10, eviction_policy="fifo"), "eviction_policy"),
    (dict(num_blocks=10, groups=[]), "groups"),
    (dict(num_blocks=10,
          groups=[pagekv.KVCacheGroupSpec.sliding_window(0)]), "groups[0]"),
])
def test_config_bad_value_names_field(kwargs, field):
    with pytest.raises(pagekv.InvalidArgument, match=field.replace("[", r"\[")):
        pagekv.KVCacheConfig(**kwargs)


@pytest.mark.parametrize("kwargs, field", [
    (dict(num_blocks="10"), "num_blocks"),
    (dict(num_blocks=10.0), "num_blocks"),
    (dict(num_blocks=10, enable_prefix_caching=1), "enable_prefix_caching"),
    (dict(num_blocks=10, eviction_policy=3), "eviction_policy"),
    (dict(num_blocks=10, groups=[3]), "groups"),
    (dict(num_blocks=10, clock=5), "clock"),
    (dict(num_blocks=10, num_block=3), "num_block"),
])
def test_config_bad_type_names_field(kwargs, field):
    with pytest.raises(TypeError, match=field):
        pagekv.KVCacheConfig(**kwargs)


def test_invalid_argument_is_value_error():
    assert issubclass(pagekv.InvalidArgument, ValueError)
    assert issubclass(pagekv.FailedPrecondition, ValueError)
    assert issubclass(pagekv.OutOfBlocks, pagekv.Error)


def test_create_from_config_or_keywords():
    c = pagekv.KVCacheConfig(num_blocks=9, block_size=8)
    assert pagekv.KVCacheManager.create(c).block_size == 8
    assert pagekv.KVCacheManager(num_blocks=9, block_size=2).block_size == 2
    with pytest.raises(TypeError):
        pagekv.KVCacheManager(c, block_size=4)


def test_admit_reserve_decode_release(kv):
    s = kv.add_sequence(list(range(10)))
    assert kv.num_known_tokens(s) == 10 and kv.num_computed_tokens(s) == 0
    a = kv.admit(s, 6)
    assert (a.hit.num_tokens, a.num_new_tokens) == (0, 6)
    assert len(kv.block_table(s)) == 2
    kv.reserve(s, 4)
    assert kv.num_computed_tokens(s) == 10
    kv.append_decode_tokens(np.array([s], np.uint64), np.array([99], np.int32))
    assert kv.num_known_tokens(s) == 11 and kv.num_computed_tokens(s) == 11
    assert len(kv.block_table(s)) == 3
    kv.append_tokens(s, [5, 6])
    assert kv.num_known_tokens(s) == 13
    kv.reserve(s, 2, num_lookahead_tokens=4)
    assert len(kv.block_table(s)) == 5  # 13 tokens + 4 lookahead slots
    kv.release(s)
    st = kv.stats()
    assert st.num_sequences == 0 and st.in_use_blocks == 0
    assert st.cached_blocks == 3  # the full blocks stay cached
    with pytest.raises(pagekv.InvalidArgument):
        kv.num_known_tokens(s)  # stale id


def test_prefix_hit_after_release(kv):
    prompt = np.arange(100, 117, dtype=np.int32)  # 4 full blocks + 1
    s = kv.add_sequence(prompt)
    kv.admit(s, 17)
    kv.release(s)
    t = kv.add_sequence(prompt)
    m = kv.match_prefix(t)
    assert (m.num_tokens, m.num_blocks, m.num_evictable_blocks) == (16, 4, 4)
    assert kv.match_prefix(prompt) == m
    assert kv.blocks_to_admit(t, 17) == 5  # 4 evictable hits + 1 new
    a = kv.admit(t, 17)
    assert a.hit == m and a.num_new_tokens == 1
    st = kv.stats()
    assert st.prefix.hit_tokens == 16 and st.prefix.queries == 2


def test_salt_lora_and_mm_items_separate_caches(kv):
    prompt = list(range(9))
    s = kv.add_sequence(prompt, cache_salt=7, lora_id=3, priority=80)
    kv.admit(s, 9)
    kv.release(s)
    assert kv.match_prefix(prompt).num_tokens == 0
    assert kv.match_prefix(prompt, cache_salt=7).num_tokens == 0
    assert kv.match_prefix(prompt, cache_salt=7, lora_id=3).num_tokens == 8
    m = kv.add_sequence(prompt, cache_salt=7, lora_id=3,
                        mm_items=[(0xabc, 4, 2)])
    assert kv.match_prefix(m).num_tokens == 4  # first block has no item
    item = pagekv.MultimodalItem(hash=0xabc, offset=4, length=2)
    assert kv.match_prefix(prompt, cache_salt=7, lora_id=3,
                           mm_items=[item]).num_tokens == 4
    with pytest.raises(pagekv.InvalidArgument, match="retention_priority"):
        kv.add_sequence(prompt, priority=101)
    with pytest.raises(pagekv.InvalidArgument, match="mm_items"):
        kv.add_sequence(prompt, mm_items=[(1, 5, 2), (2, 4, 1)])


def test_admit_batch_and_can_reserve(kv):
    a = kv.add_sequence(list(range(8)))
    b = kv.add_sequence(list(range(8)))
    res = kv.admit_batch([(a, 8), pagekv.ReserveRequest(b, 5)])
    assert [r.num_new_tokens for r in res] == [8, 5]
    kv.append_tokens(a, [1])
    assert kv.can_reserve([(a, 1), (b, 3, 4)])
    assert not kv.can_reserve([(b, 3, 1000)])
    assert kv.blocks_to_reserve(b, 3, 8) == 2
    with pytest.raises(pagekv.InvalidArgument):
        kv.admit_batch([(a, 1, 2, 3)])


def test_dry_runs_predict_allocation(kv):
    s = kv.add_sequence(list(range(30)))
    need = kv.blocks_to_admit(s, 11)
    free = kv.stats().free_blocks
    kv.admit(s, 11)
    assert free - kv.stats().free_blocks == need
    need = kv.blocks_to_reserve(s, 19, 5)
    free = kv.stats().free_blocks
    kv.reserve(s, 19, 5)
    assert free - kv.stats().free_blocks == need


def test_fork_copy_on_write_and_truncate(kv):
    s = kv.add_sequence(list(range(6)))
    kv.admit(s, 6)
    t = kv.fork(s)
    assert kv.block_table(t).tolist() == kv.block_table(s).tolist()
    kv.append_decode_tokens([s, t], [1, 2])
    copies = kv.drain_copies()
    assert len(copies) == 1
    c = copies[0]
    assert c.group == 0 and c.src == kv.block_table(t)[1]
    assert kv.block_table(s)[1] == c.dst
    assert kv.drain_copies() == []
    assert kv.stats().cow_copies == 1
    kv.truncate(s, 3)
    assert kv.num_known_tokens(s) == 3 and len(kv.block_table(s)) == 1
    with pytest.raises(pagekv.InvalidArgument):
        kv.truncate(s, 4)
    kv.verify()


def test_events_are_typed(kv):
    s = kv.add_sequence(list(range(9)))
    kv.admit(s, 9)
    ev = kv.drain_events()
    assert len(ev) == 1 and isinstance(ev[0], pagekv.BlockStored)
    e = ev[0]
    assert len(e.block_keys) == 2 and e.parent_key is None
    assert e.token_ids == list(range(8)) and e.block_size == 4
    assert (e.group, e.lora_id, e.cache_salt) == (0, 0, 0)
    kv.release(s)
    kv.reset()
    ev = kv.drain_events()
    assert any(isinstance(x, pagekv.AllBlocksCleared) for x in ev)
    assert kv.stats().cached_blocks == 0


def test_reset_with_live_sequence_fails(kv):
    s = kv.add_sequence([1, 2, 3])
    kv.admit(s, 3)
    with pytest.raises(pagekv.FailedPrecondition):
        kv.reset()


def test_eviction_reports_removed_blocks():
    kv = pagekv.KVCacheManager(num_blocks=5, block_size=2,
                               enable_kv_events=True)
    s = kv.add_sequence([1, 2, 3, 4, 5, 6, 7, 8, 9])
    kv.admit(s, 8)
    kv.release(s)
    t = kv.add_sequence([50, 51, 52, 53, 54])
    kv.admit(t, 5)
    removed = [e for e in kv.drain_events()
               if isinstance(e, pagekv.BlockRemoved)]
    assert sum(len(e.block_keys) for e in removed) == 3
    assert kv.stats().evictions == 3


def test_priority_policy_with_manual_clock():
    clock = pagekv.ManualClock(0)
    kv = pagekv.KVCacheManager(num_blocks=5, block_size=2,
                               eviction_policy="priority", clock=clock)
    keep = kv.add_sequence([1, 2, 3], priority=90)
    kv.admit(keep, 3)
    kv.release(keep)
    drop = kv.add_sequence([7, 8, 9], priority=10)
    kv.admit(drop, 3)
    kv.release(drop)
    clock.advance(1000)
    s = kv.add_sequence([20, 21, 22, 23, 24, 25, 26])
    kv.admit(s, 5)  # needs 3 blocks: 2 free + evicts the low-priority one
    assert kv.match_prefix([1, 2, 3]).num_tokens == 2
    assert kv.match_prefix([7, 8, 9]).num_tokens == 0


def test_stats_and_footprint_cost(kv):
    s = kv.add_sequence(list(range(12)))
    kv.admit(s, 12)
    st = kv.stats()
    assert st.total_blocks == 64
    assert st.total_blocks == st.free_blocks + st.cached_blocks + \
        st.in_use_blocks
    assert st.used_token_slots == 12 and st.block_usage == 3 / 64
    f = pagekv.StepFootprint()
    kv.add_to_footprint(s, 12, f)
    assert len(f) == 1 and f.total_new_tokens == 12
    seq = f.sequences[0]
    assert seq.is_prefill and seq.groups[0].pages_written == 3
    cost = pagekv.BandwidthModel("llama-3-8b", "h100-sxm").estimate(f)
    assert cost.seconds > 0 and cost.bound in ("memory", "compute")
    with pytest.raises(pagekv.InvalidArgument):
        kv.add_to_footprint(s, 13, f)


def _ticks_during_simulation(max_requests):
    """Counts loop turns the main thread makes while a worker simulates."""
    import threading
    done = threading.Event()
    started = threading.Event()
    ticks = 0

    def work():
        started.set()
        pagekv.simulate(max_requests=max_requests, allocator="paged")
        done.set()
    worker = threading.Thread(target=work)
    worker.start()
    started.wait()
    while not done.is_set():
        ticks += 1
        done.wait(0.001)  # lets the worker take the GIL back to return
    worker.join()
    return ticks


def test_gil_released_during_long_call():
    import sys
    # With a long switch interval the worker keeps the GIL until it releases
    # it itself, so the main thread runs only if the simulation lets go of
    # it. A loaded machine may not schedule the main thread during a short
    # run, so longer runs are tried before failing.
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(30.0)
    try:
        ticks = [_ticks_during_simulation(n) for n in (60, 600, 6000)]
    finally:
        sys.setswitchinterval(old_interval)
    assert max(ticks) > 0, f"no Python ran during simulate: {ticks}"


def test_noop_and_properties(kv):
    assert kv.noop() is None
    assert kv.num_groups == 1
    assert "lru" in pagekv.eviction_policy_names()
