"""Compose a run configuration from ``conf/`` with Hydra's compose API."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Sequence

from omegaconf import DictConfig, OmegaConf

from ..errors import ConfigError
from ..plugins import load_plugins, option_keys, plugin_options, plugins_in
from .schema import register_schema

GROUPS = ("trace", "algorithm", "predictor", "latency")   # the config groups (conf/<group>/)


def conf_dir() -> Path:
    """The config tree: $KVSCHED_CONF_DIR, else ``conf/`` of the source checkout."""
    env = os.environ.get("KVSCHED_CONF_DIR")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[3] / "conf"


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


def compose(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """Resolved config for ``overrides`` (Hydra override syntax). Raises ConfigError with
    the offending key or option and the valid alternatives."""
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_schema()
    overrides = [_plugins_as_list(o) for o in overrides]
    for o in overrides:
        key, value = split_override(o)
        if key == "hydra" or key.startswith("hydra."):
            raise ConfigError(f"{o}: Hydra's own settings are not used (a run writes to out=..., and "
                              f"sweeps are experiment presets in conf/experiment/)")
        if o.startswith("~") and key != "plugins" and (key in GROUPS or OmegaConf.select(_schema(), key, default=_ABSENT) is not _ABSENT):
            raise ConfigError(f"{o}: {key} is part of every run's config and cannot be removed; "
                              f"set it instead ({key}=...)")
        if key in GROUPS and value.strip().startswith("["):
            raise ConfigError(f"{o}: a run takes one {key}; to compare several, sweep them in an "
                              f"experiment preset (conf/experiment/, axes)")
        _check_bool_override(key, value)
    loaded = load_plugins(plugins_in(overrides))   # their options must exist before Hydra looks them up
    d = conf_dir()
    if not (d / f"{config_name}.yaml").exists():
        raise ConfigError(f"config {config_name!r} not found in {d}")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(d), version_base="1.3"):
            cfg = hydra_compose(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(_explain(e, overrides, d)) from None
    finally:
        GlobalHydra.instance().clear()
    _whole_capacity(cfg)
    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as e:
        raise ConfigError(str(e)) from None
    _check_schema_keys(cfg)
    _check_values(cfg)
    if not any(split_override(o)[0] == "out" for o in overrides) and "out" in cfg:
        cfg.out = f"{cfg.out}-{config_digest(cfg, [r['sha256'] for r in loaded], _trace_file_sha256(cfg))}"
    return cfg


def _whole_capacity(cfg: DictConfig) -> None:
    """``memory.capacity=16492.0`` (or ``1e4``) as the integer it is, before ``out`` is resolved:
    the same run must not get a second folder (``M16492.0``) and a second digest."""
    from ..runner import check_capacity
    value = OmegaConf.select(cfg, "memory.capacity", default=None)
    if isinstance(value, float):
        cfg.memory.capacity = check_capacity(value)     # a fraction is refused, naming the key


@functools.lru_cache(maxsize=1)
def _schema() -> DictConfig:
    """The top-level schema as a read-only config (built once: about 6 ms each time)."""
    from .schema import RunConfig
    node = OmegaConf.structured(RunConfig)
    OmegaConf.set_readonly(node, True)
    return node


_ABSENT = object()


def _plugins_as_list(override: str) -> str:
    """``plugins=FILE`` as ``plugins=[FILE]``: one plugin needs no brackets."""
    key, value = split_override(override)
    v = value.strip()
    if key != "plugins" or override.startswith("~") or not v or v.startswith("[") or v == "null":
        return override
    return f"{override[:len(override) - len(override.lstrip('+'))]}plugins=[{v}]"


def split_override(override: str) -> tuple[str, str]:
    """``+key=value`` / ``~key`` -> (key, value), without Hydra's prefixes."""
    key, _, value = override.lstrip("+~").partition("=")
    return key, value


def parse_overrides(overrides: Sequence[str], keys: Sequence[str], what: str) -> list:
    """The overrides whose key is one of ``keys``, parsed by Hydra's grammar, in order, without
    deletions (``~key``): read before Hydra composes. ConfigError naming ``what`` (``the plugins
    override``) if one cannot be parsed."""
    mine = [str(o) for o in overrides if split_override(str(o))[0] in keys]
    if not mine:
        return []
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(mine)
    except HydraException as e:
        raise ConfigError(f"cannot parse {what}: {e}") from None
    return [o for o in parsed if not o.is_delete()]


