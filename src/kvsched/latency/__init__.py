"""Time bases for the simulator: how long a round takes (seconds, or unit rounds).

``build_latency(cfg, data_dir)`` turns a ``conf/latency/*.yaml`` mapping into a
:class:`LinearLatency`:

* ``name: unit``: every round lasts one time unit (``unit_rounds()``); no other keys.
* ``name: splitwise_fit``: ``model``, ``hardware``, ``tensor_parallel`` (required) and
  ``power_w`` (optional override of the fitted busy power, W). Fitted at load time from
  ``<data_dir>/splitwise_perf_model/perf_model.csv``, memoised per process.
* ``name: linear``: explicit ``c0`` (s, required), ``c_p``, ``c_d``, ``c_kv`` (s per token /
  request / KV token, default 0) and ``power_w`` (W, default None).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from .base import LinearLatency, unit_rounds

__all__ = ["LinearLatency", "unit_rounds", "build_latency", "fit_linear_latency", "LATENCY_NAMES"]

# name -> (required keys, optional keys); "name" itself is always allowed
_SCHEMA: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "unit": (frozenset(), frozenset()),
    "splitwise_fit": (frozenset({"model", "hardware", "tensor_parallel"}), frozenset({"power_w"})),
    "linear": (frozenset({"c0"}), frozenset({"c_p", "c_d", "c_kv", "power_w"})),
}
LATENCY_NAMES: tuple[str, ...] = tuple(_SCHEMA)


def __getattr__(attr: str) -> Any:
    # lazy, so that ``python -m kvsched.latency.fit`` does not import fit twice
    if attr == "fit_linear_latency":
        from .fit import fit_linear_latency

        return fit_linear_latency
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


@functools.lru_cache(maxsize=32)
def _fit_cached(csv_path: str, model: str, hardware: str, tensor_parallel: int) -> LinearLatency:
    from .fit import fit_linear_latency

    return fit_linear_latency(csv_path, model, hardware, tensor_parallel)[0]


def _float(name: str, key: str, value: Any) -> float:
    try:
        if isinstance(value, bool):     # float(True) is 1.0: a switch is no coefficient or power
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"latency {name!r}: {key}={value!r} is not a number") from None


def build_latency(cfg: Mapping[str, Any], data_dir: str | os.PathLike[str] | None = None) -> LinearLatency:
    """Build the time base described by ``cfg`` (dict or OmegaConf DictConfig).

    ``data_dir`` (default ``$KVSCHED_DATA_DIR``) holds ``splitwise_perf_model/perf_model.csv``;
    only ``splitwise_fit`` needs it. Raises ``ConfigError`` on an unknown name or key, a
    missing key or a bad value; ``DataError`` if the data file is missing.
    """
    name = cfg.get("name")
    if name not in _SCHEMA:
        raise ConfigError(f"latency: unknown name {name!r}; valid names: {', '.join(LATENCY_NAMES)}")
    required, optional = _SCHEMA[name]
    keys = {str(k) for k in cfg.keys()} - {"name"}
    unknown = sorted(keys - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional)) or "none"
        raise ConfigError(f"latency {name!r}: unknown key(s) {unknown}; allowed: {allowed}")
    missing = sorted(k for k in required if cfg.get(k) is None)
    if missing:
        raise ConfigError(f"latency {name!r}: missing key(s) {missing}; set them, e.g. "
                          + " ".join(f"latency.{k}=..." for k in missing))

    power = cfg.get("power_w")
    power_w = None if power is None else _float(name, "power_w", power)

    if name == "unit":
        return unit_rounds()

    if name == "linear":
        coefs = {k: _float(name, k, cfg.get(k, 0.0)) for k in ("c0", "c_p", "c_d", "c_kv")}
        if coefs["c0"] == coefs["c_d"] == coefs["c_kv"] == 0:
            # the simulator could not advance the clock to the next arrival through decode rounds
            raise ConfigError(f"latency {name!r}: c0, c_d and c_kv are all 0, so a decode round would take "
                              f"no time; give at least one of them a positive value")
        return LinearLatency(**coefs, power_w=power_w, unit="s", name="linear")

    # splitwise_fit
    tp_raw = cfg.get("tensor_parallel")
    tp = _float(name, "tensor_parallel", tp_raw)
    if not math.isfinite(tp) or tp != int(tp):     # nan and inf have no int: not a traceback
        raise ConfigError(f"latency {name!r}: tensor_parallel={tp_raw!r} must be an integer")
    if data_dir is None:
        data_dir = os.environ.get("KVSCHED_DATA_DIR")
        if not data_dir:
            raise ConfigError("latency 'splitwise_fit' needs a data_dir (or $KVSCHED_DATA_DIR)")
    from ..datastore import data_path

    csv_path = str(data_path("splitwise_perf_model", data_dir).resolve())  # clear error if missing/corrupted
    lat = _fit_cached(csv_path, str(cfg.get("model")), str(cfg.get("hardware")), int(tp))
    if power_w is not None:
        lat = LinearLatency(lat.c0, lat.c_p, lat.c_d, lat.c_kv, power_w=power_w, unit=lat.unit, name=lat.name)
    return lat
