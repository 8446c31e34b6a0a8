"""OR-Tools CP-SAT models of the hindsight problem: two exact formulations.

``formulation="units"``: request ``i`` is ``o_i`` consecutive unit tasks: task ``j`` (``j = 0..o_i-1``) occupies
round ``p_i + j`` with demand ``s_i + 1 + j``; all tasks share one cumulative constraint of
capacity ``M``. This is exact: the cumulative constraint says that in every round the
running requests hold at most ``M`` tokens, which is feasibility. The start ``p_i``
ranges over ``[ceil(a_i), d_i - o_i]`` with the safe deadlines of
:func:`~kvsched.optimum.bounds.safe_deadlines`, which every optimal schedule meets, so
CP-SAT's optimum is OPT and its objective bound is a certified lower bound.

``formulation="pairs"`` checks memory only in last rounds. Between rounds ``t`` and ``t + 1``
memory can fall only if some request's last round is ``t`` (running requests grow by one
token, new ones add ``s + 1``), so every round holds at most what the next last round holds:
a schedule is feasible iff each round ``c_i - 1`` holds at most ``M`` tokens, i.e.
``P_i + sum_{k running in round c_i - 1} (s_k + c_i - p_k) <= M`` with ``P_i = s_i + o_i``.
The model has one literal per ordered pair (``k`` runs in ``i``'s last round, forced true
unless ``k`` completes before it or starts after it) and an integer at least ``k``'s tokens
there when it is true; the pairwise separations of
:func:`~kvsched.optimum.bounds.separations` are added as redundant constraints. It has
``O(n^2)`` variables instead of ``sum_i o_i`` intervals; on the synthetic instances with
``n <= 20`` it finds good schedules and proofs faster (``docs/optimum.md``).

Requests with equal ``(ceil(a), s, o)`` are interchangeable: the model orders their starts
(symmetry breaking, which keeps at least one optimal schedule). The search is
warm-started (``AddHint``) from a given feasible schedule.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..workload import Workload
from .bounds import safe_deadlines
from .schedule import earliest_starts, evaluate


@dataclass
class CpsatResult:
    objective: float | None       # total latency of the best schedule found
    bound: float                  # CP-SAT's lower bound on the total latency
    proven: bool
    starts: np.ndarray | None
    status: str
    wall_s: float
    units: float = 0.0            # deterministic time used (CP-SAT's units; reproducible with one worker)


def solve_cpsat(workload: Workload, M: int, hint: np.ndarray, *, time_limit: float = 10.0,
                num_workers: int = 1, seed: int = 0, deadlines: np.ndarray | None = None,
                lower: float | None = None, linearization_level: int | None = None,
                formulation: str = "units") -> CpsatResult:
    """Minimise total latency; ``hint`` must be a feasible schedule (it also sets the
    horizon; ValueError otherwise). ``lower``: an already certified lower bound, added as a constraint on the
    objective (valid: it removes no schedule better than the bound). ``linearization_level``
    (None: 2 for ``units``, 1 for ``pairs``): level 2 adds CP-SAT's energy relaxation of the
    cumulative, which for the unit model gave better schedules and bounds than level 1 on the
    synthetic instances; the last-round model has no cumulative, and there level 2's linear
    relaxation of the enforced constraints slowed the search (``docs/optimum.md``).
    ``formulation``: ``units`` or ``pairs`` (module docstring)."""
    from ortools.sat.python import cp_model
    from .bounds import separations

    if formulation not in ("units", "pairs"):
        raise ValueError(f"formulation must be 'units' or 'pairs', got {formulation!r}")

    t0 = time.perf_counter()
    n = len(workload)
    s = workload.prompt.astype(int)
    o = workload.output.astype(int)
    a = workload.arrival
    ok, upper, _ = evaluate(workload, M, hint)
    if not ok:
        # the hint's objective sets the safe deadlines: an infeasible hint below OPT would cut
        # every optimal schedule from the model, and a worse schedule would be reported optimal
        raise ValueError("hint must be a feasible schedule (integer starts, none before its "
                         "request's arrival round, every round within M)")
    hint = np.asarray(hint, dtype=np.int64)
    if deadlines is None:
        deadlines = safe_deadlines(workload, M, upper)
    lo = earliest_starts(workload)
    hi = np.asarray(deadlines) - o
    m = cp_model.CpModel()
    p = [m.NewIntVar(int(lo[i]), int(hi[i]), f"p{i}") for i in range(n)]
    if formulation == "units":
        intervals, demands = [], []
        for i in range(n):
            for j in range(o[i]):
                intervals.append(m.NewFixedSizeIntervalVar(p[i] + j, 1, f"u{i}_{j}"))
                demands.append(int(s[i] + 1 + j))
        m.AddCumulative(intervals, demands, int(M))
    else:
        _last_round_memory(m, p, s, o, int(M), separations(workload, M))
    groups: dict[tuple, list[int]] = {}
    for i in range(n):
        groups.setdefault((int(lo[i]), int(s[i]), int(o[i])), []).append(i)
    for ids in groups.values():
        for u, v in zip(ids, ids[1:]):
            m.Add(p[u] <= p[v])
    const = float(np.sum(o - a))
    obj = sum(p)
    if lower is not None:
        m.Add(obj >= int(np.ceil(lower - const - 1e-9)))
    m.Minimize(obj)
    # the hint, with interchangeable requests' starts sorted to respect the symmetry cuts
    h = hint.copy()
    for ids in groups.values():
        h[ids] = np.sort(hint[ids])
    for i in range(n):
        m.AddHint(p[i], int(h[i]))
    solver = cp_model.CpSolver()
    # With one worker the budget is CP-SAT's deterministic time alone (it bounds the work done),
    # so the same instance and seed give the same schedule and bound however loaded the machine
    # is; a wall-clock cap would break that. Several workers race and are not reproducible.
    if int(num_workers) == 1:
        solver.parameters.max_deterministic_time = float(time_limit)
    else:
        solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = int(num_workers)
    solver.parameters.random_seed = int(seed)
    if linearization_level is None:
        linearization_level = 2 if formulation == "units" else 1
    solver.parameters.linearization_level = int(linearization_level)
    st = solver.Solve(m)
    name = solver.StatusName(st)
    wall = time.perf_counter() - t0
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        starts = np.array([solver.Value(v) for v in p], dtype=np.int64)
        val = float(np.sum(starts + o - a))
        bound = float(solver.BestObjectiveBound()) + const
        return CpsatResult(val, bound, st == cp_model.OPTIMAL, starts, name, wall, solver.deterministic_time)
    bound = float(solver.BestObjectiveBound()) + const if st != cp_model.INFEASIBLE else float("inf")
    return CpsatResult(None, bound, False, None, name, wall, solver.deterministic_time)


def _last_round_memory(m, p, s, o, M: int, D: np.ndarray) -> None:
    """The ``pairs`` formulation's constraints (module docstring) on start variables ``p``."""
    from .separation import add_separations

    n = len(p)
    c = [p[i] + int(o[i]) for i in range(n)]
    add_separations(m, c, D)
    for i in range(n):
        peak = int(s[i] + o[i])
        held = []
        for k in range(n):
            if k == i or peak + s[k] + 1 > M:
                continue   # k cannot run in i's last round; the separations keep it out
            runs, before, after = m.NewBoolVar(f"r{i}_{k}"), m.NewBoolVar(""), m.NewBoolVar("")
            m.Add(c[k] <= c[i] - 1).OnlyEnforceIf(before)
            m.Add(p[k] >= c[i]).OnlyEnforceIf(after)
            m.AddBoolOr([runs, before, after])
            z = m.NewIntVar(0, M, f"z{i}_{k}")
            m.Add(z >= int(s[k]) + c[i] - p[k]).OnlyEnforceIf(runs)
            held.append(z)
        if held:
            m.Add(peak + sum(held) <= M)