def _check_bool_override(key: str, value: str) -> None:
    """A switch of the schema (``sim.step_mode``, ``sim.fast``) takes true or false: OmegaConf
    would read ``sim.step_mode=3`` as true."""
    default = OmegaConf.select(_schema(), key, default=None)
    if isinstance(default, bool) and value.strip().lower() not in ("true", "false"):
        raise ConfigError(f"bad override {key}={value}: {key} must be true or false")


PROGRESS = ("auto", True, False)     # sim.progress


def _check_values(cfg: DictConfig) -> None:
    """Values the schema's types cannot pin down (checked here so that ``run --cfg`` shows them
    too; ``memory.capacity=auto`` is resolved against the trace by the runner)."""
    from ..params import check_seed
    from ..runner import check_capacity
    check_seed(cfg.seed)
    check_capacity(cfg.memory.capacity)
    progress = OmegaConf.select(cfg, "sim.progress", default="auto")
    if not any(progress is v or progress == v and isinstance(v, str) for v in PROGRESS):
        raise ConfigError(f"sim.progress must be auto, true or false, got {progress!r}")


def config_digest(cfg: DictConfig, plugin_code: Sequence[str | None] = (), trace_file: str | None = None) -> str:
    """8 hex digits of the sha256 of the resolved config without ``out`` and ``sim.progress``
    (neither changes a result), of the plugins' code (``plugin_code``: their sha256s) and of a
    user's trace file (``trace_file``: its sha256, which then stands for ``trace.path``): runs
    that differ in any setting (a predictor's noise, a trace's length, an edited plugin or
    trace file, ...) get different default folders."""
    d = result_settings(OmegaConf.to_container(cfg, resolve=True))
    if plugin_code:
        d["plugin_code"] = list(plugin_code)
    if trace_file:                  # the file by its content: however its path is written
        d["trace"].pop("path", None)
        d["trace_file"] = trace_file
    return digest(d)


def result_settings(config: dict) -> dict:
    """A resolved config (plain dict) without the keys that change no result: ``out`` (where a
    run writes) and ``sim.progress`` (whether it shows a progress bar). The input is not changed."""
    d = {k: v for k, v in config.items() if k != "out"}
    if isinstance(d.get("sim"), dict):
        d["sim"] = {k: v for k, v in d["sim"].items() if k != "progress"}
    return d


def digest(obj) -> str:
    """8 hex digits of the sha256 of ``obj`` as canonical JSON (keys sorted): the suffix of a
    default run folder."""
    import hashlib
    import json
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _trace_file_sha256(cfg: DictConfig) -> str | None:
    """The sha256 of ``trace.path`` for ``trace=file`` (None if it is not a file: the trace's
    loader then says so). The recorded traces are pinned by their manifest's sha256 instead."""
    from ..datastore import sha256_file
    path = cfg.trace.get("path") if cfg.trace.get("name") == "file" else None
    p = Path(str(path)).expanduser() if path else None
    return sha256_file(p) if p is not None and p.is_file() else None


def _chosen_option(group: str, overrides: Sequence[str], d: Path) -> str | None:
    for o in reversed(list(overrides)):      # the last one wins, as in Hydra
        if o.startswith(f"{group}="):
            return o.split("=", 1)[1]
    defaults = OmegaConf.to_container(OmegaConf.load(d / "config.yaml")).get("defaults", [])
    for item in defaults:
        if isinstance(item, dict) and group in item:
            return item[group]
    return None


