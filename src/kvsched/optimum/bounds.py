"""Certified lower bounds on the hindsight optimum (total latency, unit rounds).

Notation: request ``i`` has arrival ``a_i``, release ``r_i = ceil(a_i)`` (the first round
it can start), prompt ``s_i``, output ``o_i``; in any feasible non-preemptive schedule it
completes at an integer ``c_i >= r_i + o_i`` and holds ``s_i + j`` tokens in its ``j``-th
round. Its *memory area* is ``A_i = sum_{j=1..o_i} (s_i + j) = o_i s_i + o_i (o_i + 1) / 2``
token-rounds. Every bound here is on ``sum_i (c_i - a_i)`` and holds for every feasible
schedule, hence for the optimum.

* :func:`trivial_bound`: ``sum_i (r_i + o_i - a_i)``; each request alone, started on release.
* :func:`area_bound` (problem specific, stronger): an order-statistic bound from memory
  area, proved in its docstring.
* :func:`headroom_bound` (at least the area bound): the same order statistics, counting also
  the memory each round must leave free for the running requests to grow until the next
  last round.
* :func:`clique_bound` (at least the headroom bound): counts completions, adding the
  pairwise :func:`separations` of requests that cannot finish close together.
* :func:`lp_bound` (in :mod:`kvsched.optimum.ip`): the LP relaxation of the time-indexed
  integer program. Valid only with a *safe* horizon (see :func:`safe_deadlines`).
* :func:`kvsched.optimum.exact.exact_optimum` gives the optimum itself on tiny instances.

A Lagrangian relaxation of the memory rows is not given separately: each request then
chooses its start independently, a problem with integral LP, so the Lagrangian dual
equals the LP bound (Geoffrion 1974) and adds nothing.
"""

from __future__ import annotations

import heapq
from functools import lru_cache

import numpy as np

from ..workload import Workload
from .schedule import earliest_starts


def areas(workload: Workload) -> np.ndarray:
    s, o = workload.prompt, workload.output
    return o * s + o * (o + 1) // 2


def trivial_bound(workload: Workload) -> float:
    """``sum_i (r_i + o_i - a_i)``: valid because ``c_i >= r_i + o_i`` for every request."""
    return float(np.sum(earliest_starts(workload) + workload.output - workload.arrival))


def area_completion_bounds(workload: Workload, M: int) -> np.ndarray:
    """``L_k`` (k = 1..n): a lower bound on the ``k``-th smallest completion time.

    Claim. Let ``c_(1) <= ... <= c_(n)`` be the sorted completion times of any feasible
    schedule and ``r_min = min_i r_i``. For ``theta`` ranging over the values
    ``e_i = r_i + o_i``, let ``A_k(theta)`` be the sum of the ``k`` smallest areas among
    requests with ``e_i <= theta`` (``+inf`` if there are fewer than ``k``). Then

        c_(k) >= L_k := min_theta max(theta, r_min + ceil(A_k(theta) / M)).

    Proof. Let ``S`` be the ``k`` requests completed first (ties broken arbitrarily), and
    ``theta* = max_{i in S} e_i``. (i) ``c_(k) = max_{i in S} c_i >= max_{i in S} (r_i + o_i)
    = theta*``. (ii) Every request of ``S`` has received its whole area by the end of round
    ``c_(k) - 1``; no memory is used before round ``r_min``; each round holds at most ``M``
    tokens. So ``M (c_(k) - r_min) >= A(S)``, and as ``c_(k)`` is an integer,
    ``c_(k) >= r_min + ceil(A(S) / M)``. All of ``S`` has ``e_i <= theta*``, so ``A(S) >=
    A_k(theta*)``. Together ``c_(k) >= max(theta*, r_min + ceil(A_k(theta*)/M)) >= L_k``.
    Finally ``c_(k) >= c_(k-1)``, so the running maximum of ``L_k`` is also valid.
    """
    if len(workload) == 0:
        return np.zeros(0)
    order, theta, cut, rmin = _thresholds(workload)
    cum = _smallest_sums(areas(workload).astype(np.int64)[order], cut)
    return np.maximum.accumulate(_min_over_thresholds(np.maximum(theta, rmin + np.ceil(cum / M)), cut))


