"""Output-length predictors.

A predictor is called once per request, on arrival, and fills that request's point
prediction (and, for interval predictors, ``lo``/``hi``), in tokens. Synthetic predictors
(``oracle``, ``noisy``, ...) model a predictor of known quality and therefore read the
true lengths; content-based predictors see only the prompt and the lengths of requests
that have already completed (:meth:`Predictor.observe`). Policies never see the
predictor object, only the predictions it wrote into the public state.

Distributional predictors also give quantiles of the output length at the fixed levels
:data:`QUANTILE_LEVELS` (``Predictions.quantiles``, shape ``(n, Q)``, non-decreasing along
a row). Read as a distribution, the ``Q`` quantiles are ``Q`` equally likely atoms (the
levels are the midpoints ``(k + 1/2)/Q``), and the middle one is the median. A predictor
that gives no quantiles is read as a point mass at its point prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

#: Number of quantile levels of a distributional prediction (odd, so the median is one).
N_QUANTILES = 21
#: The levels: midpoints (k + 1/2) / Q, k = 0..Q-1; level index Q // 2 is 0.5 (the median).
QUANTILE_LEVELS = (np.arange(N_QUANTILES) + 0.5) / N_QUANTILES
MEDIAN_INDEX = N_QUANTILES // 2
#: Largest length a prediction holds (tokens): longer ones are capped here, not cast to int64, where
#: a float beyond its range wraps around to a negative or tiny value. Far above any memory limit,
#: so a capped prediction plans the same; and sums of many stay within int64.
MAX_PREDICTION = 2 ** 40


@dataclass
class Predictions:
    """Predictions for a batch of arriving requests (tokens, integers >= 1).

    ``quantiles``: optional ``(n, N_QUANTILES)`` output-length quantiles at
    :data:`QUANTILE_LEVELS`, non-decreasing along each row."""

    point: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    quantiles: np.ndarray | None = None


@dataclass(frozen=True)
class NoParams:
    pass


class Predictor:
    """Base class.

    Attributes:
        oracle: True if policies thereby see the true output lengths.
        uses_truth: True if the predictor is a synthetic model of prediction error and is
            therefore handed the true lengths of arriving requests. Off unless a predictor
            asks for it (``oracle``, ``noisy``, ``interval`` do); every result records it.
        intervals: whether ``predict`` gives ``lo``/``hi``: True or False for the built-ins,
            None (not declared, not checked in advance) by default. A policy that needs intervals
            (``amin``, ``amax``) refuses a predictor that declares False before the run starts.
    """

    name: ClassVar[str] = "base"
    Params: ClassVar[type] = NoParams
    oracle: ClassVar[bool] = False
    uses_truth: ClassVar[bool] = False
    intervals: ClassVar[bool | None] = None

    def __init__(self, params=None, *, seed: int = 0):
        self.params = params if params is not None else self.Params()
        self.rng = np.random.default_rng(seed)

    def predict(self, ids: np.ndarray, prompt: np.ndarray, texts: list, truth: np.ndarray | None) -> Predictions:
        """Predictions for arriving requests ``ids`` with prompt sizes ``prompt`` (tokens).
        ``truth`` holds their true output lengths if ``uses_truth``, else None."""
        raise NotImplementedError

    def observe(self, ids: np.ndarray, prompt: np.ndarray, texts: list, output: np.ndarray) -> None:
        """Requests ``ids`` have completed with ``output`` tokens (online learning hook)."""


def checked_predictions(predictor: Predictor, p, n: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None,
                                                                  np.ndarray | None]:
    """``p``, what ``predictor.predict`` returned for ``n`` requests, as arrays: point (int64,
    floored at 1), lo, hi (int64 or None) and quantiles (int64 ``(n, N_QUANTILES)``, non-decreasing
    rows floored at 1, or None). Raises SimulationError naming the predictor for anything else:
    not a :class:`Predictions`, a wrong length, NaN, infinite or negative values, ``lo > hi``."""
    from ..errors import SimulationError

    who = f"predictor {getattr(predictor, 'name', type(predictor).__name__)!r}"
    if not isinstance(p, Predictions):
        raise SimulationError(f"{who} returned {type(p).__name__}; predict must return Predictions(point=...)")
    if _points_only(p, n) and (n == 0 or p.point.min() >= 0):
        return np.maximum(p.point, 1).astype(np.int64, copy=False), None, None, None   # the common case, fast

    def arr(x, what: str, shape: tuple) -> np.ndarray:
        try:
            a = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise SimulationError(f"{who}: {what} must be numbers") from None
        if a.shape != shape:
            raise SimulationError(f"{who}: {what} has shape {a.shape} for {n} arriving requests; expected {shape}")
        if not np.all(np.isfinite(a)):
            raise SimulationError(f"{who}: {what} holds NaN or infinite values")
        if np.any(a < 0):
            raise SimulationError(f"{who}: {what} holds negative lengths (e.g. {a[a < 0][0]:g})")
        return np.minimum(a, MAX_PREDICTION).astype(np.int64)

    point = np.maximum(1, arr(p.point, "point", (n,)))
    lo = hi = q = None
    if (p.lo is None) != (p.hi is None):
        raise SimulationError(f"{who}: an interval needs both lo and hi")
    if p.lo is not None:
        lo, hi = arr(p.lo, "lo", (n,)), arr(p.hi, "hi", (n,))
        if np.any(lo > hi):
            i = int(np.argmax(lo > hi))
            raise SimulationError(f"{who}: interval lo > hi (lo = {lo[i]}, hi = {hi[i]})")
    if p.quantiles is not None:
        q = arr(p.quantiles, "quantiles", (n, N_QUANTILES))
        q = np.maximum.accumulate(np.maximum(1, q), axis=1)
    return point, lo, hi, q


def _points_only(p, n: int) -> bool:
    """``p`` is the usual answer: a :class:`Predictions` holding only an integer point array for
    ``n`` requests (its values still to be checked)."""
    pt = getattr(p, "point", None)
    return (type(p) is Predictions and p.lo is None and p.hi is None and p.quantiles is None
            and type(pt) is np.ndarray and pt.dtype.kind in "iu" and pt.shape == (n,))


def checked_points(predictor: Predictor, p, n: int) -> list[int]:
    """``checked_predictions(...)[0]`` as a list, with a cheaper lane for the usual answer that
    the fast simulator asks for once per arrival (Python on a short list, no numpy calls)."""
    if _points_only(p, n):
        v = p.point.tolist()
        if n == 0 or min(v) >= 0:
            return [x if x > 1 else 1 for x in v]
    return checked_predictions(predictor, p, n)[0].tolist()
