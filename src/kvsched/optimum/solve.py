"""Bracket the hindsight optimum: a certified lower bound and the best validated schedule.

:func:`bracket` runs, in order:

1. the heuristic portfolio (:mod:`kvsched.optimum.heuristics`), then a local search over
   request orders from the best of them (:mod:`kvsched.optimum.list_search`, ``search_evals``
   decoded lists): upper bounds;
2. the cheap certified bounds (trivial, memory area, headroom, clique counting;
   :mod:`kvsched.optimum.bounds`), all in milliseconds;
3. for ``n <= exact_n``, the exhaustive search of :mod:`kvsched.optimum.exact` (OPT itself; if it
   passes its state limit, ``info['exact_status']`` says so and the steps below go on);
4. for ``n <= separation_n``, the completion-separation relaxation
   (:mod:`kvsched.optimum.separation`), and, if asked, the LP relaxation;
5. for ``n <= cpsat_n``, CP-SAT (``formulation``: ``pairs`` or ``units``) warm-started from
   the best schedule so far and told the best lower bound; optionally the time-indexed IP;
6. for ``n <= prove_n``, if OPT is still open, one long CP-SAT run (``prove_time_limit``) on the
   last-round model, warm-started from the best schedule and *not* told the lower bound: on the
   MC-SF synthetic instances the bound as an objective floor kept CP-SAT's own bound from
   moving (``docs/optimum.md``). Off by default.

CP-SAT budgets (``time_limit``, ``separation_time_limit``, ``prove_time_limit``) are
deterministic time with one worker, so results are reproducible; wall seconds with more workers.

Every schedule is validated by :func:`~kvsched.optimum.schedule.validate` (direct check
and simulator replay) before it may become the upper bound. OPT is reported as proven only
when a lower bound meets the best schedule (a solver's proof of optimality counts, since
its bound then equals its objective); otherwise the result is the interval
``[lower, upper]``, and ``opt`` is None.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..workload import Workload
from .bounds import (area_bound, clique_bound, headroom_bound, headroom_completion_bounds, safe_deadlines,
                     trivial_bound)
from .heuristics import HEURISTICS, heuristic_schedules
from .schedule import check_instance, validate

# Step 6's default CP-SAT budget (deterministic units, one worker): enough to prove the MC-SF
# synthetic instances with n <= 20 (the hardest took 142-173 units; docs/optimum.md).
PROVE_TIME_LIMIT = 300.0
# Step 1's local search: lists decoded (about 0.9 s at n = 50 on the reference machine).
SEARCH_EVALS = 800


@dataclass
class OptBracket:
    lower: float                  # certified lower bound on OPT (total latency)
    upper: float                  # objective of the best validated schedule
    starts: np.ndarray            # that schedule
    proven: bool                  # lower == upper
    method: str                   # what produced the upper bound
    lower_method: str             # what produced the lower bound
    heuristics: dict = field(default_factory=dict)   # name -> objective
    heuristic_starts: dict = field(default_factory=dict)   # name -> that heuristic's schedule
    bounds: dict = field(default_factory=dict)       # name -> lower bound
    info: dict = field(default_factory=dict)         # solver statuses and timings

    @property
    def opt(self) -> float | None:
        return self.upper if self.proven else None

    @property
    def gap(self) -> float:
        return (self.upper - self.lower) / self.upper if self.upper else 0.0


def _ceil_total(workload: Workload, lb: float) -> float:
    """Round a lower bound up to the next achievable objective: ``sum c_i`` is an integer,
    so the total latency lies in ``Z - sum a_i``."""
    const = float(np.sum(workload.arrival))
    return math.ceil(lb + const - 1e-6) - const


def bracket(workload: Workload, M: int, time_limit: float = 10.0, *, num_workers: int = 1,
            heuristics=tuple(HEURISTICS), exact_n: int = 0, use_lp: bool = False, lp_time_limit: float = 30.0,
            use_ip: bool = False, ip_time_limit: float = 30.0, use_cpsat: bool = True, cpsat_n: int | None = 25,
            formulation: str = "pairs", separation_n: int | None = 25, separation_time_limit: float | None = None,
            prove_n: int = 0, prove_time_limit: float = PROVE_TIME_LIMIT, search_evals: int = SEARCH_EVALS,
            seed: int = 0) -> OptBracket:
    """Bracket OPT for one instance (unit rounds, non-preemptive, memory ``M``).

    ``cpsat_n`` / ``separation_n``: run CP-SAT / the separation relaxation only up to that many
    requests (None: always; 0: never). Beyond ~25 requests neither improves on the cheap
    bounds within seconds (``docs/optimum.md``), and their safe deadlines alone (``n`` headroom
    bounds) take minutes at ``n`` ~ 1000, whatever ``time_limit``. ``separation_time_limit`` defaults to
    ``time_limit``. ``prove_n`` / ``prove_time_limit``: step 6, up to that many requests, with
    that budget (deterministic units with one worker). ``search_evals``: lists the local search of
    step 1 may decode (0: no search). ValueError if some request does not fit in ``M`` alone."""
    if formulation not in ("units", "pairs"):   # checked here, not only when CP-SAT runs
        raise ValueError(f"formulation must be 'units' or 'pairs', got {formulation!r}")
    heuristics = (heuristics,) if isinstance(heuristics, str) else tuple(heuristics)
    if not heuristics or any(h not in HEURISTICS for h in heuristics):
        raise ValueError(f"heuristics must name one or more of {', '.join(HEURISTICS)}, got {heuristics!r} "
                         "(another policy's latency: simulate it and compare with the bracket)")
    check_instance(workload, M)
    t0 = time.perf_counter()
    heur = heuristic_schedules(workload, M, heuristics)
    name = min(heur, key=lambda k: heur[k][0])
    upper, starts, method = heur[name][0], heur[name][1], name
    info: dict = {"heuristics_s": time.perf_counter() - t0}
    t1 = time.perf_counter()
    H = headroom_completion_bounds(workload, M)   # shared by the headroom and clique bounds
    bounds = {"trivial": trivial_bound(workload), "area": area_bound(workload, M),
              "headroom": headroom_bound(workload, M, H), "clique": clique_bound(workload, M, H)}
    info["bounds_s"] = time.perf_counter() - t1
    n = len(workload)

    def within(limit):
        return limit is None or n <= limit

    def offer(obj, p, how):
        nonlocal upper, starts, method
        if p is None:
            return
        val = validate(workload, M, p)          # raises if infeasible or the checks disagree
        if abs(val - obj) > 1e-6:
            raise AssertionError(f"{how}: reported objective {obj} but the schedule's is {val}")
        if val < upper - 1e-9:
            upper, starts, method = val, np.asarray(p, dtype=np.int64), how

    def lower_now():
        return max(bounds.values())

    if search_evals:
        from .list_search import list_search
        t1 = time.perf_counter()
        r = list_search(workload, M, starts, max_evals=search_evals)
        info.update(search_s=time.perf_counter() - t1, search_evals=r.evals, search_moves=r.moves,
                    search_status=r.status)
        offer(r.objective, r.starts, "list_search")

    if exact_n and len(workload) <= exact_n:
        from .exact import exact_optimum
        t1 = time.perf_counter()
        try:
            val, p = exact_optimum(workload, M)
        except RuntimeError as e:   # past its state limit: the solvers below still run
            info["exact_status"] = str(e)
        else:
            offer(val, p, "exact")
            bounds["exact"] = val
            info["exact_status"] = "optimal"
        info["exact_s"] = time.perf_counter() - t1
    use_cpsat = use_cpsat and within(cpsat_n)
    use_sep = within(separation_n)
    deadlines = None
    if (use_lp or use_ip or use_cpsat or use_sep) and _ceil_total(workload, lower_now()) < upper - 1e-9:
        deadlines = safe_deadlines(workload, M, upper)
        info["horizon"] = int(deadlines.max())
    if use_sep and deadlines is not None:
        from .separation import separation_bound
        r = separation_bound(workload, M, upper, deadlines=deadlines, seed=seed,
                             time_limit=time_limit if separation_time_limit is None else separation_time_limit)
        info.update(separation_s=r.wall_s, separation_status=r.status)
        bounds["separation"] = r.bound
    if use_lp and deadlines is not None:
        from .ip import solve_ip
        r = solve_ip(workload, M, upper, time_limit=lp_time_limit, relax=True, deadlines=deadlines)
        info.update(lp_s=r.wall_s, lp_status=r.status, lp_vars=r.n_vars, lp_nonzeros=r.n_nonzeros)
        if r.bound is not None:
            bounds["lp"] = r.bound
    if use_ip and deadlines is not None and _ceil_total(workload, lower_now()) < upper - 1e-9:
        from .ip import solve_ip
        r = solve_ip(workload, M, upper, time_limit=ip_time_limit, deadlines=deadlines)
        info.update(ip_s=r.wall_s, ip_status=r.status, ip_proven=r.proven)
        offer(r.objective, r.starts, "ip")
        if r.bound is not None:
            bounds["ip"] = r.bound
    if use_cpsat and deadlines is not None and _ceil_total(workload, lower_now()) < upper - 1e-9:
        from .cpsat import solve_cpsat
        r = solve_cpsat(workload, M, starts, time_limit=time_limit, num_workers=num_workers, seed=seed,
                        deadlines=deadlines, lower=lower_now(), formulation=formulation)
        info.update(cpsat_s=r.wall_s, cpsat_status=r.status)
        offer(r.objective, r.starts, "cpsat")
        bounds["cpsat"] = r.bound
    if prove_n and n <= prove_n and _ceil_total(workload, lower_now()) < upper - 1e-9:
        from .cpsat import solve_cpsat
        r = solve_cpsat(workload, M, starts, time_limit=prove_time_limit, num_workers=num_workers, seed=seed,
                        formulation="pairs")
        info.update(prove_s=r.wall_s, prove_status=r.status, prove_units=r.units)
        offer(r.objective, r.starts, "cpsat_prove")
        bounds["cpsat_prove"] = r.bound
    lname = max(bounds, key=bounds.get)
    lower = min(_ceil_total(workload, bounds[lname]), upper)
    if bounds[lname] > upper + 1e-6:
        raise AssertionError(f"lower bound {lname}={bounds[lname]} exceeds a validated schedule's {upper}")
    info["wall_s"] = time.perf_counter() - t0
    return OptBracket(lower=float(lower), upper=float(upper), starts=starts, proven=lower >= upper - 1e-9,
                      method=method, lower_method=lname, heuristics={k: v[0] for k, v in heur.items()},
                      heuristic_starts={k: np.asarray(v[1], dtype=np.int64) for k, v in heur.items()},
                      bounds=bounds, info=info)
