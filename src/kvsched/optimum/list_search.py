"""Upper bounds from request orders: a serial list decoder and a local search over lists.

A *list* is an order of the requests. :class:`ListDecoder` turns it into a schedule: it
places the requests one at a time, in list order, each at the earliest round ``t >= ceil(a_i)``
at which all ``o_i`` of its rounds fit under ``M`` together with the requests already placed
(a serial schedule-generation scheme). A request may land before earlier-listed ones in time
when it fits there. The schedule is feasible by construction, whatever the list.

:func:`list_search` starts from the start order of a given schedule and runs a
first-improvement descent over *insertion* moves: one request moves up to ``reach`` positions
earlier or later in the list. Decoding a schedule's start order need not give that schedule
back: the decoder starts each request as early as it fits, which MC-SF, stopping at the first
request that does not fit, may not. (The caller keeps the better of the two.) A move changes
nothing before its first changed position, so the decoder keeps the memory profile after every
prefix and re-decodes only from there; it stops as soon as, past the moved positions, every
request placed so far starts where it did before. The budget is a number of decoded lists, so
the result is deterministic.

Not every schedule is the decoding of a list: the decoder never delays a request past its
earliest fitting round. So the search finds upper bounds, not OPT. On the 400 MC-SF synthetic
instances it improves on the best heuristic schedule by a few per cent (``docs/optimum.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..workload import Workload
from .schedule import check_instance, earliest_starts

# The search keeps two (n + 1) x horizon profiles; past this many cells it is skipped. On the MC-SF
# generator that is n ~ 400 (at n = 300: 1.7M cells, 12.5 s for 800 lists; n = 50: 0.8 s).
MAX_CELLS = 4_000_000


class ListDecoder:
    """Serial list decoding for one instance (unit rounds, memory ``M`` tokens)."""

    def __init__(self, workload: Workload, M: int):
        check_instance(workload, M)       # else no list decodes to a feasible schedule
        self.s = workload.prompt.astype(np.int64)
        self.o = workload.output.astype(np.int64)
        self.r = earliest_starts(workload)
        self.M = int(M)
        self.n = len(self.s)
        # every request fits once all placed ones have ended: a list's makespan is below this
        self.horizon = int((self.r.max() if self.n else 0) + self.o.sum() + 1)
        self._u = np.arange(self.horizon + 1, dtype=np.int64)
        self._ramp = [self.s[i] + 1 + np.arange(self.o[i], dtype=np.int64) for i in range(self.n)]
        self.const = float(np.sum(self.o - workload.arrival))   # total latency = sum(p) + const

    def place(self, mem: np.ndarray, end: int, i: int) -> int:
        """Earliest start of request ``i`` (round) on top of the profile ``mem`` (tokens per
        round), whose requests all end by round ``end``."""
        o, r = int(self.o[i]), int(self.r[i])
        if r >= end:
            return r
        # starting at t, round t + j holds mem[t + j] + s + 1 + j: it fits iff
        # min_j (M - mem[t + j] - (t + j)) + t >= s + 1
        g = self.M - mem[r:end + o - 1] - self._u[:end + o - 1 - r]
        L = end - r                                  # candidate starts r .. end - 1
        win = np.lib.stride_tricks.as_strided(g, (L, o), (g.strides[0], g.strides[0]))
        ok = win.min(axis=1) + self._u[:L] >= self.s[i] + 1
        k = int(np.argmax(ok))
        return r + k if ok[k] else end              # from `end` on, the memory is empty

    def fill(self, order, k: int, mems: np.ndarray, ends: np.ndarray, starts: np.ndarray,
             ref: np.ndarray | None = None, same_from: int = 0) -> int:
        """Decode ``order[k:]`` on top of prefix ``k``: ``mems[j]`` / ``ends[j]`` are the profile
        and end round after the first ``j`` requests; rows ``k + 1..`` and ``starts`` are written.

        With ``ref`` (the starts of a list that agrees with ``order`` from position ``same_from``
        on, and whose starts are already in ``starts``): stop once every request placed so far
        starts as in ``ref`` at a position ``>= same_from``; the rest then decodes as in ``ref``.
        Returns the number of positions decoded (``len(order)`` unless it stopped early)."""
        differ = 0
        for j in range(k, len(order)):
            i = order[j]
            t = self.place(mems[j], int(ends[j]), i)
            if ref is not None and t != ref[i]:
                differ += 1
            starts[i] = t
            mems[j + 1] = mems[j]
            mems[j + 1, t:t + self.o[i]] += self._ramp[i]
            ends[j + 1] = max(int(ends[j]), t + int(self.o[i]))
            if ref is not None and differ == 0 and j >= same_from:
                return j + 1
        return len(order)

    def buffers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (np.zeros((self.n + 1, self.horizon + 1), dtype=np.int64), np.zeros(self.n + 1, dtype=np.int64),
                np.zeros(self.n, dtype=np.int64))

    def decode(self, order) -> np.ndarray:
        """Start round of each request for the list ``order``."""
        mems, ends, starts = self.buffers()
        self.fill(list(order), 0, mems, ends, starts)
        return starts

    def objective(self, starts: np.ndarray) -> float:
        """Total latency (rounds) of a schedule."""
        return float(np.sum(starts)) + self.const


@dataclass
class SearchResult:
    objective: float | None      # total latency (rounds) of the best decoded list; None if skipped
    starts: np.ndarray | None
    evals: int                   # lists decoded
    moves: int                   # improving moves taken
    status: str                  # "local_optimum" | "budget" | "skipped: ..."


def descend(n: int, reach: int, max_evals: int, try_move) -> tuple[int, int, bool]:
    """First-improvement descent over insertion moves on a list of ``n`` requests.

    ``try_move(a, b)`` evaluates moving the request at list position ``a`` to position ``b``,
    keeps the move if it improves the schedule and says whether it did. After an improving move
    the scan goes on from position ``a + 1`` of the new list. Evaluations are counted from 1 (the
    start list). Returns (evaluations, improving moves, whether a local optimum was reached)."""
    evals, moves, improved = 1, 0, True
    while improved and evals < max_evals:
        improved = False
        for a in range(n):
            for b in [*range(max(0, a - reach), a), *range(a + 1, min(n, a + reach + 1))]:
                evals += 1
                if try_move(a, b):
                    moves, improved = moves + 1, True
                    break
                if evals >= max_evals:
                    break
            if evals >= max_evals:
                break
    return evals, moves, not improved and evals < max_evals


def list_search(workload: Workload, M: int, starts, max_evals: int = 800, reach: int = 3) -> SearchResult:
    """:func:`descend` from the start order of ``starts`` (ties by request index), decoding only
    what a move changes. ``max_evals``: lists decoded at most (the first is the start order
    itself); ``reach``: how far (list positions) one move carries a request."""
    dec = ListDecoder(workload, M)
    n = dec.n
    if n < 2 or max_evals < 1:
        return SearchResult(None, None, 0, 0, "skipped: nothing to search")
    if (n + 1) * (dec.horizon + 1) > MAX_CELLS:
        return SearchResult(None, None, 0, 0, f"skipped: {n} requests x {dec.horizon} rounds")
    order = [int(i) for i in np.lexsort((np.arange(n), np.asarray(starts, dtype=np.int64)))]
    mems, ends, best_p = dec.buffers()
    dec.fill(order, 0, mems, ends, best_p)
    best = dec.objective(best_p)
    m2, e2, q = dec.buffers()

    def try_move(a: int, b: int) -> bool:
        nonlocal order, best, best_p, mems, m2, ends, e2
        cand = order.copy()
        cand.insert(b, cand.pop(a))
        k = min(a, b)
        q[:] = best_p
        m2[k], e2[k] = mems[k], ends[k]          # rows after k are rewritten by fill
        # past both moved positions the lists agree: once every start there matches the
        # current schedule, so does the rest of the decoding
        stop = dec.fill(cand, k, m2, e2, q, ref=best_p, same_from=max(a, b))
        v = dec.objective(q)
        if v >= best - 1e-9:
            return False
        best, order, best_p = v, cand, q.copy()
        m2[:k], e2[:k] = mems[:k], ends[:k]                                # the prefix, unchanged
        m2[stop + 1:], e2[stop + 1:] = mems[stop + 1:], ends[stop + 1:]    # the suffix, unchanged
        mems, m2, ends, e2 = m2, mems, e2, ends
        return True

    evals, moves, local = descend(n, reach, max_evals, try_move)
    return SearchResult(best, best_p, evals, moves, "local_optimum" if local else "budget")