def _thresholds(workload: Workload):
    """The thresholds ``theta`` of the order-statistic bounds, the distinct values of ``e_i = r_i +
    o_i``: returns ``order`` (requests by ``e``), ``theta`` (a column, one row per threshold),
    ``cut`` (the last position in ``order`` with ``e <= theta``, per row) and ``r_min``."""
    r = earliest_starts(workload)
    e = r + workload.output
    order = np.argsort(e, kind="stable")
    e_sorted = e[order]
    cut = np.flatnonzero(np.r_[e_sorted[1:] != e_sorted[:-1], True])
    return order, e_sorted[cut][:, None], cut, int(r.min())


def _smallest_sums(values: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """``out[..., row, k - 1]``: the sum of the ``k`` smallest of ``values[..., :cut[row] + 1]``
    (the requests with ``e <= theta``; 0 where there are fewer than ``k``)."""
    n = values.shape[-1]
    out = np.zeros(values.shape[:-1] + (len(cut), n), dtype=values.dtype)
    for row, m in enumerate(cut):
        out[..., row, : m + 1] = np.cumsum(np.sort(values[..., : m + 1], axis=-1), axis=-1)
    return out


def _min_over_thresholds(val: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """Minimum over the threshold rows (axis -2) of per-``k`` bounds, skipping the rows with fewer
    than ``k`` requests."""
    too_few = np.arange(1, val.shape[-1] + 1)[None, :] > cut[:, None] + 1
    return np.where(too_few, np.inf, val).min(axis=-2)


def area_bound(workload: Workload, M: int) -> float:
    """``sum_k L_k - sum_i a_i`` (see :func:`area_completion_bounds`): a lower bound on the
    total latency, since ``sum_i c_i = sum_k c_(k) >= sum_k L_k``."""
    if len(workload) == 0:
        return 0.0
    return float(np.sum(area_completion_bounds(workload, M)) - np.sum(workload.arrival))


def _headroom_rounds(total: np.ndarray, k: np.ndarray, M: int) -> np.ndarray:
    """Least ``T`` with ``cap_k(T) >= total`` (element-wise; ``inf`` where no ``T`` has it), where
    ``cap_k(T) = M T - (least sum of g(L) over k interval lengths L adding up to T)`` and
    ``g(L) = sum_{d<L} min(M, d)`` (see :func:`headroom_completion_bounds`); ``g`` is convex, so
    the least sum puts the lengths as equal as integers allow.

    With ``T = k q + rem`` (``0 <= rem < k``) and ``q <= M``, the capacity is ``k f(q) + rem (M -
    q)`` with ``f(q) = M q - q (q - 1) / 2``: it grows with ``T`` up to ``T = k M``, where it
    stops at ``k M (M + 1) / 2`` (a round ``M`` or more rounds before the next last round must be
    empty). So ``q`` is the largest with ``k f(q) < total``, from the quadratic's root (then
    corrected by one in integers), and ``rem`` the least that covers the rest."""
    total, k = np.asarray(total, dtype=np.int64), np.asarray(k, dtype=np.int64)

    def kf(q):
        return k * (M * q - q * (q - 1) // 2)

    reachable = total <= k * (M * (M + 1) // 2)
    b = M + 0.5
    root = b - np.sqrt(np.maximum(b * b - 2.0 * total / k, 0.0))
    q = np.clip(np.ceil(root).astype(np.int64) - 1, 0, M - 1)
    q = np.where((q < M - 1) & (kf(q + 1) < total), q + 1, q)
    q = np.where((q > 0) & (kf(q) >= total), q - 1, q)
    rem = np.maximum(-(-(total - kf(q)) // (M - q)), 0)
    T = np.where(total <= 0, 0, k * q + rem)
    return np.where(reachable, T, np.inf)


# Lagrange multipliers (tokens of headroom per token held in a last round) tried by
# ``headroom_completion_bounds``; each gives a valid bound. Dyadic, so the sums are exact floats.
_LAMBDAS = (1 / 16, 3 / 32, 1 / 8, 3 / 16, 1 / 4, 3 / 8, 1 / 2, 3 / 4, 1, 3 / 2, 2, 3, 4, 6, 8, 12, 16)
_REQUEST_HEADROOM_MAX_OUTPUT = 512   # the per-request table grows with the square of the output


@lru_cache(maxsize=64)
def _request_headroom(prompts: tuple, omax: int) -> np.ndarray:
    """``phi[l, j, o]`` (token-rounds): the least ``W + lambda_l * K`` over the ways to cut the
    ``o`` rounds of a request with prompt ``prompts[j]`` by last rounds, its own last round
    (age ``o``) included. ``W``: the headroom its rounds leave, ``sum_rounds d`` (a segment of
    ``L`` rounds ending in a last round gives ``L (L - 1) / 2``); ``K``: the tokens it holds in
    those last rounds (``s + a`` at age ``a``). Dynamic programming over the age of the last cut."""
    lam = np.asarray(_LAMBDAS)[:, None]
    s = np.asarray(prompts, dtype=float)[None, :]
    seg = np.arange(omax + 1, dtype=float)
    seg = seg * (seg - 1) / 2
    f = np.full((len(_LAMBDAS), len(prompts), omax + 1), np.inf)
    for a in range(1, omax + 1):
        best = np.full(f.shape[:2], seg[a])                          # no earlier cut
        if a > 1:                                                    # previous cut at age 1..a-1
            best = np.minimum(best, (f[:, :, 1:a] + seg[a - np.arange(1, a)]).min(axis=2))
        f[:, :, a] = best + lam * (s + a)
    f.setflags(write=False)
    return f


def headroom_completion_bounds(workload: Workload, M: int) -> np.ndarray:
    """``H_k >= L_k`` (k = 1..n): a lower bound on the ``k``-th smallest completion time that also
    counts the memory every round must leave free for growth.

    Claim. Let ``t`` be a round and ``d_t >= 0`` the number of rounds from ``t`` to the next
    round that is some request's last round. Then ``mem(t) + m_t d_t <= M``, with ``m_t`` the
    requests running in round ``t``.

    Proof. No running request ends between ``t`` and that last round ``t + d_t``, so each of
    the ``m_t`` requests running in round ``t`` still runs in round ``t + d_t`` and has grown
    by ``d_t`` tokens; requests started in between only add tokens. So ``mem(t) + m_t d_t <=
    mem(t + d_t) <= M``.

    Setting. As in :func:`area_completion_bounds`, let ``S`` be the first ``k`` requests to
    complete, ``theta* = max_S e_i`` and ``T = c_(k) - r_min``. Every last round in rounds
    ``[r_min, c_(k))`` belongs to a request of ``S`` (the others complete at ``c_(k)`` or later),
    so these ``T`` rounds contain at most ``k`` last rounds ("cuts"), the last one round
    ``c_(k) - 1``. They hold all of ``S``'s area. Summing the claim over them:
    ``A(S) + sum_t m_t d_t <= M T``. Two ways to count the headroom ``sum_t m_t d_t``:

    1. By rounds. ``m_t >= 1`` unless the round is empty (then it leaves all ``M``), so round
       ``t`` leaves at least ``min(M, d_t)``. The cuts split the ``T`` rounds into at most ``k``
       intervals; in one of ``L`` rounds ``d`` runs ``L - 1, ..., 0``, leaving ``g(L) = sum_{d<L}
       min(M, d)``. ``g`` is convex, so the rounds hold at most ``cap_k(T) = M T - (least sum of
       g over k lengths adding up to T)``, reached at equal lengths, and ``cap_k(T) >= A(S) >=
       A_k(theta*)`` (:func:`_headroom_rounds` solves it for ``T``).
    2. By requests. Each ``i`` in ``S`` runs ``o_i`` consecutive rounds ending in its own last
       round, so the cuts inside its run split it into segments that each end in a cut, and
       its rounds add ``W_i = sum of L (L - 1) / 2`` over its segments. More cuts make ``W_i``
       smaller, but in each cut the requests running hold at most ``M`` tokens together:
       ``sum_{i in S} K_i <= M k``, with ``K_i`` the tokens ``i`` holds in the cuts of its run.
       For any ``lambda >= 0``, ``A(S) + sum_S (W_i + lambda K_i) <= M T + lambda M k``, and
       ``W_i + lambda K_i >= phi_i(lambda)``, its least value over all cut positions
       (:func:`_request_headroom`). So ``M T >= E_k(theta*) - lambda M k`` with ``E_k(theta)``
       the sum of the ``k`` smallest ``A_i + phi_i(lambda)`` among requests with ``e_i <=
       theta``. This one sees that many requests finishing in few rounds must be short or run
       together, and that running together costs each of them headroom.

    Each gives ``c_(k) >= max(theta*, r_min + T_k)`` with ``T_k`` non-decreasing in the sum it
    covers, so minimising over ``theta`` gives a bound for every schedule; ``H_k`` is the larger
    over both counts and the multipliers ``_LAMBDAS``, and the running maximum is valid too.
    The count by rounds needs at least ``A(S) / M`` rounds, so ``H_k >= L_k``. The per-request count is
    skipped when an output exceeds ``_REQUEST_HEADROOM_MAX_OUTPUT`` rounds.
    """
    n = len(workload)
    if n == 0:
        return np.zeros(0)
    s, o = workload.prompt.astype(np.int64), workload.output.astype(np.int64)
    A = areas(workload).astype(np.int64)
    order, theta, cut, rmin = _thresholds(workload)
    k = np.arange(1, n + 1)
    # 1. by rounds: the k smallest areas must fit in cap_k(T)
    cum = _smallest_sums(A[order], cut)
    best = _min_over_thresholds(np.maximum(theta, rmin + _headroom_rounds(cum, np.broadcast_to(k, cum.shape), M)), cut)
    # 2. by requests, for every multiplier at once
    if int(o.max()) <= _REQUEST_HEADROOM_MAX_OUTPUT:
        prompts, j = np.unique(s, return_inverse=True)
        phi = _request_headroom(tuple(prompts.tolist()), int(o.max()))[:, j, o]      # (lambda, i)
        cumE = _smallest_sums((A[None, :] + phi)[:, order], cut)                      # (lambda, theta, k)
        lam = np.asarray(_LAMBDAS)[:, None, None]
        rounds = np.ceil((cumE - lam * M * k) / M - 1e-9)
        best = np.maximum(best, _min_over_thresholds(np.maximum(theta, rmin + rounds), cut).max(axis=0))
    return np.maximum.accumulate(best)


def headroom_bound(workload: Workload, M: int, H: np.ndarray | None = None) -> float:
    """``sum_k H_k - sum_i a_i`` (see :func:`headroom_completion_bounds`); at least
    :func:`area_bound`. ``H``: those order statistics, if already computed."""
    if len(workload) == 0:
        return 0.0
    if H is None:
        H = headroom_completion_bounds(workload, M)
    return float(np.sum(H) - np.sum(workload.arrival))


def safe_deadlines(workload: Workload, M: int, upper: float) -> np.ndarray:
    """Latest completion round ``d_i`` of request ``i`` in any schedule of total latency at
    most ``upper`` (in particular in every optimal schedule when ``upper`` is the objective
    of a feasible schedule).

    Proof: if ``c_i - a_i > upper - LB(N minus i)``, where ``LB`` is any lower bound on the
    total latency of the other requests (which, restricted to themselves, still form a
    feasible schedule), the total exceeds ``upper``. So ``c_i <= floor(a_i + upper -
    LB(N minus i))``. ``LB`` is the larger of the trivial and headroom bounds of the others."""
    n = len(workload)
    d = np.zeros(n, dtype=np.int64)
    idx = np.arange(n)
    for i in range(n):
        sub = workload.subset(idx[idx != i])
        lb = max(trivial_bound(sub), headroom_bound(sub, M)) if n > 1 else 0.0
        d[i] = int(np.floor(workload.arrival[i] + upper - lb + 1e-9))
    return np.maximum(d, earliest_starts(workload) + workload.output)


def separations(workload: Workload, M: int) -> np.ndarray:
    """``D[i, k]`` (rounds): in every feasible schedule, ``c_i <= c_k`` implies
    ``c_k - c_i >= D[i, k] = max(0, min(o_k, P_i + P_k - M))``, with ``P_i = s_i + o_i`` the
    tokens request ``i`` holds in its last round.

    Proof. Round ``c_i - 1`` is ``i``'s last; it holds ``P_i`` tokens there. If ``k`` runs in
    that round (``p_k <= c_i - 1 < c_k``), it holds ``s_k + (c_i - p_k)`` tokens, so
    ``s_k + c_i - p_k <= M - P_i`` and ``c_k - c_i = o_k - (c_i - p_k) >= P_i + P_k - M``.
    Otherwise ``k`` has not started by then (it completes at ``c_k >= c_i``), so ``p_k >= c_i``
    and ``c_k - c_i >= o_k``. Either way ``c_k - c_i >= min(o_k, P_i + P_k - M)``.

    Two requests whose last rounds hold more than ``M`` together therefore complete at least
    ``P_i + P_k - M`` rounds apart: long requests with large prompts serialise, which the
    memory-area argument cannot see (it lets a request's small early rounds share memory with
    another's large late ones at no cost)."""
    s, o = workload.prompt.astype(np.int64), workload.output.astype(np.int64)
    peak = s + o
    D = np.minimum(o[None, :], np.maximum(0, peak[:, None] + peak[None, :] - M))
    np.fill_diagonal(D, 0)
    return D


def _srpt_completions(release: np.ndarray, proc: np.ndarray) -> np.ndarray:
    """Sorted completion times of shortest-remaining-processing-time on one machine (integer
    data). SRPT minimises the number of unfinished jobs at every time (Schrage 1968), so its
    ``k``-th completion is a lower bound on the ``k``-th completion of any one-machine schedule."""
    order = np.argsort(release, kind="stable")
    rel, pr = release[order].tolist(), proc[order].tolist()
    n, i, t, heap, out = len(rel), 0, None, [], []
    while i < n or heap:
        if not heap:
            t = rel[i] if t is None else max(t, rel[i])
        while i < n and rel[i] <= t:
            heapq.heappush(heap, (pr[i], i))
            i += 1
        rem, j = heapq.heappop(heap)
        nxt = rel[i] if i < n else None
        if nxt is None or t + rem <= nxt:
            t += rem
            out.append(t)
        else:
            heapq.heappush(heap, (rem - (nxt - t), j))
            t = nxt
    return np.sort(np.asarray(out, dtype=np.int64))


def _completed_by(order_stats: np.ndarray, T: int) -> np.ndarray:
    """``N[t]`` for ``t = 0..T``: how many lower bounds on sorted completions are ``<= t`` (an
    upper bound on the number of requests completed by round ``t``)."""
    return np.searchsorted(np.asarray(order_stats, dtype=float), np.arange(T + 1), side="right")


def clique_bound(workload: Workload, M: int, H: np.ndarray | None = None) -> float:
    """A lower bound on the total latency from counting completions (at least the headroom
    bound, hence the area bound). ``H``: :func:`headroom_completion_bounds` of ``workload``, if
    already computed.

    Let ``N(t)`` be the number of requests with ``c_i <= t`` in a feasible schedule. Since
    ``c_i > r_i``, ``sum_i (c_i - r_i) = sum_t (#{r_i <= t} - N(t))``, so any upper bound on
    every ``N(t)`` gives a lower bound on the total latency. Two such bounds, and their minimum:

    * headroom: ``N(t) <= #{k : H_k <= t}`` with ``H_k`` of :func:`headroom_completion_bounds`
      (``c_(k) >= H_k``); alone this is exactly :func:`headroom_bound`;
    * clique ``B_theta = {i : P_i >= M - theta}`` (``theta = 0..M-1``): for ``k`` in ``B`` let
      ``beta_k = min_{i in B, i != k} D[i, k]`` (:func:`separations`). For ``i, k`` in ``B``
      with ``c_i <= c_k``, ``c_k - beta_k >= c_i``: the intervals ``[c_k - beta_k, c_k)`` are
      pairwise disjoint, a one-machine schedule with release ``r_k + o_k - beta_k`` and
      processing ``beta_k``. SRPT bounds how many of them can be done by ``t``
      (:func:`_srpt_completions`); the other requests are counted by their own headroom bound.
    """
    n = len(workload)
    if n == 0:
        return 0.0
    s, o = workload.prompt.astype(np.int64), workload.output.astype(np.int64)
    r = earliest_starts(workload)
    e = r + o
    peak = s + o
    D = separations(workload, M)
    L_all = headroom_completion_bounds(workload, M) if H is None else H
    cliques = []   # (SRPT completions of B, headroom order statistics of the rest)
    # B_theta changes only where M - theta passes a peak: one clique per distinct peak (clipped to M)
    for v in np.unique(np.clip(peak, 1, M)):
        B, rest = np.flatnonzero(peak >= v), np.flatnonzero(peak < v)
        if len(B) < 2:
            continue
        DB = D[np.ix_(B, B)].astype(float)
        np.fill_diagonal(DB, np.inf)
        beta = DB.min(axis=0).astype(np.int64)
        comp = _srpt_completions(e[B] - beta, beta)
        L_rest = headroom_completion_bounds(workload.subset(rest), M) if len(rest) else np.zeros(0)
        cliques.append((comp, L_rest))
    T = int(max(np.max(a) for a in [L_all, *(x for c in cliques for x in c)] if len(a))) + 1
    done = _completed_by(L_all, T)
    for comp, L_rest in cliques:
        done = np.minimum(done, _completed_by(comp, T) + _completed_by(L_rest, T))
    released = _completed_by(np.sort(r), T)
    return float(np.sum(released[:T] - done[:T]) + np.sum(r - workload.arrival))
