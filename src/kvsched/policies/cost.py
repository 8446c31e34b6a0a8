"""Hybrid service cost of a request: compute + memory (reconstruction of SageSched's cost).

A request with prompt ``p`` and output ``o`` tokens costs, in the latency model's time unit::

    cost(p, o) = w_p * p  +  w_o * o  +  w_m * A(p, o),     A(p, o) = p*o + o*(o + 1)/2

* compute: ``w_p = c_p`` (its prefill) and ``w_o = c_d`` (its per-request share of each
  decode round), from the :class:`~kvsched.latency.base.LinearLatency` coefficients;
* memory: ``A`` is the area under its KV curve (it holds ``p + j`` tokens in its j-th
  round: token x rounds). ``w_m`` converts it to time:

  - ``mem_weight: share`` (default) -- ``w_m = c_kv + (c0 + c_kv * M) / M``: the KV read
    cost plus the request's share of a memory-full round's fixed cost, apportioned by the
    KV tokens it holds (holding ``x`` of ``M`` tokens for a round uses ``x/M`` of the round).
    Memory is what a KV-limited server runs out of, so this charges its scarcity;
  - ``mem_weight: c_kv`` -- only the KV read cost: then ``cost + (c0 * o)`` would be the
    request's exact running time alone on the server (compute-dominated);
  - a number -- an explicit weight (time units per token-round).

With the unit time base (``c0 = 1``, all else 0) and ``share``, ``cost = A / M`` rounds.
``cost_kind: output`` gives ``cost = o`` (tokens), the SRPT/SJF size.

Remaining cost of a request that has decoded ``j`` tokens: ``cost(p, o) - cost_paid(j)``,
with ``cost_paid(0) = 0`` (a waiting or evicted request still owes its prefill) and, for
``j >= 1``, ``cost(p, j)`` (prefill paid, ``j`` tokens decoded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..latency.base import LinearLatency

MEM_WEIGHTS = ("share", "c_kv")
COST_KINDS = ("hybrid", "output")


@dataclass(frozen=True)
class CostModel:
    """cost(p, o) = w_p p + w_o o + w_m (p o + o (o + 1) / 2), vectorised over arrays."""

    w_p: float
    w_o: float
    w_m: float

    def cost(self, p, o) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        o = np.asarray(o, dtype=np.float64)
        return self.w_p * p + self.w_o * o + self.w_m * (p * o + o * (o + 1.0) / 2.0)

    def paid(self, p, j) -> np.ndarray:
        """Cost already incurred by a run that has decoded ``j`` tokens (0 if ``j == 0``)."""
        j = np.asarray(j, dtype=np.float64)
        return np.where(j > 0, self.cost(p, j), 0.0)

    @classmethod
    def from_latency(cls, lat: LinearLatency, capacity: int, mem_weight: str | float = "share",
                     kind: str = "hybrid") -> "CostModel":
        if kind == "output":
            return cls(0.0, 1.0, 0.0)
        if kind != "hybrid":
            raise ConfigError(f"cost kind {kind!r}; choose one of {', '.join(COST_KINDS)}")
        if isinstance(mem_weight, str):
            if mem_weight == "share":
                wm = lat.c_kv + (lat.c0 + lat.c_kv * capacity) / capacity
            elif mem_weight == "c_kv":
                wm = lat.c_kv
            else:
                raise ConfigError(f"mem_weight {mem_weight!r}; choose one of {', '.join(MEM_WEIGHTS)} or a number")
        else:
            wm = float(mem_weight)
            if not np.isfinite(wm) or wm < 0:
                raise ConfigError(f"mem_weight={mem_weight!r} must be >= 0")
        m = cls(lat.c_p, lat.c_d, wm)
        if m.w_p == 0 and m.w_o == 0 and m.w_m == 0:
            raise ConfigError("cost model is identically zero (all weights 0)")
        return m
