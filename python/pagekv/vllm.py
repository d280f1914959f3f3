"""A drop-in for vLLM v1's ``KVCacheManager`` backed by pagekv's C++ core.

Construct :class:`KVCacheManager` where vLLM's scheduler constructs its own
(``vllm/v1/core/sched/scheduler.py``) with the same arguments; every method
the scheduler calls has vLLM's signature and returns what vLLM's would: the
same block ids, the same free order, the same hits, the same events. vLLM is
not imported: requests, specs and configs are read by duck typing (the
attributes vLLM reads). See docs/vllm.md for what is and is not supported.

Blocks are :class:`KVCacheBlock` objects, one per block id for the life of
the manager (as vLLM's ``block_pool.blocks``), whose ``ref_cnt`` and
``block_hash`` are read from the C++ state. ``block_hash`` and the events
carry vLLM's key (the request's ``block_hashes`` entry plus the 4-byte
big-endian group id), while pagekv finds and verifies hits by tokens and
extras, so a hash collision cannot hand out another prefix's KV.
"""


from __future__ import annotations

import itertools
from typing import Any, Iterable, Sequence

from pagekv._pagekv import _vllm
from pagekv._vllm_types import (_CHUNKED, _MAMBA, _MAMBA_MODES,
                                _MANAGER_KIND, _NOT_YET, _SLIDING,
                                MEDIUM_GPU, AllBlocksCleared, BlockRemoved,
                                BlockStored, KVCacheBlock, KVCacheBlocks,
                                PrefixCacheStats, _external_hash,
                                block_extra_keys, spec_kind,
                                spec_sliding_window)

__all__ = [
    "AllBlocksCleared", "BlockPool", "BlockRemoved", "BlockStored",
    "KVCacheBlock", "KVCacheBlocks", "KVCacheManager", "PrefixCacheStats",
    "block_extra_keys", "spec_kind", "spec_sliding_window",
]

# VllmBlockPool::MetricEvent::Kind: allocated, evicted, accessed, reset.
_METRIC_RESET = 3


class _FreeQueueView:
    """``block_pool.free_block_queue``: the count and the order."""

    def __init__(self, pool: "BlockPool") -> None:
        self._pool = pool

    @property
    def num_free_blocks(self) -> int:
        return self._pool._core.num_free()

    def get_all_free_blocks(self) -> list[KVCacheBlock]:
        """The free blocks, next to be allocated first."""
        return [self._pool.blocks[i] for i in self._pool._core.free_queue()]


class BlockPool:
    """vLLM's BlockPool over the C++ pool: one FIFO queue of free blocks,
    cached or not; block 0 is the null block."""

    def __init__(self, manager: "KVCacheManager", num_blocks: int,
                 enable_caching: bool, hash_block_size: int) -> None:
        self._mgr = manager
        self._core = manager._core
        self.num_gpu_blocks = num_blocks
        self.enable_caching = enable_caching
        self.hash_block_size = hash_block_size
        self.blocks = [KVCacheBlock(i, self._core) for i in range(num_blocks)]
        self.null_block = self.blocks[0]
        self.free_block_queue = _FreeQueueView(self)

    def get_num_free_blocks(self) -> int:
        """Blocks in the free queue."""
        return self._core.num_free()

    def get_usage(self) -> float:
        """Used fraction of the pool, the null block left out."""
        return self._core.usage()

    def touch(self, blocks: Iterable[KVCacheBlock]) -> None:
        """Adds a reference to each block (free ones leave the queue)."""
        self._core.touch([b.block_id for b in blocks])
        self._mgr._pull_metrics()

    def free_blocks(self, ordered_blocks: Iterable[KVCacheBlock]) -> None:
        """Drops a reference from each; zeros join the queue in order."""
        self._core.free_blocks([b.block_id for b in ordered_blocks])

    def get_new_blocks(self, num_blocks: int) -> list[KVCacheBlock]:
        """Pops blocks off the queue (evicting cached ones); raises
        pagekv.InvalidArgument (a ValueError) if too few are free."""
        ids = self._core.get_new_blocks(num_blocks)
        self._mgr._pull_metrics()
        return [self.blocks[i] for i in ids]

    def cache_full_blocks(self, request: Any, blocks: Sequence[KVCacheBlock],
                          num_cached_blocks: int, num_full_blocks: int,
                          block_size: int, kv_cache_group_id: int,
                          block_mask: list[bool] | None = None) -> None:
        """Caches blocks[num_cached_blocks:num_full_blocks] of the request."""
        if block_size != self.hash_block_size or block_mask is not None:
            raise NotImplementedError(
                "cache_full_blocks: block_size must equal hash_block_size "
                f"({block_size} != {self.hash_block_size}) and block_mask "
                "is not supported")
        h = self._mgr._handle(request)
        self._core.cache_full_blocks(h, request, [b.block_id for b in blocks],
                                     num_cached_blocks, num_full_blocks,
                                     kv_cache_group_id)

    def get_cached_block(self, block_hash: bytes,
                         kv_cache_group_ids: list[int]):
        """The cached block per group for the vLLM block hash, or None if
        any group misses. O(num_blocks): not for the hot path."""
        out = []
        for g in kv_cache_group_ids:
            b = self._core.find_by_vllm_key(bytes(block_hash), g)
            if b < 0:
                return None
            out.append(self.blocks[b])
        return out

    def evict_blocks(self, block_ids: Iterable[int]) -> None:
        """Evicts the listed blocks from the prefix cache (references kept).
        Raises pagekv.InvalidArgument for an id outside the pool."""
        self._core.evict_blocks(list(block_ids))
        self._mgr._pull_metrics()

    def reset_prefix_cache(self) -> bool:
        """Drops every cached key if only the null block is in use."""
        done = self._core.reset_prefix_cache()
        self._mgr._pull_metrics()
        return done

    def take_events(self) -> list:
        """Moves out the queued KV-cache events."""
        return self._mgr._take_events()


