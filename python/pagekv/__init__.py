"""pagekv: a paged KV-cache manager for LLM serving engines.

The manager (:class:`KVCacheManager`), the cost model (:class:`ModelSpec`,
:class:`HardwareSpec`, :class:`BandwidthModel`, :func:`plan`) and the
simulator (:func:`simulate`, :func:`replay_cache`) and the remote KV tier
(:class:`RedisKVStore`) of the C++ library, with
NumPy in and out. See docs/python.md.
"""

from pagekv._errors import (Error, FailedPrecondition, InvalidArgument,
                            NotFound, OutOfBlocks)
from pagekv._pagekv import (Admission, AllBlocksCleared, BandwidthModel,
                            BlockCopy, BlockRemoved, BlockStored,
                            GroupFootprint, HardwareSpec, KVCacheConfig,
                            KVCacheGroupSpec, KVCacheManager, KVCacheStats,
                            LayerGroupSpec, ManualClock, ModelSpec,
                            MultimodalItem, PrefixCacheStats, PrefixMatch,
                            RedisKVStore, Request, ReserveRequest,
                            SequenceFootprint, StepCost, StepFootprint,
                            Workload, eviction_policy_names,
                            prefill_footprint,
                            trace_format_names, uniform_decode_footprint)
from pagekv._pagekv import __version__
from pagekv.cost import Plan, plan
from pagekv.sim import (ReplayResult, SimulationResult, replay_cache,
                        simulate)

__all__ = [
    "Admission", "AllBlocksCleared", "BandwidthModel", "BlockCopy",
    "BlockRemoved", "BlockStored", "Error", "FailedPrecondition",
    "GroupFootprint", "HardwareSpec", "InvalidArgument", "KVCacheConfig",
    "KVCacheGroupSpec", "KVCacheManager", "KVCacheStats", "LayerGroupSpec",
    "ManualClock", "ModelSpec", "MultimodalItem", "NotFound", "OutOfBlocks",
    "Plan", "PrefixCacheStats", "PrefixMatch", "RedisKVStore", "ReplayResult",
    "Request",
    "ReserveRequest", "SequenceFootprint", "SimulationResult", "StepCost",
    "StepFootprint", "Workload", "__version__", "eviction_policy_names",
    "plan", "prefill_footprint", "replay_cache", "simulate",
    "trace_format_names", "uniform_decode_footprint",
]
