"""Trace registry and the single entry point :func:`load_trace`.

A trace is a function ``loader(params, data_dir, seed) -> Workload`` registered under a
fixed name together with the config keys it accepts (and their defaults).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..datastore import resolve_data_dir
from ..errors import ConfigError
from ..params import check_option_name, check_seed, name_taken
from ..workload import Workload

Loader = Callable[[dict[str, Any], Path, int], Workload]


@dataclass(frozen=True)
class TraceSpec:
    """A registered trace: its loader and every config key it accepts, with defaults."""

    name: str
    loader: Loader
    defaults: Mapping[str, Any]
    summary: str = ""


_REGISTRY: dict[str, TraceSpec] = {}


def register_trace(name: str, *, defaults: Mapping[str, Any]) -> Callable[[Loader], Loader]:
    """Decorator: register ``loader`` as trace ``name`` accepting the keys in ``defaults``
    (the key ``name`` itself is always accepted)."""

    def deco(loader: Loader) -> Loader:
        check_option_name("trace", name, loader)
        if name in _REGISTRY:
            raise name_taken("trace", name, _REGISTRY[name].loader, loader)
        doc = (loader.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = TraceSpec(name, loader, {"name": name, **defaults}, doc[0] if doc else "")
        return loader

    return deco


def list_traces() -> list[str]:
    """Registered trace names, sorted."""
    return sorted(_REGISTRY)


def get_trace(name: str) -> TraceSpec:
    """The registered trace ``name``; ConfigError listing valid names if unknown."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown trace {name!r}; valid traces: {', '.join(list_traces())}") from None


def _plain(v: Any) -> Any:
    """OmegaConf containers -> plain Python (other values unchanged)."""
    try:
        from omegaconf import OmegaConf
    except ImportError:  # pragma: no cover - omegaconf is optional here
        return v
    return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v


def load_trace(cfg: Mapping[str, Any], data_dir: str | Path | None = None, seed: int = 0) -> Workload:
    """Build the workload described by ``cfg`` (a dict or OmegaConf DictConfig).

    Common keys (each trace declares which it accepts): ``name``; ``n`` (keep the first
    ``n`` requests in arrival order, or generate ``n``); ``arrival`` (``"trace"`` replays
    timestamps, ``"poisson"`` draws Poisson arrivals at ``rate`` requests per time unit,
    ``"zero"`` puts every arrival at 0); ``rate`` (``"poisson"``: its rate; ``"trace"``:
    if set, the recorded times are stretched to this mean rate, bursts kept); ``start``
    (skip the first ``start`` rows). An unknown key raises ConfigError. ``data_dir`` goes
    through :func:`kvsched.datastore.resolve_data_dir`. Deterministic given ``seed``.
    """
    if cfg is None or not hasattr(cfg, "get") or not hasattr(cfg, "keys"):
        raise ConfigError(f"trace config must be a mapping with a 'name' key, got {cfg!r}")
    spec = get_trace(cfg.get("name"))
    given = {str(k): _plain(cfg.get(k)) for k in cfg.keys()}
    unknown = sorted(set(given) - set(spec.defaults))
    if unknown:
        raise ConfigError(
            f"trace {spec.name!r}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(spec.defaults))}")
    seed = check_seed(seed)
    params = {**spec.defaults, **given}
    w = spec.loader(params, resolve_data_dir(data_dir), seed)
    if not isinstance(w, Workload):
        raise ConfigError(f"trace {spec.name!r}: its loader returned {type(w).__name__}, not a "
                          f"kvsched.workload.Workload")
    return w
