"""``kvsched compare``: the runs in some folders side by side, one line per run.

Paths are run folders, ``summary.json`` files, or folders searched recursively for run
summaries (default ``results/runs/adhoc``, where ``kvsched run`` writes), simulated or
replayed on the real engine. A summary that cannot be read (a run cut short) is reported and
skipped; the others are still shown. Module experiments' own summaries (no run config) are
skipped where a folder is searched. Runs are ranked within blocks of the same trace, memory
``M``, time unit and trace parameters.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .aggregate import is_run_summary, read_summary, row_of

DEFAULT_ROOT = Path("results/runs/adhoc")
# the metrics runs can be ranked by, smallest first
SORT_KEYS = ("latency_mean", "latency_p50", "latency_p90", "latency_p99", "latency_total", "ttft_mean",
             "ttft_p50", "ttft_p90", "ttft_p99", "makespan", "evictions", "wasted_decode_tokens",
             "wasted_prefill_tokens", "rejected", "memory_peak", "energy_j", "energy_per_token_j", "simulate_s")
# ... and those ranked largest first
SORT_KEYS_LARGEST = ("throughput_rps", "throughput_tokens", "completed")
# shown columns: (row key, header); latencies in the run's own unit (s, or rounds for latency=unit)
COLUMNS = (("trace", "trace"), ("memory", "M"), ("label", "algorithm"), ("predictor_shown", "predictor"),
           ("seed", "seed"), ("done", "done"), ("latency_mean", "mean lat"), ("latency_p99", "p99 lat"),
           ("ttft_mean", "mean TTFT"), ("evictions", "evictions"), ("memory_peak", "peak mem"),
           ("time_unit", "unit"), ("simulate_s", "wall s"), ("settings", "settings"))
# parameter prefix -> the column that names what they belong to
GROUPS = {"trace": "trace", "algorithm": "algorithm", "predictor": "predictor", "latency": "latency_model",
          "engine": "latency_model"}     # a real-engine replay's model, device, clock, ...


def find_summaries(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """The summaries named by ``paths`` (files, run folders, or folders searched below), each
    once however it is reached (symbolic links, relative and absolute paths), with whether it
    was found by a search (then one that is not a run's is skipped without a word)."""
    out: dict[Path, tuple[Path, bool]] = {}
    for given in paths:
        if not str(given):
            raise DataError("an empty path was given; name a run folder, a summary.json or a folder of runs")
        p = Path(given)
        if p.is_file():
            found, searched = [p], False
        elif p.is_dir():   # a run folder, results/, or a module experiment's folder with runs below
            found, searched = sorted(p.rglob("summary.json")), True
        else:
            raise DataError(f"{p}: no such file or folder")
        for f in found:
            out.setdefault(f.resolve(), (f, searched))
    return list(out.values())


def compare_table(paths: Iterable[str | Path], sort: str = "latency_mean",
                  warn=lambda msg: print(f"kvsched: warning: {msg}", file=sys.stderr)) -> pd.DataFrame:
    """One row per readable run summary under ``paths``, sorted by trace, M, then ``sort`` (smallest
    first; throughput and completed requests largest first)."""
    paths = list(paths)
    if sort not in SORT_KEYS + SORT_KEYS_LARGEST:
        raise DataError(f"cannot sort by {sort!r}; choose one of {', '.join(SORT_KEYS)} (smallest first) "
                        f"or {', '.join(SORT_KEYS_LARGEST)} (largest first)")
    rows, rerun = [], "not a run's summary, or a run cut short"
    for f, searched in find_summaries(paths):
        try:
            summary = read_summary(f, rerun)     # each file read once
            if searched and not is_run_summary(summary):
                continue                         # e.g. a module experiment's own summary
            rows.append(dict(row_of(summary, f, rerun), summary=str(f)))
        except DataError as e:
            warn(f"skipped {e}")
    if not rows:
        raise DataError(f"no run summaries found in {', '.join(map(str, paths))}")
    df = pd.DataFrame(rows)
    for col in ("time_unit", "completed", "requests", sort):   # summaries of older versions may lack them
        if col not in df:
            df[col] = None
    df["done"] = [f"{_fmt(c)}/{_fmt(r)}" for c, r in zip(df["completed"], df["requests"])]
    df["predictor_shown"] = df["predictor"].where(df["reads_predictions"], "-")
    varying = _varying(df)
    df["settings"] = _settings(df, varying)
    # runs are ranked only against runs of the same trace, M, time unit and trace settings
    block = ["trace", "memory", "time_unit", *(k for k in varying if k.startswith("trace."))]
    ascending = [True] * len(block) + [sort not in SORT_KEYS_LARGEST, True, True]
    df = df.sort_values([*block, sort, "label", "seed"], ascending=ascending, na_position="last").reset_index(drop=True)
    df.attrs["block"], df.attrs["sort"] = block, sort
    return df


def _varying(df: pd.DataFrame) -> list[str]:
    """The parameters (``trace.n``, ``predictor.eps``, ``latency.tensor_parallel``, ...) that differ
    between runs of the same trace, algorithm, predictor or latency model, and the simulation
    switches and plugin files that differ between any runs. A user's trace file counts by its
    content (``trace.sha256``), not by how its path was written."""
    out = []
    by_content = "trace.sha256" in df.columns
    for prefix, group in GROUPS.items():
        for key in (c for c in df.columns if c.startswith(prefix + ".")):
            if key == "trace.path" and by_content:
                continue
            if _as_text(df[key]).groupby(df[group]).nunique().max() > 1:
                out.append(key)
    out += [k for k in df.columns if (k.startswith("sim.") or k == "plugins") and _as_text(df[k]).nunique() > 1]
    return out


def _as_text(col: pd.Series) -> pd.Series:
    """The values as strings, a missing one (``trace.n=null``, no plugin) as ``-``: a run that
    leaves a parameter unset differs from one that sets it. (``astype(str)`` keeps NaN missing
    under pandas 3, and ``nunique`` would not count it.)"""
    return pd.Series(["-" if _missing(v) else str(v) for v in col], index=col.index, dtype=object)


def _settings(df: pd.DataFrame, varying: list[str]) -> pd.Series:
    """Per run, its values of the ``varying`` parameters (e.g. ``predictor.eps=0.5``), plus the
    latency model where the runs use more than one."""
    if df["latency_model"].nunique() > 1:
        varying = ["latency_model", *varying]
    return pd.Series([", ".join(f"{k}={_fmt(row[k], k)}" for k in varying if not _missing(row[k]))
                      for _, row in df.iterrows()], index=df.index, dtype=object)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and pd.isna(v))


