"""Output-length predictors (one registry)."""

from .base import Predictions, Predictor
from .registry import build_predictor, list_predictors, register_predictor
from . import interval, synthetic  # noqa: F401  (registers interval, oracle, noisy)

__all__ = ["Predictions", "Predictor", "build_predictor", "list_predictors", "register_predictor"]
