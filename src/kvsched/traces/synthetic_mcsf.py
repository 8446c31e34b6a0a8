"""The MC-SF paper's synthetic generator (Jaillet et al., arXiv 2502.07115; papers.md section 1).

One instance, drawn from ``numpy.random.default_rng(seed)`` (all bounds inclusive, integers
unless noted):

- memory ``M ~ U[m_low, m_high]`` tokens (paper: [30, 50]), reported in ``meta["memory"]``;
- prompt ``s_i ~ U[s_low, s_high]`` tokens (paper: [1, 5]);
- output ``o_i ~ U[1, M - s_i]`` tokens, so every request fits alone in memory;
- ``arrival_model: 1``: ``n ~ U[n_low, n_high]`` (paper: [40, 60]) requests, all at round 0;
- ``arrival_model: 2``: rate ``lambda ~ U[lam_low, lam_high]`` (real, paper: [0.5, 1.5]) and
  horizon ``H ~ U[horizon_low, horizon_high]`` rounds (paper: [40, 60]); the number of
  arrivals in each round ``t = 0..H-1`` is Poisson(lambda), so ``n`` is random.

``n`` overrides the request count: in model 1 it replaces the draw; in model 2 the horizon
is ignored and rounds continue until ``n`` requests have arrived (the last round truncated).
Time unit: rounds (integer arrival rounds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..workload import Workload
from ._common import get_choice, get_float, get_int
from .registry import register_trace

DEFAULTS: dict[str, Any] = {
    "arrival_model": 1, "n": None,
    "m_low": 30, "m_high": 50, "s_low": 1, "s_high": 5, "n_low": 40, "n_high": 60,
    "lam_low": 0.5, "lam_high": 1.5, "horizon_low": 40, "horizon_high": 60,
}


def _range(p: dict[str, Any], lo: str, hi: str, kind: str, low: float) -> tuple:
    get = get_int if kind == "int" else get_float
    a, b = get(p, lo, low=low), get(p, hi, low=low)
    if a > b:
        raise ConfigError(f"synthetic_mcsf: {lo}={a} exceeds {hi}={b}")
    return a, b


@register_trace("synthetic_mcsf", defaults=DEFAULTS)
def synthetic_mcsf(p: dict[str, Any], data_dir: Path, seed: int) -> Workload:
    """MC-SF synthetic instance (rounds); the drawn memory M is in meta["memory"]."""
    model = get_choice(p, "arrival_model", (1, 2))
    n_fix = get_int(p, "n", low=0, none_ok=True)
    m_lo, m_hi = _range(p, "m_low", "m_high", "int", 1)
    s_lo, s_hi = _range(p, "s_low", "s_high", "int", 0)
    if s_hi >= m_lo:
        raise ConfigError(f"synthetic_mcsf: s_high={s_hi} must be < m_low={m_lo} so that M - s >= 1")
    rng = np.random.default_rng(seed)
    M = int(rng.integers(m_lo, m_hi + 1))
    meta: dict[str, Any] = {"memory": M, "arrival_model": model, "seed": seed}
    if model == 1:
        n_lo, n_hi = _range(p, "n_low", "n_high", "int", 0)
        n = int(rng.integers(n_lo, n_hi + 1)) if n_fix is None else n_fix
        arrival = np.zeros(n)
    else:
        l_lo, l_hi = _range(p, "lam_low", "lam_high", "float", 0.0)
        h_lo, h_hi = _range(p, "horizon_low", "horizon_high", "int", 1)
        lam = float(rng.uniform(l_lo, l_hi))
        if n_fix is None:
            horizon = int(rng.integers(h_lo, h_hi + 1))
            counts = rng.poisson(lam, size=horizon)
        else:
            if n_fix > 0 and lam <= 0:
                raise ConfigError("synthetic_mcsf: n > 0 needs lam_high > 0")
            counts = []
            while sum(counts) < n_fix:
                counts.append(int(rng.poisson(lam)))
            horizon = len(counts)
        arrival = np.repeat(np.arange(horizon, dtype=np.float64), counts)[: n_fix]
        n = len(arrival)
        meta.update(lam=lam, horizon=horizon)
    s = rng.integers(s_lo, s_hi + 1, size=n)
    o = rng.integers(1, M - s + 1)  # per-request upper bound M - s_i, inclusive
    meta["n"] = n
    return Workload(arrival, s, o, "synthetic_mcsf", "rounds", None, meta)
