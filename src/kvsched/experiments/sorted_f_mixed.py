"""Sorted-F on batches that mix short chat requests with long-document summarisation
(papers.md section 2, "mixed chat plus summarisation traces").

The Sorted-F paper's workloads mix the two kinds; papers.md states no number for them. Here each
instance is an offline batch (all requests at round 0, unit rounds) of ``n`` requests, a share
``x`` of them drawn from the summarisation lengths (``long``: arXiv, prompt median 2,739 tokens)
and the rest from the chat lengths (``chat``: ``lmsys_like``, the LMSYS-Chat-1M-like source,
prompt median 11), each source drawn with the trial's seed. ShareGPT's lengths are no short chat
(prompt median 1,703 tokens: whole conversations), so they do not make the mix; requests that cannot fit alone in ``M`` are dropped
(``n_long``: the summarisation requests left in a batch).
Every algorithm runs with exact lengths. Each total latency is divided by a certified lower
bound (:func:`kvsched.bounds.completion_lower_bound`), so ratios are upper bounds on ALG / OPT.

The check (fixed before any run): Sorted-F "beats the baselines" at a share when its mean total
latency over the seeds is below that of each of FCFS, SF and MC-SF; the row is reproduced when
that holds at every share whose batches hold summarisation requests (``n_long > 0``, counted after
the drop, so a share that rounds to none, or whose requests all exceed ``M``, is not a mixed one).
Sorted-F's candidate family is a reconstruction (``candidates``), so each variant gets its own row.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..bounds import completion_lower_bound
from ..errors import ConfigError
from ..traces import load_trace
from ..workload import Workload
from ._pool import ordered_map
from ._sim import label, offline, run_one

# the keys its preset's params.<scale> may set (any other is an error that names it)
PARAMS = frozenset({"algorithms", "chat", "long", "memory", "n", "processes", "seeds", "shares"})

PAPER = "Sorted-F (Wang, Ye, Zhou, arXiv 2508.06133)"
BASELINES = ("fcfs", "sf", "mcsf")


def mixed_batch(p: dict, share: float, seed: int, data_dir) -> Workload:
    """``n`` requests at round 0: ``round(share * n)`` from ``long``, the rest from ``chat``, in
    an order shuffled with ``seed`` (FCFS serves a batch in its order: the two sources one after
    the other would make it shortest-prompt first); ``meta["source"]`` names each request's source."""
    n = int(p["n"])
    n_long = int(round(float(share) * n))
    kinds = [(src, k) for src, k in (("chat", n - n_long), ("long", n_long)) if k > 0]
    parts = [load_trace({**p[src], "n": k, "arrival": "zero"}, data_dir, seed) for src, k in kinds]
    source = np.array([src for src, k in kinds for _ in range(k)])
    order = np.random.default_rng([seed, n_long]).permutation(len(source))
    return Workload(np.zeros(len(source)), np.concatenate([w.prompt for w in parts])[order],
                    np.concatenate([w.output for w in parts])[order], "mixed", "rounds",
                    meta={"source": source[order].tolist()})


def _batch(job) -> tuple[list[dict], str]:
    """One (share, seed) batch: every algorithm's row, and a progress line."""
    share, seed, p, labels, data_dir = job
    M = int(p["memory"])
    t0 = time.perf_counter()
    w = offline(mixed_batch(p, share, seed, data_dir), M)
    lb = completion_lower_bound(w.prompt, w.output, M)
    n_long = w.meta["source"].count("long")         # summarisation requests that fit M
    rows = []
    for algo, lab in zip(p["algorithms"], labels):
        r = run_one(w, dict(algo), {"name": "oracle"}, M, seed)
        rows.append({"share": share, "seed": seed, "n": len(w), "n_long": n_long, "M": M, "algorithm": lab,
                     "lower_bound": lb, **r, "ratio_ub": r["total_latency"] / lb})
    return rows, (f"share {share:g} seed {seed} (n={len(w)}, prompts {int(w.prompt.min())}–{int(w.prompt.max())} "
                  f"tokens): {len(labels)} algorithms in {time.perf_counter() - t0:.1f}s")


