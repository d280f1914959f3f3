"""A randomized differential test: thousands of operations on the manager
and on a small Python model of its block accounting (prefix caching off),
compared after every operation: success or the same exception, token
counts, free blocks, and the sharing structure of every block table."""

import random

import numpy as np
import pytest

import pagekv

BS = 4
NUM_BLOCKS = 40  # 39 usable


class Block:
    __slots__ = ("refs",)

    def __init__(self):
        self.refs = 1


class RefSeq:
    def __init__(self, known):
        self.known = known
        self.computed = 0
        self.table = []


class Reference:
    """What the manager should do, written the obvious way."""

    def __init__(self, usable):
        self.free = usable
        self.seqs = {}

    def _alloc(self, n):
        if n > self.free:
            raise pagekv.OutOfBlocks("reference: out of blocks")
        self.free -= n
        return [Block() for _ in range(n)]

    def _drop(self, block):
        block.refs -= 1
        if block.refs == 0:
            self.free += 1

    def _reserve_need(self, s, new, lookahead, refs=None):
        target = -(-(s.computed + new + lookahead) // BS)
        need = max(0, target - len(s.table))
        if new:
            last = min(len(s.table), -(-(s.computed + new) // BS))
            for j in range(s.computed // BS, last):
                r = refs[id(s.table[j])] if refs else s.table[j].refs
                need += r > 1
        return need

    def _do_reserve(self, s, new, lookahead):
        target = -(-(s.computed + new + lookahead) // BS)
        if new:
            last = min(len(s.table), -(-(s.computed + new) // BS))
            for j in range(s.computed // BS, last):
                if s.table[j].refs > 1:
                    [copy] = self._alloc(1)
                    self._drop(s.table[j])
                    s.table[j] = copy
        if target > len(s.table):
            s.table += self._alloc(target - len(s.table))
        s.computed += new

    def check_seq(self, q):
        if q not in self.seqs:
            raise pagekv.InvalidArgument("reference: unknown sequence")
        return self.seqs[q]

    def add(self, q, n):
        self.seqs[q] = RefSeq(n)

    def admit(self, q, n):
        s = self.check_seq(q)
        if s.computed or s.table:
            raise pagekv.Error("reference: already admitted")
        n = min(n, s.known)
        if self._reserve_need(s, n, 0) > self.free:
            raise pagekv.OutOfBlocks("reference")
        self._do_reserve(s, n, 0)

    def reserve(self, q, n, lookahead):
        s = self.check_seq(q)
        if s.computed + n > s.known:
            raise pagekv.InvalidArgument("reference: past known")
        if self._reserve_need(s, n, lookahead) > self.free:
            raise pagekv.OutOfBlocks("reference")
        self._do_reserve(s, n, lookahead)

    def append(self, q, n):
        self.check_seq(q).known += n

    def decode(self, qs):
        if len(set(qs)) != len(qs):
            raise pagekv.InvalidArgument("reference: duplicate")
        seqs = [self.check_seq(q) for q in qs]
        if any(s.computed != s.known for s in seqs):
            raise pagekv.Error("reference: uncomputed tokens")
        # Sequential semantics, all or nothing: count on a copy first.
        refs = {}
        for s in seqs:
            for b in s.table:
                refs[id(b)] = b.refs
        need = 0
        for s in seqs:
            target = -(-(s.computed + 1) // BS)
            need += max(0, target - len(s.table))
            j = s.computed // BS
            if j < len(s.table) and refs[id(s.table[j])] > 1:
                need += 1
                refs[id(s.table[j])] -= 1
        if need > self.free:
            raise pagekv.OutOfBlocks("reference")
        for s in seqs:
            s.known += 1
            self._do_reserve(s, 1, 0)

    def truncate(self, q, n):
        s = self.check_seq(q)
        if n < 0 or n > s.known:
            raise pagekv.InvalidArgument("reference: truncate")
        s.known = n
        s.computed = min(s.computed, n)
        keep = -(-n // BS)
        while len(s.table) > keep:
            self._drop(s.table.pop())

    def fork(self, q, child):
        s = self.check_seq(q)
        c = RefSeq(s.known)
        c.computed = s.computed
        c.table = list(s.table)
        for b in c.table:
            b.refs += 1
        self.seqs[child] = c

    def release(self, q):
        s = self.check_seq(q)
        for b in reversed(s.table):
            self._drop(b)
        del self.seqs[q]


def compare(kv, ref):
    st = kv.stats()
    assert st.free_blocks == ref.free
    assert st.num_sequences == len(ref.seqs)
    mapping = {}
    for q, s in ref.seqs.items():
        assert kv.num_known_tokens(q) == s.known
        assert kv.num_computed_tokens(q) == s.computed
        table = kv.block_table(q).tolist()
        assert len(table) == len(s.table)
        for got, want in zip(table, s.table):
            # The same reference block is the same physical block, and no
            # physical block stands for two reference blocks.
            assert mapping.setdefault(id(want), got) == got
    assert len(set(mapping.values())) == len(mapping)


def run_ops(seed, num_ops):
    rng = random.Random(seed)
    kv = pagekv.KVCacheManager(num_blocks=NUM_BLOCKS, block_size=BS,
                               enable_prefix_caching=False)
    ref = Reference(NUM_BLOCKS - 1)
    counts = {"ok": 0, "OutOfBlocks": 0, "Error": 0}
    for _ in range(num_ops):
        live = list(ref.seqs)
        pick = (lambda: rng.choice(live)) if live else (lambda: 10**9)
        op = rng.choice(["add", "add", "admit", "admit", "reserve", "append",
                         "decode", "decode", "decode", "truncate", "fork",
                         "release", "stale"])
        n = rng.randint(0, 12)
        if op == "add":
            calls = [(lambda: kv.add_sequence(np.arange(n + 1)), None)]
        elif op == "admit":
            q = pick()
            calls = [(lambda: kv.admit(q, n), lambda: ref.admit(q, n))]
        elif op == "reserve":
            q, la = pick(), rng.choice([0, 0, 3, 9])
            calls = [(lambda: kv.reserve(q, n, la),
                      lambda: ref.reserve(q, n, la))]
        elif op == "append":
            q = pick()
            calls = [(lambda: kv.append_tokens(q, [1] * n),
                      lambda: ref.append(q, n))]
        elif op == "decode":
            k = rng.randint(1, max(1, len(live)))
            qs = rng.sample(live, min(k, len(live))) if live else [10**9]
            if rng.random() < 0.05 and qs:
                qs = qs + qs[:1]
            calls = [(lambda: kv.append_decode_tokens(
                np.array(qs, np.uint64), np.arange(len(qs), dtype=np.int32)),
                lambda: ref.decode(qs))]
        elif op == "truncate":
            q = pick()
            t = rng.randint(0, ref.seqs[q].known + 1) if live else 0
            calls = [(lambda: kv.truncate(q, t), lambda: ref.truncate(q, t))]
        elif op == "fork":
            q = pick()
            calls = [(lambda: kv.fork(q), "fork")]
        elif op == "release":
            q = pick()
            calls = [(lambda: kv.release(q), lambda: ref.release(q))]
        else:
            calls = [(lambda: kv.reserve(10**9 + 7, 1),
                      lambda: ref.check_seq(10**9 + 7))]
        for mine, theirs in calls:
            if theirs is None:
                q = mine()
                ref.add(q, n + 1)
                counts["ok"] += 1
                continue
            if theirs == "fork":
                if q not in ref.seqs:
                    with pytest.raises(pagekv.InvalidArgument):
                        mine()
                    counts["Error"] += 1
                    continue
                child = mine()
                ref.fork(q, child)
                counts["ok"] += 1
                continue
            want = None
            try:
                theirs()
            except pagekv.Error as e:
                want = type(e)
            if want is None:
                mine()
                counts["ok"] += 1
            else:
                with pytest.raises(pagekv.Error) as got:
                    mine()
                if want is pagekv.OutOfBlocks:
                    assert got.type is pagekv.OutOfBlocks, got.value
                    counts["OutOfBlocks"] += 1
                else:
                    assert got.type is not pagekv.OutOfBlocks, got.value
                    counts["Error"] += 1
        compare(kv, ref)
    kv.verify()
    return counts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_manager_matches_reference(seed):
    counts = run_ops(seed, 1200)
    # Every kind of outcome happened, so the comparison covered them.
    assert counts["ok"] > 300
    assert counts["OutOfBlocks"] > 5
    assert counts["Error"] > 5
