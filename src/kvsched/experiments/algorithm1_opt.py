"""Algorithm 1 (papers.md §5) against the exact optimum on random equal-prompt instances.

The poster claims optimality (ratio 1) for requests all at time 0, equal prompts and
exact predictions. Per trial: draw ``n`` in ``[n_low, n_high]``, ``M`` in ``[m_low, m_high]``,
one prompt ``s`` in ``[s_low, s_high]`` shared by all requests, and ``o_i ~ U[1, M - s]``;
compute OPT (CP-SAT with a proof of optimality; instances it does not prove within the
time limit are reported as bracketed and left out of the optimal counts, and for ``n <=
exact_n`` the exhaustive search of :mod:`kvsched.optimum.exact` is used as well) and each
Algorithm 1 variant's objective. Any trial, proven or bracketed, on which a validated schedule
beats the variant is a counter-example to the claim under that reconstruction (the verdict
counts them all): the instance and both schedules are saved.

Runtime: Algorithm 1's wall time per decision against ``n`` (figure).
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from ..latency.base import unit_rounds
from ..optimum.solve import bracket
from ..optimum.schedule import validate
from ..policies import build_policy
from ..predictors import build_predictor
from ..sim.engine import simulate
from ..workload import Workload

# the keys its preset's params.<scale> may set (any other is an error that names it)
PARAMS = frozenset({"exact_n", "m_high", "m_low", "max_saved", "n_high", "n_low", "num_workers",
                    "runtime_memory_per_request", "runtime_n", "runtime_reps", "s_high", "s_low",
                    "seed", "time_limit", "trials"})

VARIANTS = {"algorithm1": {"name": "algorithm1", "period": "completion"},
            "algorithm1_round": {"name": "algorithm1", "period": "round"}}


def instance(rng, p) -> tuple[Workload, int]:
    n = int(rng.integers(p["n_low"], p["n_high"] + 1))
    M = int(rng.integers(p["m_low"], p["m_high"] + 1))
    s = int(rng.integers(p["s_low"], p["s_high"] + 1))
    o = rng.integers(1, M - s + 1, size=n)
    return Workload(np.zeros(n), np.full(n, s), o, "equal_prompt", "rounds"), M


def run_policy(w: Workload, M: int, cfg: dict):
    pol = build_policy(cfg, capacity=M)
    t0 = time.perf_counter()
    rec = simulate(w, pol, build_predictor({"name": "oracle"}), M, unit_rounds())
    return rec, time.perf_counter() - t0


def run(ctx) -> None:
    p = ctx.params
    rng = np.random.default_rng(int(p.get("seed", 0)))
    rows, counter = [], []
    for k in range(int(p["trials"])):
        w, M = instance(rng, p)
        b = bracket(w, M, float(p["time_limit"]), num_workers=int(p.get("num_workers", 1)),
                    exact_n=int(p.get("exact_n", 0)), seed=k)
        for name, cfg in VARIANTS.items():
            rec, _ = run_policy(w, M, cfg)
            starts = rec.first_start.astype(np.int64)
            obj = validate(w, M, starts)
            row = dict(trial=k, variant=name, n=len(w), memory=M, prompt=int(w.prompt[0]), objective=obj,
                       lower=b.lower, upper=b.upper, proven=b.proven, opt_method=b.method,
                       ratio_lo=obj / b.upper, ratio_hi=obj / b.lower, peak=int(rec.peak_memory))
            row["counterexample"] = bool(obj > b.upper + 1e-9)
            rows.append(row)
            if row["counterexample"]:
                counter.append({"trial": k, "variant": name, "memory": M, "prompt": int(w.prompt[0]),
                                "output": w.output.tolist(), "algorithm_starts": starts.tolist(),
                                "algorithm_objective": obj, "better_starts": b.starts.tolist(),
                                "better_objective": b.upper, "better_is_optimal": b.proven})
        print(f"trial {k}: n={len(w)} M={M} OPT {'=' if b.proven else '<='} {b.upper:.0f}, "
              f"algorithm1 {rows[-2]['objective']:.0f}, per-round {rows[-1]['objective']:.0f}", flush=True)
    df = pd.DataFrame(rows)
    ctx.table(df, "trials")
    # runtime vs n
    rt = []
    for n in p["runtime_n"]:
        for rep in range(int(p.get("runtime_reps", 3))):
            M = int(p.get("runtime_memory_per_request", 4) * n)
            o = rng.integers(1, M // 4, size=n)
            w = Workload(np.zeros(n), np.full(n, 2), o, "equal_prompt", "rounds")
            for name, cfg in VARIANTS.items():
                rec, wall = run_policy(w, M, cfg)
                rt.append(dict(n=n, rep=rep, variant=name, memory=M, wall_s=wall, decisions=rec.decisions,
                               wall_per_decision_s=wall / max(1, rec.decisions)))
    rtdf = pd.DataFrame(rt)
    ctx.table(rtdf, "runtime")
    ctx.markdown("```json\n" + json.dumps(counter[: int(p.get("max_saved", 20))], indent=1) + "\n```\n",
                 "counterexamples")
    c = claims(df, counter)
    ctx.summary(c)
    for name, v in ((k, v) for k, v in c.items() if isinstance(v, dict) and "trials" in v):
        ctx.claim(f"algorithm1_{name}", "Algorithm 1 (Zhou, Jiang, poster)",
                  f"Algorithm 1 is optimal with equal prompts, all at 0, exact predictions ({name})",
                  "ratio 1 (optimal)",
                  f"optimal on {v['optimal_on_proven']}/{v['opt_proven']} proven instances; "
                  f"{v['counterexamples']} counter-examples; worst ratio ≥ {v['worst_ratio_lower_end']:.3f}",
                  bool(v["claim_holds"]),
                  "Algorithm 1 is a reconstruction (period: when it decides); counter-examples are saved with "
                  "both schedules in the results.", "algorithm1.png")
    for stem, fig in figures(ctx.out).items():
        ctx.figure(fig, stem)


def claims(df: pd.DataFrame, counter: list) -> dict:
    out = {"claim": "Algorithm 1 is optimal (ratio 1) with equal prompts, all at 0, exact predictions"}
    for name, g in df.groupby("variant"):
        proven = g[g.proven]
        out[name] = {"trials": int(len(g)), "opt_proven": int(len(proven)),
                     "counterexamples": int(g.counterexample.sum()),
                     "optimal_on_proven": int((proven.objective <= proven.upper + 1e-9).sum()),
                     "mean_ratio_on_proven": float(proven.ratio_lo.mean()) if len(proven) else None,
                     "worst_ratio_lower_end": float(g.ratio_lo.max()),
                     "claim_holds": bool(g.counterexample.sum() == 0)}
    out["first_counterexample"] = counter[0] if counter else None
    return out


def figure(df: pd.DataFrame, rtdf: pd.DataFrame):
    import matplotlib.pyplot as plt

    from ..analysis.style import algo_color, plain_log_ticks, ticks_at
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for i, (name, g) in enumerate(df.groupby("variant")):
        # hollow, translucent markers: the many trials at ratio 1 stay countable
        color = algo_color(name) or f"C{i}"
        a1.scatter(g.n + 0.25 * i, g.ratio_lo, s=22, marker="os^D"[i % 4], facecolors="none",
                   edgecolors=color, linewidths=1.3, label=name)
        for n, k in (g.ratio_lo <= 1 + 1e-9).groupby(g.n).sum().items():   # how many trials sit at 1
            if k > 1:
                a1.annotate(f"×{k}", (n + 0.25 * i, 1.0), xytext=(0, -10), textcoords="offset points",
                            ha="center", fontsize=6.5, color=color)
    a1.axhline(1.0, color="k", lw=0.8)
    lo, hi = a1.get_ylim()
    a1.set_ylim(1 - 0.09 * (hi - 1), hi)
    a1.set_xticks(sorted(set(df.n)))
    a1.set_xlabel("number of requests n")
    a1.set_ylabel("objective / best schedule\n(OPT where proven)")
    a1.set_title("Algorithm 1 against OPT, per trial", fontsize=10)
    a1.legend(fontsize=8)
    for i, (name, g) in enumerate(rtdf.groupby("variant")):
        m = g.groupby("n").wall_s.median()
        a2.loglog(m.index, m.values, "os^D"[i % 4] + "-", color=algo_color(name) or f"C{i}", label=name)
    ticks_at(a2, rtdf.n)
    plain_log_ticks(a2, "y")
    a2.grid(True, which="major", alpha=0.3)
    a2.set_xlabel("number of requests n")
    a2.set_ylabel("simulation wall time (s), median")
    a2.set_title("runtime of one simulation", fontsize=10)
    a2.legend(fontsize=8)
    return fig


# what each figure compares, printed under it in paper/report.md
CAPTIONS = {
    "algorithm1": (
        "Left: each trial's objective over the best schedule found (OPT where proven) against the number "
        'of requests n, for algorithm1 and its variant algorithm1_round; a point above 1 is a counter-example, '
        'and the count beside 1 is how many trials are optimal. Right: median simulation wall time (s) '
        'against n (log-log).'),
}


def figures(out) -> dict:
    """This experiment's figures, redrawn from its saved tables in ``out`` (results/<name>/).
    The pipeline and the notebook ``workflow/notebooks/experiment_figures.py`` both call it."""
    from pathlib import Path
    out = Path(out)
    return {"algorithm1": figure(pd.read_parquet(out / "trials.parquet"), pd.read_parquet(out / "runtime.parquet"))}
