"""The value types of pagekv.vllm: blocks, allocation results, prefix-cache
stats and KV-cache events with vLLM's fields, and the spec classification
and extra-key rules vLLM applies (kv_cache_interface.py, kv_cache_utils.py,
kv_events.py). Import them from pagekv.vllm."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any, Sequence

MEDIUM_GPU = "GPU"

# The C++ GroupKind values (include/pagekv/vllm/manager.h).
_FULL, _SLIDING, _CHUNKED, _MAMBA = 0, 1, 2, 3
# vLLM's spec_manager_map, by exact class name (vLLM keys it by type).
_MANAGER_KIND = {
    "FullAttentionSpec": _FULL, "TQFullAttentionSpec": _FULL,
    "MLAAttentionSpec": _FULL, "HiddenStateCacheSpec": _FULL,
    "SlidingWindowSpec": _SLIDING, "SlidingWindowMLASpec": _SLIDING,
    "ChunkedLocalAttentionSpec": _CHUNKED, "MambaSpec": _MAMBA,
}
# MambaSpec.mamba_cache_mode -> the C++ MambaCacheMode value.
_MAMBA_MODES = {"none": 0, "align": 1, "all": 2}
_NOT_YET = ("CrossAttentionSpec", "SinkFullAttentionSpec")
# get_kv_cache_spec_kind's checks, most specific first.
_SPEC_KINDS = (
    ("SlidingWindowMLASpec", "sliding_window_mla"),
    ("MLAAttentionSpec", "mla_attention"),
    ("SinkFullAttentionSpec", "sink_full_attention"),
    ("FullAttentionSpec", "full_attention"),
    ("ChunkedLocalAttentionSpec", "chunked_local_attention"),
    ("SlidingWindowSpec", "sliding_window"),
    ("MambaSpec", "mamba"),
    ("EncoderOnlyAttentionSpec", "encoder_only_attention"),
    ("CrossAttentionSpec", "cross_attention"),
)


def spec_kind(spec: Any) -> str:
    """vLLM's ``get_kv_cache_spec_kind(spec).value``, by class names."""
    names = {c.__name__ for c in type(spec).__mro__}
    for name, kind in _SPEC_KINDS:
        if name in names:
            return kind
    return "unknown"


def spec_sliding_window(spec: Any) -> int | None:
    """vLLM's ``get_kv_cache_spec_sliding_window``."""
    names = {c.__name__ for c in type(spec).__mro__}
    return spec.sliding_window if "SlidingWindowSpec" in names else None


class KVCacheBlock:
    """One KV-cache block: ``block_id``, and ``ref_cnt``, ``block_hash``
    (vLLM's key: block hash bytes + 4-byte big-endian group id, or None
    while uncached) and ``is_null`` read from the manager."""

    __slots__ = ("block_id", "_core")

    def __init__(self, block_id: int, core: Any) -> None:
        self.block_id = block_id
        self._core = core

    @property
    def ref_cnt(self) -> int:
        return self._core.ref_cnt(self.block_id)

    @property
    def block_hash(self) -> bytes | None:
        return self._core.block_hash(self.block_id)

    @property
    def is_null(self) -> bool:
        return self.block_id == 0

    def __repr__(self) -> str:
        return (f"KVCacheBlock(block_id={self.block_id}, "
                f"ref_cnt={self.ref_cnt}, block_hash={self.block_hash!r})")


