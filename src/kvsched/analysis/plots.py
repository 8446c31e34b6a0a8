"""Figures drawn from aggregated tables (the same functions serve rules and notebooks).

Usage: ``python -m kvsched.analysis.plots latency_vs_memory TABLE.parquet OUT.png [OUT.pdf]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:   # headless (rules, tests); a notebook keeps its inline backend
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

ALGO_ORDER = ["fcfs", "sf", "mcsf", "vllm_fcfs", "alpha_protection", "alpha_clearing"]


def latency_vs_memory(df: pd.DataFrame):
    """Mean end-to-end latency against KV-cache size, one panel per trace. Lines are dashed
    differently so identical policies (e.g. ``sf`` and ``mcsf`` under defaults) stay visible."""
    sns.set_theme(style="whitegrid", context="paper")
    order = [a for a in ALGO_ORDER if a in set(df["algorithm"])] + \
        sorted(set(df["algorithm"]) - set(ALGO_ORDER))
    unit = df["time_unit"].iloc[0] if "time_unit" in df else "s"
    g = sns.relplot(data=df, x="memory", y="latency_mean", hue="algorithm", hue_order=order,
                    style="algorithm", style_order=order, col="trace", kind="line", markers=True,
                    dashes=True, facet_kws={"sharey": False}, height=3.2, aspect=1.2)
    g.set(xscale="log", yscale="log")
    g.set_axis_labels("KV-cache capacity M (tokens)", f"mean latency ({unit})")
    g.set_titles("{col_name}")
    return g.figure


FIGURES = {"latency_vs_memory": latency_vs_memory}


def save(fig, outs: list[str | Path]) -> None:
    from ..io import atomic_write
    for o in outs:
        o = Path(o)
        atomic_write(o, lambda p, o=o: fig.savefig(p, format=o.suffix.lstrip("."), bbox_inches="tight", dpi=150))
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("figure", choices=sorted(FIGURES))
    ap.add_argument("table")
    ap.add_argument("outs", nargs="+")
    a = ap.parse_args(argv)
    save(FIGURES[a.figure](pd.read_parquet(a.table)), a.outs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
