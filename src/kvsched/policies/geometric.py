"""GSA and GBA (Feng, Yang, Zhang, arXiv 2601.22996; papers.md section 4): geometric phases
run as staggered pipelines.

Known: the offline batch setting (all requests at 0). GSA (geometric slicing) is
non-clairvoyant; it restarts jobs at the end of geometrically growing phases to bound
memory exposure, and staggers starts so that memory stays smooth and concurrency high
(ratio <= 61.92, <= 32 with large memory). GBA (geometric batching) is the clairvoyant
counterpart (<= 10.67, <= 6.75 with large memory).

Reconstruction (every choice below is ours and named by a parameter):

* Budgets ``L_k = ceil(l0 * beta**k)`` decode steps, ``k = 0, 1, ...``.
* **GSA** phase ``k`` runs every unfinished job (with ``late: wait``, that had arrived when
  the phase began), in ``order`` (``fcfs`` or smallest ``prompt`` first). A job still
  running after ``L_k`` tokens is killed (its KV cache dropped, its progress lost: an
  eviction through the ``preempt`` hook) and waits for phase ``k+1``. GSA never reads
  predictions.
* **GBA** puts each job in length class ``k`` = the smallest ``k`` with ``pred <= L_k``
  and runs the non-empty classes shortest first (phase ``k`` = the waiting jobs of class
  ``k`` or smaller that had arrived when the phase began), in ``order`` (``pred``: shortest
  prediction first, ``fcfs`` or ``prompt``) within a class; jobs run to completion (no
  restarts).
* **Online arrivals** (the paper's setting has none; ``late``). ``wait`` (default): a phase
  runs only the jobs that had arrived when it began, and later arrivals wait for a later
  phase, the usual batching of an offline algorithm. ``join``: a later arrival joins the
  running phase when it is eligible (GBA: its class is at most the phase's; GSA: always), and
  the pipeline shape is recomputed over the phase's waiting and running jobs whenever one
  joins. (Joining with the shape fixed at the phase's start, as an earlier version did, kept
  one phase shaped for 3 concurrent jobs open through the whole ``azure_code`` trace, at its
  recorded times and at 0.5 requests/s, with M = 16,492.) With all jobs present at round 0 the two are the same.
* A phase ends when none of its jobs is running or left to start; the next begins at once.
  GSA restarts from phase 0 when no waiting job has been killed before (a fresh busy period).
* **Staggered pipeline.** With budget ``L`` (GBA: the longest prediction in the phase, at
  most ``L_k``) and mean prompt ``s̄`` of the phase's jobs, ``c`` jobs whose progress is
  evenly spread over ``L`` hold about ``c*s̄ + L*(c+1)/2`` tokens; the concurrency is the
  largest ``c >= 1`` keeping that ``<= M``: ``c = floor((M - L/2) / (s̄ + L/2))``. Starts
  are spaced to spread progress: one start every ``g = floor(L/c)`` rounds when ``c <= L``,
  else ``ceil(c/L)`` starts every round; at most ``c`` jobs run. The slot grid is anchored
  at the phase start and re-anchored whenever the batch empties. ``stagger: false`` starts
  up to ``c`` jobs at once instead (ablation).
* **Memory guard.** A start must also pass MC-SF's exact future-peak check with every job
  assumed to run to its budget (GSA: ``min(L_k, M - s)``; GBA: its prediction), stopping at
  the first that fails. GSA therefore never overflows; GBA does not with exact predictions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..sim.view import FUTURE, SchedulerView
from .base import EVICTION_RULES, INF_ROUNDS, Policy, check_choice
from .future_peak import PeakProfile, remaining_rounds
from .registry import register_policy


def budget(l0: float, beta: float, k: int) -> int:
    """L_k = ceil(l0 * beta**k), at least 1 (decode steps)."""
    return max(1, math.ceil(l0 * beta ** k - 1e-9))


def length_class(o: np.ndarray, l0: float, beta: float) -> np.ndarray:
    """Smallest k with o <= L_k, per element."""
    o = np.asarray(o, dtype=np.float64)
    k = np.maximum(0, np.ceil(np.log(np.maximum(o, 1) / l0) / math.log(beta) - 1e-9)).astype(np.int64)
    k = np.maximum(k - 1, 0)   # start one below, then step up exactly with integer budgets
    if not len(k):
        return k
    table: list[int] = []      # budget(l0, beta, j) for j = 0, 1, ...: few classes, many requests
    while True:
        while len(table) <= int(k.max()):
            table.append(budget(l0, beta, len(table)))
        up = o > np.asarray(table, dtype=np.int64)[k]
        if not np.any(up):
            return k
        k = k + up


def _arrived(view: SchedulerView) -> int:
    """How many requests have arrived (ids ``0 .. count - 1``, the arrival order)."""
    return int(np.count_nonzero(view.status != FUTURE))


def pipeline_shape(M: int, L: int, s_mean: float, stagger: bool) -> tuple[int, int, int]:
    """``(c, g, b)``: concurrency, rounds between start slots, starts per slot."""
    c = max(1, int(math.floor((M - L / 2.0) / (s_mean + L / 2.0))))
    if not stagger:
        return c, 1, c
    if c <= L:
        return c, max(1, L // c), 1
    return c, 1, math.ceil(c / L)


@dataclass(frozen=True)
class GeometricParams:
    beta: float = 2.0
    l0: float = 1.0
    stagger: bool = True
    order: str = "fcfs"
    eviction: str = "newest"
    late: str = "wait"

    ORDERS = ("fcfs", "prompt")
    LATE = ("wait", "join")

    def validate(self) -> None:
        if not self.beta > 1.0:
            raise ConfigError(f"beta={self.beta} must be > 1")
        if not self.l0 >= 1.0:
            raise ConfigError(f"l0={self.l0} must be >= 1")
        if self.order not in self.ORDERS:
            raise ConfigError(f"order={self.order!r}; choose one of {', '.join(self.ORDERS)}")
        check_choice("eviction", self.eviction, EVICTION_RULES)
        check_choice("late", self.late, self.LATE)


class StaggeredPhases(Policy):
    """Shared phase / staggered-pipeline machinery of GSA and GBA."""

    Params = GeometricParams

    def __init__(self, params=None, *, capacity: int, seed: int = 0):
        super().__init__(params, capacity=capacity, seed=seed)
        # kill-and-restart at budgets growing by beta redoes a geometric series of work (the
        # livelock watchdog's allowance; +1 for the budgets' rounding up)
        self.rework_factor = self.params.beta / (self.params.beta - 1.0) + 1.0
        self.phase = -1
        # requests arrived when the phase began / when the shape was last computed: ids are positions
        # in arrival order, so those are the ids below these counts (a clock comparison would miss a
        # request the engine counts as arrived at a round boundary that float sums put just before it)
        self.phase_seen = 0
        self.L = 1
        self.c, self.g, self.b = 1, 1, 1
        self.anchor = 0
        self.shape_seen = 0
        self._started_in: np.ndarray | None = None   # per request: phase of its last start

    # --- subclass hooks ----------------------------------------------------------------
    def _eligible(self, view: SchedulerView, wait: np.ndarray, k: int) -> np.ndarray:
        """Of the candidate waiting jobs ``wait``, those phase ``k`` may start."""
        raise NotImplementedError

    def _next_phase(self, view: SchedulerView, wait: np.ndarray) -> int:
        raise NotImplementedError

    def _phase_length(self, view: SchedulerView, elig: np.ndarray) -> int:
        return budget(self.params.l0, self.params.beta, self.phase)

    def _plan_rem(self, view: SchedulerView, ids: np.ndarray, progress: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # --- machinery ---------------------------------------------------------------------
    def _state(self, view: SchedulerView) -> np.ndarray:
        if self._started_in is None:
            self._started_in = np.full(len(view.status), -1, dtype=np.int64)
        return self._started_in

    def _order(self, view: SchedulerView, ids: np.ndarray) -> np.ndarray:
        if self.params.order == "prompt":
            return ids[np.argsort(view.prompt[ids], kind="stable")]
        return ids

    def _phase_jobs(self, view: SchedulerView, wait: np.ndarray, k: int) -> np.ndarray:
        """Phase ``k``'s eligible waiting jobs (``late: wait``: only those arrived by its start)."""
        if self.params.late == "wait":
            wait = wait[wait < self.phase_seen]
        return self._eligible(view, wait, k)

    def _reshape(self, view: SchedulerView, ids: np.ndarray) -> None:
        """Pipeline shape (and GBA's budget ``L``) for the jobs ``ids``."""
        self.L = self._phase_length(view, ids)
        s_mean = float(np.mean(view.prompt[ids])) if len(ids) else 0.0
        self.c, self.g, self.b = pipeline_shape(self.capacity, self.L, s_mean, self.params.stagger)
        self.shape_seen = _arrived(view)

    def _sync(self, view: SchedulerView) -> np.ndarray:
        """Advance the phase if the current one is over; return its eligible waiting jobs."""
        wait = np.asarray(view.waiting)
        elig = self._phase_jobs(view, wait, self.phase) if self.phase >= 0 else wait[:0]
        if len(view.running) == 0:
            if len(elig) == 0 and len(wait):
                self.phase = self._next_phase(view, wait)
                self.phase_seen = _arrived(view)
                elig = self._phase_jobs(view, wait, self.phase)
                self._reshape(view, elig)
            self.anchor = view.round   # (re-)anchor the slot grid when the batch is empty
        # late: join; with wait, every eligible job arrived by the phase start, when the shape was set
        if self.params.late == "join" and len(elig) and elig.max() >= self.shape_seen:
            self._reshape(view, np.concatenate([elig, np.asarray(view.running)]))
        return elig

    def admit(self, view: SchedulerView) -> Sequence[int]:
        elig = self._sync(view)
        if len(elig) == 0 or (view.round - self.anchor) % self.g:
            return []
        run = np.asarray(view.running)
        room = min(self.b, self.c - len(run))
        if room <= 0:
            return []
        s, j = view.prompt[run], view.progress[run]
        prof = PeakProfile(self.capacity, self._plan_rem(view, run, j), s + j + 1)
        cand = self._order(view, elig)
        rems = self._plan_rem(view, cand, np.zeros(len(cand), np.int64))
        out: list[int] = []
        for i, rem in zip(cand, rems):
            if len(out) >= room:
                break
            base = int(view.prompt[i]) + 1
            if not prof.fits(int(rem), base):
                break
            prof.add(int(rem), base)
            out.append(int(i))
        if out:
            self._state(view)[out] = self.phase
        return out

    def _next_slot(self, view: SchedulerView) -> int:
        r = (view.round - self.anchor) % self.g
        return self.g - r

    def quiet_rounds(self, view: SchedulerView) -> int:
        wait = np.asarray(view.waiting)
        q = INF_ROUNDS
        if len(wait) and self.phase >= 0 and len(self._phase_jobs(view, wait, self.phase)):
            q = self._next_slot(view)
        return q


