"""Capacity planning: :func:`plan` returns what ``pagekv plan --json`` prints."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Union

from pagekv import _pagekv

__all__ = ["Plan", "plan"]


class Plan:
    """A capacity plan: the figures of ``pagekv plan --json``.

    Every key of :meth:`to_dict` is also an attribute, e.g.
    ``plan(...).max_kv_tokens``. Units are in the key names (bytes, ms,
    tokens per second); ``max_context`` is None when not one page fits.
    """

    def __init__(self, figures: Dict[str, Any]) -> None:
        self._figures = figures

    def to_dict(self) -> Dict[str, Any]:
        """The figures, keys in the CLI's order (a copy)."""
        return dict(self._figures)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_figures"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        f = self._figures
        return (f"Plan({f['model']} on {f['hardware']}: "
                f"{f['max_kv_tokens']} KV tokens, decode "
                f"{f['decode_step_ms']:.3f} ms)")


def plan(model: Union[str, "_pagekv.ModelSpec"],
         hardware: Union[str, "_pagekv.HardwareSpec"], *,
         tensor_parallel: int = 1, kv_dtype: Optional[str] = None,
         weight_dtype: Optional[str] = None,
         kv_memory_gib: Optional[float] = None,
         gpu_memory_utilization: Optional[float] = None,
         block_size: int = 16, batch: int = 1,
         context: Optional[int] = None) -> Plan:
    """Plans capacity and step times of `model` on `hardware`.

    The arguments are ``pagekv plan``'s flags: specs (or preset names /
    JSON files), tensor-parallel degree, dtype overrides, the KV memory per
    device in GiB or the memory utilization (not both), tokens per page,
    decode batch, and context (default min(4096, the model's max)).

    Raises pagekv.InvalidArgument for a bad value (naming it),
    pagekv.NotFound for an unknown preset, pagekv.FailedPrecondition when
    the weights leave no KV memory.
    """
    text = _pagekv._plan_json(model, hardware, tensor_parallel, kv_dtype,
                              weight_dtype, kv_memory_gib,
                              gpu_memory_utilization, block_size, batch,
                              context)
    return Plan(json.loads(text))
