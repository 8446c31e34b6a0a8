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
            therefore handed the true lengths of arriving requests.
    """

    name: ClassVar[str] = "base"
    Params: ClassVar[type] = NoParams
    oracle: ClassVar[bool] = False
    uses_truth: ClassVar[bool] = True

    def __init__(self, params=None, *, seed: int = 0):
        self.params = params if params is not None else self.Params()
        self.rng = np.random.default_rng(seed)

    def predict(self, ids: np.ndarray, prompt: np.ndarray, texts: list, truth: np.ndarray | None) -> Predictions:
        """Predictions for arriving requests ``ids`` with prompt sizes ``prompt`` (tokens).
        ``truth`` holds their true output lengths if ``uses_truth``, else None."""
        raise NotImplementedError

    def observe(self, ids: np.ndarray, prompt: np.ndarray, texts: list, output: np.ndarray) -> None:
        """Requests ``ids`` have completed with ``output`` tokens (online learning hook)."""
