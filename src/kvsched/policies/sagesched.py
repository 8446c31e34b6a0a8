"""SageSched (reconstruction): a Gittins-index policy on the hybrid cost, under the KV limit.

Each request's output length is read from its predicted quantiles (``view.pred_q``) as
``Q`` equally likely atoms; its service cost is the hybrid :class:`~.cost.CostModel`.

**Index.** For a request with prompt ``p``, known lower bound ``o > b`` and cost already
paid ``c_a`` (``cost(p, j)`` for a running request with ``j`` decoded tokens, 0 for a
waiting one), over the atoms ``v > b``::

    G = max over atoms D:  P(o <= D | o > b)  /  E[min(cost(p, o), cost(p, D)) - c_a | o > b]

the Gittins index for minimising mean completion time with the cost as the service
requirement (a point mass gives ``1 / remaining cost``, i.e. SRPT on cost). Higher is
served first. ``b`` is the request's progress while it runs; an evicted request keeps
the progress it had reached as ``b`` (its length is known to exceed it) but pays again
from zero. A request that outlives all its atoms gets a single atom at
``b + max(1, ceil(overrun * b))``.

**Queue.** Waiting requests are ordered by their index (static while they wait).

**Admission** in that order, stopping at the first that fails (``scan: stop``) or
skipping it (``scan: skip``), under the memory check ``check``:

* ``current`` -- the candidate's first round must fit: ``need + s + 1 <= M`` (vLLM-like;
  memory that runs out later is handled by eviction);
* ``future_peak`` -- MC-SF's exact future-peak check with each request's length taken
  as its conditional ``peak_quantile`` quantile given its progress.

**Preemption** (``preemption``):

* ``none`` -- a started request runs to its end unless memory overflows;
* ``index`` -- before admission, for each waiting request in queue order that does not
  fit (current check), running requests whose index is lower than the candidate's by a
  factor ``1 + margin`` are evicted, lowest index first, if that frees enough memory for
  the candidate; it stops at the first candidate that cannot be placed. Needs
  ``check: current``. Evicted requests lose their KV cache (recompute).

**Overflow** (predictions too short): evict the lowest-index running requests first
(newest first among ties) until the batch fits.

``srpt`` is the same policy with ``cost_kind: output`` (cost = output tokens). With the
oracle predictor and the defaults it is shortest-(remaining-)output-first under the exact
future-peak check (oracle SJF, i.e. MC-SF with true lengths); with ``preemption: index``
it is SRPT with recompute preemption. Our oracle reference: a strong oracle heuristic,
not a proven bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from ..errors import ConfigError
from ..latency.base import LinearLatency, unit_rounds
from ..sim.view import RUNNING, SchedulerView
from .admission import QUIET_HORIZON
from .base import INF_ROUNDS, Policy, check_choice, cover_excess, order_victims
from .cost import COST_KINDS, MEM_WEIGHTS, CostModel
from .future_peak import PeakProfile, first_fit_any
from .registry import register_policy

_EPS = 1e-12
# rounds quiet_rounds looks ahead for a voluntary preemption: the look costs (batch x horizon)
# index evaluations; 16-32 was fastest on azure_conv at 0.75 requests/s (64: +20 %, 256: x4)
PREEMPT_HORIZON = 32


def gittins_index(atoms: np.ndarray, prompt: np.ndarray, lower: np.ndarray, paid: np.ndarray,
                  cm: CostModel, overrun: float = 0.5) -> np.ndarray:
    """Gittins index of each request (rows): ``atoms`` (R, Q) equally likely output lengths,
    sorted per row; the output is known to exceed ``lower`` (R,); ``paid`` (R,) is the cost
    already incurred in the current run. Returns (R,) indices (1 / time unit)."""
    V = np.asarray(atoms, dtype=np.float64)
    if V.ndim == 1:
        V = V[None, :]
    R = V.shape[0]
    lower = np.asarray(lower, dtype=np.float64).reshape(R)
    p = np.asarray(prompt, dtype=np.float64).reshape(R)
    paid = np.asarray(paid, dtype=np.float64).reshape(R)
    alive = V > lower[:, None]
    dead = ~alive.any(axis=1)
    if dead.any():
        V = V.copy()
        V[dead] = (lower[dead] + np.maximum(1.0, np.ceil(overrun * lower[dead])))[:, None]
        alive[dead] = True
    n_alive = alive.sum(axis=1).astype(np.float64)
    cV = cm.cost(p[:, None], V)
    cnt = np.cumsum(alive, axis=1)
    sums = np.cumsum(np.where(alive, cV, 0.0), axis=1)
    expect = (sums + (n_alive[:, None] - cnt) * cV) / n_alive[:, None]
    den = np.maximum(expect - paid[:, None], _EPS)
    ratio = np.where(alive, (cnt / n_alive[:, None]) / den, -np.inf)
    return ratio.max(axis=1)


def conditional_quantile(atoms: np.ndarray, lower: np.ndarray, level: float, overrun: float = 0.5) -> np.ndarray:
    """The ``level`` quantile of each row's atoms above ``lower`` (the overrun atom if none).
    Rows of ``atoms`` are sorted."""
    V = np.asarray(atoms, dtype=np.float64)
    lower = np.asarray(lower, dtype=np.float64)
    if len(V) == 0:
        return np.zeros(0)
    Q = V.shape[1]
    first = (V <= lower[:, None]).sum(axis=1)                    # atoms at or below the bound
    n_alive = Q - first
    pos = np.minimum(Q - 1, first + np.floor(level * n_alive).astype(np.int64))
    out = V[np.arange(len(V)), pos]
    dead = n_alive == 0
    out[dead] = lower[dead] + np.maximum(1.0, np.ceil(overrun * lower[dead]))
    return out


def conditional_quantile_one(atoms: np.ndarray, lower: int, level: float, overrun: float = 0.5) -> float:
    """:func:`conditional_quantile` of one sorted row, the same value without the array
    overhead (a policy asks for one candidate at a time)."""
    Q = len(atoms)
    first = int(np.searchsorted(atoms, lower, side="right"))   # atoms at or below the bound
    if first == Q:
        return float(lower) + max(1.0, math.ceil(overrun * float(lower)))
    return float(atoms[min(Q - 1, first + math.floor(level * (Q - first)))])


CHECKS = ("current", "future_peak")
SCANS = ("stop", "skip")
PREEMPTIONS = ("none", "index")
EVICTIONS = ("least_progress", "newest", "index")


@dataclass(frozen=True)
class SageParams:
    cost_kind: str = "hybrid"                  # hybrid | output
    mem_weight: Union[str, float] = "share"    # share | c_kv | a number (see policies/cost.py)
    check: str = "future_peak"                 # current | future_peak
    peak_quantile: float = 0.5                 # quantile level for the future-peak check
    scan: str = "stop"                         # stop | skip
    preemption: str = "none"                   # none | index
    margin: float = 1.0                        # preempt if the candidate's index > (1 + margin) x victim's
    overrun: float = 0.5                       # a request past all its atoms: b + ceil(overrun * b) tokens
    eviction: str = "least_progress"           # overflow victims: least_progress | newest | index

    def validate(self) -> None:
        for key, val, ok in (("cost_kind", self.cost_kind, COST_KINDS), ("check", self.check, CHECKS),
                             ("scan", self.scan, SCANS), ("preemption", self.preemption, PREEMPTIONS),
                             ("eviction", self.eviction, EVICTIONS)):
            check_choice(key, val, ok)
        if isinstance(self.mem_weight, str) and self.mem_weight not in MEM_WEIGHTS:
            raise ConfigError(f"mem_weight={self.mem_weight!r}; choose one of {', '.join(MEM_WEIGHTS)} or a number")
        if not 0.0 < self.peak_quantile < 1.0:
            raise ConfigError("peak_quantile must be in (0, 1)")
        if self.margin < 0 or self.overrun <= 0:
            raise ConfigError("need margin >= 0 and overrun > 0")
        if self.preemption == "index" and self.check != "current":
            raise ConfigError("preemption 'index' needs check 'current'")


@register_policy
class SageSched(Policy):
    """Gittins index on the hybrid cost of the predicted length distribution."""

    name = "sagesched"
    Params = SageParams
    uses_latency = True

    def __init__(self, params=None, *, capacity: int, seed: int = 0, latency: LinearLatency | None = None):
        super().__init__(params, capacity=capacity, seed=seed)
        self.latency = latency if latency is not None else unit_rounds()
        self.cm = CostModel.from_latency(self.latency, self.capacity, self.params.mem_weight,
                                         self.params.cost_kind)
        self._lower: np.ndarray | None = None     # known lower bound on each request's output
        self._gwait: np.ndarray | None = None     # index of each waiting request (set on enqueue)
        self.voluntary_preemption = self.params.preemption != "none"

    # --- indices -----------------------------------------------------------------------
    def _lb(self, view: SchedulerView) -> np.ndarray:
        if self._lower is None:
            self._lower = np.zeros(len(view.prompt), dtype=np.int64)
        return self._lower

    def index(self, view: SchedulerView, ids) -> np.ndarray:
        """Current Gittins index of requests ``ids`` (running: given progress; else fresh)."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return np.zeros(0)
        j = np.where(view.status[ids] == RUNNING, view.progress[ids], 0)
        return self._index_at(view, ids, j)

    def _index_at(self, view: SchedulerView, ids: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Gittins index of requests ``ids`` in a run that has decoded ``j`` tokens (ids may repeat)."""
        lower = np.maximum(self._lb(view)[ids], j)
        paid = self.cm.paid(view.prompt[ids], j)
        return gittins_index(view.pred_q[ids], view.prompt[ids], lower, paid, self.cm, self.params.overrun)

    def _remember(self, view: SchedulerView, ids) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        lb = self._lb(view)
        lb[ids] = np.maximum(lb[ids], view.progress[ids])

    # --- hooks -------------------------------------------------------------------------
    def queue_key(self, view, ids):
        g = self.index(view, ids)
        if self._gwait is None:
            self._gwait = np.zeros(len(view.prompt))
        self._gwait[np.asarray(ids, dtype=np.int64)] = g   # static while the request waits
        return -g

    def victims(self, view: SchedulerView, excess: int) -> Sequence[int]:
        if self.params.eviction == "index":
            run = np.asarray(view.running)
            order = run[np.lexsort((-view.admit_seq[run], self.index(view, run)))]
        else:
            order = order_victims(view, self.params.eviction)
        out = cover_excess(view, order, excess)
        self._remember(view, out)
        return out

    def preempt(self, view: SchedulerView) -> Sequence[int]:
        if self.params.preemption == "none" or len(view.waiting) == 0 or len(view.running) == 0:
            return ()
        run = np.asarray(view.running)
        g = self.index(view, run)
        order = np.lexsort((-view.admit_seq[run], g))
        run, g = run[order], g[order]
        freed_each = view.prompt[run] + view.progress[run] + 1
        taken = np.zeros(len(run), dtype=bool)
        free = view.free
        out: list[int] = []
        wait = np.asarray(view.waiting)
        gw = self._gwait[wait]
        for i, gi in zip(wait, gw):
            need = int(view.prompt[i]) + 1
            if need <= free:
                free -= need
                continue
            cand = (~taken) & (g * (1.0 + self.params.margin) < gi)
            if not cand.any():
                break
            idx = np.flatnonzero(cand)
            cum = np.cumsum(freed_each[idx])
            k = int(np.searchsorted(cum, need - free))
            if k >= len(idx):
                break
            use = idx[:k + 1]
            taken[use] = True
            free += int(cum[k]) - need
            out += [int(x) for x in run[use]]
        if out:
            self._remember(view, out)
        return out

    def admit(self, view: SchedulerView) -> Sequence[int]:
        out: list[int] = []
        wait = np.asarray(view.waiting)
        if len(wait) == 0 or (view.evicted_now and len(view.running)):
            return out  # no admissions in a round that overflowed (as vLLM): no re-admit thrash
        if self.params.check == "current":
            free = view.free
            for i in wait:
                need = int(view.prompt[i]) + 1
                if need <= free:
                    out.append(int(i)); free -= need
                elif self.params.scan == "stop":
                    break
            return out
        prof = self._profile(view)
        for i in wait:
            r, base = self._candidate(view, int(i))
            if prof.fits(r, base):
                prof.add(r, base); out.append(int(i))
            elif self.params.scan == "stop":
                break
        return out

    def _profile(self, view: SchedulerView) -> PeakProfile:
        """Running requests' memory profile with lengths at their conditional ``peak_quantile``."""
        run = np.asarray(view.running)
        s, j = view.prompt[run], view.progress[run]
        lower = np.maximum(self._lb(view)[run], j)
        q = conditional_quantile(view.pred_q[run], lower, self.params.peak_quantile, self.params.overrun)
        rem = np.minimum(np.maximum(q - j, 1), np.maximum(self.capacity - s - j, 1)).astype(np.int64)
        return PeakProfile(self.capacity, rem, s + j + 1)

    def _candidate(self, view: SchedulerView, i: int) -> tuple[int, int]:
        s = int(view.prompt[i])
        q = conditional_quantile_one(view.pred_q[i], int(self._lb(view)[i]), self.params.peak_quantile,
                                     self.params.overrun)
        return int(min(max(q, 1), max(self.capacity - s, 1))), s + 1

    def quiet_rounds(self, view: SchedulerView) -> int:
        if len(view.waiting) == 0:
            return INF_ROUNDS
        if self.params.preemption != "none":
            return self._preempt_quiet(view)
        if self.params.check == "current":
            return INF_ROUNDS  # free memory only shrinks until a completion: blocked stays blocked
        # future_peak: until an arrival, completion or eviction the head and its estimate stay
        # fixed, and each running request's predicted last round (in absolute rounds) can only
        # move later: its conditional quantile given ``o > progress`` rises as progress passes
        # atoms, and past all of them the overrun atom grows with progress. So the predicted
        # memory at every future round only grows, and a delay at which the head does not fit
        # under today's profile fails later too: today's first fit is a safe skip (for ``skip``,
        # the first round at which any waiting request fits).
        w = view.waiting[:1] if self.params.scan == "stop" else view.waiting
        cand = np.array([self._candidate(view, int(i)) for i in w], dtype=np.int64)
        return max(1, first_fit_any(self._profile(view), cand[:, 0], cand[:, 1], QUIET_HORIZON))

    def _preempt_quiet(self, view: SchedulerView) -> int:
        """Rounds until ``preempt`` could evict, looking ``PREEMPT_HORIZON`` rounds ahead.

        Between events the running set, the queue and its indices stay fixed, each running
        request gains one token a round and the free memory falls by the batch size. In
        ``preempt``'s walk every request before the first one that does not fit does fit, so
        that one is the first whose prefix sum of needs exceeds the free memory; ``preempt``
        evicts only if the running requests whose index (at their progress then) is low
        enough free what it lacks. Admission stays blocked (``check: current``)."""
        run, wait = np.asarray(view.running), np.asarray(view.waiting)
        B = len(run)
        if B == 0:
            return 1
        h = np.arange(1, PREEMPT_HORIZON, dtype=np.int64)                   # rounds ahead
        need = view.prompt[wait].astype(np.int64) + 1
        cum = np.cumsum(need)
        free = view.free - B * h
        first = np.searchsorted(cum, free, side="right")      # the first that does not fit
        blocked = first < len(wait)
        first = np.minimum(first, len(wait) - 1)
        lacks = need[first] - (free - np.where(first > 0, cum[np.maximum(first - 1, 0)], 0))
        g_head = self._gwait[wait][first]
        j = view.progress[run][:, None] + h[None, :]                        # (B, H - 1)
        g = self._index_at(view, np.repeat(run, len(h)), j.ravel()).reshape(B, len(h))
        held = view.prompt[run][:, None] + j + 1                            # tokens freed
        frees = np.where(g * (1.0 + self.params.margin) < g_head[None, :], held, 0).sum(axis=0)
        hit = np.flatnonzero(blocked & (frees >= lacks))
        return int(h[hit[0]]) if len(hit) else PREEMPT_HORIZON


@dataclass(frozen=True)
class SrptParams(SageParams):
    cost_kind: str = "output"


@register_policy
class Srpt(SageSched):
    """SRPT/SJF on output tokens (with the oracle predictor: the oracle reference)."""

    name = "srpt"
    Params = SrptParams
