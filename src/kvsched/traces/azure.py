"""Azure LLM inference traces 2023 (the Splitwise traces): ``azure_conv``, ``azure_code``.

Columns ``TIMESTAMP`` (wall clock, e.g. ``2023-11-16 18:15:46.6805900``), ``ContextTokens``
(prompt, tokens), ``GeneratedTokens`` (output, tokens). Arrivals in seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..datastore import data_path
from ..workload import Workload
from ._common import TIMED_DEFAULTS, table_workload
from ._io import read_csv_columns
from .cache import cached_read
from .registry import register_trace


def read_azure(path: Path) -> pd.DataFrame:
    """Parse an Azure trace CSV into columns arrival (s since the first request), prompt, output."""
    df = read_csv_columns(path, ["ContextTokens", "GeneratedTokens"], time_col="TIMESTAMP")
    return pd.DataFrame({"arrival": df["arrival"], "prompt": df["ContextTokens"],
                         "output": df["GeneratedTokens"]})


def _load(key: str, p: dict[str, Any], data_dir: Path, seed: int) -> Workload:
    path = data_path(key, data_dir)
    return table_workload(p, cached_read(path, read_azure), seed, {"source": str(path)})


@register_trace("azure_conv", defaults=TIMED_DEFAULTS)
def azure_conv(p: dict[str, Any], data_dir: Path, seed: int) -> Workload:
    """Azure 2023 conversation trace (19,366 requests over ~1 h; seconds)."""
    return _load("azure_conv", p, data_dir, seed)


@register_trace("azure_code", defaults=TIMED_DEFAULTS)
def azure_code(p: dict[str, Any], data_dir: Path, seed: int) -> Workload:
    """Azure 2023 code trace (8,819 requests over ~1 h; seconds)."""
    return _load("azure_code", p, data_dir, seed)
