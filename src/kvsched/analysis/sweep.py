"""Sweep specifications (``conf/experiment/*.yaml``) expanded into runs.

A sweep names fixed overrides, axes and seeds. An axis is an override key with a list of
values (``algorithm: [fcfs, mcsf]``), or a *variant axis*: any name with a mapping from labels
to lists of overrides, for settings that go together::

    variant:
      mcsf_knn: [algorithm=mcsf, predictor=sage_knn]
      hsf: [algorithm=hsf, predictor=oracle]

A variant's runs also get ``label=<label>``, which names them in tables and figures; a sweep has
at most one variant axis. Each point becomes one run directory
``results/runs/<experiment>/<axis>=<value or label>/.../seed=<s>`` (readable, one level per
axis, in the order the axes are listed).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from ..config.compose import GROUPS, conf_dir, split_override
from ..errors import ConfigError, KvschedError

SWEEP_KEYS = {"name", "description", "fixed", "axes", "seeds", "scale", "kind", "module", "params", "claims",
              "figures"}


@dataclass(frozen=True)
class RunPoint:
    experiment: str
    params: tuple[tuple[str, str], ...]   # (axis, value or variant label) in axis order, then ("seed", s)
    settings: tuple[str, ...]             # its overrides: a variant's list (and label=), or "axis=value"; seed=s

    @property
    def path(self) -> str:
        return "/".join(f"{k}={v}" for k, v in self.params)

    def overrides(self, fixed: list[str]) -> list[str]:
        return list(fixed) + list(self.settings)


LABEL = re.compile(r"[A-Za-z0-9_.+\-]+")   # a variant label is one path segment


SCALABLE = {"fixed", "axes", "seeds"}


def load_sweep(name: str, scale: str | None = None) -> dict:
    """The preset ``conf/experiment/<name>.yaml``. For a sweep, ``params.<scale>`` (if present)
    replaces ``fixed`` and ``seeds`` at that scale (``quick`` by default, ``full`` for paper
    scale), and the axes it names (the other axes stay); module experiments read their
    ``params.<scale>`` themselves."""
    f = conf_dir() / "experiment" / f"{name}.yaml"
    if not f.exists():
        kinds: dict[str, list[str]] = {"module": [], "sweep": []}
        for p in sorted((conf_dir() / "experiment").glob("*.yaml")):
            kind = (OmegaConf.load(p) or {}).get("kind", "sweep")
            kinds["module" if kind == "module" else "sweep"].append(p.stem)
        raise ConfigError(f"unknown experiment {name!r}; module experiments (kvsched experiment NAME): "
                          f"{', '.join(kinds['module'])}; sweeps (snakemake --config 'experiments=[NAME]'): "
                          f"{', '.join(kinds['sweep'])}")
    spec = OmegaConf.to_container(OmegaConf.load(f), resolve=True)
    bad = set(spec) - SWEEP_KEYS
    if bad:
        raise ConfigError(f"{f}: unknown key(s) {', '.join(sorted(bad))}; valid: {', '.join(sorted(SWEEP_KEYS))}")
    # a sweep's runs go to results/runs/<name>/, and the pipeline finds them by the preset's file
    # name: a copied preset that kept the original's name failed with a KeyError of that name
    if spec.get("kind", "sweep") == "sweep" and spec.get("name", name) != name:
        raise ConfigError(f"{f}: name {spec['name']!r} is not the file's name; set name: {name} (or leave "
                          "name out)")
    if spec.get("kind", "sweep") == "sweep" and spec.get("params"):
        scale = scale or spec.get("scale", "quick")
        if scale not in spec["params"]:
            raise ConfigError(f"{f}: no scale {scale!r}; valid: {', '.join(spec['params'])}")
        level = spec["params"][scale] or {}
        bad = set(level) - SCALABLE
        if bad:
            raise ConfigError(f"{f}: params.{scale} may set {', '.join(sorted(SCALABLE))}, not {', '.join(sorted(bad))}")
        spec.update({k: v for k, v in level.items() if k != "axes"})
        spec["axes"] = {**spec.get("axes", {}), **level.get("axes", {})}
        spec["scale"] = scale
    spec.setdefault("fixed", [])
    spec.setdefault("axes", {})
    spec.setdefault("seeds", [0])
    spec["name"] = spec.get("name", name)
    return spec


def validate_points(spec: dict, extra: list[str] = ()) -> None:
    """Compose every point's config with Hydra and build its policy's and predictor's
    parameters, so a bad override or value fails before any job runs; check that the preset's
    ``claims`` and ``figures`` exist. A point is composed when any of its settings is new: a
    config group's option with that group's overrides (``algorithm=sagesched`` with
    ``algorithm.eviction=index``), taken together since one decides what the other may be, or
    any other override (the other keys do not depend on each other)."""
    from ..config import compose
    check_outputs(spec)
    seen: set = set()
    for p in expand(spec):
        overrides = p.overrides(spec["fixed"]) + list(extra)
        new = _signatures(overrides) - seen
        if new:
            try:
                cfg = compose(overrides)
                check_params(cfg)
                if _trace_signature(overrides) in new:
                    check_trace(cfg)
            except KvschedError as e:     # a bad value, a missing or malformed data file
                raise type(e)(f"experiment {spec['name']!r}, point {p.path}: {e}") from None
            seen |= new


def _signatures(overrides: list[str]) -> set:
    """What decides whether ``overrides`` compose: each config group's chosen option with that
    group's own overrides (and the plugins, which may register options), the algorithm with the
    predictor (a benchmark may need the oracle), and every other override on its own."""
    chosen: dict[str, str] = {}
    keys: dict[str, list[str]] = {g: [] for g in GROUPS}
    other, plugins = [], []
    for o in overrides:
        key = split_override(o)[0]
        group = key.split(".", 1)[0]
        if key in GROUPS:
            chosen[key] = o
        elif group in GROUPS:
            keys[group].append(o)
        else:
            other.append(o)
            if key == "plugins":
                plugins.append(o)
    loaded = tuple(plugins)
    pair = ("pair", chosen.get("algorithm"), chosen.get("predictor"), loaded)   # hsf needs the oracle
    return ({("group", g, chosen.get(g), tuple(keys[g]), loaded) for g in GROUPS} | {("other", o) for o in other}
            | {pair, _trace_signature(overrides)})


def _trace_signature(overrides: list[str]) -> tuple:
    """What decides whether a point's trace loads and fits its memory: the trace and its keys,
    ``memory.*`` (``auto`` needs a trace that defines M), ``data.dir`` and the plugins."""
    keep = [o for o in overrides
            if split_override(o)[0].split(".", 1)[0] in ("trace", "memory", "data", "plugins")]
    return ("trace", tuple(keep))


def check_params(cfg) -> None:
    """Build the policy's and the predictor's parameters from a composed config, as a run does
    (an unknown key, a wrong type or a value their ``validate()`` refuses is a ConfigError)."""
    from ..policies.registry import check_predictor, get_policy_class, make_params
    from ..predictors.registry import predictor_params
    algo = OmegaConf.to_container(cfg.algorithm, resolve=True)
    cls = get_policy_class(algo["name"])
    make_params(cls, algo)
    check_predictor(cls, predictor_params(OmegaConf.to_container(cfg.predictor, resolve=True))[0])


def check_trace(cfg) -> None:
    """Load the point's trace (from the parsed-trace cache after the first time) and resolve its
    memory size, as a run does: a bad trace value (``trace.n=-3``), a missing data file, or
    ``memory.capacity=auto`` on a trace that defines no M is a ConfigError. The seed is the
    point's own; a generator's parameters are checked the same way for every seed."""
    from ..runner import load_inputs
    load_inputs(OmegaConf.to_container(cfg, resolve=True))


def check_outputs(spec: dict) -> None:
    """The preset's ``claims`` checker and ``figures`` exist (they run only after every point)."""
    if spec.get("kind", "sweep") != "sweep":
        return
    from .claims import CHECKS
    from .plots import FIGURES
    where = f"experiment {spec['name']!r}"
    claims = spec.get("claims")
    if claims and claims not in CHECKS:
        raise ConfigError(f"{where}: unknown claims {claims!r}; valid: {', '.join(sorted(CHECKS))}")
    figures = spec.get("figures", [])
    if not isinstance(figures, list):
        raise ConfigError(f"{where}: figures must be a list of names, got {figures!r}")
    bad = [f for f in figures if f not in FIGURES]
    if bad:
        raise ConfigError(f"{where}: unknown figure(s) {', '.join(map(str, bad))}; valid: {', '.join(sorted(FIGURES))}")


