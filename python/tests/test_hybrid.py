"""Hybrid group kinds from Python: chunked-local and state (Mamba) groups."""

import pytest

import pagekv

G = pagekv.KVCacheGroupSpec


def test_group_factories_round_trip():
    groups = [G.full_attention(), G.sliding_window(8), G.chunked_local(8),
              G.state("align", num_speculative_blocks=1, state_block_size=8)]
    assert [g.kind for g in groups] == [
        "full_attention", "sliding_window", "chunked_local", "state"]
    assert (groups[2].chunk, groups[3].mode, groups[3].num_speculative_blocks,
            groups[3].state_block_size) == (8, "align", 1, 8)
    assert groups[2] == G.chunked_local(8) and groups[2] != G.chunked_local(4)
    assert groups[3] != G.state("none", 1, 8)
    assert repr(groups[2]) == "KVCacheGroupSpec.chunked_local(8)"
    c = pagekv.KVCacheConfig(num_blocks=32, block_size=4, groups=groups[2:])
    assert c.groups == groups[2:]


def test_bad_group_fields_are_named():
    with pytest.raises(ValueError, match="'align'"):
        G.state("sometimes")
    with pytest.raises(pagekv.InvalidArgument, match=r"groups\[1\]"):
        pagekv.KVCacheConfig(num_blocks=32, block_size=4,
                             groups=[G.full_attention(), G.chunked_local(0)])
    with pytest.raises(pagekv.InvalidArgument, match=r"groups\[1\]"):
        pagekv.KVCacheConfig(num_blocks=32, block_size=4,
                             groups=[G.full_attention(),
                                     G.state("align", state_block_size=6)])


def test_chunked_local_releases_blocks_before_the_current_chunk():
    kv = pagekv.KVCacheManager(num_blocks=64, block_size=4,
                               groups=[G.full_attention(), G.chunked_local(8)])
    s = kv.add_sequence(list(range(20)))
    kv.admit(s, 20)
    kv.append_tokens(s, [1])
    kv.reserve(s, 1)
    # Token 20 attends to [16, 20]: blocks 0..3 (tokens 0..15) are nulls.
    assert list(kv.block_table(s, 1)[:4]) == [0, 0, 0, 0]
    assert len(kv.block_table(s, 0)) == 6 and 0 not in kv.block_table(s, 0)
    kv.verify()


def test_aligned_state_group_hits_at_a_checkpoint():
    kv = pagekv.KVCacheManager(
        num_blocks=64, block_size=4,
        groups=[G.full_attention(), G.state("align", state_block_size=8)])
    s = kv.add_sequence(list(range(20)))
    kv.admit(s, 16)  # the step ends on a checkpoint: its state is cached
    kv.drain_copies()
    kv.reserve(s, 4)
    moved = kv.drain_copies()  # the state moves to the next state block
    assert [c.group for c in moved] == [1]
    kv.release(s)
    t = kv.add_sequence(list(range(20)) + [7])
    assert kv.match_prefix(t).num_tokens == 16
    a = kv.admit(t, 21)
    assert (a.hit.num_tokens, a.num_new_tokens) == (16, 5)
    kv.verify()


def test_unaligned_state_group_never_hits():
    kv = pagekv.KVCacheManager(
        num_blocks=64, block_size=4,
        groups=[G.full_attention(), G.state("none")])
    s = kv.add_sequence(list(range(16)))
    kv.admit(s, 16)
    kv.release(s)
    t = kv.add_sequence(list(range(17)))
    assert kv.match_prefix(t).num_tokens == 0
    assert kv.stats().cached_blocks == 0
