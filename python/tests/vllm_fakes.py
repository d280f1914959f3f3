"""vLLM-shaped stand-ins (vLLM itself is not installed here): a Request
that hashes its blocks as vLLM's request_block_hasher does (a chain of
SHA-256 over the parent hash, the block's tokens and its extra keys), the
KV-cache spec classes and configs with the fields vLLM's manager reads, and
LoRA / multimodal records."""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np

NONE_HASH = hashlib.sha256(b"pagekv-test-none-hash").digest()


@dataclass(frozen=True)
class FullAttentionSpec:
    block_size: int
    num_kv_heads: int = 1
    head_size: int = 1
    dtype: str = "float32"


@dataclass(frozen=True)
class MLAAttentionSpec(FullAttentionSpec):
    pass


@dataclass(frozen=True)
class SlidingWindowSpec:
    block_size: int
    sliding_window: int
    num_kv_heads: int = 1
    head_size: int = 1
    dtype: str = "float32"


@dataclass(frozen=True)
class ChunkedLocalAttentionSpec:
    block_size: int
    attention_chunk_size: int
    num_kv_heads: int = 1
    head_size: int = 1
    dtype: str = "float32"


@dataclass(frozen=True)
class MambaSpec:
    block_size: int
    shapes: tuple = ((1, 1),)
    dtypes: tuple = ("float32",)
    page_size_padded: int | None = None
    mamba_type: str = "mamba2"
    mamba_cache_mode: str = "none"
    num_speculative_blocks: int = 0


@dataclass
class KVCacheGroupSpec:
    layer_names: list
    kv_cache_spec: Any
    is_eagle_group: bool = False


@dataclass
class KVCacheConfig:
    num_blocks: int
    kv_cache_tensors: list
    kv_cache_groups: list


def make_config(num_blocks: int, *specs, eagle_groups=()) -> KVCacheConfig:
    return KVCacheConfig(num_blocks, [], [
        KVCacheGroupSpec([f"layer{i}"], s, i in eagle_groups)
        for i, s in enumerate(specs)])


@dataclass
class LoRARequest:
    lora_name: str
    lora_int_id: int

    @property
    def adapter_id(self) -> int:
        return self.lora_int_id

    @property
    def name(self) -> str:
        return self.lora_name


@dataclass
class PlaceholderRange:
    offset: int
    length: int


@dataclass
class MultiModalFeatureSpec:
    identifier: str
    mm_position: PlaceholderRange
    modality: str = "image"


def extra_keys(req: "Request", start: int, end: int):
    keys: list = []
    if req.lora_request:
        keys.append(req.lora_request.lora_name)
    for f in req.mm_features or ():
        off, n = f.mm_position.offset, f.mm_position.length
        if end > off and start < off + n:
            keys.append((f.identifier, off - start))
    if start == 0 and req.cache_salt:
        keys.append(req.cache_salt)
    return tuple(keys) if keys else None


def hash_block(parent: bytes | None, tokens, extras) -> bytes:
    return hashlib.sha256(pickle.dumps(
        (parent or NONE_HASH, tuple(tokens), extras))).digest()


class ConstantList:
    """vLLM's read-only view of a list (vllm/v1/utils.py), which is what a
    Request's all_token_ids is; the list itself is `_x`."""

    def __init__(self, x: list) -> None:
        self._x = x

    def __len__(self) -> int:
        return len(self._x)

    def __getitem__(self, item):
        return self._x[item]

    def __iter__(self):
        return iter(self._x)


class Request:
    """The attributes of vllm.v1.request.Request that the manager reads."""

    def __init__(self, request_id: str, prompt_token_ids: list[int],
                 block_size: int, *, lora_request=None, mm_features=None,
                 cache_salt=None, skip_reading_prefix_cache=False):
        self.request_id = request_id
        self.prompt_token_ids = list(prompt_token_ids)
        self._all = list(prompt_token_ids)
        self._all_view = ConstantList(self._all)
        self.num_prompt_tokens = len(prompt_token_ids)
        self.num_computed_tokens = 0
        self.num_preemptions = 0
        self.lora_request = lora_request
        self.mm_features = mm_features or []
        self.cache_salt = cache_salt
        self.skip_reading_prefix_cache = skip_reading_prefix_cache
        self.block_size = block_size
        self.block_hashes: list[bytes] = []
        self._update_hashes()

    @property
    def all_token_ids(self) -> ConstantList:
        return self._all_view

    @property
    def num_tokens(self) -> int:
        return len(self._all)

    def append_output_token_ids(self, tokens) -> None:
        if isinstance(tokens, int):
            tokens = [tokens]
        self._all.extend(tokens)
        self._update_hashes()

    def _update_hashes(self) -> None:
        bs = self.block_size
        while (len(self.block_hashes) + 1) * bs <= len(self._all):
            i = len(self.block_hashes)
            parent = self.block_hashes[-1] if self.block_hashes else None
            self.block_hashes.append(hash_block(
                parent, self._all[i * bs:(i + 1) * bs],
                extra_keys(self, i * bs, (i + 1) * bs)))


def batch_step(m, reqs) -> list[tuple[int, int]]:
    """One allocate_slots_batch step of requests that each gained one
    token: the (request index, new block id) pairs, sorted."""
    h = np.array([m.request_handle(r) for r in reqs], np.int32)
    t = np.array([r.all_token_ids[-1] for r in reqs], np.int32)
    n, ids, owner, _ = m.allocate_slots_batch(reqs, h, t)
    assert n == len(reqs)
    return sorted(zip(owner.tolist(), ids.tolist()))


class RecordingMetrics:
    """A KVCacheMetricsCollector that records the calls it gets."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_block_allocated(self, block) -> None:
        self.calls.append(("allocated", block.block_id))

    def on_block_evicted(self, block) -> None:
        self.calls.append(("evicted", block.block_id))

    def on_block_accessed(self, block) -> None:
        self.calls.append(("accessed", block.block_id))

    def reset(self) -> None:
        self.calls.append(("reset",))
