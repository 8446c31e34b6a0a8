"""Certified lower bounds on the optimal total latency (unit rounds, papers.md sections 0, 8).

Model: request ``i`` (arrival ``a_i``, prompt ``s_i``, output ``o_i``, with
``s_i + o_i <= M``) started in round ``p`` completes at ``c_i = p + o_i`` and holds
``s_i + j`` tokens in its ``j``-th round; in every round the running requests hold at most
``M`` tokens. Evictions (restarts) are allowed: they only add rounds and memory.

**Theorem.** Let ``A_i = s_i o_i + o_i (o_i + 1) / 2`` (the KV area of one uninterrupted
run), ``S_k`` the sum of the ``k`` smallest ``A_i`` and ``e_(k)`` the ``k``-th smallest
``a_i + o_i``. For every feasible schedule,

    sum_i c_i  >=  sum_{k=1..n} max( ceil(S_k / M), e_(k) ),

hence ``sum_i (c_i - a_i) >= max( sum_i o_i, that bound - sum_i a_i )``.

*Proof.* Number the requests by completion time, ``c_(1) <= ... <= c_(n)`` (ties in any
order), and fix ``k``. (i) Each of the first ``k`` requests completes its final, uninterrupted
run by ``c_(k)``; that run holds ``A_i`` token-rounds, all within rounds ``0 .. c_(k) - 1``,
and each round holds at most ``M`` tokens. So ``M c_(k) >= sum over those k of A_i >= S_k``
(``S_k`` is the least sum of any ``k`` areas); ``c_(k)`` is an integer, so
``c_(k) >= ceil(S_k / M)``. (ii) Each of the first ``k`` requests has ``c_i >= a_i + o_i``,
so ``c_(k) >= max`` of ``k`` distinct values ``a_i + o_i`` ``>= e_(k)``. Summing
``c_(k) >= max(ceil(S_k/M), e_(k))`` over ``k`` gives the bound; ``c_i - a_i >= o_i``
gives the other term. QED

The bound is exact for one request, and for requests that all fit together at once
(then ``e_(k)`` dominates). A ratio ``ALG / bound`` is therefore an **upper bound** on
the true competitive ratio ``ALG / OPT``; ``ALG / (best schedule found)`` is a lower one.
"""

from __future__ import annotations

import numpy as np


def kv_area(prompt: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Token-rounds of one uninterrupted run: s*o + o(o+1)/2."""
    s = np.asarray(prompt, dtype=np.float64)
    o = np.asarray(output, dtype=np.float64)
    return s * o + o * (o + 1) / 2.0


def completion_lower_bound(prompt, output, capacity: int, arrival=None) -> float:
    """Certified lower bound on the optimal total latency ``sum(c_i - a_i)`` (unit rounds).

    Every request must fit alone (``s + o <= capacity``); raises ValueError otherwise."""
    s = np.asarray(prompt, dtype=np.int64)
    o = np.asarray(output, dtype=np.int64)
    a = np.zeros(len(o)) if arrival is None else np.asarray(arrival, dtype=np.float64)
    if len(o) == 0:
        return 0.0
    if np.any(s + o > capacity):
        raise ValueError("every request must fit alone in memory (s + o <= M) for the bound to apply")
    S = np.cumsum(np.sort(kv_area(s, o)))
    # ceil with a small tolerance: S is a sum of exact half-integers
    vol = np.ceil(S / capacity - 1e-9)
    e = np.sort(a + o)
    total = float(np.sum(np.maximum(vol, e)))
    return max(float(np.sum(o)), total - float(np.sum(a)))
