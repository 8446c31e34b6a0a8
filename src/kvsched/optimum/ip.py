"""The time-indexed integer program (papers.md section 8), solved with HiGHS.

Variables ``x_{i,t} = 1`` if request ``i`` starts in round ``t``, for ``t`` in
``[r_i, d_i - o_i]`` (``r_i = ceil(a_i)``, ``d_i`` a latest completion round)::

    min  sum_{i,t} (t + o_i - a_i) x_{i,t}
    s.t. sum_t x_{i,t} = 1                                              for every i
         sum_i sum_{t - o_i < k <= t} (s_i + 1 + t - k) x_{i,k} <= M     for every round t
         x binary

(Round ``t`` holds ``s_i + 1 + (t - k)`` tokens of a request started in round ``k``; this is
papers.md's row with its rounds shifted by one.)

Horizon. With ``horizon="safe"`` (default) the deadlines ``d_i`` come from
:func:`~kvsched.optimum.bounds.safe_deadlines` and an incumbent objective: every optimal
schedule satisfies them, so the IP optimum *is* OPT and its dual bound and LP relaxation
are certified lower bounds. With ``horizon="heuristic"`` every ``d_i`` is the incumbent's
makespan, as in papers.md: the model is smaller but restricted, its optimum is only an
upper bound on OPT, and its bounds are not reported as bounds on OPT.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from ..workload import Workload
from .bounds import safe_deadlines
from .schedule import earliest_starts


@dataclass
class IPResult:
    objective: float | None      # best schedule's total latency (None if none found)
    bound: float | None          # best lower bound (certified only if horizon_safe)
    proven: bool                 # solved to optimality (within the horizon)
    starts: np.ndarray | None
    horizon_safe: bool
    n_vars: int
    n_nonzeros: int
    wall_s: float
    status: str


def build(workload: Workload, M: int, deadlines: np.ndarray):
    """(c, A_eq rows, A_mem, var_request, var_start): the IP's data as sparse matrices."""
    n = len(workload)
    s, o, a = workload.prompt, workload.output, workload.arrival
    lo = earliest_starts(workload)
    hi = np.asarray(deadlines, dtype=np.int64) - o
    if np.any(hi < lo):
        raise ValueError("a deadline leaves a request no start round")
    L = hi - lo + 1
    var_req = np.repeat(np.arange(n), L)
    off = np.concatenate(([0], np.cumsum(L)[:-1]))
    var_t = lo[var_req] + (np.arange(L.sum()) - off[var_req])
    c = var_t + o[var_req] - a[var_req]
    nv = len(c)
    A_eq = sparse.csr_matrix((np.ones(nv), (var_req, np.arange(nv))), shape=(n, nv))
    # memory rows: var v (request i, start t) contributes s_i + 1 + j to round t + j, j < o_i
    reps = o[var_req]
    cols = np.repeat(np.arange(nv), reps)
    first = np.concatenate(([0], np.cumsum(reps)[:-1]))
    j = np.arange(reps.sum()) - np.repeat(first, reps)
    rows = var_t[cols] + j
    vals = s[var_req][cols] + 1 + j
    T = int(deadlines.max())
    A_mem = sparse.csr_matrix((vals.astype(float), (rows, cols)), shape=(T, nv))
    return c, A_eq, A_mem, var_req, var_t


def solve_ip(workload: Workload, M: int, upper: float, makespan: int | None = None, *,
             horizon: str = "safe", time_limit: float = 60.0, relax: bool = False,
             deadlines: np.ndarray | None = None) -> IPResult:
    """Solve the IP (or, with ``relax=True``, its LP relaxation) with HiGHS.

    ``upper``: objective of a feasible schedule (for safe deadlines); ``makespan``: its
    makespan (for ``horizon="heuristic"``)."""
    t0 = time.perf_counter()
    if deadlines is None:
        if horizon == "safe":
            deadlines = safe_deadlines(workload, M, upper)
        elif horizon == "heuristic":
            if makespan is None:
                raise ValueError("horizon='heuristic' needs the incumbent's makespan")
            deadlines = np.full(len(workload), int(makespan), dtype=np.int64)
        else:
            raise ValueError(f"horizon must be 'safe' or 'heuristic', got {horizon!r}")
    c, A_eq, A_mem, var_req, var_t = build(workload, M, deadlines)
    nv = len(c)
    cons = [LinearConstraint(A_eq, 1, 1), LinearConstraint(A_mem, -np.inf, M)]
    opts = {"time_limit": float(time_limit), "disp": False, "presolve": True}
    res = milp(c, constraints=cons, integrality=np.zeros(nv) if relax else np.ones(nv),
               bounds=Bounds(0, 1), options=opts)
    wall = time.perf_counter() - t0
    safe = horizon == "safe"
    nnz = int(A_eq.nnz + A_mem.nnz)
    if relax:
        ok = res.status == 0
        return IPResult(None, float(res.fun) if ok else None, ok, None, safe, nv, nnz, wall, res.message)
    starts = None
    obj = None
    if res.x is not None:
        x = np.round(res.x).astype(int)
        starts = np.zeros(len(workload), dtype=np.int64)
        starts[var_req[x == 1]] = var_t[x == 1]
        obj = float(np.sum(starts + workload.output - workload.arrival))
    bound = getattr(res, "mip_dual_bound", None)
    if res.status == 0:
        bound = obj
    return IPResult(obj, None if bound is None or not np.isfinite(bound) else float(bound), res.status == 0,
                    starts, safe, nv, nnz, wall, res.message)


def lp_bound(workload: Workload, M: int, upper: float, *, time_limit: float = 60.0) -> float | None:
    """LP relaxation of the IP over safe deadlines: a certified lower bound on OPT (the LP
    minimises over a superset of the IP's feasible set, which contains every optimal
    schedule). None if HiGHS did not finish within ``time_limit``."""
    r = solve_ip(workload, M, upper, horizon="safe", time_limit=time_limit, relax=True)
    return r.bound
