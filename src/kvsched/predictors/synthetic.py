"""Synthetic predictors of known quality: oracle and noisy point predictions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .base import MAX_PREDICTION, Predictions, Predictor
from .registry import register_predictor


@register_predictor
class Oracle(Predictor):
    """The true output length (policies then see the truth)."""

    name = "oracle"
    oracle = True
    uses_truth = True
    intervals = True

    def predict(self, ids, prompt, texts, truth):
        t = np.asarray(truth, dtype=np.int64)
        return Predictions(t.copy(), t.copy(), t.copy())


@dataclass(frozen=True)
class NoisyParams:
    """eps: multiplicative error; prediction = round(o * (1 + xi)), xi ~ U[-eps, eps], >= 1
    (and at most MAX_PREDICTION).

    Reconstruction: the MC-SF paper states the error level eps in {0.2, 0.5, 0.8}; the
    uniform distribution of xi is our choice (``dist: lognormal`` gives
    o * exp(N(0, eps)) instead)."""

    eps: float = 0.2
    dist: str = "uniform"

    def validate(self) -> None:
        if not math.isfinite(self.eps):    # NaN or inf: no noise distribution, predictions would wrap around
            raise ConfigError(f"eps={self.eps} must be a finite number")
        if self.eps < 0:
            raise ConfigError(f"eps={self.eps} must be >= 0")
        if self.dist not in ("uniform", "lognormal"):
            raise ConfigError(f"dist={self.dist!r}; choose uniform or lognormal")


@register_predictor
class Noisy(Predictor):
    """The true length with multiplicative noise of level eps (synthetic: reads the true length)."""
    name = "noisy"
    uses_truth = True
    intervals = False
    Params = NoisyParams

    def predict(self, ids, prompt, texts, truth):
        o = np.asarray(truth, dtype=np.float64)
        if self.params.dist == "uniform":
            f = 1.0 + self.rng.uniform(-self.params.eps, self.params.eps, size=len(o))
        else:
            f = np.exp(self.rng.normal(0.0, self.params.eps, size=len(o)))
        p = np.clip(np.rint(o * f), 1, MAX_PREDICTION).astype(np.int64)
        return Predictions(p)
