"""Non-preemptive schedules in unit rounds, their objective, and their validation.

A schedule gives each request ``i`` a start round ``p_i`` (an integer, ``p_i >= ceil(a_i)``).
In its ``j``-th round (``j = 1..o_i``, i.e. round ``p_i + j - 1``) the request holds
``s_i + j`` KV tokens; it completes at ``c_i = p_i + o_i``. The schedule is feasible when
every round holds at most ``M`` tokens, and its objective is the total latency
``sum_i (c_i - a_i)`` (papers.md section 0).

Two independent checks are provided:

* :func:`evaluate` computes feasibility, objective and peak memory directly with numpy;
* :func:`replay` runs the schedule through the simulator (:mod:`kvsched.sim.engine`) with
  the private :class:`FixedStarts` policy, which admits exactly the given starts, and
  reads the objective and peak back from the simulator's record.

Every schedule a solver in :mod:`kvsched.optimum` reports has passed :func:`validate`
(both checks, which must agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import PolicyError, SimulationError
from ..policies.base import INF_ROUNDS, Policy
from ..sim.view import SchedulerView
from ..workload import Workload


class ScheduleError(Exception):
    """A schedule failed validation (infeasible, or the two checks disagree)."""


@dataclass(frozen=True)
class Schedule:
    """Start round per request (indexed like the workload)."""

    starts: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "starts", np.asarray(self.starts, dtype=np.int64))

    def completions(self, workload: Workload) -> np.ndarray:
        return self.starts + workload.output


def earliest_starts(workload: Workload) -> np.ndarray:
    """``ceil(a_i)``: the first round request ``i`` can start in."""
    return np.ceil(workload.arrival - 1e-9).astype(np.int64)


def check_instance(workload: Workload, M: int) -> None:
    """Raise ValueError unless the instance is one this package solves: unit rounds, a whole
    number ``M`` of tokens, and every request able to run alone (``s_i + o_i <= M`` tokens in its
    last round; otherwise no schedule is feasible)."""
    if workload.time_unit != "rounds":
        raise ValueError(f"the hindsight optimum is defined in unit rounds; workload {workload.name!r} "
                         f"is in {workload.time_unit!r}")
    if isinstance(M, bool) or not float(M).is_integer() or M < 1:
        raise ValueError(f"M must be a positive whole number of tokens, got {M!r}")
    need = workload.prompt + workload.output
    if len(need) and np.any(need > M):
        i = int(np.argmax(need > M))
        raise ValueError(f"request {i} needs {int(need[i])} tokens in its last round (prompt "
                         f"{int(workload.prompt[i])} + output {int(workload.output[i])}) > M = {M}: "
                         "no schedule is feasible")


def _start_rounds(workload: Workload, starts: Sequence[int]) -> np.ndarray | None:
    """``starts`` as int64 rounds, or None unless it is one whole number per request (True/False
    are not start rounds)."""
    p = np.asarray(starts)
    if p.shape != (len(workload),) or p.dtype == bool or (len(p) and not np.all(p == np.round(p))):
        return None
    return p.astype(np.int64)


def memory_profile(workload: Workload, starts: Sequence[int]) -> np.ndarray:
    """Tokens held in each round ``0..max completion - 1``."""
    p = np.asarray(starts, dtype=np.int64)
    s, o = workload.prompt, workload.output
    if len(p) == 0:
        return np.zeros(0, dtype=np.int64)
    T = int(np.max(p + o))
    # memory of i in round t (p <= t < p + o) is s + 1 + (t - p): a constant and a ramp.
    # Second differences: +(s+1) at p, -(s+1) at p+o for the constant; the ramp t - p over
    # [p, p+o) is built from a slope array (+1 from p+1, -1 from p+o) minus the end value.
    const = np.zeros(T + 1, dtype=np.int64)
    np.add.at(const, p, s + 1)
    np.add.at(const, p + o, -(s + 1))
    slope = np.zeros(T + 2, dtype=np.int64)
    np.add.at(slope, p + 1, 1)
    np.add.at(slope, p + o, -1)
    drop = np.zeros(T + 1, dtype=np.int64)
    np.add.at(drop, p + o, -(o - 1))
    ramp = np.cumsum(np.cumsum(slope)[: T + 1] + drop)
    return (np.cumsum(const) + ramp)[:T]


def objective(workload: Workload, starts: Sequence[int]) -> float:
    """Total latency ``sum (p_i + o_i - a_i)``."""
    p = np.asarray(starts, dtype=np.int64)
    return float(np.sum(p + workload.output - workload.arrival))


def evaluate(workload: Workload, M: int, starts: Sequence[int]) -> tuple[bool, float, int]:
    """(feasible, total latency, peak memory) of a schedule, computed directly.

    Feasible means: one integer start per request, no start before ``ceil(a_i)``, and every
    round holds at most ``M`` tokens."""
    p = _start_rounds(workload, starts)
    if p is None:
        return False, float("nan"), -1
    mem = memory_profile(workload, p)
    peak = int(mem.max()) if len(mem) else 0
    ok = bool(np.all(p >= earliest_starts(workload)) and peak <= M)
    return ok, objective(workload, p), peak


class _Overflow(Exception):
    pass


class FixedStarts(Policy):
    """Admits exactly the requests whose start round has come (unit time base).

    Private to the optimum package: its parameter is a whole schedule, which does not fit
    the registry's scalar-parameter configs. Memory overflow aborts the replay."""

    name = "fixed_schedule"
    may_idle = True

    def __init__(self, starts: Sequence[int], *, capacity: int):
        super().__init__(capacity=capacity)
        self.starts = np.asarray(starts, dtype=np.int64)

    def _now(self, view: SchedulerView) -> int:
        return int(round(view.clock))

    def admit(self, view: SchedulerView) -> Sequence[int]:
        w = np.asarray(view.waiting)
        return [int(i) for i in w[self.starts[w] == self._now(view)]]

    def victims(self, view: SchedulerView, excess: int) -> Sequence[int]:
        raise _Overflow(f"memory overflows by {excess} tokens in round {self._now(view)}")

    def quiet_rounds(self, view: SchedulerView) -> int:
        w = np.asarray(view.waiting)
        if len(w) == 0:
            return INF_ROUNDS
        return max(1, int(np.min(self.starts[w])) - self._now(view))


