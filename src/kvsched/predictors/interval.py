"""Interval predictions of accuracy alpha (the A_max/A_min paper's setting, papers.md section 3).

Each arriving request with true output ``o`` gets an interval ``[lo, hi]`` that always
contains ``o``:

    lo = ceil(rho * o),   hi = ceil(lo / alpha),

with ``rho`` drawn independently per request from a seeded generator. ``o`` lies in the
interval whenever ``alpha <= rho <= 1``: ``lo <= o`` because ``rho <= 1`` and ``o`` is an
integer, and ``hi >= lo / alpha >= rho * o / alpha >= o``. The accuracy ``lo / hi`` is at
most ``alpha`` and tends to it as ``lo`` grows (``lo/hi >= alpha * lo / (lo + alpha)``);
``hi`` is capped at :data:`~kvsched.predictors.base.MAX_PREDICTION` tokens (about 1.1e12),
reached only where ``lo / alpha`` exceeds it.

Reconstruction (the paper's construction of the intervals is not stated in the sources we
could read; papers.md marks it [inferred]): the formula above, and

* ``rho: uniform`` (default) -- ``rho ~ U[alpha, 1]``, so ``o`` falls anywhere in ``[lo, hi]``;
* ``rho: low`` -- ``rho = alpha``: ``o`` sits at the top of its interval (A_min's worst case);
* ``rho: high`` -- ``rho = 1``: ``lo = o``, ``o`` sits at the bottom (A_max's worst case).

The point prediction written to ``pred`` is chosen by ``point``: ``lo``, ``hi``, ``mid``
(``round((lo + hi) / 2)``) or ``geometric`` (``round(sqrt(lo * hi))``). Policies built for
intervals (``amax``, ``amin``) read ``pred_lo``/``pred_hi`` and ignore the point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .base import MAX_PREDICTION, Predictions, Predictor
from .registry import register_predictor

RHOS = ("uniform", "low", "high")
POINTS = ("lo", "hi", "mid", "geometric")


@dataclass(frozen=True)
class IntervalParams:
    alpha: float = 0.5
    rho: str = "uniform"
    point: str = "lo"

    def validate(self) -> None:
        if not 0.0 < float(self.alpha) <= 1.0:
            raise ConfigError(f"alpha={self.alpha} must be in (0, 1]")
        if self.rho not in RHOS:
            raise ConfigError(f"rho={self.rho!r}; choose one of {', '.join(RHOS)}")
        if self.point not in POINTS:
            raise ConfigError(f"point={self.point!r}; choose one of {', '.join(POINTS)}")


def make_intervals(o: np.ndarray, alpha: float, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` for true lengths ``o`` (integers >= 1) and factors ``rho`` in [alpha, 1]."""
    o = np.asarray(o, dtype=np.int64)
    # a small tolerance keeps ceil() from rounding exact products up by float error
    lo = np.maximum(1, np.ceil(rho * o - 1e-9)).astype(np.int64)
    lo = np.minimum(lo, o)
    # capped (for a tiny alpha) before the cast, which would wrap it around to a negative number
    hi = np.ceil(np.minimum(lo / alpha - 1e-9, MAX_PREDICTION)).astype(np.int64)
    hi = np.maximum(hi, o)   # only float error could make hi < o; guard it
    return lo, hi


@register_predictor
class Interval(Predictor):
    """Interval ``[lo, hi] ∋ o`` with ``lo/hi ≈ alpha`` (synthetic: reads the true length)."""

    name = "interval"
    uses_truth = True
    intervals = True
    Params = IntervalParams

    def predict(self, ids, prompt, texts, truth):
        p = self.params
        a = float(p.alpha)
        n = len(truth)
        if p.rho == "uniform":
            rho = self.rng.uniform(a, 1.0, size=n)
        elif p.rho == "low":
            rho = np.full(n, a)
        else:
            rho = np.ones(n)
        lo, hi = make_intervals(truth, a, rho)
        if p.point == "lo":
            pt = lo
        elif p.point == "hi":
            pt = hi
        elif p.point == "mid":
            pt = np.rint((lo + hi) / 2.0).astype(np.int64)
        else:
            pt = np.rint(np.sqrt(lo.astype(float) * hi)).astype(np.int64)
        return Predictions(np.maximum(pt, 1), lo, hi)