def _kind_fields(i: int, spec: Any, kind: int) -> tuple[int, int, int, int]:
    """(sliding_window, attention_chunk_size, mamba mode, speculative
    blocks) of groups[i]'s spec, 0 where the kind has no such field."""
    if kind == _SLIDING:
        return int(spec.sliding_window), 0, 0, 0
    if kind == _CHUNKED:
        return 0, int(spec.attention_chunk_size), 0, 0
    if kind == _MAMBA:
        mode = getattr(spec, "mamba_cache_mode", "none")
        if mode not in _MAMBA_MODES:
            raise NotImplementedError(
                f"kv_cache_groups[{i}].kv_cache_spec.mamba_cache_mode = "
                f"{mode!r}: pagekv.vllm knows {sorted(_MAMBA_MODES)}")
        spec_blocks = int(getattr(spec, "num_speculative_blocks", 0))
        if spec_blocks < 0:
            raise ValueError(
                f"kv_cache_groups[{i}].kv_cache_spec.num_speculative_blocks "
                f"= {spec_blocks} is negative")
        return 0, 0, _MAMBA_MODES[mode], spec_blocks
    return 0, 0, 0, 0


def _group_specs(kv_cache_config: Any, hash_block_size: int,
                 enable_caching: bool) -> list[tuple]:
    groups, distinct = [], []
    for i, g in enumerate(kv_cache_config.kv_cache_groups):
        spec = g.kv_cache_spec
        name = type(spec).__name__
        if enable_caching and spec.block_size != hash_block_size:
            raise NotImplementedError(
                f"kv_cache_groups[{i}].kv_cache_spec.block_size = "
                f"{spec.block_size} differs from hash_block_size = "
                f"{hash_block_size}: groups of different block sizes are "
                "supported only with prefix caching off")
        if name in _NOT_YET:
            raise NotImplementedError(
                f"kv_cache_groups[{i}] is a {name}: pagekv.vllm supports "
                "full attention, sliding window, chunked local attention and "
                "Mamba groups only (so far)")
        if name not in _MANAGER_KIND:
            raise NotImplementedError(
                f"kv_cache_groups[{i}].kv_cache_spec is a {name}, which "
                "vLLM's spec_manager_map does not know either")
        for k, other in enumerate(distinct):
            if other == spec:
                cls = k
                break
        else:
            distinct.append(spec)
            cls = len(distinct) - 1
        kind = _MANAGER_KIND[name]
        window, chunk, mode, spec_blocks = _kind_fields(i, spec, kind)
        groups.append((kind, int(spec.block_size), window,
                       bool(getattr(g, "is_eagle_group", False)), cls,
                       name in ("FullAttentionSpec", "TQFullAttentionSpec"),
                       chunk, mode, spec_blocks))
    return groups


def _empty_blocks(num_groups: int) -> KVCacheBlocks:
    """An empty KVCacheBlocks whose get_block_ids is a C method: most
    decode steps return this object and the scheduler asks it for ids."""
    cls = type("KVCacheBlocks", (KVCacheBlocks,), {
        "__slots__": (), "__module__": KVCacheBlocks.__module__})
    _vllm.install_empty_block_ids(cls)
    return cls(tuple(() for _ in range(num_groups)))


