"""Strict readers for CSV and JSON-lines trace files.

Every malformed row raises TraceFormatError naming the file, the 1-based line number
(a CSV header is line 1) and what is wrong. CSV line numbers assume no quoted field spans
several lines (true of every trace used here).
"""

from __future__ import annotations

import gzip
import json
import math
import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import TraceFormatError


def _fail(path: Path, line: int, what: str) -> TraceFormatError:
    return TraceFormatError(f"{path}, line {line}: {what}")


def _wanted(int_cols: Sequence[str], time_col: str | None, text_col: str | None) -> list[str]:
    return list(int_cols) + ([time_col] if time_col else []) + ([text_col] if text_col else [])


# Token counts at or above this are refused: float64 holds integers exactly only below 2**53.
MAX_TOKENS = 2 ** 53
MISSING = "missing value (an empty field or a short row)"


def _nonnegative_ints(num: np.ndarray, missing: np.ndarray, shown, col: str, fail, *,
                      missing_what: str = MISSING) -> np.ndarray:
    """``num`` (float64) as int64; ``fail(i, what)`` for its first entry that is missing (mask
    ``missing``; said as ``missing_what``), not a number, negative, fractional or implausibly
    large (``shown[i]``: the raw value)."""
    bad = ~np.isfinite(num) | (num < 0) | (num != np.floor(num)) | (num >= MAX_TOKENS)
    if bad.any():
        i = int(np.argmax(bad))
        x = num[i]
        why = (missing_what if missing[i] else "not a number" if not np.isfinite(x)
               else "negative value" if x < 0 else "not an integer" if x != np.floor(x)
               else "too large (>= 2^53 tokens)")
        val = shown[i].item() if isinstance(shown[i], np.generic) else shown[i]   # nan, not np.float64(nan)
        raise fail(i, f"column {col!r}: {why} ({val!r})")
    return num.astype(np.int64)


def _seconds(secs: np.ndarray, shown, col: str, fail) -> np.ndarray:
    """Times in seconds (float64) shifted to start at 0; ``fail(i, what)`` for the first that is
    not a finite number >= 0."""
    bad = ~np.isfinite(secs) | (secs < 0)
    if bad.any():
        i = int(np.argmax(bad))
        if shown[i] == "":
            raise fail(i, f"column {col!r}: {MISSING}")
        raise fail(i, f"column {col!r}: time must be a number of seconds >= 0 ({shown[i]!r})")
    return secs - secs.min()


