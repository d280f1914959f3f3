"""Type stubs of the _pagekv extension (the C++ core); see pagekv/__init__.py."""

from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

IntArray = Union[Sequence[int], npt.NDArray[np.integer[Any]], range]
Int32Buffer = Any  # a writable C-contiguous int32 buffer (NumPy array, ...)
MmItems = Optional[Iterable[Union["MultimodalItem", Tuple[int, int, int]]]]
Requests = Iterable[Union["ReserveRequest", Tuple[int, int],
                          Tuple[int, int, int]]]

class KVCacheGroupSpec:
    @staticmethod
    def full_attention() -> KVCacheGroupSpec: ...
    @staticmethod
    def sliding_window(window: int) -> KVCacheGroupSpec: ...
    @staticmethod
    def chunked_local(chunk: int) -> KVCacheGroupSpec: ...
    @staticmethod
    def state(mode: str = "none", num_speculative_blocks: int = 0,
              state_block_size: int = 0) -> KVCacheGroupSpec: ...
    @property
    def kind(self) -> str: ...
    @property
    def window(self) -> int: ...
    @property
    def chunk(self) -> int: ...
    @property
    def mode(self) -> str: ...
    @property
    def num_speculative_blocks(self) -> int: ...
    @property
    def state_block_size(self) -> int: ...

class ManualClock:
    def __init__(self, now_us: int = 0) -> None: ...
    @property
    def now_us(self) -> int: ...
    def set(self, now_us: int) -> None: ...
    def advance(self, delta_us: int) -> None: ...

class KVCacheConfig:
    def __init__(self, *, num_blocks: int = ..., block_size: int = 16,
                 groups: List[KVCacheGroupSpec] = ...,
                 enable_prefix_caching: bool = True,
                 eviction_policy: str = "lru", hash_seed: int = 0,
                 enable_kv_events: bool = False,
                 clock: Optional[ManualClock] = None,
                 call_log: Optional[str] = None,
                 call_log_ring: int = 0, host_tier_blocks: int = 0,
                 host_tier_policy: str = "lru",
                 store_policy: str = "write-through") -> None: ...
    @property
    def num_blocks(self) -> int: ...
    @property
    def block_size(self) -> int: ...
    @property
    def groups(self) -> List[KVCacheGroupSpec]: ...
    @property
    def enable_prefix_caching(self) -> bool: ...
    @property
    def eviction_policy(self) -> str: ...
    @property
    def hash_seed(self) -> int: ...
    @property
    def enable_kv_events(self) -> bool: ...
    @property
    def clock(self) -> Optional[ManualClock]: ...

def eviction_policy_names() -> List[str]: ...

class PrefixMatch:
    num_tokens: int
    num_blocks: int
    num_evictable_blocks: int

class Admission:
    hit: PrefixMatch
    num_new_tokens: int

class BlockCopy:
    src: int
    dst: int
    group: int

class ReserveRequest:
    def __init__(self, seq: int, num_new_tokens: int,
                 num_lookahead_tokens: int = 0) -> None: ...
    seq: int
    num_new_tokens: int
    num_lookahead_tokens: int

class MultimodalItem:
    def __init__(self, hash: int, offset: int, length: int) -> None: ...
    hash: int
    offset: int
    length: int

class BlockStored:
    block_keys: List[int]
    parent_key: Optional[int]
    token_ids: List[int]
    block_size: int
    lora_id: int
    cache_salt: int
    group: int

class BlockRemoved:
    block_keys: List[int]
    group: int

class AllBlocksCleared: ...

KVEvent = Union[BlockStored, BlockRemoved, AllBlocksCleared]

class PrefixCacheStats:
    queries: int
    query_tokens: int
    hit_tokens: int
    query_blocks: int
    hit_blocks: int
    resumed_queries: int
    resumed_query_tokens: int
    resumed_hit_tokens: int
    token_hit_rate: float
    block_hit_rate: float

class KVCacheStats:
    block_size: int
    total_blocks: int
    free_blocks: int
    cached_blocks: int
    in_use_blocks: int
    num_sequences: int
    used_token_slots: int
    empty_token_slots: int
    blocks_allocated: int
    evictions: int
    cow_copies: int
    allocation_failures: int
    prefix: PrefixCacheStats
    index_bytes_per_block: int
    block_usage: float
    token_usage: float

class GroupFootprint:
    context_tokens: int
    pages_read: int
    pages_written: int

class SequenceFootprint:
    seq: int
    new_tokens: int
    cached_tokens: int
    is_prefill: bool
    groups: List[GroupFootprint]

class StepFootprint:
    def __init__(self) -> None: ...
    block_size: int
    sequences: List[SequenceFootprint]
    total_new_tokens: int
    def __len__(self) -> int: ...

