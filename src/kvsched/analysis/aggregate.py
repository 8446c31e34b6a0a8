"""Collect run summaries into one tidy table (one row per run).

Usage: ``python -m kvsched.analysis.aggregate --out results/<exp>/runs.parquet SUMMARY.json ...``
writes ``runs.parquet`` and ``runs.csv`` side by side, atomically. Each row carries its run's
commit, package versions and platform; the parquet file's metadata
(:func:`kvsched.io.read_parquet_meta`) records how many summaries it joins and what joined them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from ..errors import DataError, exits_on_error
from ..io import atomic_write, write_parquet
from ..provenance import provenance

RERUN = "delete the folder to rerun that point"


def flatten(summary: dict) -> dict:
    """One run's summary as a flat row: the config's names and parameters (``trace.n``,
    ``algorithm.scan``, ``latency.tensor_parallel``, ``sim.fast``, ...), a user file's sha256
    (``trace.sha256``), the plugins (``name.py@sha256[:8]``), the metrics and the timing. Also reads
    the summaries of real-engine replays (``kvsched engine``, ``engine_fidelity``): their
    latency model is ``measured (real engine)``, the engine's settings are ``engine.label``
    (``cpu-tiny``), ``engine.dtype``, ``engine.clock``, ... and ``simulate_s`` is the replay's wall
    time."""
    c = summary["config"]
    resolved = summary.get("resolved", {})
    timing = summary["timing"]
    git = summary["provenance"].get("git", {})
    row = {
        "trace": c["trace"]["name"],
        "algorithm": c["algorithm"]["name"],
        "label": c.get("label") or c["algorithm"]["name"],   # a sweep variant's label, else the algorithm
        "predictor": c["predictor"]["name"],
        # False: the policy reads no predictions, so the predictor never ran (summaries
        # written before this field existed read as True)
        "reads_predictions": bool(resolved.get("policy_reads_predictions", True)),
        "latency_model": c["latency"]["name"] if "latency" in c else _measured(resolved),
        "memory": resolved["memory_capacity"] if "memory_capacity" in resolved else c["memory"],
        "seed": c["seed"],
        "out": c.get("out"),
        "git_commit": git.get("commit"),
        "git_dirty": git.get("dirty"),
        "git_diff_sha256": git.get("diff_sha256"),     # which uncommitted state, where dirty
        # the run's package versions and platform, as its summary records them (JSON text)
        "packages": json.dumps(summary["provenance"].get("packages"), sort_keys=True),
        "platform": summary["provenance"].get("platform"),
    }
    for group in ("trace", "latency"):   # e.g. trace.rate, trace.n: the load a sweep set
        for k, v in c.get(group, {}).items():
            if k != "name" and not isinstance(v, (dict, list)):
                row[f"{group}.{k}"] = v if v is None or isinstance(v, (bool, int, float)) else str(v)
    for group in ("algorithm", "predictor"):
        for k, v in c[group].items():
            if k != "name":
                row[f"{group}.{k}"] = v
    sha = resolved.get("trace_meta", {}).get("sha256")     # a trace read from a user's file
    if sha:
        row["trace.sha256"] = sha
    for k in ("fast", "step_mode"):                         # how it was simulated (same schedules)
        if k in c.get("sim", {}):
            row[f"sim.{k}"] = c["sim"][k]
    engine = summary.get("engine")                          # a real-engine replay: where and on what
    if isinstance(engine, dict):
        for k in ("label", "model", "parameters", "dtype", "clock", "timer", "threads", "gpu_name"):
            if k in engine and not isinstance(engine[k], (dict, list)):
                row[f"engine.{k}"] = engine[k]
    plugins = summary["provenance"].get("plugins") or []
    row["plugins"] = ", ".join(f"{Path(str(p.get('path') or p.get('plugin'))).name}@{str(p.get('sha256'))[:8]}"
                               for p in plugins) or None   # which code: a plugin's file and its sha256
    for k, v in summary["metrics"].items():
        if not isinstance(v, dict):
            row[k] = v
    row["simulate_s"] = timing["simulate_s"] if "simulate_s" in timing else timing["replay_s"]
    return row


def _measured(resolved: dict) -> str:
    """The latency model a real-engine replay records (``engine_fidelity``'s replays record none)."""
    lm = resolved.get("latency_model")
    return lm if isinstance(lm, str) else "measured (real engine)"


def read_summary(path: str | Path, rerun: str = RERUN) -> object:
    """The parsed JSON of a summary file; DataError naming the file if it cannot be read or
    parsed (``rerun``: the advice added where it is incomplete)."""
    try:
        return json.loads(Path(path).read_text())
    except ValueError as e:          # invalid JSON or UTF-8: e.g. a write cut short
        raise DataError(f"{path}: not a complete run summary (invalid JSON: {e}); {rerun}") from None
    except OSError as e:             # e.g. a directory
        raise DataError(f"{path}: cannot read ({e.strerror})") from None


def is_run_summary(summary: object) -> bool:
    """Whether parsed JSON is a run's summary (a module experiment's has no run config)."""
    return isinstance(summary, dict) and "config" in summary


def row_of(summary: object, path: str | Path, rerun: str = RERUN) -> dict:
    """:func:`flatten` of a parsed summary; DataError naming ``path`` if it is not a run's."""
    if not is_run_summary(summary):   # e.g. a module experiment's
        raise DataError(f"{path}: not a sweep run's summary (no 'config' key)")
    try:
        return flatten(summary)
    except (KeyError, TypeError, AttributeError) as e:
        what = f"no key {e}" if isinstance(e, KeyError) else f"bad structure: {e}"
        raise DataError(f"{path}: not a complete run summary ({what}); {rerun}") from None


def load_row(path: str | Path, rerun: str = RERUN) -> dict:
    """One sweep run's summary.json, flattened; DataError naming the file if it is not one
    (``rerun``: the advice added where it is incomplete)."""
    return row_of(read_summary(path, rerun), path, rerun)


def aggregate(paths: list[str | Path]) -> pd.DataFrame:
    rows = [load_row(p) for p in paths]
    return pd.DataFrame(rows).sort_values(["trace", "memory", "label", "seed"]).reset_index(drop=True)


@exits_on_error
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, help="output parquet path (a .csv is written beside it)")
    ap.add_argument("summaries", nargs="+")
    a = ap.parse_args(argv)
    df = aggregate(a.summaries)
    out = Path(a.out)
    write_parquet(out, df, {"summaries": len(a.summaries), "provenance": provenance()})
    atomic_write(out.with_suffix(".csv"), lambda p: df.to_csv(p, index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
