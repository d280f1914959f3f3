"""A small pure-Python model of vLLM v1's KV-cache manager semantics (one
FIFO free queue, no dedup, blocks keyed by the request's block_hashes plus
the group id), for the differential test of pagekv.vllm. Group kinds: full
attention, sliding window, chunked local attention and Mamba (cache modes
none, align, all); one block size when caching is on, any per group when it
is off. Written here in its own code, from vLLM's documented and tested
behaviour and the semantics of its single-type managers."""

from __future__ import annotations

from collections import OrderedDict


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


class RefPool:
    def __init__(self, num_blocks: int, caching: bool, events: bool,
                 uncached_first: bool = False):
        self.n = num_blocks
        # pagekv's option: free blocks without cached content (list uq)
        # are handed out before the queue's cached ones.
        self.uncached_first = uncached_first
        self.uq: OrderedDict = OrderedDict()
        self.caching = caching
        self.events_on = events
        self.ref = [0] * num_blocks
        self.key: list = [None] * num_blocks   # (vllm hash, group) or None
        self.queue = OrderedDict((b, None) for b in range(1, num_blocks))
        if uncached_first:  # the fresh blocks hold nothing either
            self.uq, self.queue = self.queue, OrderedDict()
        self.cache: dict = {}                  # key -> [block ids] oldest first
        self.events: list = []
        # The KVCacheMetricsCollector calls vLLM's pool makes, when a list.
        self.metrics: list | None = None

    def _metric(self, *call) -> None:
        if self.metrics is not None:
            self.metrics.append(call)

    def num_free(self) -> int:
        return len(self.queue) + len(self.uq)

    def order(self) -> list[int]:
        return list(self.uq) + list(self.queue)

    def _append(self, b: int) -> None:
        if self.uncached_first and self.key[b] is None:
            self.uq[b] = None
        else:
            self.queue[b] = None

    def _unlink(self, b: int) -> None:
        if b in self.uq:
            del self.uq[b]
        else:
            del self.queue[b]

    def _evict(self, b: int) -> None:
        k = self.key[b]
        if k is None:
            return
        lst = self.cache[k]
        lst.remove(b)
        if not lst:
            del self.cache[k]
        self.key[b] = None
        if self.uncached_first and b in self.queue:
            del self.queue[b]
            self.uq[b] = None
        if self.events_on:
            self.events.append(("removed", k[1], [k[0]]))

    def get_new(self, n: int) -> list[int]:
        assert n <= self.num_free()
        out = []
        for _ in range(max(n, 0)):
            src = self.uq if self.uq else self.queue
            b, _ = src.popitem(last=False)
            if self.caching:
                self._metric("evicted", b)
                self._evict(b)
            self._metric("allocated", b)
            self.ref[b] = 1
            out.append(b)
        return out

    def touch(self, blocks) -> None:
        for b in blocks:
            if self.ref[b] == 0 and b != 0:
                self._unlink(b)
            self.ref[b] += 1
            self._metric("accessed", b)

    def free(self, blocks) -> None:
        blocks = list(blocks)
        for b in blocks:
            self.ref[b] -= 1
        for b in blocks:
            if self.ref[b] == 0 and b != 0:
                self._append(b)

    def lookup(self, h: bytes, groups) -> list[int] | None:
        out = []
        for g in groups:
            lst = self.cache.get((h, g))
            if not lst:
                return None
            out.append(lst[0])
        return out

    def cache_full(self, req, blocks, num_cached, num_full, bs, g) -> None:
        if num_cached >= num_full:
            return
        hashes, starts = [], []
        for i in range(num_cached, min(num_full, len(blocks))):
            b = blocks[i]
            if b == 0:
                continue
            assert self.key[b] is None
            k = (req.block_hashes[i], g)
            self.key[b] = k
            self.cache.setdefault(k, []).append(b)
            hashes.append(req.block_hashes[i])
            starts.append(i * bs)
        if self.events_on:
            parent = req.block_hashes[num_cached - 1] if num_cached else None
            self.events.append(("stored", g, hashes, parent,
                                list(req.all_token_ids[num_cached * bs:
                                                       num_full * bs]),
                                starts))

    def evict(self, ids) -> None:
        for b in ids:
            self._metric("evicted", b)
            self._evict(b)

    def reset(self) -> bool:
        if self.n - self.num_free() != 1:
            return False
        self.cache.clear()
        self.key = [None] * self.n
        order = self.order()
        self.queue.clear()
        self.uq.clear()
        for b in order:
            self._append(b)
        if self.events_on:
            self.events.append(("cleared",))
        self._metric("reset")
        return True