def _fmt(v, key: str = "") -> str:
    if _missing(v):
        return "-"
    if key == "trace.sha256":
        return str(v)[:12]
    if isinstance(v, float):    # 4 significant digits; whole where .4g would go to 1.541e+04
        return f"{v:.4g}" if abs(v) < 9999.5 else f"{v:.0f}"
    return str(v)


def render(df: pd.DataFrame) -> str:
    """The table as aligned text (numbers right-aligned), a blank line between the blocks of runs
    ranked apart (``df.attrs["block"]``); the metric they are ranked by (``df.attrs["sort"]``) is
    a column too."""
    cols = list(COLUMNS)
    sort = df.attrs.get("sort")
    if sort and sort not in dict(cols):
        cols.insert(cols.index(("time_unit", "unit")), (sort, sort))
    cols = [(k, h) for k, h in cols if k in df.columns]
    cells = [[_fmt(v) for v in df[k]] for k, _ in cols]
    widths = [max([len(h)] + [len(c) for c in col]) for (_, h), col in zip(cols, cells)]
    num = [pd.api.types.is_numeric_dtype(df[k]) for k, _ in cols]
    line = lambda items: "  ".join(s.rjust(w) if n else s.ljust(w)  # noqa: E731
                                   for s, w, n in zip(items, widths, num)).rstrip()
    out = [line([h for _, h in cols]), line(["-" * w for w in widths])]
    block = df.attrs.get("block") or []
    keys = [tuple(map(str, row)) for row in df[block].itertuples(index=False)] if block else None
    for i in range(len(df)):
        if keys is not None and i and keys[i] != keys[i - 1]:
            out.append("")                    # a blank line between blocks ranked apart
        out.append(line([col[i] for col in cells]))
    return "\n".join(out)
