"""Heuristic schedules from the simulator's own policies (oracle predictions, unit rounds).

With exact predictions the future-peak policies never overflow, so each run is a
non-preemptive schedule: the start round of each request is its first start.
"""

from __future__ import annotations

import numpy as np

from ..latency.base import unit_rounds
from ..policies import build_policy
from ..predictors import build_predictor
from ..sim.engine import simulate
from ..workload import Workload
from .schedule import left_shift, validate

#: name -> algorithm config; the default portfolio for upper bounds.
HEURISTICS: dict[str, dict] = {
    "mcsf": {"name": "mcsf"},
    "mcsf_skip": {"name": "mcsf", "scan": "skip"},
    "fcfs": {"name": "fcfs"},
    "fcfs_skip": {"name": "fcfs", "scan": "skip"},
}


def policy_starts(workload: Workload, M: int, algorithm: dict) -> np.ndarray:
    """Start rounds of a non-preemptive run of ``algorithm`` (oracle predictor)."""
    rec = simulate(workload, build_policy(algorithm, capacity=M), build_predictor({"name": "oracle"}), M,
                   unit_rounds())
    if np.any(rec.evictions) or np.any(np.isnan(rec.first_start)):
        raise RuntimeError(f"{algorithm} evicted or dropped requests: not a non-preemptive schedule")
    return rec.first_start.astype(np.int64)


def heuristic_schedules(workload: Workload, M: int, names=tuple(HEURISTICS), shift: bool = True) -> dict:
    """name -> (objective, starts) for each heuristic, plus ``<name>+shift`` (the schedule
    improved by :func:`~kvsched.optimum.schedule.left_shift`) where that helps. Every
    schedule is validated (direct check and simulator replay)."""
    out = {}
    for name in names:
        p = policy_starts(workload, M, HEURISTICS[name])
        out[name] = (validate(workload, M, p), p)
        if shift:
            q = left_shift(workload, M, p)
            if not np.array_equal(p, q):
                out[name + "+shift"] = (validate(workload, M, q), q)
    return out
