"""Adversarial instance families (papers.md section 2), all requests at round 0, unit rounds.

Each family maps a memory size ``M`` to a :class:`Workload` whose every request fits alone
(``s + o <= M``). Requests are listed in the order FCFS serves them.

* ``hol_blocking`` (equal prompts ``s = 1``): two long requests (``o = M - 2``, peak
  ``M - 1``) first, then ``M`` short ones (``o = 1``). Two longs never fit together, so
  FCFS (and any arrival-order admission that stops at the first failure) keeps all ``M``
  short requests behind the second long one for ``M - 2`` rounds: total ``Θ(M^2)``, while
  shortest-first finishes them in two rounds: total ``Θ(M)``. FCFS's ratio grows linearly
  in ``M``; shortest-first's stays bounded (equal prompts: MC-SF's O(1) regime).
* ``fat_prompts`` (heterogeneous prompts): ``m = floor(sqrt(M))`` "fat" requests
  (``s = M - 1``, ``o = 1``: each must run alone) and ``M`` "thin" ones (``s = 1, o = 2``).
  Shortest-output-first runs the fats first, one per round, so the thins wait ``m``
  rounds: total ``≈ M^{3/2}``, against ``O(M)`` when thins go first. Shortest-first's (and
  MC-SF's) ratio grows like ``sqrt(M)``.
"""

from __future__ import annotations

import math

import numpy as np

from .workload import Workload


def hol_blocking(M: int) -> Workload:
    if M < 4:
        raise ValueError("hol_blocking needs M >= 4")
    n_short = M
    s = np.ones(2 + n_short, dtype=np.int64)
    o = np.concatenate(([M - 2, M - 2], np.ones(n_short, dtype=np.int64)))
    return Workload(np.zeros(len(s)), s, o, "hol_blocking", "rounds", None, {"memory": M})


def fat_prompts(M: int) -> Workload:
    if M < 4:
        raise ValueError("fat_prompts needs M >= 4")
    m = math.isqrt(M)
    s = np.concatenate((np.full(m, M - 1), np.ones(M, dtype=np.int64)))
    o = np.concatenate((np.ones(m, dtype=np.int64), np.full(M, 2)))
    return Workload(np.zeros(len(s)), s, o, "fat_prompts", "rounds", None, {"memory": M})


FAMILIES = {"hol_blocking": hol_blocking, "fat_prompts": fat_prompts}