def _explain(e: Exception, overrides: Sequence[str], d: Path) -> str:
    """Turn a Hydra/OmegaConf error into one that names the key and lists valid ones."""
    import re
    msg = str(e).strip()
    cause = e.__cause__ or e.__context__
    if "add --multirun" in msg:                           # Hydra's advice for key=a,b; run has no multirun
        bad = next((o for o in overrides if "," in split_override(o)[1] and "[" not in o), msg.splitlines()[0])
        return (f"{bad}: a run takes one value; to compare several, sweep them in an experiment preset "
                f"(conf/experiment/, axes), or quote a value that contains a comma: key='a,b'")
    if msg.startswith("Error merging override") and cause is not None:
        reason = str(cause).split("\n")[0].strip()      # the first line; the rest is OmegaConf's
        bad = msg.replace("Error merging override", "").strip()
        node = OmegaConf.select(_schema(), split_override(bad)[0], default=None)
        if isinstance(node, DictConfig):                 # memory=16492: a group of keys, not a value
            key = split_override(bad)[0]
            return (f"bad override {bad}: {key} holds settings, not a value; set one of them: "
                    f"{', '.join(f'{key}.{k}=...' for k in node.keys())}")
        return f"{msg.replace('Error merging override', 'bad override')}: {reason}"
    bad = _unparsable(overrides)
    if bad is not None:                                  # Hydra's grammar error names no override
        return f"cannot parse the override {bad!r}: {msg}"
    miss = re.search(r"Could not find '(\w+)/([^']+)'", msg)
    if miss and miss.group(1) in GROUPS:
        group, name = miss.groups()
        valid = sorted(set(group_options(group)) | set(plugin_options(group)))
        noun = {"algorithm": "policy", "predictor": "predictor", "trace": "trace"}.get(group)
        hint = f"; load a {noun} of your own with plugins=[path/to/file.py]" if noun else ""
        loaded = plugins_in(overrides)
        if noun and loaded:                   # the plugin was loaded, but registered no such name
            how = (f"its loader decorated with @register_trace({name!r})" if noun == "trace" else
                   f"its class decorated with @register_{noun}, with name = {name!r}")
            hint = f"; the plugins loaded ({', '.join(loaded)}) register no {noun} named {name!r}: is {how}?"
        return f"unknown {group} {name!r}; valid: {', '.join(valid)}{hint}"
    m = re.search(r"Key '[^']+' (?:is not in struct|not in '\w+')\s+full_key: ([\w.]+)", msg) or \
        re.search(r"Could not override '([\w.]+)'", msg) or \
        re.search(r"Could not append to config. An item is already at '([\w.]+)'", msg)
    if not m or "already at" in msg:
        return msg
    full = m.group(1)
    parent = full.rsplit(".", 1)[0] if "." in full else ""
    if parent in GROUPS:
        opt = _chosen_option(parent, overrides, d)
        f = d / parent / f"{opt}.yaml"
        names = option_keys(parent, opt) if opt else None
        if names is None and opt and f.exists():
            names = [k for k in OmegaConf.load(f).keys() if k != "name"]
        if names is not None:
            return f"unknown config key {full!r}: {parent} {opt!r} accepts {', '.join(names) or '(no keys)'}"
    return _unknown_key(full)


def _unparsable(overrides: Sequence[str]) -> str | None:
    """The first override Hydra's grammar rejects on its own, if any."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    parser = OverridesParser.create()
    for o in overrides:
        try:
            parser.parse_override(o)
        except HydraException:
            return o
    return None


def _unknown_key(full: str) -> str:
    """The message for a key the schema lacks, listing the valid keys where it went wrong."""
    node = _schema()
    parts = full.split(".")
    for depth in range(len(parts) - 1, -1, -1):      # the deepest existing parent
        parent = ".".join(parts[:depth])
        sub = OmegaConf.select(node, parent) if parent else node
        if isinstance(sub, DictConfig):
            return (f"unknown config key {full!r}; valid keys{' under ' + parent if parent else ''}: "
                    f"{', '.join(sub.keys())}")
    return f"unknown config key {full!r}"


def _check_schema_keys(cfg: DictConfig) -> None:
    """Keys added with ``+`` slip past Hydra's struct check; every key outside the four groups
    must still be one the schema declares."""
    node = _schema()

    def walk(c: DictConfig, s: DictConfig, prefix: str) -> None:
        for k in c.keys():
            full = f"{prefix}{k}"
            if k not in s:
                raise ConfigError(_unknown_key(full))
            if not prefix and k in GROUPS:
                continue                           # checked by the registry that builds it
            if isinstance(c[k], DictConfig) and isinstance(s[k], DictConfig):
                walk(c[k], s[k], f"{full}.")
    walk(cfg, node, "")
