"""The simulator and the prefix-cache replay from Python.

:func:`simulate` and :func:`replay_cache` take the options of
``pagekv simulate`` and ``pagekv cache`` as keyword arguments and return
results whose :meth:`to_dict` has the keys and values of the CLI's
``--json`` output, so a notebook can sweep configurations and plot them.
Both release the GIL while they run.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from pagekv import _pagekv

__all__ = ["SimulationResult", "ReplayResult", "simulate", "replay_cache"]

WorkloadLike = Union[str, "os.PathLike[str]", "_pagekv.Workload",
                     Sequence[Union["_pagekv.Request", Dict[str, Any]]]]


class _Figures:
    """Attribute access to a dict of figures."""

    def __init__(self, figures: Dict[str, Any]) -> None:
        self._figures = figures

    def to_dict(self) -> Dict[str, Any]:
        """The figures as the CLI's JSON has them (a deep copy)."""
        return json.loads(json.dumps(self._figures))

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_figures"][name]
        except KeyError:
            raise AttributeError(name) from None


class AllocatorResult(_Figures):
    """One allocator's figures (an entry of ``results`` in the CLI JSON),
    plus ``timeline`` and ``requests``: dicts of NumPy columns (simulated
    seconds, slots, token counts; -1 times for rejected requests)."""

    def __init__(self, figures: Dict[str, Any],
                 columns: Dict[str, Dict[str, list]]) -> None:
        super().__init__(figures)
        self.timeline = {k: np.asarray(v) for k, v in
                         columns["timeline"].items()}
        self.requests = {k: np.asarray(v) for k, v in
                         columns["requests"].items()}

    def __repr__(self) -> str:
        f = self._figures
        return (f"AllocatorResult({f['allocator']}: {f['completed']} done, "
                f"{f['preemptions']} preemptions)")


class SimulationResult(_Figures):
    """What ``pagekv simulate --json`` reports: ``workload``, ``config`` and
    ``results`` (one :class:`AllocatorResult` per allocator, in order)."""

    def __init__(self, figures: Dict[str, Any],
                 columns: List[Dict[str, Dict[str, list]]]) -> None:
        super().__init__(figures)
        self.results = [AllocatorResult(r, c) for r, c in
                        zip(figures["results"], columns)]

    def __getitem__(self, allocator: str) -> AllocatorResult:
        """The result of `allocator` ('paged', 'max', 'pow2', 'oracle')."""
        for r in self.results:
            if r.allocator == allocator:
                return r
        raise KeyError(allocator)

    def __repr__(self) -> str:
        return (f"SimulationResult({self._figures['workload']['name']}, "
                f"{[r.allocator for r in self.results]})")


class ReplayResult(_Figures):
    """One prefix-cache replay: the figures of ``pagekv cache --json``
    (trace, block_size, policy, capacity_blocks, hit rates, evictions,
    replay_seconds wall time)."""

    def __repr__(self) -> str:
        f = self._figures
        return (f"ReplayResult({f['policy']}, {f['capacity_blocks']} blocks: "
                f"hit rate {f['hit_rate_tokens']:.4f})")


def _request(item: Any) -> "_pagekv.Request":
    if isinstance(item, _pagekv.Request):
        return item
    if isinstance(item, dict):
        return _pagekv.Request(**item)
    raise TypeError("a workload request must be a pagekv.Request or a dict "
                    f"of its fields, got {type(item).__name__}")


def _workload(workload: WorkloadLike, fmt: Optional[str],
              seed: int) -> "tuple[_pagekv.Workload, bool]":
    if isinstance(workload, _pagekv.Workload):
        return workload, False
    if isinstance(workload, (str, os.PathLike)):
        if os.fspath(workload) == "default":
            return _pagekv.Workload.default(seed=seed), True
        return _pagekv.Workload.read(os.fspath(workload), fmt or ""), False
    if isinstance(workload, Iterable):
        return _pagekv.Workload([_request(r) for r in workload]), False
    raise TypeError("workload must be 'default', a trace path, a Workload or "
                    f"a list of requests, got {type(workload).__name__}")


