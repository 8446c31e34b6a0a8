"""Scheduling with interval predictions (Chen, Ye, Zhou, arXiv 2508.14544; papers.md section 3)
and the hindsight shortest-first benchmark.

Each request carries an interval ``[pred_lo, pred_hi]`` that contains its true output
length (the ``interval`` predictor). Both policies below are MC-SF's greedy admission
(shortest estimate first, admitted while the future-peak check holds on the estimates,
stopping at the first that fails) with different estimates:

* ``amax`` -- A_max: plans as if every ``o = pred_hi``. Since ``o <= pred_hi`` the planned
  memory dominates the real one at every round, so it never overflows [known].
* ``amin`` -- A_min: starts from ``pred_lo`` and packs optimistically; while a request
  decodes its estimate is ``max(estimate, progress + 1)`` (a request that has produced
  ``k`` tokens and is unfinished has ``o >= k + 1``) [known]. On overflow it evicts the
  running requests with the least progress first, ties broken at random with the policy's
  seeded generator; an evicted request returns to the queue keeping its raised estimate
  ``progress + 1`` [inferred; ``ties: newest`` and ``keep_estimate: false`` are the
  alternatives].
* ``hsf`` -- H-SF, the hindsight shortest-first benchmark: MC-SF with true lengths. It
  refuses to run unless the predictor is the oracle (checked at the first decision through
  ``SchedulerView.oracle``), so ``algorithm=hsf`` always means ``mcsf`` + ``predictor=oracle``.

Per-request state (A_min's raised estimates) lives in an array indexed by request id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError, PolicyError
from ..sim.view import SchedulerView
from .admission import MCSF, GreedyAdmission, McsfParams
from .base import EVICTION_RULES, cover_excess, check_choice
from .registry import register_policy


def _interval_end(view: SchedulerView, ids, which: str, policy: str) -> np.ndarray:
    v = (view.pred_hi if which == "hi" else view.pred_lo)[ids]
    if np.any(v < 1):
        raise PolicyError(f"policy {policy!r} needs interval predictions (pred_lo/pred_hi); "
                          f"use predictor=interval (or oracle)")
    return v


@dataclass(frozen=True)
class AmaxParams:
    """eviction: rule on overflow (unreachable when o <= pred_hi, kept for robustness to
    predictors whose intervals may miss)."""

    eviction: str = "newest"

    def validate(self) -> None:
        check_choice("eviction", self.eviction, EVICTION_RULES)


@register_policy
class AMax(GreedyAdmission):
    """A_max: MC-SF on the upper ends ``pred_hi`` (shortest upper end first)."""

    name = "amax"
    Params = AmaxParams
    by_prediction = True
    needs_intervals = True

    def _est(self, view, ids):
        return _interval_end(view, ids, "hi", self.name)


TIES = ("random", "newest")


@dataclass(frozen=True)
class AminParams:
    """ties: how least-progress ties are broken on eviction ('random': seeded, 'newest').
    keep_estimate: an evicted request keeps its raised estimate progress + 1 (else it
    restarts from pred_lo)."""

    ties: str = "random"
    keep_estimate: bool = True

    def validate(self) -> None:
        check_choice("ties", self.ties, TIES)


@register_policy
class AMin(GreedyAdmission):
    """A_min: optimistic MC-SF on refined lower ends, least-progress eviction."""

    name = "amin"
    Params = AminParams
    by_prediction = True
    needs_intervals = True

    def __init__(self, params=None, *, capacity: int, seed: int = 0):
        super().__init__(params, capacity=capacity, seed=seed)
        self._known: np.ndarray | None = None   # per request: largest proven lower bound on o

    def _known_for(self, view: SchedulerView) -> np.ndarray:
        if self._known is None:
            self._known = np.zeros(len(view.status), dtype=np.int64)
        return self._known

    def _est(self, view, ids):
        # for a running request, remaining_rounds() already plans max(est - progress, 1)
        # rounds, i.e. the refined estimate max(est, progress + 1)
        return np.maximum(_interval_end(view, ids, "lo", self.name), self._known_for(view)[ids])

    def victims(self, view: SchedulerView, excess: int) -> Sequence[int]:
        run = np.asarray(view.running)
        prog = view.progress[run]
        tie = self.rng.random(len(run)) if self.params.ties == "random" else -view.admit_seq[run]
        out = cover_excess(view, run[np.lexsort((tie, prog))], excess)
        if self.params.keep_estimate:
            known = self._known_for(view)
            v = np.asarray(out, dtype=np.int64)
            known[v] = np.maximum(known[v], view.progress[v] + 1)
        return out


@register_policy
class HSF(MCSF):
    """H-SF: hindsight shortest-first (MC-SF with the true lengths). Requires predictor=oracle."""

    name = "hsf"
    Params = McsfParams
    needs_oracle = True
    oracle_alternative = "with another predictor use algorithm=mcsf"

    def admit(self, view):
        if not view.oracle:     # a run checks this before simulating; this guards direct use
            raise PolicyError(f"hsf is the hindsight benchmark and needs predictor=oracle "
                              f"({self.oracle_alternative})")
        return super().admit(view)
