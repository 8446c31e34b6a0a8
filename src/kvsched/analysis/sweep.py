"""Sweep specifications (``conf/experiment/*.yaml``) expanded into runs.

A sweep names fixed overrides, axes (override key -> list of values) and seeds. Each
point becomes one run directory ``results/runs/<experiment>/<key>=<value>/.../seed=<s>``
(readable, one level per axis, in the order the axes are listed).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from ..config.compose import conf_dir
from ..errors import ConfigError

SWEEP_KEYS = {"name", "description", "fixed", "axes", "seeds", "scale", "kind", "module", "params", "claims",
              "figures"}


@dataclass(frozen=True)
class RunPoint:
    experiment: str
    params: tuple[tuple[str, str], ...]   # (override key, value) in axis order, then ("seed", s)

    @property
    def path(self) -> str:
        return "/".join(f"{k}={v}" for k, v in self.params)

    def overrides(self, fixed: list[str]) -> list[str]:
        return list(fixed) + [f"{k}={v}" for k, v in self.params]


SCALABLE = {"fixed", "axes", "seeds"}


def load_sweep(name: str, scale: str | None = None) -> dict:
    """The preset ``conf/experiment/<name>.yaml``. For a sweep, ``params.<scale>`` (if present)
    replaces ``fixed``/``axes``/``seeds`` at that scale (``quick`` by default, ``full`` for
    paper scale); module experiments read their ``params.<scale>`` themselves."""
    f = conf_dir() / "experiment" / f"{name}.yaml"
    if not f.exists():
        opts = sorted(p.stem for p in (conf_dir() / "experiment").glob("*.yaml"))
        raise ConfigError(f"unknown experiment {name!r}; valid: {', '.join(opts)}")
    spec = OmegaConf.to_container(OmegaConf.load(f), resolve=True)
    bad = set(spec) - SWEEP_KEYS
    if bad:
        raise ConfigError(f"{f}: unknown key(s) {', '.join(sorted(bad))}; valid: {', '.join(sorted(SWEEP_KEYS))}")
    if spec.get("kind", "sweep") == "sweep" and spec.get("params"):
        scale = scale or spec.get("scale", "quick")
        if scale not in spec["params"]:
            raise ConfigError(f"{f}: no scale {scale!r}; valid: {', '.join(spec['params'])}")
        level = spec["params"][scale] or {}
        bad = set(level) - SCALABLE
        if bad:
            raise ConfigError(f"{f}: params.{scale} may set {', '.join(sorted(SCALABLE))}, not {', '.join(sorted(bad))}")
        spec.update(level)
        spec["scale"] = scale
    spec.setdefault("fixed", [])
    spec.setdefault("axes", {})
    spec.setdefault("seeds", [0])
    spec["name"] = spec.get("name", name)
    return spec


def validate_points(spec: dict, extra: list[str] = ()) -> None:
    """Compose every point's config with Hydra, so a bad override fails before any job runs.
    Each distinct axis value is composed once (the composition of keys is independent)."""
    from ..config import compose
    seen: set[tuple[str, str]] = set()
    for p in expand(spec):
        new = [kv for kv in p.params if kv not in seen]
        if new:
            try:
                compose(p.overrides(spec["fixed"]) + list(extra))
            except ConfigError as e:
                raise ConfigError(f"experiment {spec['name']!r}, point {p.path}: {e}") from None
            seen.update(new)


def expand(spec: dict) -> list[RunPoint]:
    axes = spec["axes"]
    keys = list(axes)
    points = []
    for combo in itertools.product(*(axes[k] for k in keys)):
        for seed in spec["seeds"]:
            points.append(RunPoint(spec["name"], tuple(zip(keys, map(str, combo))) + (("seed", str(seed)),)))
    return points


def run_dir(root: str | Path, point: RunPoint) -> Path:
    return Path(root) / "runs" / point.experiment / point.path
