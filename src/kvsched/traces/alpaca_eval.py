"""AlpacaEval prompts with real model outputs: ``alpaca_eval``.

One request per (instruction, generator) record of ``alpaca_eval/model_outputs.jsonl.gz``
(805 prompts x 16 models). ``generator`` selects models (a name or a list; None = all).
Token counts use a word rule, an approximation of a BPE tokenizer (English text averages
about 1.3 tokens per word): ``tokens = max(1, ceil(1.3 * words))`` with ``words`` the
number of whitespace-separated words (computed exactly as ``(13 * words + 9) // 10``).
``Workload.text`` is the instruction; ``meta["generator"]`` lists each request's model.
Arrivals are generated (``poisson`` at ``rate`` requests/s, or ``zero``); ``n``, ``start``
and ``sample`` work as for ``sharegpt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..datastore import data_path
from ..errors import ConfigError
from ..workload import Workload
from ._common import UNTIMED_DEFAULTS, table_workload
from ._io import read_jsonl_columns
from .cache import cached_read
from .registry import register_trace


def word_tokens(text: str) -> int:
    """Approximate token count of ``text``: ceil(1.3 * whitespace words), at least 1."""
    return max(1, (13 * len(text.split()) + 9) // 10)


def read_alpaca_eval(path: Path) -> pd.DataFrame:
    """Parse the AlpacaEval jsonl.gz into columns prompt, output (approx. tokens), text, generator."""
    c = read_jsonl_columns(path, {"instruction": "str", "generator": "str", "output": "str"})
    return pd.DataFrame({
        "prompt": np.array([word_tokens(s) for s in c["instruction"]], dtype=np.int64),
        "output": np.array([word_tokens(s) for s in c["output"]], dtype=np.int64),
        "text": c["instruction"],
        "generator": c["generator"],
    })


@register_trace("alpaca_eval", defaults={**UNTIMED_DEFAULTS, "generator": None})
def alpaca_eval(p: dict[str, Any], data_dir: Path, seed: int) -> Workload:
    """AlpacaEval instructions x model outputs (12,879 requests; word-rule tokens; seconds)."""
    path = data_path("alpaca_eval", data_dir)
    df = cached_read(path, read_alpaca_eval)
    gen = p["generator"]
    if gen is not None:
        if not isinstance(gen, (str, list, tuple)):
            raise ConfigError(f"alpaca_eval: generator must be a model name or a list of them, got {gen!r}")
        wanted = [gen] if isinstance(gen, str) else list(gen)
        known = set(df["generator"])
        bad = [g for g in wanted if not isinstance(g, str) or g not in known]
        if bad or not wanted:
            raise ConfigError(f"alpaca_eval: unknown generator {bad[0] if bad else gen!r}; "
                              f"valid: {', '.join(sorted(known))}")
        df = df[df["generator"].isin(wanted)]     # the index keeps each record's row in the file
    meta = {"source": str(path), "token_rule": "ceil(1.3 * words), min 1", "generators": gen}
    return table_workload(p, df, seed, meta, list_cols=("generator",))
