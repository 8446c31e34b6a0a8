"""The predictor registry: config name -> Predictor class."""

from __future__ import annotations

from typing import Any, Mapping

from ..params import build_params, check_params_class, construct, name_clash
from ..errors import ConfigError
from .base import Predictor

_REGISTRY: dict[str, type[Predictor]] = {}


def register_predictor(cls: type[Predictor]) -> type[Predictor]:
    """Class decorator: register under ``cls.name``."""
    name_clash("predictor", cls, _REGISTRY)
    check_params_class("predictor", cls)
    _REGISTRY[cls.name] = cls
    return cls


def list_predictors() -> list[str]:
    return sorted(_REGISTRY)


def predictor_params(cfg: Mapping[str, Any]) -> tuple[type[Predictor], Any]:
    """The class named ``cfg['name']`` and its parameters built from the other keys."""
    cfg = dict(cfg)
    name = cfg.pop("name", None)
    if name not in _REGISTRY:
        raise ConfigError(f"unknown predictor {name!r}; valid: {', '.join(list_predictors())}")
    cls = _REGISTRY[name]
    return cls, build_params("predictor", name, cls.Params, cfg)


def build_predictor(cfg: Mapping[str, Any], *, seed: int = 0) -> Predictor:
    cls, params = predictor_params(cfg)
    return construct("predictor", cls, params, seed=seed)