class KVCacheBlocks:
    """An allocation result: ``blocks[i][j]`` is group i's j-th block."""

    __slots__ = ("blocks",)

    def __init__(self, blocks: tuple[Sequence[KVCacheBlock], ...]) -> None:
        self.blocks = blocks

    def __add__(self, other: "KVCacheBlocks") -> "KVCacheBlocks":
        return KVCacheBlocks(tuple(list(itertools.chain(a, b))
                                   for a, b in zip(self.blocks, other.blocks)))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, KVCacheBlocks)
                and tuple(map(list, self.blocks))
                == tuple(map(list, other.blocks)))

    __hash__ = None  # type: ignore[assignment]

    def get_block_ids(self, allow_none: bool = False):
        """The block ids per group; None with ``allow_none`` when empty."""
        blocks = self.blocks
        if len(blocks) == 1:  # the common case, without a generator
            g = blocks[0]
            if not g:
                return None if allow_none else ([],)
            return ([b.block_id for b in g],)
        if allow_none and all(len(g) == 0 for g in blocks):
            return None
        return tuple([b.block_id for b in g] for g in blocks)

    def get_unhashed_block_ids(self) -> list[int]:
        """Ids of the blocks without a hash. REQUIRES: one group."""
        assert len(self.blocks) == 1, "Only one group is supported"
        return [b.block_id for b in self.blocks[0] if b.block_hash is None]

    def get_unhashed_block_ids_all_groups(self) -> list[list[int]]:
        """Ids of the unhashed, non-null blocks per group."""
        return [[b.block_id for b in g
                 if b.block_hash is None and not b.is_null]
                for g in self.blocks]

    def new_empty(self) -> "KVCacheBlocks":
        """A KVCacheBlocks with the same number of groups and no blocks."""
        return KVCacheBlocks(tuple(() for _ in self.blocks))

    def __repr__(self) -> str:
        return f"KVCacheBlocks({self.get_block_ids()})"


@dataclass
class PrefixCacheStats:
    """vLLM's PrefixCacheStats: requests, queried tokens and hit tokens,
    previously preempted requests counted apart; ``reset`` after
    ``reset_prefix_cache``."""

    reset: bool = False
    requests: int = 0
    queries: int = 0
    hits: int = 0
    preempted_requests: int = 0
    preempted_queries: int = 0
    preempted_hits: int = 0

    def record(self, num_tokens: int, num_hits: int, preempted: bool) -> None:
        """Adds one request's lookup."""
        if preempted:
            self.preempted_requests += 1
            self.preempted_queries += num_tokens
            self.preempted_hits += num_hits
        else:
            self.requests += 1
            self.queries += num_tokens
            self.hits += num_hits


@dataclass
class BlockStored:
    """Blocks entered the prefix cache (vLLM's kv_events.BlockStored)."""

    block_hashes: list
    parent_block_hash: Any
    token_ids: list[int]
    block_size: int
    lora_id: int | None
    medium: str | None
    lora_name: str | None
    extra_keys: list | None = None
    group_idx: int | None = None
    kv_cache_spec_kind: str | None = None
    kv_cache_spec_sliding_window: int | None = None


@dataclass
class BlockRemoved:
    """Blocks left the prefix cache (vLLM's kv_events.BlockRemoved)."""

    block_hashes: list
    medium: str | None
    group_idx: int | None = None


@dataclass
class AllBlocksCleared:
    """The prefix cache was reset (vLLM's kv_events.AllBlocksCleared)."""


def _external_hash(h: bytes | None):
    # vLLM's maybe_convert_block_hash (VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES,
    # default on: the low 64 bits of the big-endian integer).
    if h is None:
        return None
    if os.environ.get("VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES", "1") == "0":
        return h
    return int.from_bytes(h, "big") & ((1 << 64) - 1)


def block_extra_keys(request: Any, start: int, end: int):
    """vLLM's generate_block_hash_extra_keys for tokens [start, end): the
    LoRA name, the multimodal identifiers overlapping the block with their
    offset from its start, and the cache salt on the first block."""
    keys: list[Any] = []
    lora = request.lora_request
    if lora:
        keys.append(lora.lora_name)
    for f in request.mm_features or ():
        off, length = f.mm_position.offset, f.mm_position.length
        if end > off and start < off + length:
            keys.append((f.identifier, off - start))
    if start == 0 and request.cache_salt:
        keys.append(request.cache_salt)
    return tuple(keys) if keys else None
