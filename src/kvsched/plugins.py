"""User plugins: policies, predictors and traces defined outside this package.

A plugin is a Python file (``path/to/my_policy.py``) or an importable module
(``mypkg.policies``) listed in the config key ``plugins``::

    kvsched run plugins=[examples/aged_sf.py] algorithm=aged_sf

Importing it runs its ``@register_policy`` / ``@register_predictor`` / ``@register_trace``
decorators. Each registered name without a YAML file in ``conf/<group>/`` then becomes a
config option of that group, with its ``Params`` defaults as the option's keys, so
``algorithm=aged_sf algorithm.aging=2`` works like a built-in option, and a misspelt key is
an error that lists the valid ones.

A plugin policy is built and run like a built-in one: it gets the same read-only
:class:`~kvsched.sim.view.SchedulerView`, so the information barrier holds for it too.
Every result records the plugin's file and its sha256 (``provenance.plugins``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import ConfigError, whole_traceback

# spec as given -> provenance record of the loaded plugin
_LOADED: dict[str, dict] = {}
# (group, option) -> default keys of the options registered from plugins
_OPTIONS: dict[tuple[str, str], dict] = {}


def _is_file_spec(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def _import_file(path: Path):
    name = "kvsched_plugin_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    mod_spec = importlib.util.spec_from_file_location(name, path)
    if mod_spec is None or mod_spec.loader is None:
        raise ConfigError(f"plugin {str(path)!r} is not an importable Python file")
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[name] = module
    try:
        mod_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _frames_in(exc: BaseException, paths: set[str]) -> list:
    """The frames of ``exc``'s traceback in the files ``paths`` (resolved paths), oldest first."""
    import traceback
    return [f for f in traceback.extract_tb(exc.__traceback__) if str(Path(f.filename).resolve()) in paths]


def _line_of(exc: BaseException, spec: str) -> str:
    """Where in plugin file ``spec`` the import failed, as ``, at FILE:LINE: SOURCE`` (the
    last frame in that file; empty for a module name or no such frame)."""
    if not _is_file_spec(spec):
        return ""
    frames = _frames_in(exc, {str(Path(spec).expanduser().resolve())})
    if not frames:
        return ""
    f = frames[-1]
    return f", at {f.filename}:{f.lineno}: {(f.line or '').strip()}"


def load_plugins(specs: Iterable[str] | None) -> list[dict]:
    """Import each plugin once per process; return their provenance records.

    Raises ConfigError naming the plugin if it is missing or fails to import (the
    original exception is chained)."""
    from .datastore import sha256_file

    records = []
    for spec in list(specs or []):
        spec = str(spec)
        if spec in _LOADED:
            records.append(_LOADED[spec])
            continue
        try:
            if _is_file_spec(spec):
                path = Path(spec).expanduser().resolve()
                if not path.is_file():
                    raise ConfigError(f"plugin {spec!r}: no such file ({path})")
                module = _import_file(path)
            else:
                module = importlib.import_module(spec)
        except ConfigError:
            raise
        except ModuleNotFoundError as e:
            missing = e.name or ""
            if not _is_file_spec(spec) and (spec == missing or spec.startswith(missing + ".")):
                raise ConfigError(f"plugin {spec!r}: no such module (a file path must end in .py)") from None
            hint = (" (a plugin file's folder is not on the import path: keep the plugin in one file, "
                    "or install what it imports)" if _is_file_spec(spec) else "")
            raise ConfigError(f"plugin {spec!r} failed to import: {e}{_line_of(e, spec)}{hint}") from e
        except Exception as e:
            raise ConfigError(f"plugin {spec!r} failed to import: {type(e).__name__}: {e}{_line_of(e, spec)}") from e
        file = getattr(module, "__file__", None)
        rec = {"plugin": spec, "path": str(Path(file).resolve()) if file else None,
               "sha256": sha256_file(file) if file and Path(file).is_file() else None}
        _LOADED[spec] = rec
        records.append(rec)
    if records:
        register_options()
    return records


def failure_in_plugin(exc: BaseException) -> str | None:
    """For an exception raised inside a loaded plugin's code: a short report with the plugin's
    own frames (file, line, function, source), else None. KVSCHED_TRACEBACK=1 turns it off."""
    paths = {r["path"] for r in _LOADED.values() if r.get("path")}
    if not paths or whole_traceback():
        return None
    frames = _frames_in(exc, paths)
    if not frames:
        return None
    lines = [f"a plugin raised {type(exc).__name__}: {exc}"]
    lines += [f"  {f.filename}:{f.lineno} in {f.name}: {(f.line or '').strip()}" for f in frames[-3:]]
    lines.append("  (KVSCHED_TRACEBACK=1 shows the whole traceback)")
    return "\n".join(lines)


def plugins_in(overrides: Sequence[str]) -> list[str]:
    """The plugin specs named by a ``plugins=...`` (or ``+plugins=...``) override, if any.

    Needed before Hydra composes: a plugin's options must exist when ``algorithm=<name>``
    is looked up."""
    from .config.compose import parse_overrides     # compose imports this module
    out: list[str] = []
    for o in parse_overrides(overrides, ("plugins",), "the plugins override"):
        v = o.value()
        out = [str(x) for x in v] if isinstance(v, (list, tuple)) else [str(v)] if v not in (None, "") else []
    return out


def _defaults(params_cls: Any) -> dict:
    if not dataclasses.is_dataclass(params_cls):
        return {}
    out = {}
    for f in dataclasses.fields(params_cls):
        if f.default is not dataclasses.MISSING:
            v = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            v = f.default_factory()  # type: ignore[misc]
        else:
            raise ConfigError(f"parameter {f.name!r} of {params_cls.__qualname__} needs a default")
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def catalog() -> dict[str, dict[str, tuple[str, dict]]]:
    """Every registered name per group (built-in and plugin): the first paragraph of its
    docstring, and its config node (``name`` and every key with its default)."""
    from .policies.registry import _REGISTRY as policies
    from .predictors.registry import _REGISTRY as predictors
    from .traces.registry import _REGISTRY as traces

    return {
        "algorithm": {n: (_first_paragraph(c.__doc__), {"name": n, **_defaults(c.Params)}) for n, c in policies.items()},
        "predictor": {n: (_first_paragraph(c.__doc__), {"name": n, **_defaults(c.Params)})
                      for n, c in predictors.items()},
        "trace": {n: (s.summary, dict(s.defaults)) for n, s in traces.items()},
    }


def register_options() -> None:
    """Make every registered name without ``conf/<group>/<name>.yaml`` a Hydra option."""
    from hydra.core.config_store import ConfigStore

    from .config.compose import group_options

    cs = ConfigStore.instance()
    for group, names in catalog().items():
        have = set(group_options(group))
        for name, (_, node) in names.items():
            if name in have or (group, name) in _OPTIONS:
                continue
            cs.store(group=group, name=name, node=node)
            _OPTIONS[(group, name)] = node


def option_keys(group: str, name: str) -> list[str] | None:
    """The keys of a plugin-registered option (None if ``name`` is not one)."""
    node = _OPTIONS.get((group, name))
    return None if node is None else [k for k in node if k != "name"]


def plugin_options(group: str) -> list[str]:
    """Options of ``group`` registered from plugins so far."""
    return sorted(n for g, n in _OPTIONS if g == group)


def plugin_files(overrides: Sequence[str]) -> list[str]:
    """The plugin *files* named in ``overrides`` (modules are left out), as given."""
    return [p for p in plugins_in(overrides) if _is_file_spec(p)]