def replay(workload: Workload, M: int, starts: Sequence[int]) -> tuple[bool, float, int]:
    """(feasible, total latency, peak memory) of a schedule as the simulator runs it.

    Infeasible when the simulator rejects an admission, memory would overflow, a request
    does not start in its scheduled round, or the run does not finish."""
    from ..latency.base import unit_rounds
    from ..predictors import build_predictor
    from ..sim.engine import simulate

    p = _start_rounds(workload, starts)
    if p is None or np.any(p < earliest_starts(workload)):
        return False, float("nan"), -1
    try:
        rec = simulate(workload, FixedStarts(p, capacity=M), build_predictor({"name": "oracle"}), M,
                       unit_rounds())
    except (_Overflow, PolicyError, SimulationError):
        return False, float("nan"), -1
    if (np.any(rec.evictions) or np.any(np.isnan(rec.completion))
            or not np.array_equal(rec.first_start, p.astype(float)) or rec.peak_memory > M):
        return False, float("nan"), int(rec.peak_memory)
    return True, float(np.sum(rec.completion - workload.arrival)), int(rec.peak_memory)


def validate(workload: Workload, M: int, starts: Sequence[int]) -> float:
    """Check a schedule both ways; return its total latency or raise :class:`ScheduleError`."""
    ok1, obj1, peak1 = evaluate(workload, M, starts)
    ok2, obj2, peak2 = replay(workload, M, starts)
    if not (ok1 and ok2):
        raise ScheduleError(f"infeasible schedule (direct check {ok1}, simulator replay {ok2}, peak {peak1}, M={M})")
    if abs(obj1 - obj2) > 1e-6 or peak1 != peak2:
        raise ScheduleError(f"direct check and replay disagree: objective {obj1} vs {obj2}, peak {peak1} vs {peak2}")
    return obj1


def left_shift(workload: Workload, M: int, starts: Sequence[int], max_passes: int = 50) -> np.ndarray:
    """Improve a feasible schedule by moving requests, one at a time, to their earliest
    start that keeps every round within ``M`` (others fixed). Never increases any
    completion time, so the objective never grows."""
    p = np.asarray(starts, dtype=np.int64).copy()
    s, o = workload.prompt, workload.output
    lo = earliest_starts(workload)
    for _ in range(max_passes):
        moved = False
        for i in np.argsort(p, kind="stable"):
            if p[i] == lo[i]:
                continue
            mem = memory_profile(workload, p)
            # memory without i
            r = np.arange(p[i], p[i] + o[i])
            mem[r] -= s[i] + 1 + (r - p[i])
            q = np.arange(int(lo[i]), int(p[i]))[:, None]          # candidate starts
            j = np.arange(int(o[i]))[None, :]
            ok = np.all(mem[q + j] + s[i] + 1 + j <= M, axis=1)
            if np.any(ok):
                p[i] = int(q[np.argmax(ok), 0])
                moved = True
        if not moved:
            break
    return p