def simulate(workload: WorkloadLike = "default", *,
             format: Optional[str] = None, model: str = "llama-3-8b",
             hardware: str = "h100-sxm",
             kv_memory_gib: Optional[float] = None, block_size: int = 16,
             policy: str = "lru", prefix_caching: bool = True,
             allocator: Union[None, str, Sequence[str]] = None,
             max_batch_tokens: int = 8192, max_num_seqs: int = 256,
             preemption: str = "last-admitted",
             full_prompt_gate: bool = False, rate_scale: float = 1.0,
             max_requests: int = 0, seed: int = 1,
             timeline_interval: Optional[float] = None) -> SimulationResult:
    """Simulates serving `workload`, like ``pagekv simulate``.

    workload: 'default' (the built-in chat + RAG mix, seeded by `seed`), a
    trace file (`format` 'mooncake', 'azure' or 'jsonl', guessed if None),
    a :class:`Workload`, or a list of :class:`Request` (or dicts of their
    fields). The other arguments are the CLI's flags with the same
    defaults: kv_memory_gib defaults to 20 for the default workload and to
    what the device leaves after the weights otherwise; allocator defaults
    to all four for the default workload and 'paged' otherwise.

    Returns a :class:`SimulationResult` whose to_dict() equals the CLI's
    JSON for the same inputs. Raises pagekv.InvalidArgument naming a bad
    option, request or trace line; pagekv.NotFound for a missing file or
    preset. Deterministic; releases the GIL while it runs.
    """
    wl, is_default = _workload(workload, format, seed)
    if allocator is None:
        allocator = "all" if is_default else "paged"
    if isinstance(allocator, str):
        allocator = (["paged", "max", "pow2", "oracle"]
                     if allocator == "all" else [allocator])
    a = _pagekv._SimArgs()
    a.model, a.hardware = model, hardware
    a.kv_memory_gib = kv_memory_gib
    a.block_size, a.policy, a.prefix_caching = block_size, policy, \
        prefix_caching
    a.allocators = list(allocator)
    a.max_batch_tokens, a.max_num_seqs = max_batch_tokens, max_num_seqs
    a.preemption, a.full_prompt_gate = preemption, full_prompt_gate
    a.rate_scale, a.max_requests, a.seed = rate_scale, max_requests, seed
    a.timeline_interval = timeline_interval or 0.0
    text, columns = _pagekv._simulate(wl, is_default, a)
    return SimulationResult(json.loads(text), columns)


def replay_cache(trace: WorkloadLike, *, format: Optional[str] = None,
                 block_size: int = 16,
                 capacity_blocks: Union[None, int, Sequence[Optional[int]]]
                 = None,
                 policy: Union[str, Sequence[str]] = "lru"
                 ) -> Union[ReplayResult, List[ReplayResult]]:
    """Replays the prompts of `trace` through the prefix cache (no timing),
    like ``pagekv cache``.

    capacity_blocks: blocks of cache (None = infinite, never evicts), or a
    list of them; policy: a name, a list, or 'all' (the eviction
    policies); 'vllm' replays vLLM v1's block order and takes block counts
    only (vLLM evicts while uncached blocks wait, so None is refused). One
    capacity and one
    policy return a :class:`ReplayResult` whose to_dict() equals the CLI's
    ``--json``; a sweep returns a list (capacity-major, then policy), each
    to_dict() a row of the CLI's sweep JSON. Raises pagekv.InvalidArgument
    for a bad block size, capacity or policy.
    """
    wl, _ = _workload(trace, format, 1)
    caps = (list(capacity_blocks)
            if isinstance(capacity_blocks, (list, tuple)) else
            [capacity_blocks])
    if policy == "all":
        policies = _pagekv.eviction_policy_names()
    elif isinstance(policy, str):
        policies = [policy]
    else:
        policies = list(policy)
    doc = json.loads(_pagekv._replay_cache(wl, block_size, caps, policies))
    if isinstance(doc, dict):
        return ReplayResult(doc)
    return [ReplayResult(row) for row in doc]