def axis_values(spec: dict, axis: str) -> list[tuple[str, tuple[str, ...]]]:
    """``(value or label, overrides)`` for each value of one axis of ``spec`` (module docstring)."""
    values, where = spec["axes"][axis], f"experiment {spec['name']!r}, axis {axis!r}"
    if isinstance(values, dict):
        if any(split_override(o)[0] == "label" for o in spec["fixed"]):
            raise ConfigError(f"{where}: a variant axis sets label=; remove it from fixed")
        out = []
        for label, overrides in values.items():
            overrides = [overrides] if isinstance(overrides, str) else overrides
            if not LABEL.fullmatch(str(label)):
                raise ConfigError(f"{where}: variant label {label!r} may use only letters, digits and _.+-")
            if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
                raise ConfigError(f"{where}: variant {label!r} must be a list of key=value overrides, "
                                  f"got {overrides!r}")
            out.append((str(label), tuple(overrides) + (f'label="{label}"',)))   # quoted: "1.0" stays a string
        return out
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}: expected a non-empty list of values or a mapping of variants, got {values!r}")
    return [(str(v), (f"{axis}={v}",)) for v in values]


def expand(spec: dict) -> list[RunPoint]:
    """Every point of the sweep: the product of its axes, then its seeds."""
    keys = list(spec["axes"])
    variants = [k for k in keys if isinstance(spec["axes"][k], dict)]
    if len(variants) > 1:
        raise ConfigError(f"experiment {spec['name']!r}: at most one variant axis, got {', '.join(variants)}")
    points = []
    for combo in itertools.product(*(axis_values(spec, k) for k in keys)):
        for seed in spec["seeds"]:
            params = tuple((k, v) for k, (v, _) in zip(keys, combo)) + (("seed", str(seed)),)
            settings = tuple(o for _, ovs in combo for o in ovs) + (f"seed={seed}",)
            points.append(RunPoint(spec["name"], params, settings))
    return points


def run_dir(root: str | Path, point: RunPoint) -> Path:
    return Path(root) / "runs" / point.experiment / point.path