@register_policy
class GSA(StaggeredPhases):
    """Geometric slicing (non-clairvoyant): budgets L_k, kill-and-restart, staggered starts."""

    name = "gsa"
    voluntary_preemption = True
    reads_predictions = False

    def _eligible(self, view, wait, k):
        return wait[self._state(view)[wait] < k]

    def _next_phase(self, view, wait):
        if self.phase < 0 or not np.any(view.evictions[wait] > 0):
            return 0
        return self.phase + 1

    def _plan_rem(self, view, ids, progress):
        cap = np.maximum(self.capacity - view.prompt[ids], 1)
        return np.maximum(np.minimum(self.L, cap) - progress, 1)

    def preempt(self, view: SchedulerView) -> Sequence[int]:
        run = np.asarray(view.running)
        return [int(i) for i in run[view.progress[run] >= self.L]]

    def quiet_rounds(self, view: SchedulerView) -> int:
        q = super().quiet_rounds(view)
        run = np.asarray(view.running)
        if len(run):
            q = min(q, int(np.min(self.L - view.progress[run])))
        return max(1, q)


@dataclass(frozen=True)
class GbaParams(GeometricParams):
    order: str = "pred"

    ORDERS = ("pred", "fcfs", "prompt")


@register_policy
class GBA(StaggeredPhases):
    """Geometric batching (clairvoyant): length classes shortest first, staggered, no restarts."""

    name = "gba"
    Params = GbaParams

    def __init__(self, params=None, *, capacity: int, seed: int = 0):
        super().__init__(params, capacity=capacity, seed=seed)
        self._class_of: np.ndarray | None = None   # per request: its length class, -1 until needed

    def queue_key(self, view, ids):
        return view.pred[ids]

    def _classes(self, view, ids):
        # a prediction is written once, on arrival, so each request's class is computed once
        if self._class_of is None or len(self._class_of) != len(view.pred):
            self._class_of = np.full(len(view.pred), -1, dtype=np.int64)
        ids = np.asarray(ids)
        new = ids[self._class_of[ids] < 0]
        if len(new):
            self._class_of[new] = length_class(view.pred[new], self.params.l0, self.params.beta)
        return self._class_of[ids]

    def _order(self, view, ids):
        if self.params.order == "pred":
            return ids                      # the queue is kept sorted by prediction
        if self.params.order == "fcfs":
            return np.sort(ids)
        return super()._order(view, ids)

    def _eligible(self, view, wait, k):
        return wait[self._classes(view, wait) <= k]

    def _next_phase(self, view, wait):
        return int(np.min(self._classes(view, wait)))

    def _phase_length(self, view, elig):
        L = budget(self.params.l0, self.params.beta, self.phase)
        return int(min(L, np.max(view.pred[elig]))) if len(elig) else L

    def _plan_rem(self, view, ids, progress):
        return remaining_rounds(view.pred[ids], progress, view.prompt[ids], self.capacity)
