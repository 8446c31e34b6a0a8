"""The completion-separation relaxation, solved with CP-SAT: a certified lower bound on OPT.

Relaxation: keep only the facts of :func:`~kvsched.optimum.bounds.separations` and the
release rounds. Completion rounds ``c_i`` (integers) with

    c_i >= ceil(a_i) + o_i,    and for every pair:  c_k >= c_i + D[i, k]  or  c_i >= c_k + D[k, i],

minimising ``sum_i (c_i - a_i)``. Every feasible schedule's completions satisfy these
constraints, so the relaxation's optimum, and any lower bound CP-SAT proves on it, is at most
OPT. It ignores memory shared by three or more requests and the memory area, which the other
bounds count; on the MC-SF synthetic instances with ``n <= 20`` it is much closer to OPT than
the area bound or the LP relaxation (``docs/optimum.md``), but it is itself a hard
sequencing problem, and CP-SAT rarely closes it beyond ``n ~ 20``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..workload import Workload
from .bounds import safe_deadlines, separations
from .schedule import earliest_starts


def add_separations(m, c, D: np.ndarray) -> None:
    """Add to CP-SAT model ``m``, for every pair of completion expressions ``c``: ``c_k >= c_i +
    D[i, k]`` or ``c_i >= c_k + D[k, i]`` (pairs with both zero need nothing)."""
    n = len(c)
    for i in range(n):
        for k in range(i + 1, n):
            if D[i, k] or D[k, i]:
                first = m.NewBoolVar(f"f{i}_{k}")  # c_i <= c_k
                m.Add(c[k] >= c[i] + int(D[i, k])).OnlyEnforceIf(first)
                m.Add(c[i] >= c[k] + int(D[k, i])).OnlyEnforceIf(first.Not())


@dataclass
class SeparationResult:
    bound: float        # certified lower bound on OPT (total latency)
    value: float | None  # the relaxation's best solution found (not a bound on OPT)
    proven: bool        # the relaxation was solved to optimality (bound == value)
    status: str
    wall_s: float


def separation_bound(workload: Workload, M: int, upper: float, *, time_limit: float = 1.0,
                     seed: int = 0, deadlines: np.ndarray | None = None) -> SeparationResult:
    """Solve the relaxation with one CP-SAT worker for ``time_limit`` units of deterministic
    time (reproducible). ``upper``: objective of a feasible schedule; it sets safe deadlines
    (:func:`~kvsched.optimum.bounds.safe_deadlines`), which every optimal schedule meets, so
    the relaxation restricted to them still bounds OPT."""
    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    n = len(workload)
    o = workload.output.astype(np.int64)
    e = earliest_starts(workload) + o
    if deadlines is None:
        deadlines = safe_deadlines(workload, M, upper)
    D = separations(workload, M)
    m = cp_model.CpModel()
    c = [m.NewIntVar(int(e[i]), int(max(e[i], deadlines[i])), f"c{i}") for i in range(n)]
    add_separations(m, c, D)
    m.Minimize(sum(c))
    solver = cp_model.CpSolver()
    solver.parameters.max_deterministic_time = float(time_limit)
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed)
    st = solver.Solve(m)
    const = -float(np.sum(workload.arrival))
    name = solver.StatusName(st)
    if st == cp_model.INFEASIBLE:   # no schedule within the deadlines beats ``upper``
        return SeparationResult(float(upper), None, True, name, time.perf_counter() - t0)
    value = float(solver.ObjectiveValue()) + const if st in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None
    bound = float(solver.BestObjectiveBound()) + const
    return SeparationResult(bound, value, st == cp_model.OPTIMAL, name, time.perf_counter() - t0)
