"""Output-length predictors (one registry)."""

from .base import MEDIAN_INDEX, N_QUANTILES, QUANTILE_LEVELS, Predictions, Predictor
from .registry import build_predictor, list_predictors, register_predictor
from . import content, interval, synthetic  # noqa: F401  (register sage_knn, ltr, interval, oracle, noisy)

__all__ = ["MEDIAN_INDEX", "N_QUANTILES", "QUANTILE_LEVELS", "Predictions", "Predictor", "build_predictor", "list_predictors", "register_predictor"]
