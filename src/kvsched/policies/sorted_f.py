"""Sorted-F (Wang, Ye, Zhou, arXiv 2508.06133; papers.md section 2).

Known: batches are chosen by the metric ``F(X) = sum_{i in X} o_i / |X|^2`` (small when a
batch completes many short requests), and the algorithm has a constant competitive ratio
with heterogeneous prompts, where FCFS, shortest-first and MC-SF do not.

Reconstruction (papers.md marks the details [inferred]; each choice is a parameter):

* Requests are sorted by predicted output ``pred`` (ties by id); ``F`` is computed on
  ``pred``.
* ``candidates: prefix`` (default) -- the candidate batches are the memory-feasible
  prefixes of the sorted waiting list. ``candidates: windows`` -- every memory-feasible
  contiguous window of the sorted list (any start), which lets the batch skip short
  requests with huge prompts that no large batch can contain. A start ``i`` is skipped when
  ``o_i / K_i`` (a lower bound on ``F`` of any window from ``i``, ``K_i`` = how many requests
  from ``i`` fit in the coming round's free memory) cannot beat the best ``F`` found, nor
  tie it with a larger batch.
* Memory feasibility is MC-SF's exact future-peak check on the predictions (with the
  running batch, if any): a batch is feasible if, run to its predicted lengths, it never
  exceeds ``M``. Prediction lengths are capped at ``M - s`` as in MC-SF, so a single request
  is always feasible.
* The batch with the smallest ``F`` is admitted (ties: the larger batch).
* ``overlap: false`` (default) -- batch-synchronous: the next batch is formed only when
  the whole current batch has finished and released its memory. ``overlap: true`` -- a new
  batch is formed at every round from the memory the running requests leave free
  (checked with the future-peak check against them).
* If predictions are too short and memory overflows, ``eviction`` picks the victims.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..sim.view import SchedulerView
from .base import EVICTION_RULES, INF_ROUNDS, Policy, check_choice
from .future_peak import PeakProfile, remaining_rounds
from .registry import register_policy

CANDIDATES = ("prefix", "windows")


@dataclass(frozen=True)
class SortedFParams:
    candidates: str = "prefix"
    overlap: bool = False
    eviction: str = "newest"

    def validate(self) -> None:
        check_choice("candidates", self.candidates, CANDIDATES)
        check_choice("eviction", self.eviction, EVICTION_RULES)


def best_batch(prof_factory, rem: np.ndarray, base: np.ndarray, o: np.ndarray, free: int,
               windows: bool) -> tuple[int, int]:
    """``(start, k)`` of the candidate (contiguous run of the sorted list) with the least
    ``F = sum(o)/k^2`` that passes the future-peak check; ``k = 0`` if none does.

    ``prof_factory()`` returns a fresh :class:`PeakProfile` of the running requests."""
    n = len(rem)
    best = (np.inf, 0, 0)  # (F, start, k)
    csum = np.concatenate(([0], np.cumsum(base)))
    starts = range(n) if windows else range(min(n, 1))
    for i in starts:
        kmax = int(np.searchsorted(csum, csum[i] + free, side="right")) - 1 - i  # first-round room
        if kmax <= 0:
            continue
        lb = o[i] / kmax
        if best[2] > 0 and (lb > best[0] or (lb == best[0] and kmax <= best[2])):
            continue  # no window from i can have a smaller F, or an equal F with more requests
        prof = prof_factory()
        tot = 0
        for k in range(1, kmax + 1):
            j = i + k - 1
            if not prof.fits(int(rem[j]), int(base[j])):
                break
            prof.add(int(rem[j]), int(base[j]))
            tot += int(o[j])
            f = tot / (k * k)
            if f < best[0] or (f == best[0] and k > best[2]):
                best = (f, i, k)
    return best[1], best[2]


@register_policy
class SortedF(Policy):
    """Sorted-F: batches minimising F(X) = sum(o)/|X|^2 among sorted candidates."""

    name = "sorted_f"
    Params = SortedFParams

    def queue_key(self, view, ids):
        return view.pred[ids]

    def admit(self, view: SchedulerView) -> Sequence[int]:
        if len(view.waiting) == 0:
            return []
        run = np.asarray(view.running)
        if len(run) and not self.params.overlap:
            return []
        wait = np.asarray(view.waiting)
        s = view.prompt[wait]
        o = view.pred[wait]
        rem = remaining_rounds(o, np.zeros(len(wait), np.int64), s, self.capacity)
        rs, rj = view.prompt[run], view.progress[run]
        rrem = remaining_rounds(view.pred[run], rj, rs, self.capacity)
        rbase = rs + rj + 1

        def fresh() -> PeakProfile:
            return PeakProfile(self.capacity, rrem, rbase)

        i, k = best_batch(fresh, rem, s + 1, o, view.free, self.params.candidates == "windows")
        return [int(x) for x in wait[i:i + k]]

    def quiet_rounds(self, view: SchedulerView) -> int:
        if len(view.waiting) == 0:
            return INF_ROUNDS
        if not self.params.overlap:
            # batch-synchronous: nothing is admitted until the running batch has finished,
            # and a completion is an event the engine stops at
            return INF_ROUNDS if len(view.running) else 1
        return 1