def _undecodable_line(path: Path, e: UnicodeDecodeError) -> str:
    """The first line of ``path`` that is not UTF-8, for a message (``e``: pandas' error)."""
    import gzip
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            for k, line in enumerate(f, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as bad:
                    return (f"line {k}: not UTF-8 text (byte 0x{line[bad.start]:02x}, byte "
                            f"{bad.start + 1} of the line); save the file as UTF-8")
    except (OSError, EOFError, zlib.error):
        pass
    return f"cannot read: {e}"


def read_csv_columns(path: Path, int_cols: Sequence[str], time_col: str | None = None,
                     text_col: str | None = None) -> pd.DataFrame:
    """Read ``int_cols`` (non-negative integers), optionally ``time_col`` and ``text_col``.

    Returns a DataFrame with the int columns as int64; if ``time_col`` is given, a float64
    column ``"arrival"``: seconds since the earliest time in the file (the column holds
    ISO 8601 timestamps, or plain numbers of seconds); if ``text_col`` is given, ``"text"``.
    """
    path = Path(path)
    try:
        # header=None: the header is read as row 0, so the parser holds every row to its field
        # count (with a header row, pandas takes a longer first row's extra fields as an index)
        raw = pd.read_csv(path, header=None, dtype=str, na_filter=False, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise TraceFormatError(f"{path}: file is empty (no header line)") from None
    except pd.errors.ParserError as e:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
        if m:
            raise _fail(path, int(m[2]), f"{m[3]} fields, the header has {m[1]}") from None
        raise TraceFormatError(f"{path}: cannot parse CSV: {e}") from None
    except FileNotFoundError:
        raise
    except UnicodeDecodeError as e:
        raise TraceFormatError(f"{path}: {_undecodable_line(path, e)}") from None
    except (OSError, EOFError, zlib.error) as e:   # e.g. a .gz that is not gzip
        raise TraceFormatError(f"{path}: cannot read: {e}") from None
    header = [h.strip() for h in raw.iloc[0]]     # "t, in, out": its fields are stripped too
    where: dict[str, int] = {}
    wanted = _wanted(int_cols, time_col, text_col)
    for j, name in enumerate(header):
        if name in where and name in wanted:
            raise TraceFormatError(f"{path}: column {name!r} appears twice in the header "
                                   f"(columns {where[name] + 1} and {j + 1})")
        where.setdefault(name, j)                 # a repeated name the trace does not read: its first
    for col in wanted:
        if col not in where:
            sep = next((f" (fields separated by {c!r}? they must be separated by commas)" for c in ";\t|"
                        if len(header) == 1 and c in header[0]), "")
            raise TraceFormatError(f"{path}: missing required column {col!r} (header has: {', '.join(header)}){sep}")
    df = pd.DataFrame({c: raw.iloc[1:, where[c]] for c in wanted}).reset_index(drop=True)
    # Tolerate blank lines at the very end of the file.
    blank = (df[wanted] == "").all(axis=1).to_numpy()
    end = len(df)
    while end and blank[end - 1]:
        end -= 1
    df = df.iloc[:end]
    if not len(df):
        raise TraceFormatError(f"{path}: no data rows")

    def fail(i: int, what: str) -> TraceFormatError:
        return _fail(path, i + 2, what)           # line 1 is the header

    out = {}
    for col in int_cols:
        raw = df[col].str.strip()
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        out[col] = _nonnegative_ints(num, (raw == "").to_numpy(), raw.to_numpy(), col, fail)
    if time_col:
        raw = df[time_col].str.strip()
        secs = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        if not np.isnan(secs[0]):                  # the first row says which: numbers of seconds
            out["arrival"] = _seconds(secs, raw.to_numpy(), time_col, fail)
        else:
            try:
                t = pd.to_datetime(raw, format="ISO8601", errors="coerce")
            except ValueError as e:
                why = ("timestamps in more than one time zone; give them all one offset (or UTC)"
                       if "timezone" in str(e).lower() else str(e).splitlines()[0])
                raise TraceFormatError(f"{path}: column {time_col!r}: {why}") from None
            if t.isna().any():
                i = int(np.argmax(t.isna().to_numpy()))
                what = MISSING if raw.iloc[i] == "" else f"bad timestamp {raw.iloc[i]!r}"
                raise _fail(path, i + 2, f"column {time_col!r}: {what}")
            out["arrival"] = (t - t.min()).dt.total_seconds().to_numpy(dtype=np.float64)
    if text_col:
        out["text"] = df[text_col].to_numpy(dtype=object)
    return pd.DataFrame(out)


def _open_lines(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _check(path: Path, line: int, field: str, v: object, kind: str) -> object:
    """Validate one JSON value: kind "int" (integer >= 0), "number" (finite >= 0) or "str"."""
    if kind == "str":
        if not isinstance(v, str):
            raise _fail(path, line, f"field {field!r} must be a string, got {v!r:.60}")
        return v
    if isinstance(v, int) and not isinstance(v, bool) and v >= MAX_TOKENS:
        raise _fail(path, line, f"field {field!r} is too large ({v:.3g} >= 2^53)")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _fail(path, line, f"field {field!r} must be a number, got {v!r:.60}")
    if v < 0:
        raise _fail(path, line, f"field {field!r} is negative ({v!r})")
    if kind == "int":
        if v != int(v):
            raise _fail(path, line, f"field {field!r} must be an integer, got {v!r}")
        return int(v)
    return float(v)


def read_jsonl_columns(path: Path, fields: dict[str, str]) -> dict[str, list]:
    """Read one JSON object a line (``.gz`` transparently) and return the given fields as lists.

    ``fields`` maps field name to kind: ``"int"``, ``"number"`` or ``"str"``. Blank lines
    are skipped; a missing field, wrong type, negative number or bad JSON raises.
    """
    path = Path(path)
    cols: dict[str, list] = {f: [] for f in fields}
    line = 0
    try:
        with _open_lines(path) as fh:
            for line, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw)
                except ValueError as e:
                    raise _fail(path, line, f"bad JSON: {e}") from None
                if not isinstance(rec, dict):
                    raise _fail(path, line, "expected a JSON object")
                for f, kind in fields.items():
                    if f not in rec:
                        raise _fail(path, line, f"missing field {f!r}")
                    cols[f].append(_check(path, line, f, rec[f], kind))
    except (OSError, EOFError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise TraceFormatError(f"{path}: cannot read after line {line}: {e}") from None
    if not cols or not next(iter(cols.values())):
        raise TraceFormatError(f"{path}: no records")
    return cols


def read_parquet_columns(path: Path, int_cols: Sequence[str], time_col: str | None = None,
                         text_col: str | None = None) -> pd.DataFrame:
    """As :func:`read_csv_columns` for a parquet file. The time column holds numbers of seconds
    or timestamps; errors name the 1-based row."""
    path = Path(path)
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise TraceFormatError(f"{path}: cannot read parquet: {e}") from None
    wanted = _wanted(int_cols, time_col, text_col)
    for col in wanted:
        if col not in names:
            raise TraceFormatError(f"{path}: missing required column {col!r} (columns: {', '.join(names)})")
    df = pd.read_parquet(path, columns=wanted)
    if not len(df):
        raise TraceFormatError(f"{path}: no data rows")

    def fail(i: int, what: str) -> TraceFormatError:
        return TraceFormatError(f"{path}, row {i + 1}: {what}")

    out = {}
    for col in int_cols:
        v = df[col]
        if not (pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v)):
            raise TraceFormatError(f"{path}: column {col!r} must hold integers, has type {v.dtype}")
        num = v.to_numpy(dtype=np.float64, na_value=np.nan)
        out[col] = _nonnegative_ints(num, np.isnan(num), v.to_numpy(), col, fail, missing_what="missing value (null or NaN)")
    if time_col:
        v = df[time_col]
        if pd.api.types.is_datetime64_any_dtype(v):
            if v.isna().any():
                raise fail(int(np.argmax(v.isna().to_numpy())), f"column {time_col!r}: missing timestamp")
            out["arrival"] = (v - v.min()).dt.total_seconds().to_numpy(dtype=np.float64)
        elif pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v):
            out["arrival"] = _seconds(v.to_numpy(dtype=np.float64, na_value=np.nan), v.to_numpy(), time_col, fail)
        else:
            raise TraceFormatError(f"{path}: column {time_col!r} must hold seconds or timestamps, has type {v.dtype}")
    if text_col:
        out["text"] = df[text_col].to_numpy(dtype=object)
    return pd.DataFrame(out)
