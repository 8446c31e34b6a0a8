"""Parameter checks and the shared path from a parsed table to a Workload."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..workload import SOURCE_ROW, Workload

ARRIVALS = ("trace", "poisson", "zero")
# Accepted keys (with defaults) of file-backed traces with / without timestamps.
TIMED_DEFAULTS: dict[str, Any] = {"n": None, "arrival": "trace", "rate": None, "start": 0}
# Lengths without timestamps get Poisson arrivals, 2 requests/s unless configured.
UNTIMED_DEFAULTS: dict[str, Any] = {"n": None, "arrival": "poisson", "rate": 2.0, "start": 0,
                                    "sample": False}


def get_int(p: dict[str, Any], key: str, *, low: int | None = None, none_ok: bool = False) -> int | None:
    v = p.get(key)
    if v is None and none_ok:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ConfigError(f"{p['name']}: {key} must be an integer, got {v!r}")
    if low is not None and v < low:
        raise ConfigError(f"{p['name']}: {key} must be >= {low}, got {v!r}")
    return int(v)


def get_float(p: dict[str, Any], key: str, *, low: float | None = None, positive: bool = False,
              none_ok: bool = False) -> float | None:
    v = p.get(key)
    if v is None and none_ok:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v):
        raise ConfigError(f"{p['name']}: {key} must be a finite number, got {v!r}")
    if (positive and v <= 0) or (low is not None and v < low):
        raise ConfigError(f"{p['name']}: {key} must be {'> 0' if positive else f'>= {low}'}, got {v!r}")
    return float(v)


def get_bool(p: dict[str, Any], key: str) -> bool:
    v = p.get(key, False)
    if not isinstance(v, bool):
        raise ConfigError(f"{p['name']}: {key} must be true or false, got {v!r}")
    return v


def get_choice(p: dict[str, Any], key: str, choices: tuple) -> Any:
    v = p.get(key)
    if v not in choices:
        raise ConfigError(f"{p['name']}: {key} must be one of {', '.join(map(repr, choices))}, got {v!r}")
    return v


def rngs(seed: int, k: int) -> list[np.random.Generator]:
    """``k`` independent generators derived from ``seed`` (so sampling and arrivals don't interact)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(k)]


def poisson_arrivals(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Arrival times of a Poisson process with ``rate`` per time unit: cumulative Exp(1/rate) gaps."""
    return np.cumsum(rng.exponential(1.0 / rate, size=n))


def rate_time_scale(t: np.ndarray, rate: float) -> float:
    """The factor that stretches recorded arrival times ``t`` (sorted) to a mean rate
    ``(n - 1) / span`` of ``rate`` requests per time unit."""
    span = float(t[-1] - t[0]) if len(t) else 0.0
    if len(t) < 2 or not span > 0:
        raise ConfigError(f"cannot replay {len(t)} request(s) at a rate: their timestamps span 0 s")
    return ((len(t) - 1) / span) / rate


def rescale_to_rate(t: np.ndarray, rate: float) -> np.ndarray:
    """Recorded arrival times ``t`` (sorted), shifted to start at 0 and stretched to a mean
    rate of ``rate`` requests per time unit (:func:`rate_time_scale`); the bursts are kept."""
    t = np.asarray(t, dtype=np.float64)
    return (t - t[0]) * rate_time_scale(t, rate)


def need_rate(p: dict[str, Any]) -> float:
    rate = get_float(p, "rate", positive=True, none_ok=True)
    if rate is None:
        raise ConfigError(f"{p['name']}: arrival 'poisson' needs a rate > 0 (requests per time unit)")
    return rate


def table_workload(p: dict[str, Any], df: pd.DataFrame, seed: int, meta: dict[str, Any],
                   list_cols: tuple[str, ...] = ()) -> Workload:
    """Turn a parsed table into a Workload (time unit seconds).

    ``df`` has int columns ``prompt`` and ``output`` (tokens), optionally ``arrival`` (seconds
    after the file's earliest time: the readers shift it), ``text`` and the per-request
    ``list_cols`` (copied into ``meta`` as lists).
    Steps: drop output-0 rows (counted in ``meta["dropped_zero_output"]``); sort by arrival
    (stable) if timed, whatever ``arrival`` is (``meta["reordered"]`` says whether the file's
    order differed); skip ``start`` rows; keep the first ``n`` (or, with ``sample``, draw
    ``n`` without replacement); set arrivals per ``arrival``. Replayed timestamps are
    shifted so the first kept request arrives at 0 (the shift, seconds after the file's
    earliest time, is ``meta["time_offset"]``);
    with a ``rate`` (requests/s) they are also stretched to that mean rate, keeping the
    bursts (the factor is ``meta["time_scale"]``). ``meta["source_row"]`` gives, per request,
    its row in the file: ``df``'s integer index (0-based, dropped rows counted; a reader that
    filters rows keeps the index), which becomes the ``source_row`` column of
    ``requests.parquet``.
    """
    name = p["name"]
    rows = len(df)
    keep = df["output"].to_numpy() > 0
    dropped = int((~keep).sum())
    cols = {c: df[c].to_numpy()[keep] for c in df.columns}
    timed = "arrival" in cols
    mode = get_choice(p, "arrival", ARRIVALS)
    if mode == "trace" and not timed:
        raise ConfigError(f"{name}: this trace has no timestamps, so trace.arrival=trace cannot replay them; "
                          f"generate arrivals with trace.arrival=poisson trace.rate=<requests/s>, or "
                          f"trace.arrival=zero (all at time 0)")
    rate = need_rate(p) if mode == "poisson" else (
        get_float(p, "rate", positive=True, none_ok=True) if mode == "trace" else None)
    m = len(cols["output"])
    order = np.argsort(cols["arrival"], kind="stable") if timed else np.arange(m)

    start = get_int(p, "start", low=0)
    n = get_int(p, "n", low=1, none_ok=True)
    avail = m - start
    if m == 0:
        raise ConfigError(f"{name}: all {rows} rows have output 0 (a request decodes at least one "
                          f"token), so no request is left")
    if avail <= 0:
        raise ConfigError(f"{name}: start={start} skips all {m} requests (rows with output >= 1)")
    if n is not None and n > avail:
        raise ConfigError(f"{name}: asked for n={n} after start={start}, but only {m} requests "
                          f"(rows with output >= 1) exist")
    n = avail if n is None else n
    sample = get_bool(p, "sample")
    rng_sample, rng_arrival = rngs(seed, 2)
    pick = start + (rng_sample.choice(avail, size=n, replace=False) if sample else np.arange(n))
    idx = order[pick]

    offset, time_scale = 0.0, None
    if mode == "trace":
        idx = idx[np.argsort(cols["arrival"][idx], kind="stable")]
        arrival = cols["arrival"][idx]
        offset = float(arrival[0])
        arrival = arrival - offset
        if rate is not None:
            try:
                time_scale = rate_time_scale(arrival, rate)
            except ConfigError as e:
                raise ConfigError(f"{name}: rate={rate:g}: {e}") from None
            arrival = arrival * time_scale
    elif mode == "poisson":
        arrival = poisson_arrivals(rng_arrival, n, rate)
    else:
        arrival = np.zeros(n)

    # timestamps out of file order: the requests are taken (and run) in arrival order instead
    reordered = timed and bool(np.any(np.diff(cols["arrival"]) < 0))
    meta = {**meta, "rows": rows, "dropped_zero_output": dropped, "start": start, "n": n,
            "arrival": mode, "rate": rate, "sample": sample, "seed": seed, "time_offset": offset,
            "reordered": reordered}
    if time_scale is not None:
        meta["time_scale"] = time_scale     # replayed gaps = recorded gaps x time_scale
    for c in list_cols:
        meta[c] = cols[c][idx].tolist()
    in_file = df.index.to_numpy() if pd.api.types.is_integer_dtype(df.index) else np.arange(rows)
    meta[SOURCE_ROW] = in_file[keep][idx].tolist()   # the file's records, 0-based
    text = cols["text"][idx].tolist() if "text" in cols else None
    return Workload(arrival, cols["prompt"][idx], cols["output"][idx], name, "s", text, meta)