class KVCacheManager:
    def __init__(self, config: Optional[KVCacheConfig] = None,
                 **fields: Any) -> None: ...
    @staticmethod
    def create(config: Optional[KVCacheConfig] = None,
               **fields: Any) -> KVCacheManager: ...
    def add_sequence(self, prompt: IntArray, *, lora_id: int = 0,
                     cache_salt: int = 0, mm_items: MmItems = None,
                     priority: int = 35, retention_duration_us: int = -1,
                     resumed_after_preemption: bool = False) -> int: ...
    def append_tokens(self, seq: int, tokens: IntArray) -> None: ...
    def match_prefix(self, seq_or_prompt: Union[int, IntArray], *,
                     lora_id: int = 0, cache_salt: int = 0,
                     mm_items: MmItems = None) -> PrefixMatch: ...
    def admit(self, seq: int, max_new_tokens: int) -> Admission: ...
    def admit_batch(self, requests: Requests) -> List[Admission]: ...
    def reserve(self, seq: int, num_new_tokens: int,
                num_lookahead_tokens: int = 0) -> None: ...
    def append_decode_tokens(self, seqs: IntArray,
                             tokens: IntArray) -> None: ...
    def blocks_to_reserve(self, seq: int, num_new_tokens: int,
                          num_lookahead_tokens: int = 0) -> int: ...
    def blocks_to_admit(self, seq: int, max_new_tokens: int) -> int: ...
    def can_reserve(self, requests: Requests) -> bool: ...
    def truncate(self, seq: int, num_tokens: int) -> None: ...
    def fork(self, seq: int) -> int: ...
    def release(self, seq: int) -> None: ...
    def reset(self) -> None: ...
    def num_known_tokens(self, seq: int) -> int: ...
    def num_computed_tokens(self, seq: int) -> int: ...
    def block_table(self, seq: int, group: int = 0) -> npt.NDArray[np.int32]: ...
    def export_block_table(self, seqs: IntArray, group: int,
                           out: Int32Buffer, *,
                           row_width: Optional[int] = None) -> None: ...
    def export_csr(self, seqs: IntArray, group: int, indptr: Int32Buffer,
                   indices: Int32Buffer, last_page_len: Int32Buffer) -> int: ...
    def block_table_array(self, seqs: IntArray, group: int = 0,
                          row_width: Optional[int] = None
                          ) -> npt.NDArray[np.int32]: ...
    def csr(self, seqs: IntArray, group: int = 0
            ) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.int32],
                       npt.NDArray[np.int32]]: ...
    def add_to_footprint(self, seq: int, new_tokens: int,
                         footprint: StepFootprint) -> None: ...
    def drain_copies(self) -> List[BlockCopy]: ...
    def drain_transfers(self) -> List[Tuple[str, str, int, int, int]]: ...
    def complete_load(self, host_block: int) -> None: ...
    def complete_store(self, host_block: int, success: bool) -> None: ...
    def host_tier_stats(self) -> Dict[str, int]: ...
    def drain_events(self) -> List[KVEvent]: ...
    def stats(self) -> KVCacheStats: ...
    def dump_call_log(self, path: str = "") -> None: ...
    def verify(self) -> None: ...
    def noop(self) -> None: ...
    @property
    def block_size(self) -> int: ...
    @property
    def num_groups(self) -> int: ...

class LayerGroupSpec:
    def __init__(self, name: str = "full", num_layers: int = 0,
                 sliding_window: int = 0) -> None: ...
    name: str
    num_layers: int
    sliding_window: int

class ModelSpec:
    def __init__(self) -> None: ...
    @staticmethod
    def preset(name: str) -> ModelSpec: ...
    @staticmethod
    def preset_names() -> List[str]: ...
    @staticmethod
    def from_json(text: str, source: str = "<json>") -> ModelSpec: ...
    @staticmethod
    def load(path: str) -> ModelSpec: ...
    @staticmethod
    def resolve(name_or_file: str) -> ModelSpec: ...
    name: str
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    mla_kv_lora_rank: int
    mla_rope_head_dim: int
    num_params: float
    active_params: float
    num_experts: int
    experts_per_token: int
    weight_dtype: str
    kv_dtype: str
    kv_scale_group_size: int
    kv_scale_bytes: int
    layer_groups: List[LayerGroupSpec]
    max_context: int
    def validate(self) -> None: ...
    def with_kv_dtype(self, dtype: str) -> ModelSpec: ...
    def kv_bytes_per_token(self, tensor_parallel: int = 1) -> float: ...
    def weight_bytes(self) -> float: ...

