"""Your own trace file: ``trace=file trace.path=...``.

One request a row, in CSV (``.csv``, ``.csv.gz``), JSON lines (``.jsonl``, ``.jsonl.gz``) or
parquet (``.parquet``). The columns are named by ``prompt_col`` and ``output_col`` (tokens,
integers >= 0), ``arrival_col`` (seconds as numbers, or timestamps in CSV and parquet; null
when the file has none, then use ``arrival: poisson`` or ``zero``) and ``text_col`` (the
prompt text, for content-based predictors; optional). Every malformed row is an error that
names the file, the line (row, for parquet) and the column. The file's sha256 goes into
the run's ``trace_meta``. The file is read from ``path`` as given (relative to the working
directory), not from the data directory, and is not cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..config.compose import parse_overrides
from ..datastore import sha256_file
from ..errors import ConfigError, TraceFormatError
from ..workload import Workload
from ._common import UNTIMED_DEFAULTS, table_workload
from ._io import read_csv_columns, read_jsonl_columns, read_parquet_columns
from .registry import register_trace

FILE_DEFAULTS: dict[str, Any] = {"path": None, "prompt_col": "prompt", "output_col": "output",
                                 "arrival_col": "arrival", "text_col": None,
                                 **UNTIMED_DEFAULTS, "arrival": "trace", "rate": None}
FORMATS = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".parquet")


def trace_files(overrides: Sequence[str]) -> list[str]:
    """The file a ``trace=file`` run reads, from its overrides (``trace.path``, the last one
    given; ``~`` expanded): an input of its pipeline job. Empty for any other trace."""
    trace = path = None
    for o in parse_overrides(overrides, ("trace", "trace.path"), "the trace overrides"):
        trace, path = (o.value(), path) if o.key_or_group == "trace" else (trace, o.value())
    return [str(Path(str(path)).expanduser())] if trace == "file" and path not in (None, "") else []


def _column(p: dict[str, Any], key: str, optional: bool) -> str | None:
    v = p.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, str) or not v:
        raise ConfigError(f"file: {key} must be a column name{' or null' if optional else ''}, got {v!r}")
    return v


def read_user_file(path: Path, prompt: str, output: str, arrival: str | None, text: str | None) -> pd.DataFrame:
    """Parse ``path`` into columns prompt, output (tokens), optionally arrival (s) and text."""
    name = path.name.lower()
    ints = [prompt, output]
    if name.endswith((".jsonl", ".jsonl.gz")):
        fields = {prompt: "int", output: "int", **({arrival: "number"} if arrival else {}),
                  **({text: "str"} if text else {})}
        df = pd.DataFrame(read_jsonl_columns(path, fields))
        if arrival:
            df[arrival] = df[arrival] - df[arrival].min()
    elif name.endswith(".parquet"):
        df = read_parquet_columns(path, ints, arrival, text)
    elif name.endswith((".csv", ".csv.gz")):
        df = read_csv_columns(path, ints, arrival, text)
    else:
        raise TraceFormatError(f"{path}: unknown format; the name must end in {', '.join(FORMATS)}")
    renamed = {prompt: "prompt", output: "output", **({arrival: "arrival"} if arrival else {}),
               **({text: "text"} if text else {})}
    return df.rename(columns=renamed)[list(renamed.values())]


@register_trace("file", defaults=FILE_DEFAULTS)
def user_file(p: dict[str, Any], data_dir: Path, seed: int) -> Workload:
    """Your own trace file: CSV, JSON lines or parquet (seconds)."""
    if not p.get("path"):
        raise ConfigError(f"file: set trace.path to your trace file ({', '.join(FORMATS)})")
    path = Path(str(p["path"])).expanduser()
    if not path.is_file():
        raise ConfigError(f"file: trace.path {str(path)!r} is not a file (looked in {Path.cwd()})")
    cols = {k: _column(p, k, k in ("arrival_col", "text_col"))
            for k in ("prompt_col", "output_col", "arrival_col", "text_col")}
    used = [(k, v) for k, v in cols.items() if v is not None]
    for i, (k, v) in enumerate(used):
        for k2, v2 in used[i + 1:]:
            if v == v2:
                raise ConfigError(f"file: {k} and {k2} both name column {v!r}; each role needs its own column")
    df = read_user_file(path, cols["prompt_col"], cols["output_col"], cols["arrival_col"], cols["text_col"])
    return table_workload(p, df, seed, {"source": str(path.resolve()), "sha256": sha256_file(path)})
