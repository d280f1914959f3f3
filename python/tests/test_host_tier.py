"""The host tier from Python: transfer orders, completions, stats."""

import pytest

import pagekv


def _prompt(base, blocks, block_size=4):
    return list(range(base, base + blocks * block_size + 1))


def _complete(m, orders, success=True):
    for kind, _when, _gpu, host, _key in orders:
        if kind == "store":
            m.complete_store(host, success)
        else:
            m.complete_load(host)


def test_write_through_store_then_host_hit_loads():
    m = pagekv.KVCacheManager(num_blocks=9, block_size=4, host_tier_blocks=16,
                              host_tier_policy="arc")
    s = m.add_sequence(_prompt(100, 3))
    m.admit(s, 13)
    stores = m.drain_transfers()
    assert [(k, w) for k, w, *_ in stores] == [("store", "after")] * 3
    _complete(m, stores)
    m.release(s)
    # Fill the GPU pool with other blocks: the cached copies are evicted.
    f = m.add_sequence(_prompt(5000, 7))
    m.admit(f, 29)
    _complete(m, m.drain_transfers())
    m.release(f)
    c = m.add_sequence(_prompt(100, 3))
    m.admit(c, 13)
    loads = m.drain_transfers()
    assert [k for k, *_ in loads] == ["load"] * 3
    table = list(m.block_table(c))
    assert [gpu for _k, _w, gpu, _h, _key in loads] == table[:3]
    assert m.host_tier_stats()["pinned_blocks"] == 3
    _complete(m, loads)
    stats = m.host_tier_stats()
    assert stats["pinned_blocks"] == 0 and stats["hit_blocks"] == 3
    m.verify()


def test_misused_completion_raises_and_bad_policy_names_it():
    m = pagekv.KVCacheManager(num_blocks=9, block_size=4, host_tier_blocks=4)
    with pytest.raises(pagekv.FailedPrecondition):
        m.complete_load(1)
    with pytest.raises(pagekv.InvalidArgument, match="store policy"):
        pagekv.KVCacheConfig(num_blocks=9, host_tier_blocks=4,
                             store_policy="lazy")
    no_tier = pagekv.KVCacheManager(num_blocks=9)
    assert no_tier.drain_transfers() == []
    assert no_tier.host_tier_stats()["capacity_blocks"] == 0