class HardwareSpec:
    def __init__(self) -> None: ...
    @staticmethod
    def preset(name: str) -> HardwareSpec: ...
    @staticmethod
    def preset_names() -> List[str]: ...
    @staticmethod
    def from_json(text: str, source: str = "<json>") -> HardwareSpec: ...
    @staticmethod
    def load(path: str) -> HardwareSpec: ...
    @staticmethod
    def resolve(name_or_file: str) -> HardwareSpec: ...
    name: str
    hbm_bytes: float
    hbm_bandwidth: float
    peak_flops_bf16: float
    peak_flops_fp8: float
    peak_flops_int8: float
    num_devices: int
    interconnect_bandwidth: float
    interconnect_latency_seconds: float
    interconnect_hop_latency_seconds: float
    memory_efficiency: float
    compute_efficiency: float
    compute_efficiency_8bit: float
    compute_half_tokens: float
    overlap_loss: float
    step_overhead_seconds: float
    prefill_overhead_seconds: float
    prefill_layer_overhead_seconds: float
    def validate(self) -> None: ...
    def ridge_point(self, weight_dtype: str = "bf16") -> float: ...

class StepCost:
    seconds: float
    memory_seconds: float
    compute_seconds: float
    overhead_seconds: float
    bytes: float
    kv_read_bytes: float
    kv_write_bytes: float
    weight_bytes: float
    flops: float
    bound: str
    arithmetic_intensity: float

class BandwidthModel:
    def __init__(self, model: Union[ModelSpec, str],
                 hardware: Union[HardwareSpec, str], *,
                 tensor_parallel: int = 1, granularity: str = "page",
                 activation_bytes: float = 2.0) -> None: ...
    def estimate(self, footprint: StepFootprint) -> StepCost: ...
    @property
    def ridge_point(self) -> float: ...
    @property
    def num_kv_cache_groups(self) -> int: ...
    @property
    def model(self) -> ModelSpec: ...
    @property
    def hardware(self) -> HardwareSpec: ...

def uniform_decode_footprint(model: Union[ModelSpec, str], batch: int,
                             context_tokens: int,
                             block_size: int = 16) -> StepFootprint: ...
def prefill_footprint(model: Union[ModelSpec, str], prompt_tokens: int,
                      cached_tokens: int = 0,
                      block_size: int = 16) -> StepFootprint: ...

class Request:
    def __init__(self, prompt: Optional[IntArray] = None, *,
                 segments: Optional[Iterable[Tuple[int, int]]] = None,
                 output_tokens: int = 1, arrival_s: float = 0.0,
                 priority: int = 0, cache_salt: int = 0) -> None: ...
    id: int
    arrival_s: float
    output_tokens: int
    priority: int
    cache_salt: int
    prompt_tokens: int
    def prompt(self) -> List[int]: ...

class Workload:
    def __init__(self, requests: List[Request],
                 name: str = "python") -> None: ...
    @staticmethod
    def read(path: str, format: str = "", *, rate_scale: float = 1.0,
             start_s: float = 0.0, end_s: float = ...,
             max_requests: int = 0) -> Workload: ...
    @staticmethod
    def default(seed: int = 1, num_requests: int = 2000) -> Workload: ...
    name: str
    requests: List[Request]
    def stats(self) -> dict: ...
    def __len__(self) -> int: ...

def trace_format_names() -> List[str]: ...

# --- The remote KV tier (docs/remote-tier.md) ---

_Bytes2D = npt.NDArray[np.uint8]

class RedisKVStore:
    def __init__(self, url: str, model: str = "default",
                 layout: str = "default", block_size: int = 16,
                 hash_seed: int = 0, timeout_ms: int = 200,
                 default_ttl_ms: int = 0, log: bool = True) -> None: ...
    def lookup(self, tokens: IntArray, first_block: int = 0,
               num_blocks: int = -1, lora_id: int = 0, cache_salt: int = 0,
               mm_items: Sequence[MultimodalItem] = ...) -> int: ...
    def get(self, tokens: IntArray, out: _Bytes2D, first_block: int = 0,
            lora_id: int = 0, cache_salt: int = 0,
            mm_items: Sequence[MultimodalItem] = ...) -> int: ...
    def put(self, tokens: IntArray, payloads: _Bytes2D, first_block: int = 0,
            ttl_ms: int = -1, lora_id: int = 0, cache_salt: int = 0,
            mm_items: Sequence[MultimodalItem] = ...) -> int: ...
    def stats(self) -> dict[str, Any]: ...
    def server_info(self) -> dict[str, Any]: ...
    def delete_namespace(self) -> int: ...
    def redis_key(self, tokens: IntArray, block: int, lora_id: int = 0,
                  cache_salt: int = 0) -> str: ...
