"""``lmsys_like``: a synthetic stand-in for the MC-SF paper's LMSYS-Chat-1M workload.

RECONSTRUCTION. LMSYS-Chat-1M is not available here; the paper reports only marginal
statistics of its 10,000 sampled conversations (papers.md section 1): prompt mean 40.62 /
median 11 and output mean 85.32 / median 45, with words counted as tokens. This source
draws prompt and output lengths *independently* (the joint law is unknown) from rounded,
floored log-normals fitted to those four numbers:

    Y = max(1, rint(X)),   X ~ LogNormal(mu, sigma)

The fit is computed (not hard-coded) by :func:`fit_rounded_lognormal`: ``mu = ln(median)``
(so the integer median of Y equals the target median); then ``sigma`` is found by bisection
so that the *exact* mean of Y (computed from the log-normal CDF over the integer bins plus
the analytic tail beyond them) equals the target mean. The continuous closed form,
``sigma = sqrt(2 ln(mean / median))``, is the starting point; rounding and the floor at 1
move it slightly. With the paper's numbers this gives sigma ~ 1.61 (prompt) and ~ 1.13
(output). The fit is checked to reproduce both statistics within 2%.

Keys: ``n`` (default 10,000 as in the paper), ``arrival`` (``poisson`` at ``rate``
requests/s, default 50 = the paper's high demand; or ``zero``), the four targets
``prompt_mean``, ``prompt_median``, ``output_mean``, ``output_median``, and ``max_total``
(optional: redraw requests with prompt + output above it, e.g. the KV memory; None = no
limit, which leaves the fitted moments exact). Time unit: seconds. Sizes: tokens (= words).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..workload import Workload
from ._common import get_choice, get_float, get_int, need_rate, poisson_arrivals, rngs
from .registry import register_trace

DEFAULTS: dict[str, Any] = {
    "n": 10_000, "arrival": "poisson", "rate": 50.0,
    "prompt_mean": 40.62, "prompt_median": 11.0, "output_mean": 85.32, "output_median": 45.0,
    "max_total": None,
}
_K = 5000  # integer bins summed exactly; beyond them rounding is unbiased to ~1e-9
_phi = np.vectorize(lambda x: 0.5 * math.erfc(-x / math.sqrt(2.0)))  # standard normal CDF


def rounded_stats(mu: float, sigma: float) -> tuple[float, int]:
    """Exact mean and median of ``max(1, rint(X))`` for ``X ~ LogNormal(mu, sigma)``."""
    k = np.arange(1, _K + 1, dtype=np.float64)
    cdf = _phi((np.log(k + 0.5) - mu) / sigma)  # P(Y <= k)
    pmf = np.diff(cdf, prepend=0.0)
    cut = math.log(_K + 0.5)
    tail = math.exp(mu + sigma**2 / 2) * float(_phi((mu + sigma**2 - cut) / sigma))  # E[X; X > K+.5]
    median = int(k[np.argmax(cdf >= 0.5)])
    return float((k * pmf).sum() + tail), median


@lru_cache(maxsize=32)
def fit_rounded_lognormal(mean: float, median: float) -> tuple[float, float]:
    """(mu, sigma) such that ``max(1, rint(LogNormal(mu, sigma)))`` has the given mean and median."""
    if not (median >= 1 and mean > median):
        raise ConfigError(f"lmsys_like: need mean > median >= 1 for a log-normal fit, got "
                          f"mean {mean}, median {median}")
    mu = math.log(median)
    lo, hi = 1e-3, max(4.0, 2 * math.sqrt(2 * math.log(mean / median)))
    if rounded_stats(mu, lo)[0] >= mean:
        raise ConfigError(f"lmsys_like: mean {mean} too close to median {median} to fit")
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if rounded_stats(mu, mid)[0] < mean else (lo, mid)
    sigma = 0.5 * (lo + hi)
    m, med = rounded_stats(mu, sigma)
    if abs(m - mean) > 0.02 * mean or abs(med - median) > 0.02 * median:
        raise ConfigError(f"lmsys_like: cannot fit mean {mean} / median {median} within 2% "
                          f"(got {m:.2f} / {med}; integer medians only)")
    return mu, sigma


def _draw(rng: np.random.Generator, mu: float, sigma: float, n: int) -> np.ndarray:
    return np.maximum(1, np.rint(rng.lognormal(mu, sigma, size=n))).astype(np.int64)


@register_trace("lmsys_like", defaults=DEFAULTS)
def lmsys_like(p: dict[str, Any], data_dir: Path, seed: int) -> Workload:
    """Synthetic LMSYS-Chat-1M-like lengths (reconstruction; words as tokens; seconds)."""
    n = get_int(p, "n", low=1)
    mode = get_choice(p, "arrival", ("poisson", "zero"))
    rate = need_rate(p) if mode == "poisson" else None
    fit_p = fit_rounded_lognormal(get_float(p, "prompt_mean"), get_float(p, "prompt_median"))
    fit_o = fit_rounded_lognormal(get_float(p, "output_mean"), get_float(p, "output_median"))
    cap = get_int(p, "max_total", low=2, none_ok=True)
    rng_len, rng_arrival = rngs(seed, 2)
    s, o = _draw(rng_len, *fit_p, n), _draw(rng_len, *fit_o, n)
    if cap is not None:
        for _ in range(1000):  # redraw oversize requests
            if not (bad := np.flatnonzero(s + o > cap)).size:
                break
            s[bad], o[bad] = _draw(rng_len, *fit_p, bad.size), _draw(rng_len, *fit_o, bad.size)
        else:
            raise ConfigError(f"lmsys_like: max_total={cap} is too small for the fitted lengths")
    arrival = poisson_arrivals(rng_arrival, n, rate) if mode == "poisson" else np.zeros(n)
    meta = {"reconstruction": True, "prompt_fit": fit_p, "output_fit": fit_o, "n": n,
            "arrival": mode, "rate": rate, "max_total": cap, "seed": seed}
    return Workload(arrival, s, o, "lmsys_like", "s", None, meta)
