"""The MC-SF paper's memory-protection benchmarks.

* ``alpha_protection`` -- FCFS admission while the batch's coming-round memory is at
  most ``(1 - alpha) * M`` (and the candidate fits in ``M``). On overflow it evicts by
  ``eviction`` (default newest first) until the batch fits.
* ``alpha_clearing`` -- the same admission; on overflow it evicts a fraction ``phi`` of
  the running requests (at least one), newest first, repeating until the batch fits.

Both admit nothing in a round in which they had to evict.

Reconstruction: which requests φ-clearing evicts is not stated in the sources we could
read; we evict the most recently started (configurable via ``eviction``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from ..errors import ConfigError
from ..sim.view import SchedulerView
from .base import EVICTION_RULES, INF_ROUNDS, Policy, order_victims, check_choice
from .registry import register_policy


@dataclass(frozen=True)
class AlphaParams:
    alpha: float = 0.2
    eviction: str = "newest"

    def validate(self) -> None:
        if not 0.0 <= self.alpha < 1.0:
            raise ConfigError(f"alpha={self.alpha} must be in [0, 1)")
        check_choice("eviction", self.eviction, EVICTION_RULES)


@register_policy
class AlphaProtection(Policy):
    """α-protection greedy (MC-SF paper benchmark)."""

    name = "alpha_protection"
    Params = AlphaParams
    reads_predictions = False

    def admit(self, view: SchedulerView) -> Sequence[int]:
        if view.evicted_now:
            return []  # no admissions in a round that had to preempt (as vLLM v1)
        limit = (1.0 - self.params.alpha) * self.capacity
        need, out = view.need, []
        for i in view.waiting:
            add = int(view.prompt[i]) + 1
            if need > limit or need + add > self.capacity:
                break
            out.append(int(i)); need += add
        return out

    def quiet_rounds(self, view: SchedulerView) -> int:
        # memory only grows between completions, so a blocked head stays blocked
        return INF_ROUNDS


@dataclass(frozen=True)
class ClearingParams(AlphaParams):
    phi: float = 0.1

    def validate(self) -> None:
        super().validate()
        if not 0.0 < self.phi <= 1.0:
            raise ConfigError(f"phi={self.phi} must be in (0, 1]")


@register_policy
class AlphaClearing(AlphaProtection):
    """α-protection with φ-clearing (MC-SF paper benchmark)."""

    name = "alpha_clearing"
    Params = ClearingParams

    def victims(self, view: SchedulerView, excess: int) -> Sequence[int]:
        k = max(1, math.ceil(self.params.phi * len(view.running)))
        return [int(i) for i in order_victims(view, self.params.eviction)[:k]]
