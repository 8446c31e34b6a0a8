"""Checks shared by the registries: the types of parameter dataclasses (:func:`check_param_types`),
the names classes register under (:func:`name_clash`), their ``Params`` classes
(:func:`check_params_class`) and the run seed (:func:`check_seed`).

A config value that does not match its field's annotation (``bool``, ``int``, ``float``,
``str``, optionally ``None``) is a ConfigError naming the key, instead of a TypeError deep
inside the policy, or a string such as ``no`` silently read as true.
"""

from __future__ import annotations

import dataclasses
import inspect
import numbers
import re
import sys
import types
import typing
from typing import Any, Mapping

from .errors import ConfigError

_WANT = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _accepts(t: Any, v: Any) -> tuple[bool, str | None]:
    """Whether ``v`` fits annotation ``t``; the expected kind in words when it does not."""
    args = typing.get_args(t)
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        if v is None and type(None) in args:
            return True, None
        simple = [a for a in args if a is not type(None)]
        if len(simple) != 1:
            return True, None                      # a real union: not checked here
        ok, want = _accepts(simple[0], v)
        return ok, (f"{want} or null" if want else None)
    if t is bool:
        return isinstance(v, bool), _WANT[bool]
    if t is int:
        return isinstance(v, numbers.Integral) and not isinstance(v, bool), _WANT[int]
    if t is float:
        return isinstance(v, numbers.Real) and not isinstance(v, bool), _WANT[float]
    if t is str:
        return isinstance(v, str), _WANT[str]
    return True, None                              # Any, lists, mappings: left to validate()


def check_param_types(cls: type, values: Mapping[str, Any], owner: str) -> None:
    """Raise ConfigError for the first value in ``values`` whose type does not match the
    annotation of the same-named field of dataclass ``cls``."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:                              # unresolvable annotations (a plugin's): skip
        return
    for k, v in values.items():
        if k in hints:
            ok, want = _accepts(hints[k], v)
            if not ok:
                raise ConfigError(f"{owner}: {k} must be {want}, got {v!r}")


def name_clash(kind: str, cls: type, registry: dict) -> None:
    """Refuse to register ``cls`` (a policy or predictor class) without a ``name`` of its own, or
    under a name another class holds (ValueError; a plugin's import error then shows it)."""
    name = cls.__dict__.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} class {cls.__qualname__} sets no name; add name = \"my_{kind}\" to the class")
    check_option_name(kind, name, cls)
    old = registry.get(name)
    if old is not None and old is not cls:
        raise name_taken(kind, name, old, cls)


def check_option_name(kind: str, name: str, owner: Any) -> None:
    """Refuse a name that a config override cannot select: letters, digits, ``_``, ``.`` and
    ``-`` only (``my/policy`` registered, but no ``algorithm=`` could name it; ``mcsf `` ran the
    built-in ``mcsf``)."""
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        raise ValueError(f"{kind} name {name!r} of {owner.__qualname__} cannot be selected in a config; "
                         f"use letters, digits, '_', '.' and '-' only")


def check_params_class(kind: str, cls: type) -> None:
    """Refuse to register ``cls`` (a policy or predictor class) unless its ``Params`` is a
    dataclass without a field ``name`` (that key of the config names the option itself)."""
    P = cls.Params
    if not (isinstance(P, type) and dataclasses.is_dataclass(P)):
        raise ValueError(f"{kind} class {cls.__qualname__}: Params must be a dataclass (decorate it with "
                         f"@dataclass(frozen=True)), got {P!r:.80}")
    if "name" in {f.name for f in dataclasses.fields(P)}:
        raise ValueError(f"{kind} class {cls.__qualname__}: Params has a field 'name', the config key that "
                         f"names the {kind}; rename the field")


def construct(kind: str, cls: type, params: Any, **kw: Any) -> Any:
    """``cls(params, **kw)`` (a policy or predictor), or a ConfigError saying which ``__init__`` to
    write where its own cannot take these arguments or skips the base class's."""
    group = "algorithm" if kind == "policy" else kind
    init = f"__init__(self, params=None, *, {', '.join(f'{k}=...' for k in kw)})"
    try:
        inspect.signature(cls).bind(params, **kw)
    except TypeError as e:
        raise ConfigError(f"{group} {cls.name!r}: {cls.__qualname__}({', '.join(['params', *kw])}) fails ({e}); "
                          f"define {init}") from None
    obj = cls(params, **kw)
    if not hasattr(obj, "params"):
        raise ConfigError(f"{group} {cls.name!r}: {cls.__qualname__}.__init__ does not call "
                          f"super().__init__(params, {', '.join(f'{k}={k}' for k in kw)})")
    return obj


def name_taken(kind: str, name: str, old: Any, new: Any) -> ValueError:
    """The error for registering ``new`` (a class or function) under ``name``, which ``old`` holds."""
    mod = old.__module__
    plugin_file = getattr(sys.modules.get(mod), "__file__", None) if mod.startswith("kvsched_plugin_") else None
    whose = (f"the built-in {kind}" if mod.startswith("kvsched.") else
             f"{kind} {old.__qualname__} of plugin {plugin_file}" if plugin_file else   # its module name is a hash
             f"{kind} {mod}.{old.__qualname__}")
    return ValueError(f"{kind} name {name!r} is taken by {whose}; give {new.__qualname__} another name")


def check_seed(seed: Any) -> int:
    """The run seed: an integer >= 0 (numpy's generators refuse negative seeds)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def params_fields(params_cls: type) -> list[str]:
    """The field names of a parameter dataclass: the config keys it accepts."""
    return [f.name for f in dataclasses.fields(params_cls)]


def build_params(kind: str, name: str, params_cls: type, cfg: Mapping[str, Any]) -> Any:
    """``params_cls(**cfg)`` (a policy's or predictor's dataclass of parameters; the key
    ``name`` is skipped), then its ``validate()`` if any. An unknown key, a wrong type or a
    value ``validate`` refuses is a ConfigError that names the ``kind`` and ``name``."""
    valid = params_fields(params_cls)
    kw = {k: v for k, v in dict(cfg).items() if k != "name"}
    bad = sorted(set(kw) - set(valid))
    if bad:
        raise ConfigError(f"{kind} {name!r} has no parameter(s) {', '.join(bad)}; "
                          f"valid: {', '.join(valid) if valid else '(none)'}")
    check_param_types(params_cls, kw, f"{kind} {name!r}")
    try:
        p = params_cls(**kw)
        check = getattr(p, "validate", None)
        if check is not None:
            check()
    except (ConfigError, TypeError, ValueError) as e:   # name what the values are for
        raise ConfigError(f"{kind} {name!r}: {e}") from None
    return p