MAMBA_KINDS = ("mamba-none", "mamba-align", "mamba-all")


class RefManager:
    """groups: list of (kind, param, spec_class, eagle[, block_size]) with
    kind "full", "sw" (param: window), "chunk" (param: chunk size) or one
    of MAMBA_KINDS (param: num_speculative_blocks); block_size defaults to
    bs."""

    def __init__(self, num_blocks, bs, groups, max_model_len, caching=True,
                 use_eagle=False, events=False, max_batched=None,
                 uncached_first=False):
        self.bs = bs
        self.groups = groups
        self.gbs = [g[4] if len(g) > 4 else bs for g in groups]
        self.max_len = max_model_len
        self.caching = caching
        self.pool = RefPool(num_blocks, caching, events, uncached_first)
        any_eagle = any(g[3] for g in groups)
        self.eagle = [use_eagle and (g[3] or not any_eagle) for g in groups]
        batched = max_batched or max_model_len
        self.cap = []
        for g, b in zip(groups, self.gbs):
            if g[0] == "sw":
                self.cap.append(cdiv(min(g[1] - 1 + batched, max_model_len),
                                     b) + 1)
            elif g[0] == "chunk":
                self.cap.append(cdiv(min(g[1] + batched, max_model_len), b))
            else:
                self.cap.append(None)
        self.req_blocks = [dict() for _ in groups]   # rid -> [ids]
        self.num_cached = [dict() for _ in groups]   # rid -> int
        self.last_state = [dict() for _ in groups]   # mamba-align: rid -> i
        self.allocated = [set() for _ in groups]     # mamba-align rids
        self.this_step = [set() for _ in groups]     # mamba: keys cached
        self.new_ids: list[int] = []
        attn: list = []
        for i, g in enumerate(groups):
            for a in attn:
                if a[0] == g[2]:
                    a[2].append(i)
                    break
            else:
                attn.append([g[2], g, [i]])
        attn.sort(key=lambda a: a[1][0] != "full")
        self.attn = attn

    # -- per group ------------------------------------------------------
    def skipped(self, g, n):
        kind, p = self.groups[g][0], self.groups[g][1]
        if kind == "sw":
            return max(0, n - p + 1)
        if kind == "chunk":
            return n // p * p
        if kind in MAMBA_KINDS:
            return n - 1   # -1 for n == 0: callers floor-divide it
        return 0

    def spec_tokens(self, g):
        """Extra token slots a Mamba group outside align mode takes."""
        kind, p = self.groups[g][0], self.groups[g][1]
        return self.gbs[g] * p if kind in ("mamba-none", "mamba-all") else 0

    def to_allocate(self, g, rid, num_tokens, main, nc, total, cap=False):
        kind, bs = self.groups[g][0], self.gbs[g]
        held = len(self.req_blocks[g].get(rid, ()))
        if kind in MAMBA_KINDS:
            if nc and self.pool.key[nc[-1]] in self.this_step[g]:
                return self.pool.n + 1
            if kind == "mamba-align":
                spec = self.groups[g][1]
                new = cdiv(main, bs) + spec - len(nc) - held
                if new > 0:
                    new = 1 if rid in self.allocated[g] else 1 + spec
                return new + sum(1 for b in nc
                                 if b != 0 and self.pool.ref[b] == 0)
            num_tokens += self.spec_tokens(g)
        req = cdiv(num_tokens, bs)
        if cap and self.cap[g] is not None:
            req = min(req, self.cap[g])
        if rid in self.num_cached[g]:
            return max(req - held, 0)
        skip = self.skipped(g, total) // bs
        fresh = max(req - max(skip, len(nc) + held), 0)
        skip_new = max(0, skip - held)
        return fresh + sum(1 for b in nc[skip_new:]
                           if b != 0 and self.pool.ref[b] == 0)

    def remove_skipped_group(self, g, rid, total):
        kind = self.groups[g][0]
        if kind in MAMBA_KINDS:
            total = max(0, total - self.groups[g][1])
        self._remove_skipped(g, rid, self.skipped(g, total))
        if kind != "mamba-align":
            return
        last = self.last_state[g].get(rid)
        if last is not None and last < cdiv(total, self.gbs[g]) - 1:
            blocks = self.req_blocks[g].setdefault(rid, [])
            if blocks[last] != 0:
                self.pool.free([blocks[last]])
                blocks[last] = 0

    def _remove_skipped(self, g, rid, s):
        if s <= 0:
            return
        blocks = self.req_blocks[g].setdefault(rid, [])
        removed = []
        for i in range(min(s // self.gbs[g], len(blocks)) - 1, -1, -1):
            if blocks[i] == 0:
                break
            removed.append(blocks[i])
            blocks[i] = 0
        self.pool.free(removed)

    def take_computed(self, g, rid, nc, local, ext):
        if rid in self.num_cached[g]:
            return
        bs = self.gbs[g]
        blocks = self.req_blocks[g].setdefault(rid, [])
        total = local + ext
        st = self.skipped(g, total)
        sb = st // bs
        if sb > 0:
            nc = nc[sb:]
            ext = min(total - st, ext)
        if self.caching:
            self.pool.touch(nc)
        blocks.extend([0] * sb)
        blocks.extend(nc)
        self.num_cached[g][rid] = len(blocks)
        if ext > 0:
            new = self.pool.get_new(cdiv(total, bs) - len(blocks))
            blocks.extend(new)
            if self.groups[g][0] == "full":
                self.new_ids.extend(new)

    def allocate_group(self, g, rid, num_tokens, main):
        if self.groups[g][0] == "mamba-align":
            return self.allocate_aligned(g, rid, main)
        blocks = self.req_blocks[g].setdefault(rid, [])
        n = cdiv(num_tokens + self.spec_tokens(g), self.gbs[g]) - len(blocks)
        if n <= 0:
            return []
        new = self.pool.get_new(n)
        blocks.extend(new)
        if self.groups[g][0] == "full":
            self.new_ids.extend(new)
        return new

    def allocate_aligned(self, g, rid, main):
        spec = self.groups[g][1]
        blocks = self.req_blocks[g].setdefault(rid, [])
        want = cdiv(main, self.gbs[g]) + spec
        have = len(blocks)
        if want == have:
            return []
        assert want > have
        again = rid in self.allocated[g]
        if again:
            self.last_state[g][rid] = have - 1 - spec
        elif have > 0:
            self.last_state[g][rid] = have - 1
        state = want - spec - 1
        while len(blocks) < state:
            blocks.append(0)
        if again:
            for i in range(have - spec, have):
                if i >= state:
                    break
                blocks.append(blocks[i])
                blocks[i] = 0
        n = want - len(blocks)
        assert n <= (1 if again else 1 + spec)
        blocks.extend(self.pool.get_new(n))
        self.allocated[g].add(rid)
        return blocks[have:]

    def cache_group(self, g, req, n):
        cached = self.num_cached[g].get(req.request_id, 0)
        full = n // self.gbs[g]
        if cached >= full:
            return
        blocks = self.req_blocks[g].setdefault(req.request_id, [])
        self.pool.cache_full(req, blocks, cached, full, self.gbs[g], g)
        self.num_cached[g][req.request_id] = full
        if self.groups[g][0] in MAMBA_KINDS:
            for b in blocks[cached:full]:
                if b != 0:
                    self.this_step[g].add(self.pool.key[b])

    def new_step(self):
        for keys in self.this_step:
            keys.clear()

    # -- hits -------------------------------------------------------------
    def find_full(self, hashes, groups, max_len, eagle):
        out = [[] for _ in groups]
        for h in hashes[:max_len // self.bs]:
            hit = self.pool.lookup(h, groups)
            if hit is None:
                break
            for lst, b in zip(out, hit):
                lst.append(b)
        if eagle and out[0]:
            for lst in out:
                lst.pop()
        return out

    def find_sw(self, hashes, groups, window, max_len, eagle):
        need = cdiv(window - 1, self.bs) + (1 if eagle else 0)
        m = max(max_len // self.bs, 0)
        out = [[0] * m for _ in groups]
        run, found = 0, False
        for i in range(m - 1, -1, -1):
            hit = self.pool.lookup(hashes[i], groups) \
                if i < len(hashes) else None
            if hit is None:
                run = 0
                continue
            for lst, b in zip(out, hit):
                lst[i] = b
            run += 1
            if run >= need:
                out = [lst[:i + run] for lst in out]
                found = True
                break
        if not found:
            out = [lst[:run] for lst in out]
        if eagle and out[0]:
            for lst in out:
                lst.pop()
        return out

    def find_chunk(self, hashes, groups, chunk, max_len):
        first = (max_len // chunk * chunk if max_len > 0 else 0) // self.bs
        out = [[0] * first for _ in groups]
        for i in range(first, max_len // self.bs):
            hit = self.pool.lookup(hashes[i], groups)
            if hit is None:
                break
            for lst, b in zip(out, hit):
                lst.append(b)
        return out

    def find_mamba(self, hashes, groups, max_len):
        for i in reversed(range(max_len // self.bs)):
            hit = self.pool.lookup(hashes[i], groups)
            if hit is not None:
                return [[0] * i + [b] for b in hit]
        return [[] for _ in groups]

    def search(self, req, a, length, eagle):
        kind, p = a[1][0], a[1][1]
        hashes = req.block_hashes
        if kind == "full":
            return self.find_full(hashes, a[2], length, eagle)
        if kind == "sw":
            return self.find_sw(hashes, a[2], p, length, eagle)
        if kind == "chunk":
            assert not eagle
            return self.find_chunk(hashes, a[2], p, length)
        return self.find_mamba(hashes, a[2], length)   # eagle ignored

    def find(self, req, max_len):
        G = len(self.groups)
        hit = [[] for _ in range(G)]
        if not self.caching or max_len <= 0:
            return hit, 0

        def search(a, length, eagle):
            res = self.search(req, a, length, eagle)
            for g, lst in zip(a[2], res):
                hit[g] = lst
            return len(res[0]) * self.bs

        if G == 1:
            return hit, search(self.attn[0], max_len,
                               self.eagle[self.attn[0][2][0]])
        eag = [any(self.eagle[g] for g in a[2]) for a in self.attn]
        simple = len(self.attn) == 2 and self.attn[0][1][0] == "full"
        searched = [False] * len(self.attn)
        done: set = set()
        length = max_len
        while True:
            cur = length
            for idx, a in enumerate(self.attn):
                if a[1][0] == "full" and searched[idx]:
                    cur = cur // self.bs * self.bs
                    continue
                e = eag[idx] and idx not in done
                ml = min(cur + self.bs, max_len) if e else cur
                got = search(a, ml, e)
                searched[idx] = True
                if e:
                    done.add(idx)
                elif got < cur:
                    done.clear()
                cur = got
            if cur >= length:
                break
            length = cur
            if simple:
                break
        if self.attn[0][1][0] == "full":
            for g in self.attn[0][2]:
                del hit[g][length // self.bs:]
        return hit, length

    # -- manager ------------------------------------------------------------
    def allocate(self, req, num_new, num_new_computed=0, nc=None,
                 lookahead=0, ext=0, delay=False, full_fit=False):
        G = len(self.groups)
        rid = req.request_id
        ncl = nc if nc is not None else [[] for _ in range(G)]
        local = req.num_computed_tokens + num_new_computed
        total = min(local + ext, self.max_len)
        if full_fit:
            full = min(req.num_tokens, self.max_len)
            need = sum(self.to_allocate(g, rid, full, full, ncl[g], total,
                                        True) for g in range(G))
            if need > self.pool.num_free():
                return None
        main = total + num_new
        slot = min(main + lookahead, self.max_len)
        for g in range(G):
            self.remove_skipped_group(g, rid, total)
        need = sum(self.to_allocate(g, rid, slot, main, ncl[g], local + ext)
                   for g in range(G))
        if need > self.pool.num_free():
            return None
        if nc is not None or ext > 0:
            for g in range(G):
                self.take_computed(g, rid, ncl[g], local, ext)
        new = [self.allocate_group(g, rid, slot, main) for g in range(G)]
        if self.caching and not delay:
            for g in range(G):
                self.cache_group(g, req, min(total + num_new, req.num_tokens))
        return new

    def free(self, rid):
        for g in range(len(self.groups)):
            blocks = self.req_blocks[g].pop(rid, [])
            self.pool.free(reversed(blocks))
            self.num_cached[g].pop(rid, None)
            self.last_state[g].pop(rid, None)
            self.allocated[g].discard(rid)

    def block_ids(self, rid):
        return tuple(list(self.req_blocks[g].get(rid, []))
                     for g in range(len(self.groups)))

    def common_prefix(self, rid):
        out = []
        for g, spec in enumerate(self.groups):
            if not self.caching or spec[0] != "full":
                out.append(0)
                continue
            blocks = self.req_blocks[g].setdefault(rid, [])
            n = 0
            for b in blocks:
                if self.pool.ref[b] != len(self.req_blocks[g]):
                    break
                n += 1
            out.append(n)
        return out
