"""Output-length predictors (one registry)."""

from .base import MEDIAN_INDEX, N_QUANTILES, QUANTILE_LEVELS, Predictions, Predictor
from .registry import build_predictor, list_predictors, register_predictor
from . import content, synthetic  # noqa: F401  (registers sage_knn, ltr, oracle, noisy)

__all__ = ["MEDIAN_INDEX", "N_QUANTILES", "QUANTILE_LEVELS", "Predictions", "Predictor", "build_predictor", "list_predictors", "register_predictor"]
