"""Exact optimum by shortest-path search over round states (tiny instances only).

Independent of the integer program and of CP-SAT, so the tests can check both against it.

State at the start of round ``t``: for every request, ``-1`` (not started), ``k`` in
``1..o-1`` (running, ``k`` rounds done) or ``o`` (done); ``t`` itself matters only until
the last request has arrived, so it is capped at ``r_max = max ceil(a_i)``. A transition
picks a subset ``X`` of the arrived, unstarted requests to start in round ``t``; it is
allowed when round ``t`` holds at most ``M`` tokens (running requests ``s + k + 1``,
started ones ``s + 1``). Since ``sum_i (c_i - r_i) = sum_t #{i : r_i <= t < c_i}`` (with
``r_i = ceil(a_i)``), a round costs the number of arrived, unfinished requests, and
Dijkstra finds the schedule of least total latency. Memory feasibility is checked round
by round, so every non-preemptive schedule corresponds to exactly one path: the search
is exhaustive. The number of states grows like ``prod (o_i + 2)``; keep ``n`` small.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np

from ..workload import Workload
from .schedule import earliest_starts


def exact_optimum(workload: Workload, M: int, max_states: int = 2_000_000) -> tuple[float, np.ndarray]:
    """(optimal total latency, an optimal start vector). Raises RuntimeError past ``max_states``."""
    n = len(workload)
    s = [int(x) for x in workload.prompt]
    o = [int(x) for x in workload.output]
    r = [int(x) for x in earliest_starts(workload)]
    if any(si + oi > M for si, oi in zip(s, o)):
        raise ValueError("a request needs more than M tokens alone: no feasible schedule")
    rmax = max(r) if n else 0
    start = (min(r) if n else 0, tuple([-1] * n))
    dist = {start: 0}
    parent: dict = {}
    heap = [(0, start)]
    seen = 0
    goal = None
    while heap:
        d, st = heapq.heappop(heap)
        if dist.get(st, None) != d:
            continue
        t, prog = st
        if all(prog[i] == o[i] for i in range(n)):
            goal = st
            break
        seen += 1
        if seen > max_states:
            raise RuntimeError(f"exact search exceeded {max_states} states")
        running = [i for i in range(n) if 1 <= prog[i] < o[i]]
        base = sum(s[i] + prog[i] + 1 for i in running)
        avail = [i for i in range(n) if prog[i] == -1 and r[i] <= t]
        cost = sum(1 for i in range(n) if r[i] <= t and prog[i] != o[i])
        for m in range(len(avail) + 1):
            for X in itertools.combinations(avail, m):
                if base + sum(s[i] + 1 for i in X) > M:
                    continue
                if not running and not X and t >= rmax:
                    continue  # idling with everything arrived and nothing running never helps
                nxt = list(prog)
                for i in running:
                    nxt[i] += 1
                for i in X:
                    nxt[i] = 1
                nst = (min(t + 1, rmax), tuple(nxt))
                nd = d + cost
                if nd < dist.get(nst, float("inf")):
                    dist[nst] = nd
                    parent[nst] = (st, X, t)
                    heapq.heappush(heap, (nd, nst))
    if goal is None:
        raise RuntimeError("exact search found no schedule")
    # rebuild starts; times past rmax are recovered by counting the path's rounds
    path = []
    st = goal
    while st in parent:
        prev, X, t = parent[st]
        path.append((X, t))
        st = prev
    path.reverse()
    starts = np.zeros(n, dtype=np.int64)
    clock = path[0][1] if path else 0
    for X, t in path:
        clock = max(clock, t)   # t is exact until rmax; afterwards rounds are consecutive
        for i in X:
            starts[i] = clock
        clock += 1
    total = float(np.sum(starts + workload.output - workload.arrival))
    return total, starts
