"""Mooncake FAST'25 traces: ``mooncake_conv``, ``mooncake_synthetic``.

One JSON object a line: ``timestamp`` (ms), ``input_length`` (prompt tokens),
``output_length`` (output tokens), ``hash_ids`` (ignored). Arrivals converted to seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..datastore import data_path
from ..workload import Workload
from ._common import TIMED_DEFAULTS, table_workload
from ._io import read_jsonl_columns
from .cache import cached_read
from .registry import register_trace


def read_mooncake(path: Path) -> pd.DataFrame:
    """Parse a Mooncake jsonl trace into columns arrival (s since the first request), prompt, output."""
    c = read_jsonl_columns(path, {"timestamp": "number", "input_length": "int", "output_length": "int"})
    ms = np.asarray(c["timestamp"], dtype=np.float64)
    return pd.DataFrame({"arrival": (ms - ms.min()) / 1000.0,
                         "prompt": np.asarray(c["input_length"], dtype=np.int64),
                         "output": np.asarray(c["output_length"], dtype=np.int64)})


def _load(key: str, p: dict[str, Any], data_dir: Path, seed: int) -> Workload:
    path = data_path(key, data_dir)
    return table_workload(p, cached_read(path, read_mooncake), seed, {"source": str(path)})


@register_trace("mooncake_conv", defaults=TIMED_DEFAULTS)
def mooncake_conv(p: dict[str, Any], data_dir: Path, seed: int) -> Workload:
    """Mooncake conversation trace (12,031 requests over ~1 h; seconds)."""
    return _load("mooncake_conv", p, data_dir, seed)


@register_trace("mooncake_synthetic", defaults=TIMED_DEFAULTS)
def mooncake_synthetic(p: dict[str, Any], data_dir: Path, seed: int) -> Workload:
    """Mooncake synthetic trace (3,993 requests, Poisson arrivals; seconds)."""
    return _load("mooncake_synthetic", p, data_dir, seed)
