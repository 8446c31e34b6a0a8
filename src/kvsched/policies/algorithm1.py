"""Algorithm 1 of the "blowed-up memory" poster (Zhou and Jiang; papers.md section 5).

Setting of the claim: all requests at time 0, equal prompts, exact predictions; the
poster states that Algorithm 1 never exceeds memory and minimises total completion time.

Reconstruction (the poster's text is not available; papers.md marks it [inferred]): a
shortest-first batch builder. At each decision point it sorts the waiting requests by
predicted output (ties by id) and admits the *largest prefix* of that order that passes
the future-peak check together with the running requests (the same exact check as
MC-SF, :mod:`kvsched.policies.future_peak`). The check is monotone in the prefix (adding
requests never lowers memory), so the largest passing prefix is what a scan that adds the
candidates in order and stops at the first failure admits: the binary search over the
prefix length that the poster's description suggests gives the same prefix (tested) at
about log2(queue length) times the cost.

``period`` says what a decision point is, the one open choice of the reconstruction:

* ``completion`` (default): a *period* is the time between events; the policy decides at
  time 0 and whenever a request completes or arrives, and otherwise admits nothing;
* ``round``: it decides every round. With exact predictions this coincides with MC-SF
  (``scan: stop``): the largest passing prefix is exactly what a scan stopping at the
  first failure admits. The simulator skips the rounds before the head could first fit,
  in which no prefix passes (same schedules as stepping every round).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..sim.view import SchedulerView
from .admission import GreedyAdmission
from .base import EVICTION_RULES, INF_ROUNDS, check_choice
from .registry import register_policy

PERIODS = ("completion", "round")


@dataclass(frozen=True)
class Algorithm1Params:
    """period: 'completion' (decide at time 0 and on every completion or arrival) or
    'round' (every round); eviction: rule used if a too-short prediction overflows memory
    (never needed with exact predictions)."""

    period: str = "completion"
    eviction: str = "newest"

    def validate(self) -> None:
        check_choice("period", self.period, PERIODS)
        check_choice("eviction", self.eviction, EVICTION_RULES)


@register_policy
class Algorithm1(GreedyAdmission):
    """Largest shortest-first prefix whose future peak fits, at each period."""

    name = "algorithm1"
    Params = Algorithm1Params
    by_prediction = True

    def __init__(self, params=None, *, capacity: int, seed: int = 0):
        super().__init__(params, capacity=capacity, seed=seed)
        # right after the last decision: the running ids (sorted) and the queue (in its order)
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    def _unchanged(self, view: SchedulerView) -> bool:
        """No completion, arrival or eviction since the last decision (same running set, same
        queue: the queue's order is a function of its set)."""
        run, wait = self._last
        return (len(view.running) == len(run) and len(view.waiting) == len(wait)
                and np.array_equal(view.waiting, wait) and np.array_equal(np.sort(view.running), run))

    def admit(self, view: SchedulerView) -> Sequence[int]:
        if self.params.period == "completion" and self._last is not None and self._unchanged(view):
            return []                       # no completion or arrival since the last decision
        w = np.asarray(view.waiting)        # already sorted by prediction, ties by id
        out = list(super().admit(view))     # the largest passing prefix (scan, stop at the first failure)
        self._remember(view, w, out)
        return out

    def _remember(self, view: SchedulerView, w: np.ndarray, out: Sequence[int]) -> None:
        """The state right after admitting ``out`` from the queue ``w``."""
        adm = np.asarray(out, dtype=np.int64)
        self._last = (np.sort(np.concatenate([np.asarray(view.running, dtype=np.int64), adm])),
                      w[~np.isin(w, adm)])

    def quiet_rounds(self, view: SchedulerView) -> int:
        if self.params.period == "completion" or len(view.waiting) == 0:
            return INF_ROUNDS               # nothing happens before the next completion or arrival
        # per round: some prefix passes iff the head alone does, so the rounds until the head
        # first fits (MC-SF's ``scan: stop`` count) are rounds in which nothing is admitted
        return super().quiet_rounds(view)