def run(ctx) -> None:
    p = ctx.params
    shares = [float(x) for x in p["shares"]]
    if not p["seeds"] or not shares or any(not 0.0 <= x <= 1.0 for x in shares):
        raise ConfigError(f"sorted_f_mixed needs seeds and shares in [0, 1], got seeds={p['seeds']!r}, "
                          f"shares={p['shares']!r}")
    labels = [label(dict(a)) for a in p["algorithms"]]
    if not any(lab.startswith("sorted_f") for lab in labels) or set(BASELINES) - {lab.split("[")[0] for lab in labels}:
        raise ConfigError(f"sorted_f_mixed: algorithms {labels} need a sorted_f variant and each of "
                          f"{', '.join(BASELINES)} (the check compares Sorted-F with all three)")
    # (share, seed) batches are independent: ``processes`` of them run at once, and the rows come
    # back in this order whatever ``processes`` is
    jobs = [(share, int(seed), p, labels, ctx.data_dir) for share in shares for seed in p["seeds"]]
    rows = []
    for k, (batch_rows, line) in enumerate(ordered_map(_batch, jobs, int(p.get("processes", 1) or 1)), 1):
        rows.extend(batch_rows)
        print(f"[{k}/{len(jobs)}] {line}", flush=True)
    df = pd.DataFrame(rows)
    ctx.table(df, "runs")
    agg = (df.groupby(["share", "algorithm"], sort=False)
           .agg(total_latency=("total_latency", "mean"), ratio_ub=("ratio_ub", "mean"),
                evictions=("evictions", "mean"), seeds=("seed", "nunique"), n_long=("n_long", "mean")).reset_index())
    ctx.table(agg, "by_share")
    for stem, fig in figures(ctx.out).items():
        ctx.figure(fig, stem)
    summary = summarise(agg)
    summary["sources"] = {k: dict(p[k])["name"] for k in ("chat", "long")}
    ctx.summary(summary)
    claims(ctx, summary)


def summarise(agg: pd.DataFrame) -> dict:
    """Per Sorted-F variant and share: its mean total latency over the best baseline's."""
    out: dict = {"baselines": list(BASELINES), "variants": {}}
    base = agg[agg.algorithm.str.split("[").str[0].isin(BASELINES)]
    best = base.loc[base.groupby("share")["total_latency"].idxmin()].set_index("share")
    for lab in [a for a in agg.algorithm.unique() if a.startswith("sorted_f")]:
        d = agg[agg.algorithm == lab].set_index("share")
        out["variants"][lab] = {f"{s:g}": {"over_best_baseline": float(d.loc[s, "total_latency"] / best.loc[s, "total_latency"]),
                                           "best_baseline": str(best.loc[s, "algorithm"]),
                                           "ratio_ub": float(d.loc[s, "ratio_ub"]),
                                           "n_long": float(d.loc[s, "n_long"])}
                                for s in d.index}
    return out


def claims(ctx, s: dict) -> None:
    for lab, by in s["variants"].items():
        mixed = {k: v for k, v in by.items() if v["n_long"] > 0}     # batches holding summarisation requests
        if not mixed:
            continue
        worst = max(mixed.items(), key=lambda kv: kv[1]["over_best_baseline"])
        text = "; ".join(f"{float(k):.0%}: {v['over_best_baseline']:.3f}" for k, v in mixed.items())
        longs = ", ".join(f"{v['n_long']:g}" for v in mixed.values())
        ctx.claim(f"mixed_{lab}", PAPER,
                  f"Sorted-F beats FCFS, SF and MC-SF on mixed chat + summarisation batches ({lab})",
                  "(the paper's workload; no number in papers.md)",
                  f"total latency / best baseline's, by summarisation share: {text}",
                  bool(all(v["over_best_baseline"] < 1.0 for v in mixed.values())),
                  f"Offline batches, exact lengths, mean over seeds; summarisation requests per batch: {longs}; "
                  f"worst share {float(worst[0]):.0%} (best "
                  f"baseline there: {worst[1]['best_baseline']}). Lengths: {s['sources']['chat']} (chat) and "
                  f"{s['sources']['long']} (summarisation). Sorted-F's candidate family is a reconstruction.",
                  "mixed.png")


# what each figure compares, printed under it in paper/report.md
CAPTIONS = {
    "mixed": ("Mean total latency over a certified lower bound (an upper bound on ALG / OPT; log scale) against the share of "
              "summarisation requests in an offline batch of chat and summarisation requests, one line per "
              "algorithm; a variant (Sorted-F's window candidates or refilling every round, SF's current-memory check) in "
              "a lighter shade of its algorithm's colour, each with its own line style and marker."),
}


def figures(out) -> dict:
    """This experiment's figures, redrawn from its saved tables in ``out`` (results/<name>/).
    The pipeline and the notebook ``workflow/notebooks/experiment_figures.py`` both call it."""
    from pathlib import Path

    import matplotlib.pyplot as plt

    from ..analysis.style import algo_color, is_variant, plain_log_ticks
    agg = pd.read_parquet(Path(out) / "by_share.parquet")
    fig, ax = plt.subplots(figsize=(8.4, 4.4), layout="constrained")
    variants = 0
    for lab, g in agg.groupby("algorithm", sort=False):
        # variants share their algorithm's lighter shade: told apart by line style and marker
        style = (("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1)), "v"))[variants % 4] if is_variant(lab) \
            else ("-", "o")
        variants += is_variant(lab)
        ax.plot(g.share * 100, g.ratio_ub, marker=style[1], ls=style[0], color=algo_color(lab), label=lab)
    ax.set_yscale("log")
    plain_log_ticks(ax, "y")
    ax.set_xlabel("summarisation requests in the batch (%)")
    ax.set_ylabel("total latency / certified lower bound")
    ax.set_xticks(sorted(agg.share.unique() * 100))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title("Offline batches mixing chat and summarisation lengths", fontsize=10)
    return {"mixed": fig}
