"""The policy registry: config name -> Policy class."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from ..params import build_params, check_params_class, construct, name_clash
from ..errors import ConfigError
from .base import Policy

_REGISTRY: dict[str, type[Policy]] = {}


def register_policy(cls: type[Policy]) -> type[Policy]:
    """Class decorator: register under ``cls.name``."""
    name_clash("policy", cls, _REGISTRY)
    check_params_class("policy", cls)
    if cls.admit is Policy.admit:
        raise ValueError(f"policy class {cls.__qualname__} has no admit(self, view) method")
    _REGISTRY[cls.name] = cls
    return cls


def list_policies() -> list[str]:
    return sorted(_REGISTRY)


def get_policy_class(name: str) -> type[Policy]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown algorithm {name!r}; valid: {', '.join(list_policies())}") from None


def make_params(cls: type[Policy], cfg: Mapping[str, Any]) -> Any:
    """Build ``cls.Params`` from a mapping, rejecting unknown keys by name."""
    return build_params("algorithm", cls.name, cls.Params, cfg)


def build_policy(cfg: Mapping[str, Any], *, capacity: int, seed: int = 0, latency=None) -> Policy:
    """Instantiate the policy named ``cfg['name']`` with the remaining keys as parameters.

    ``latency`` (a LinearLatency) is passed to policies that price requests in time
    (``uses_latency``); they fall back to unit rounds without it."""
    cfg = dict(cfg)
    if "name" not in cfg:
        raise ConfigError("algorithm config needs a 'name'")
    cls = get_policy_class(cfg["name"])
    kw = {"latency": latency} if getattr(cls, "uses_latency", False) else {}
    return construct("policy", cls, make_params(cls, cfg), capacity=capacity, seed=seed, **kw)


def param_dict(p: Any) -> dict:
    return dataclasses.asdict(p) if dataclasses.is_dataclass(p) else {}


def check_predictor(policy_cls: type[Policy], predictor_cls: type) -> None:
    """A benchmark that needs the true lengths (``needs_oracle``) runs only with the oracle; a
    policy that plans with intervals (``needs_intervals``) not with a predictor declaring none."""
    if policy_cls.needs_oracle and not predictor_cls.oracle:
        hint = getattr(policy_cls, "oracle_alternative", "")      # e.g. hsf: use mcsf instead
        raise ConfigError(f"algorithm {policy_cls.name!r} is a hindsight benchmark and needs predictor=oracle, "
                          f"not {predictor_cls.name!r}" + (f" ({hint})" if hint else ""))
    if policy_cls.needs_intervals and predictor_cls.intervals is False:
        raise ConfigError(f"algorithm {policy_cls.name!r} plans with interval predictions (pred_lo/pred_hi), "
                          f"which predictor {predictor_cls.name!r} does not give; use predictor=interval "
                          "(or oracle)")
