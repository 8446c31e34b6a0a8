"""Length-only traces without timestamps: ``sharegpt``, ``arxiv_summarization``.

Columns ``num_prefill_tokens`` (prompt, Llama-2 tokens) and ``num_decode_tokens`` (output).
Arrivals must be generated: ``arrival: poisson`` (default; ``rate`` in requests/s is then
required) or ``zero``. Rows are kept in file order unless ``sample: true`` draws ``n`` rows
without replacement (seeded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..datastore import data_path
from ..workload import Workload
from ._common import UNTIMED_DEFAULTS, table_workload
from ._io import read_csv_columns
from .cache import cached_read
from .registry import register_trace


def read_lengths(path: Path) -> pd.DataFrame:
    """Parse a length CSV into columns prompt, output (tokens)."""
    df = read_csv_columns(path, ["num_prefill_tokens", "num_decode_tokens"])
    return pd.DataFrame({"prompt": df["num_prefill_tokens"], "output": df["num_decode_tokens"]})


def _load(key: str, p: dict[str, Any], data_dir: Path, seed: int) -> Workload:
    path = data_path(key, data_dir)
    return table_workload(p, cached_read(path, read_lengths), seed, {"source": str(path)})


@register_trace("sharegpt", defaults=UNTIMED_DEFAULTS)
def sharegpt(p: dict[str, Any], data_dir: Path, seed: int) -> Workload:
    """ShareGPT conversation lengths (30,731 requests; generated arrivals in seconds)."""
    return _load("sharegpt", p, data_dir, seed)


@register_trace("arxiv_summarization", defaults=UNTIMED_DEFAULTS)
def arxiv_summarization(p: dict[str, Any], data_dir: Path, seed: int) -> Workload:
    """arXiv summarization lengths (28,257 requests; long prompts; generated arrivals in seconds)."""
    return _load("arxiv_summarization", p, data_dir, seed)
