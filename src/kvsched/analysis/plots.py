"""Figures drawn from aggregated tables (the same functions serve rules and notebooks).

Usage: ``python -m kvsched.analysis.plots FIGURE TABLE.parquet OUT.png [OUT.pdf]``, with FIGURE one of
:data:`FIGURES` (``latency_vs_memory``, ``latency_by_algorithm``, ``latency_vs_rate``).
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

from ..errors import exits_on_error  # noqa: E402
from .style import algo_color, plain_log_ticks, ticks_at  # noqa: E402

ALGO_ORDER = ["fcfs", "sf", "mcsf", "vllm_fcfs", "alpha_protection", "alpha_clearing"]
MARKERS = "osX^DvP*<>"
DASHES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (3, 1, 1, 1, 1, 1))]


SEP = " · "   # between a label and its predictor


def _reads(df: pd.DataFrame) -> pd.Series:
    """Whether each run's policy read its predictions (True for tables without the column)."""
    return df["reads_predictions"].astype(bool) if "reads_predictions" in df else pd.Series(True, index=df.index)


def _mixes_predictors(df: pd.DataFrame) -> bool:
    """Whether the runs whose policies read predictions used more than one predictor."""
    return "predictor" in df and df.loc[_reads(df), "predictor"].nunique() > 1