def _check_eagle(groups: list[tuple], use_eagle: bool,
                 enable_caching: bool) -> None:
    """vLLM asserts against the eagle drop on a chunked-local group (the
    flagged groups get it, or every group when none is flagged)."""
    if not (use_eagle and enable_caching):
        return
    any_flagged = any(g[3] for g in groups)
    for i, g in enumerate(groups):
        if g[0] == _CHUNKED and (g[3] or not any_flagged):
            raise NotImplementedError(
                f"kv_cache_groups[{i}] is chunked local attention with "
                "use_eagle: vLLM does not support prefix caching for eagle + "
                "chunked local attention either")


class KVCacheManager:
    """vLLM v1's KVCacheManager (same constructor, methods and results).

    The one keyword beyond vLLM's, ``reuse_uncached_first`` (off by
    default), hands out free blocks that hold no cached content before
    evicting cached ones, as pagekv's own pool does: higher hit rates (the
    same as ``pagekv cache --policy lru``) but block ids that differ from
    vLLM's once the pool has been full."""

    def __init__(self, kv_cache_config: Any, max_model_len: int,
                 hash_block_size: int,
                 max_num_batched_tokens: int | None = None,
                 enable_caching: bool = True, use_eagle: bool = False,
                 log_stats: bool = False,
                 enable_kv_cache_events: bool = False,
                 dcp_world_size: int = 1, pcp_world_size: int = 1,
                 metrics_collector: Any = None, *,
                 reuse_uncached_first: bool = False) -> None:
        if dcp_world_size != 1 or pcp_world_size != 1:
            raise NotImplementedError(
                "pagekv.vllm does not support context parallelism "
                f"(dcp_world_size={dcp_world_size}, "
                f"pcp_world_size={pcp_world_size})")
        self.max_model_len = max_model_len
        self.enable_caching = enable_caching
        self.use_eagle = use_eagle
        self.log_stats = log_stats
        self.metrics_collector = metrics_collector
        self.prefix_cache_stats = PrefixCacheStats() if log_stats else None
        self.kv_cache_config = kv_cache_config
        groups = _group_specs(kv_cache_config, hash_block_size,
                              bool(enable_caching))
        _check_eagle(groups, use_eagle, bool(enable_caching))
        self.num_kv_cache_groups = len(groups)
        self._core = _vllm.Core(
            int(kv_cache_config.num_blocks), groups, int(hash_block_size),
            int(max_model_len), int(max_num_batched_tokens or max_model_len),
            bool(enable_caching), bool(use_eagle),
            bool(enable_kv_cache_events), 0, bool(reuse_uncached_first))
        self._events_on = bool(enable_kv_cache_events)
        self._events: list = []
        self.kv_cache_event_metadata = tuple(
            (spec_kind(g.kv_cache_spec), spec_sliding_window(g.kv_cache_spec))
            for g in kv_cache_config.kv_cache_groups)
        self.empty_kv_cache_blocks = _empty_blocks(self.num_kv_cache_groups)
        self._empty = self.empty_kv_cache_blocks.blocks
        self.block_pool = BlockPool(self, int(kv_cache_config.num_blocks),
                                    enable_caching, int(hash_block_size))
        self._core.set_block_objects(self.block_pool.blocks, self._empty)
        self._handles: dict[str, int] = {}
        self._owners: dict[int, Any] = {}
        if metrics_collector is not None:
            # Feeds it vLLM's block calls after each manager call; the
            # Python allocate_slots below does, so the C one is not used.
            self._core.enable_metrics()
        else:
            # The decode path's allocate_slots, the method below in C: one
            # builtin call, no Python frame (docs/vllm.md, "Speed").
            self.allocate_slots = _vllm.make_fast_allocate(
                self._core, self._handles, self._new_handle,
                self.empty_kv_cache_blocks, KVCacheBlocks)
        self._interned: dict[Any, int] = {}
        self._serial = itertools.count(1)

    def _pull_metrics(self) -> None:
        """Replays the pool's block calls on the metrics collector, in
        vLLM's order (allocated, evicted, accessed, reset)."""
        mc = self.metrics_collector
        if mc is None:
            return
        blocks = self.block_pool.blocks
        calls = (mc.on_block_allocated, mc.on_block_evicted,
                 mc.on_block_accessed)
        for kind, b in self._core.take_metric_events():
            if kind == _METRIC_RESET:
                mc.reset()
            else:
                calls[kind](blocks[b])

    # --- request bookkeeping -------------------------------------------
    def _intern(self, kind: str, value: Any) -> int:
        key = (kind, value)
        v = self._interned.get(key)
        if v is None:
            v = self._interned[key] = len(self._interned) + 1
        return v

    def _handle(self, request: Any) -> int:
        h = self._handles.get(request.request_id)
        if h is None:
            h = self._new_handle(request)
        return h

    def _new_handle(self, request: Any) -> int:
        lora = request.lora_request
        lora_id = self._intern("lora", lora.lora_name) if lora else 0
        salt = request.cache_salt
        if getattr(request, "prompt_embeds", None) is not None:
            # pagekv does not hash embeddings: such a request shares nothing.
            salt = ("prompt_embeds", next(self._serial))
        salt_id = self._intern("salt", salt) if salt else 0
        mm = [(self._intern("mm", f.identifier), int(f.mm_position.offset),
               int(f.mm_position.length))
              for f in (request.mm_features or ())]
        h = self._core.add_request(lora_id, salt_id, mm)
        self._handles[request.request_id] = h
        if self._events_on:
            self._owners[h] = request  # for the extra keys of its events
        return h

    def request_handle(self, request: Any) -> int:
        """The int handle of a request, for allocate_slots_batch."""
        return self._handle(request)

    # --- vLLM's KVCacheManager API -------------------------------------
    @property
    def usage(self) -> float:
        """The KV cache usage, 0.0 to 1.0."""
        return self._core.usage()

    def make_prefix_cache_stats(self) -> PrefixCacheStats | None:
        """The prefix cache stats since the last call (then reset), or
        None when log_stats is off."""
        if not self.log_stats:
            return None
        stats = self.prefix_cache_stats
        self.prefix_cache_stats = PrefixCacheStats()
        return stats

    def get_computed_blocks(self, request: Any) -> tuple[KVCacheBlocks, int]:
        """The cached blocks of the request's longest prefix hit (capped at
        num_tokens - 1, block aligned) and the number of hit tokens."""
        if not self.enable_caching or request.skip_reading_prefix_cache:
            return self.empty_kv_cache_blocks, 0
        h = self._handles.get(request.request_id)
        if h is None:
            h = self._new_handle(request)
        blocks, n = self._core.find_hit(h, request, request.num_tokens - 1)
        if self.log_stats:
            self.prefix_cache_stats.record(
                num_tokens=request.num_tokens, num_hits=n,
                preempted=request.num_preemptions > 0)
        if blocks is self._empty:
            return self.empty_kv_cache_blocks, n
        return KVCacheBlocks(blocks), n

    def allocate_slots(self, request: Any, num_new_tokens: int,
                       num_new_computed_tokens: int = 0,
                       new_computed_blocks: KVCacheBlocks | None = None,
                       num_lookahead_tokens: int = 0,
                       num_external_computed_tokens: int = 0,
                       delay_cache_blocks: bool = False,
                       num_encoder_tokens: int = 0,
                       full_sequence_must_fit: bool = False):
        """Adds slots for the request's new tokens. Returns the newly
        allocated blocks, or None (nothing allocated) if the pool is short.
        Raises pagekv.InvalidArgument (a ValueError) for num_new_tokens == 0
        without external tokens."""
        if num_encoder_tokens:
            raise NotImplementedError(
                "pagekv.vllm has no cross-attention groups "
                f"(num_encoder_tokens={num_encoder_tokens})")
        nc = None
        if new_computed_blocks is not None:
            nc = new_computed_blocks.blocks
            if nc is self._empty:
                nc = None
        h = self._handles.get(request.request_id)
        if h is None:
            h = self._new_handle(request)
        r = self._core.allocate(h, request, num_new_tokens,
                                num_new_computed_tokens, nc,
                                num_lookahead_tokens,
                                num_external_computed_tokens,
                                delay_cache_blocks, full_sequence_must_fit)
        self._pull_metrics()
        if r is None:
            return None
        if r is self._empty:
            return self.empty_kv_cache_blocks
        return KVCacheBlocks(r)

    def allocate_slots_batch(self, requests: list, handles, new_token_ids):
        """A decode step at once: for each i, requests[i] gained one token,
        new_token_ids[i], since the manager last saw it, and gets
        ``allocate_slots(requests[i], 1)``. Stops at the first request the
        pool cannot serve. ``handles`` is an int32 array of
        :meth:`request_handle` values. Returns (number served, new block
        ids, the index of the request each went to, its group) as NumPy
        arrays."""
        out = self._core.decode_batch(requests, handles, new_token_ids)
        self._pull_metrics()
        return out

    def free(self, request: Any) -> None:
        """Frees the request's blocks, each group's tail first."""
        h = self._handles.pop(request.request_id, None)
        if h is not None:
            if self._events_on:
                self._pull_events()  # while the owner is known
                self._owners.pop(h, None)
            self._core.free(h)

    def remove_skipped_blocks(self, request_id: str,
                              total_computed_tokens: int) -> None:
        """Frees the blocks the request no longer reads (outside a sliding
        window, before the current chunk, Mamba states before the last),
        nulls in their place."""
        h = self._handles.get(request_id)
        if h is not None:
            self._core.remove_skipped(h, total_computed_tokens)

    def evict_blocks(self, block_ids: Iterable[int]) -> None:
        """Evicts the blocks from the prefix cache by id."""
        self.block_pool.evict_blocks(block_ids)

    def reset_prefix_cache(self) -> bool:
        """Drops the prefix cache if no request holds blocks; returns
        whether it did."""
        if not self.block_pool.reset_prefix_cache():
            return False
        if self.log_stats:
            self.prefix_cache_stats.reset = True
        return True

    def get_num_common_prefix_blocks(self, running_request_id: str):
        """Per group, the leading blocks of the request that every request
        holding blocks shares."""
        h = self._handles.get(running_request_id)
        if h is None:
            return [0] * self.num_kv_cache_groups
        return self._core.num_common_prefix_blocks(h)

    def take_events(self) -> list:
        """The KV-cache events since the last call."""
        return self._take_events()

    def get_blocks(self, request_id: str) -> KVCacheBlocks:
        """The request's blocks per group."""
        h = self._handles.get(request_id)
        if h is None:
            return self.empty_kv_cache_blocks
        r = self._core.blocks(h)
        return self.empty_kv_cache_blocks if r is self._empty \
            else KVCacheBlocks(r)

    def get_block_ids(self, request_id: str) -> tuple[list[int], ...]:
        """The request's block ids per group."""
        h = self._handles.get(request_id)
        if h is None:
            return tuple([] for _ in range(self.num_kv_cache_groups))
        return self._core.block_ids(h)

    def cache_blocks(self, request: Any, num_computed_tokens: int) -> None:
        """Caches the request's full blocks up to num_computed_tokens."""
        if self.enable_caching:
            self._core.cache_blocks(self._handle(request), request,
                                    num_computed_tokens)

    def create_kv_cache_blocks(self, blocks) -> KVCacheBlocks:
        """KVCacheBlocks of `blocks`, or the shared empty one."""
        return KVCacheBlocks(blocks) if any(blocks) \
            else self.empty_kv_cache_blocks

    def take_new_block_ids(self) -> list[int]:
        """Full-attention blocks allocated since the last call."""
        return self._core.take_new_block_ids()

    def new_step_starts(self) -> None:
        """Called when a step starts: Mamba groups may hit the states cached
        during the previous step from now on."""
        self._core.new_step_starts()

    def verify(self) -> None:
        """Checks the C++ state's invariants; raises pagekv.Error."""
        self._core.verify()

    # --- events ----------------------------------------------------------
    def _pull_events(self) -> None:
        if self._core.num_pending_events():
            self._events.extend(self._convert(self._core.take_events()))

    def _take_events(self) -> list:
        if not self._events_on:
            return []
        self._pull_events()
        out, self._events = self._events, []
        return out

    def _convert(self, raw: list) -> list:
        out = []
        for kind, group, hashes, parent, tokens, block_size, starts, owner \
                in raw:
            if kind == 1:
                out.append(BlockRemoved([_external_hash(h) for h in hashes],
                                        MEDIUM_GPU, group))
            elif kind == 2:
                out.append(AllBlocksCleared())
            else:
                request = self._owners[owner]
                lora = request.lora_request
                extras = [block_extra_keys(request, s, s + block_size)
                          for s in starts]
                spec_k, window = self.kv_cache_event_metadata[group]
                out.append(BlockStored(
                    block_hashes=[_external_hash(h) for h in hashes],
                    parent_block_hash=_external_hash(parent),
                    token_ids=list(tokens), block_size=block_size,
                    lora_id=lora.adapter_id if lora else None,
                    medium=MEDIUM_GPU,
                    lora_name=lora.name if lora else None,
                    extra_keys=extras or None, group_idx=group,
                    kv_cache_spec_kind=spec_k,
                    kv_cache_spec_sliding_window=window))
        return out
