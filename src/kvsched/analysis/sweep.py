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


def load_sweep(name: str) -> dict:
    f = conf_dir() / "experiment" / f"{name}.yaml"
    if not f.exists():
        opts = sorted(p.stem for p in (conf_dir() / "experiment").glob("*.yaml"))
        raise ConfigError(f"unknown experiment {name!r}; valid: {', '.join(opts)}")
    spec = OmegaConf.to_container(OmegaConf.load(f), resolve=True)
    bad = set(spec) - SWEEP_KEYS
    if bad:
        raise ConfigError(f"{f}: unknown key(s) {', '.join(sorted(bad))}; valid: {', '.join(sorted(SWEEP_KEYS))}")
    spec.setdefault("fixed", [])
    spec.setdefault("axes", {})
    spec.setdefault("seeds", [0])
    spec["name"] = spec.get("name", name)
    return spec


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