def _names(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a ``label`` column naming each run's line or bar: the sweep variant's label,
    else the algorithm (tables aggregated before labels existed have none). When the table
    mixes predictors, the predictor is appended (``amax · interval``) to the runs whose
    policies read predictions; the others (``vllm_fcfs``) ran no predictor and keep their name."""
    df = df.copy()
    if "label" not in df:
        df["label"] = df["algorithm"]
    if _mixes_predictors(df):
        reads = _reads(df)
        df.loc[reads, "label"] = df.loc[reads, "label"] + SEP + df.loc[reads, "predictor"]
    return df


def _trace_panels(df: pd.DataFrame, skip: tuple[str, ...] = ()) -> pd.Series:
    """Per run, the name of the trace it ran on, for panel titles: the trace's name (for
    ``trace=file``, the file's name) with the ``trace.*`` settings, but ``skip`` (an x axis),
    that differ between its runs (``trace.n=500``), so runs on different traces or files are
    never drawn, or averaged, as one."""
    name = df["trace"].astype(str)
    if "trace.path" in df:
        paths = {p for t, p in zip(name, df["trace.path"]) if t == "file" and isinstance(p, str)}
        short = len({Path(p).name for p in paths}) == len(paths)     # else two files share a name
        name = pd.Series([(Path(p).name if short else p) if t == "file" and isinstance(p, str) else t
                          for t, p in zip(name, df["trace.path"])], index=df.index)
    def text(v) -> str:     # unset: "-"; a whole float (a column with gaps): 1000, not 1000.0
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return "-"
        return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
    shown = lambda col: col.map(text)  # noqa: E731
    keys = [c for c in df.columns if c.startswith("trace.") and c not in ("trace.path", "trace.sha256", *skip)
            and shown(df[c]).groupby(name).nunique().max() > 1]
    if not keys:
        return name
    return pd.Series([", ".join([n, *(f"{k.removeprefix('trace.')}={v}" for k, v in zip(keys, vals))])
                      for n, *vals in zip(name, *(shown(df[k]) for k in keys))], index=df.index)


def _line_panels(df: pd.DataFrame, x: str, xlabel: str, panel: str, metrics: tuple[str, ...],
                 xticks_at_data: bool = False):
    """Line figure shared by the ``latency_vs_*`` figures: one column per value of ``panel``,
    one row per metric in ``metrics`` (log y), one line per algorithm or sweep variant against
    column ``x``. Each line is the mean over seeds; with several seeds a band spans their
    minimum to maximum. Lines differ in dash and marker as well as colour, so identical
    policies (e.g. ``sf`` and ``mcsf`` under defaults) stay visible. ``xticks_at_data``: label
    the x axis at the swept values only (``0.25``, not ``2.5 x 10^-1``)."""
    df = _names(df)

    def rank(label):   # known policies in ALGO_ORDER first (predictor suffix aside), then by name
        base = label.split(SEP)[0]
        return (ALGO_ORDER.index(base) if base in ALGO_ORDER else len(ALGO_ORDER), label)
    algos = sorted(set(df["label"]), key=rank)
    panels = sorted(set(df[panel]))
    unit = df["time_unit"].iloc[0] if "time_unit" in df else "s"
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    if len(algos) > len(colors):     # more lines than the cycle has colours: no two lines alike
        colors = list(plt.get_cmap("tab20").colors)
    # known algorithms keep the colour they have in every figure (style.COLORS), unless two
    # lines would share one (one policy under two predictors): then colours by position
    fixed = [algo_color(a.split(SEP)[0]) for a in algos]
    if all(fixed) and len(set(fixed)) == len(fixed):
        colors = fixed
    fig, axes = plt.subplots(len(metrics), len(panels), figsize=(4.2 * len(panels) + 1.4, 3.4 * len(metrics)),
                             squeeze=False, layout="constrained")
    for row, metric in enumerate(metrics):
        stats = df.groupby([panel, "label", x])[metric].agg(["mean", "min", "max", "count"]).reset_index()
        for ax, name in zip(axes[row], panels):
            for k, algo in enumerate(algos):
                d = stats[(stats[panel] == name) & (stats["label"] == algo)].sort_values(x)
                if d.empty:
                    continue
                color = colors[k % len(colors)]
                ax.plot(d[x], d["mean"], color=color, linestyle=DASHES[k % len(DASHES)],
                        marker=MARKERS[k % len(MARKERS)], markersize=5, label=algo)
                if (d["count"] > 1).any():
                    ax.fill_between(d[x], d["min"], d["max"], color=color, alpha=0.15, linewidth=0)
            ax.set(xscale="log", yscale="log", title=str(name) if row == 0 else "", xlabel=xlabel)
            if xticks_at_data:
                ticks_at(ax, stats[x])
            plain_log_ticks(ax, "y")
            ax.grid(True, which="major", alpha=0.4)
        what = {"latency_mean": "mean", "latency_p99": "p99"}.get(metric, metric)
        axes[row][0].set_ylabel(f"{what} latency ({unit})")
    handles = {}                     # one legend entry per algorithm, in plotting order
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    labels = [a for a in algos if a in handles]
    fig.legend([handles[a] for a in labels], labels, title="algorithm", loc="outside right center",
               frameon=False)
    return fig


def latency_vs_memory(df: pd.DataFrame):
    """Mean end-to-end latency (seconds, or rounds) against KV-cache size M (tokens), one
    panel per trace (:func:`_trace_panels`), log-log, one line per algorithm or sweep variant (mean over seeds, with a
    min-max band when there are several)."""
    return _line_panels(df.assign(panel=_trace_panels(df)), "memory", "KV-cache capacity M (tokens)", "panel",
                        ("latency_mean",), xticks_at_data=True)


RATE = "trace.rate"   # the aggregated column: arrival rate (requests/s) a sweep set


def latency_vs_rate(df: pd.DataFrame):
    """Mean (top row) and p99 (bottom row) end-to-end latency against the arrival rate
    (``trace.rate``, requests/s), one column per trace (per trace and M when the table has
    several sizes), log-log, one line per algorithm or sweep variant: the load-latency curve
    of serving papers, which shows where each policy stops keeping up."""
    if RATE not in df or df[RATE].isna().all():
        raise ValueError(f"latency_vs_rate needs a {RATE!r} column (a sweep over trace.rate)")
    df = df.copy()
    many = df["memory"].nunique() > 1
    df["panel"] = [f"{t}, M = {int(m):,}" if many else t for t, m in zip(_trace_panels(df, (RATE,)), df["memory"])]
    metrics = ("latency_mean", "latency_p99") if "latency_p99" in df else ("latency_mean",)
    return _line_panels(df, RATE, "arrival rate (requests/s)", "panel", metrics, xticks_at_data=True)


def latency_by_algorithm(df: pd.DataFrame):
    """Every algorithm side by side: one panel per trace (rows; :func:`_trace_panels`) and KV-cache size M (columns),
    one bar per algorithm (or sweep variant) at its mean latency (mean over seeds; seconds, or
    rounds), best at the top (ties in name order), with its p99 latency as a tick. In a table
    that mixes predictors, the runs with oracle predictions (references, not schedulers one
    could deploy) are grey and hatched."""
    df = _names(df)
    df["trace"] = _trace_panels(df)
    reference = set(df.loc[(df["predictor"] == "oracle") & _reads(df), "label"]) if _mixes_predictors(df) else set()
    unit = df["time_unit"].iloc[0] if "time_unit" in df else "s"
    traces = sorted(set(df["trace"]))
    mems = sorted({int(m) for m in df["memory"]})
    n_alg = df["label"].nunique()
    fig, axes = plt.subplots(len(traces), len(mems), figsize=(4.3 * len(mems), (0.28 * n_alg + 1.2) * len(traces) + 0.4),
                             squeeze=False, layout="constrained")
    for r, trace in enumerate(traces):
        for c, m in enumerate(mems):
            ax = axes[r][c]
            d = (df[(df["trace"] == trace) & (df["memory"] == m)].groupby("label")[["latency_mean", "latency_p99"]]
                 .mean().sort_values("latency_mean", kind="stable"))
            if d.empty:
                ax.set_visible(False)
                continue
            y = list(range(len(d)))[::-1]             # the first (best) row at the top
            ref = [lab in reference for lab in d.index]
            bars = ax.barh(y, d["latency_mean"], color=["0.65" if x else "C0" for x in ref], alpha=0.75,
                           label="mean")
            for bar, x in zip(bars, ref):
                if x:
                    bar.set_hatch("//")
            ax.plot(d["latency_p99"], y, linestyle="none", marker="|", markersize=10, color="C3", label="p99")
            ax.set_yticks(y, list(d.index))
            ax.set(title=f"{trace}, M = {m:,} tokens", xlabel=f"latency ({unit})")
            ax.grid(True, axis="x", alpha=0.4)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    # drawn here: a panel's bars would lend "mean" its first bar's look, a reference's if it is best
    handles = [Patch(facecolor="C0", alpha=0.75),
               Line2D([], [], linestyle="none", marker="|", markersize=10, color="C3")]
    labels = ["mean", "p99"]
    if reference:
        handles.append(Patch(facecolor="0.65", alpha=0.75, hatch="//"))
        labels.append("mean, oracle predictions (reference)")
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False)
    return fig


# what each figure compares, printed under it in paper/report.md
CAPTIONS = {
    "latency_vs_memory": "Mean end-to-end latency (s, or rounds in unit time; log scale) against KV-cache capacity M (tokens; log scale), "
                         "one panel per trace, one line per algorithm (mean over seeds; band: min to max over "
                         "seeds). Lines that coincide (e.g. sf and mcsf) are told apart by their markers.",
    "latency_vs_rate": "Mean (top) and p99 (bottom) end-to-end latency against the arrival rate (requests/s), "
                       "one column per trace, one line per algorithm.",
    "latency_by_algorithm": "Mean latency per algorithm (bars, best at the top) with its p99 (ticks), one panel per "
                            "trace and KV-cache size.",
}

FIGURES = {"latency_vs_memory": latency_vs_memory, "latency_by_algorithm": latency_by_algorithm,
           "latency_vs_rate": latency_vs_rate}


def save(fig, outs: list[str | Path]) -> None:
    from ..io import atomic_write
    from .style import figure_metadata
    for o in outs:
        o = Path(o)
        fmt = o.suffix.lstrip(".")
        atomic_write(o, lambda p, fmt=fmt: fig.savefig(p, format=fmt, bbox_inches="tight", dpi=150,
                                                       metadata=figure_metadata(fmt)))
    plt.close(fig)


@exits_on_error
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("figure", choices=sorted(FIGURES))
    ap.add_argument("table")
    ap.add_argument("outs", nargs="+")
    a = ap.parse_args(argv)
    from ..io import read_table
    save(FIGURES[a.figure](read_table(a.table)), a.outs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
