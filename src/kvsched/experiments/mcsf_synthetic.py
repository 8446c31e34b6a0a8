"""MC-SF against the hindsight optimum on the MC-SF paper's synthetic instances (papers.md §1).

Per trial (instance ``synthetic_mcsf`` with ``seed = seed0 + trial``, memory ``M`` drawn by
the generator): run the heuristics, bracket OPT (:func:`kvsched.optimum.solve.bracket`: a
local search over request orders from the best heuristic, then CP-SAT warm-started from the
best schedule), and report MC-SF's ratio as the certified
interval ``[MC-SF / upper, MC-SF / lower]``: the true ratio ``MC-SF / OPT`` lies inside.
A trial counts as *certified optimal* when MC-SF's objective equals a proven lower bound,
and as *certified suboptimal* when a validated schedule beats MC-SF. Each certified-suboptimal
trial is saved in ``certificates.json``: the instance as run (with ``first_round: s``, the prompts
one token smaller), MC-SF's schedule and the better one, so anyone can check it.

``n`` (default null: the paper's draw, 40-60) fixes the request count instead; a small
``n`` (e.g. 10) is not the paper's setting but lets OPT be proven, which shows how far
MC-SF is from OPT where the bracket at paper scale stays wide.

Variants of MC-SF, measured against the same bracket: ``mcsf`` (scan stops at the first
failing candidate, as the paper states) and ``mcsf_skip`` (skips it).

Memory counting: the engine counts ``s + j`` tokens in a request's ``j``-th round (``s + 1``
in the first). ``first_round: s`` runs the other plausible convention, ``s + j - 1`` (the
first round holds only the prompt), for MC-SF's check, the schedules and OPT alike; it
is the same problem with every prompt one token smaller, which is how it is run.

Flags (per arrival model and variant), computed from the data: ``consistent``: the
paper's mean and worst ratios lie inside our certified intervals for the mean and the
worst ratio, and the paper's share of exactly optimal trials inside ``[certified optimal,
trials - certified suboptimal] / trials``; ``decisive``: all those intervals are narrower
than ``decisive_width``; ``reproduced`` = consistent and decisive. A wide bracket thus
gives ``reproduced: false`` with ``consistent: true``: not refuted, not confirmed.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..optimum.solve import PROVE_TIME_LIMIT, SEARCH_EVALS, bracket
from ..workload import Workload
from ..traces.synthetic_mcsf import DEFAULTS, synthetic_mcsf
from ._pool import ordered_map

# the keys its preset's params.<scale> may set (any other is an error that names it)
PARAMS = frozenset({"cpsat_n", "decisive_width", "exact_n", "first_round", "formulation",
                    "lp_time_limit", "models", "n", "num_workers", "processes", "prove_n",
                    "prove_time_limit", "search_evals", "seed0", "separation_n",
                    "separation_time_limit", "time_limit", "trials", "use_lp"})

PAPER = {1: {"mean": 1.005, "worst": 1.074, "optimal": 114, "trials": 200},
         2: {"mean": 1.047, "worst": 1.227, "optimal": None, "trials": 200}}
VARIANTS = ("mcsf", "mcsf_skip")
CERTIFICATE = "certificate"   # column of a trial row: the instance and both schedules, when MC-SF is beaten


def trial(model: int, k: int, seed0: int, n=None, first_round: str = "s_plus_1", **bracket_kw) -> list[dict]:
    """One trial: the instance ``synthetic_mcsf`` with ``seed = seed0 + k``, its bracket, and one
    row per MC-SF variant. A pure function of its arguments (CP-SAT budgets are deterministic
    time with one worker), so trials may run in any order and in parallel processes."""
    seed = seed0 + k
    w = synthetic_mcsf(dict(DEFAULTS, arrival_model=model, n=n), None, seed)
    M = int(w.meta["memory"])
    if first_round == "s":
        w = Workload(w.arrival, np.maximum(w.prompt - 1, 0), w.output, w.name, w.time_unit, None, w.meta)
    elif first_round != "s_plus_1":
        raise ConfigError(f"first_round={first_round!r}; choose s_plus_1 or s")
    t0 = time.perf_counter()
    b = bracket(w, M, heuristics=VARIANTS + ("fcfs",), seed=seed, **bracket_kw)
    base = dict(arrival_model=model, trial=k, seed=seed, n=len(w), memory=M, lower=b.lower,
                upper=b.upper, proven=b.proven, upper_method=b.method, lower_method=b.lower_method,
                gap=b.gap, cpsat_status=b.info.get("cpsat_status", "skipped"),
                prove_status=b.info.get("prove_status", "skipped"), prove_units=b.info.get("prove_units", 0.0),
                fcfs=b.heuristics["fcfs"], wall_s=time.perf_counter() - t0,
                **{f"bound_{k2}": v for k2, v in b.bounds.items()})
    rows = []
    for v in VARIANTS:
        alg = b.heuristics[v]
        row = dict(base, variant=v, objective=alg, ratio_lo=alg / b.upper, ratio_hi=alg / b.lower,
                   certified_optimal=bool(alg <= b.lower + 1e-9), certified_suboptimal=bool(b.upper < alg - 1e-9))
        if row["certified_suboptimal"]:
            row[CERTIFICATE] = dict(arrival_model=model, trial=k, seed=seed, first_round=first_round, memory=M,
                                    arrival=w.arrival.tolist(), prompt=w.prompt.tolist(), output=w.output.tolist(),
                                    variant=v, variant_starts=b.heuristic_starts[v].tolist(),
                                    variant_objective=alg, better_starts=b.starts.tolist(),
                                    better_objective=b.upper, better_method=b.method)
        rows.append(row)
    return rows


def _trial_star(args):
    model, k, kw = args
    return trial(model, k, **kw)


def run_trials(models, trials, seed0, time_limit, num_workers, exact_n=0, use_lp=False, lp_time_limit=30.0,
               progress=None, n=None, first_round="s_plus_1", processes=1, only=None, **bracket_kw) -> pd.DataFrame:
    """All trials, ``processes`` at a time (results are the same for any ``processes``);
    ``only``: just these ``(model, trial)`` pairs."""
    kw = dict(seed0=seed0, n=n, first_round=first_round, time_limit=time_limit, num_workers=num_workers,
              exact_n=exact_n, use_lp=use_lp, lp_time_limit=lp_time_limit, **bracket_kw)
    jobs = [(model, k, kw) for model in models for k in range(trials)
            if only is None or (model, k) in only]
    rows: list[dict] = []
    for (model, k, _), out in zip(jobs, ordered_map(_trial_star, jobs, processes)):
        rows.extend(out)
        if progress:
            progress(model, k, out[0])
    return pd.DataFrame(rows)


def run_preset(p: dict, progress=None, only=None) -> pd.DataFrame:
    """:func:`run_trials` with a preset's parameters (``conf/experiment/mcsf_synthetic.yaml``)."""
    opt = lambda key, cast: None if p.get(key) is None else cast(p[key])  # noqa: E731
    if int(p["trials"]) < 1 or not p.get("models", [1, 2]):
        raise ConfigError(f"mcsf_synthetic needs trials >= 1 and at least one arrival model, got "
                          f"trials={p['trials']!r}, models={p.get('models')!r}")
    return run_trials(list(p.get("models", [1, 2])), int(p["trials"]), int(p.get("seed0", 0)),
                      float(p["time_limit"]), int(p.get("num_workers", 1)), int(p.get("exact_n", 0)),
                      bool(p.get("use_lp", False)), float(p.get("lp_time_limit", 30.0)), progress, p.get("n"),
                      str(p.get("first_round", "s_plus_1")), processes=int(p.get("processes", 1)), only=only,
                      cpsat_n=opt("cpsat_n", int), separation_n=opt("separation_n", int),
                      separation_time_limit=opt("separation_time_limit", float),
                      formulation=str(p.get("formulation", "pairs")), prove_n=int(p.get("prove_n", 0) or 0),
                      prove_time_limit=float(p.get("prove_time_limit", PROVE_TIME_LIMIT)),
                      search_evals=int(p.get("search_evals", SEARCH_EVALS)))


def summarise(df: pd.DataFrame, decisive_width: float = 0.01) -> tuple[pd.DataFrame, dict]:
    out, claims = [], {}
    for (model, variant), g in df.groupby(["arrival_model", "variant"]):
        t = len(g)
        row = dict(arrival_model=int(model), variant=variant, trials=t,
                   mean_ratio_lo=float(g.ratio_lo.mean()), mean_ratio_hi=float(g.ratio_hi.mean()),
                   worst_ratio_lo=float(g.ratio_lo.max()), worst_ratio_hi=float(g.ratio_hi.max()),
                   certified_optimal=int(g.certified_optimal.sum()),
                   certified_suboptimal=int(g.certified_suboptimal.sum()),
                   opt_proven=int(g.proven.sum()), mean_gap=float(g.gap.mean()),
                   median_gap=float(g.gap.median()))
        p = PAPER[int(model)]
        checks = {"mean": bool(row["mean_ratio_lo"] - 1e-9 <= p["mean"] <= row["mean_ratio_hi"] + 1e-9),
                  "worst": bool(row["worst_ratio_lo"] - 1e-9 <= p["worst"] <= row["worst_ratio_hi"] + 1e-9)}
        widths = [row["mean_ratio_hi"] - row["mean_ratio_lo"], row["worst_ratio_hi"] - row["worst_ratio_lo"]]
        if p["optimal"] is not None:
            share = p["optimal"] / p["trials"]
            lo, hi = row["certified_optimal"] / t, (t - row["certified_suboptimal"]) / t
            checks["optimal_share"] = bool(lo - 1e-9 <= share <= hi + 1e-9)
            widths.append(hi - lo)
        row.update(paper_mean=p["mean"], paper_worst=p["worst"], paper_optimal=p["optimal"],
                   paper_trials=p["trials"], consistent=bool(all(checks.values())),
                   decisive=bool(max(widths) <= decisive_width))
        row["reproduced"] = bool(row["consistent"] and row["decisive"])
        out.append(row)
        claims[f"model{int(model)}_{variant}"] = dict(
            ours={"mean_ratio": [row["mean_ratio_lo"], row["mean_ratio_hi"]],
                  "worst_ratio": [row["worst_ratio_lo"], row["worst_ratio_hi"]],
                  "certified_optimal": row["certified_optimal"], "certified_suboptimal": row["certified_suboptimal"],
                  "opt_proven": row["opt_proven"], "trials": t, "mean_gap": row["mean_gap"],
                  "median_gap": row["median_gap"]},
            paper={k: v for k, v in p.items() if v is not None},
            checks=checks, consistent=row["consistent"], decisive=row["decisive"], reproduced=row["reproduced"])
    return pd.DataFrame(out), claims


def figure(df: pd.DataFrame):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from ..analysis.style import algo_color
    models = sorted(df.arrival_model.unique())
    variants = list(dict.fromkeys(df.variant))
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 3.8), squeeze=False, layout="constrained")
    width = 0.6 / max(1, len(variants))
    for ax, model in zip(axes[0], models):
        top = 1.3
        for k, v in enumerate(variants):
            g = df[(df.arrival_model == model) & (df.variant == v)].sort_values("ratio_lo")
            if g.empty:
                continue
            x = np.arange(len(g)) + (k - (len(variants) - 1) / 2) * width
            color = algo_color(v) or f"C{k}"
            ax.vlines(x, g.ratio_lo, np.minimum(g.ratio_hi, 3.0), color=color, lw=2.5,
                      label=f"{v}: certified interval")
            ax.plot(x, g.ratio_lo, "os^D"[k % 4], ms=5, color=color, markeredgecolor="k", markeredgewidth=0.6,
                    label=f"{v}: ALG / best schedule found (lower end)")
            top = max(top, float(g.ratio_hi.max()) + 0.02)
        ax.axhline(PAPER[model]["mean"], color="k", ls="--", lw=1, label="paper: mean")
        ax.axhline(PAPER[model]["worst"], color="k", ls=":", lw=1, label="paper: worst")
        ax.set_ylim(0.98, min(3.0, top))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # trial numbers; 200 at full scale
        ax.set_xlabel("trial (per variant, sorted by lower end)")
        ax.set_ylabel("MC-SF / OPT")
        ax.set_title(f"arrival model {model} (paper: mean {PAPER[model]['mean']}, worst {PAPER[model]['worst']})",
                     fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False, fontsize=8)
    return fig


def run(ctx) -> None:
    p = ctx.params

    def progress(model, k, row):
        print(f"model {model} trial {k}: MC-SF {row['objective']:.0f}, OPT in [{row['lower']:.0f}, "
              f"{row['upper']:.0f}] ({row['upper_method']}), {row['wall_s']:.1f}s", flush=True)

    df = run_preset(p, progress)
    certs = [c for c in df.pop(CERTIFICATE) if isinstance(c, dict)] if CERTIFICATE in df else []
    ctx.summary({"note": CERTIFICATE_NOTE, "certificates": certs}, "certificates")
    ctx.table(df, "trials")
    summary, claims = summarise(df, float(p.get("decisive_width", 0.01)))
    ctx.table(summary, "summary")
    for stem, fig in figures(ctx.out).items():
        ctx.figure(fig, stem)
    lines = ["| model | variant | trials | mean ratio | worst ratio | certified optimal | certified suboptimal | "
             "OPT proven | median gap | paper mean / worst / optimal | consistent | decisive | reproduced |", "|" + "---|" * 13]
    for r in summary.itertuples():
        po = "—" if r.paper_optimal is None or (isinstance(r.paper_optimal, float) and np.isnan(r.paper_optimal)) \
            else f"{int(r.paper_optimal)}/{r.paper_trials}"
        lines.append(f"| {r.arrival_model} | {r.variant} | {r.trials} | [{r.mean_ratio_lo:.3f}, {r.mean_ratio_hi:.3f}] | "
                     f"[{r.worst_ratio_lo:.3f}, {r.worst_ratio_hi:.3f}] | {r.certified_optimal} | "
                     f"{r.certified_suboptimal} | {r.opt_proven} | {r.median_gap:.1%} | {r.paper_mean} / {r.paper_worst} / {po} | "
                     f"{r.consistent} | {r.decisive} | "
                     f"{r.reproduced} |")
    ctx.markdown("\n".join(lines) + "\n\nRatios are certified intervals [MC-SF/upper, MC-SF/lower] on MC-SF/OPT; the gap of a "
                 "trial is (upper - lower) / upper.\n",
                 "summary")
    ctx.summary({"scale": ctx.scale, "params": dict(p), **claims})
    report_claims(ctx, summary)


CERTIFICATE_NOTE = (
    "Each entry: an instance (unit rounds; request i arrives at arrival[i], holds prompt[i] + j tokens in "
    "its j-th round, runs output[i] rounds; at most memory tokens per round) and two schedules (start "
    "rounds): MC-SF's (variant_starts) and a better one (better_starts). Total latency = sum(start + "
    "output - arrival). Check one with kvsched.optimum.schedule.validate, or by hand.")


VARIANT_NOTE = {
    "mcsf": "mcsf stops at the first candidate that does not fit, as the paper states. ",
    "mcsf_skip": "mcsf_skip is a variant of ours (it skips a candidate that does not fit), not the paper's "
                 "MC-SF; it is set beside the paper's MC-SF values. ",
}
RECONSTRUCTION_NOTE = "The instance generator's exact output lengths are a reconstruction (papers.md §1). "
FIRST_ROUND_NOTE = {
    "s_plus_1": "Memory convention (papers.md §0, known): s + j tokens in a request's j-th round, s + 1 in its first.",
    "s": "Memory convention (a variant of ours; papers.md §0 has s + 1): s tokens in a request's first round.",
}


def report_claims(ctx, summary: pd.DataFrame) -> None:
    """Report rows: the paper's mean / worst / optimal count beside our certified intervals."""
    paper = "MC-SF (Jaillet et al., arXiv 2502.07115)"
    for r in summary.itertuples():
        po = None if r.paper_optimal is None or (isinstance(r.paper_optimal, float) and np.isnan(r.paper_optimal)) \
            else f"{int(r.paper_optimal)}/{r.paper_trials} optimal"
        pv = f"mean {r.paper_mean}, worst {r.paper_worst}" + (f", {po}" if po else "")
        ours = (f"mean ∈ [{r.mean_ratio_lo:.3f}, {r.mean_ratio_hi:.3f}], worst ∈ [{r.worst_ratio_lo:.3f}, "
                f"{r.worst_ratio_hi:.3f}], certified optimal {r.certified_optimal}/{r.trials}, "
                f"certified suboptimal {r.certified_suboptimal}/{r.trials}")
        note = ("Intervals are certified: [MC-SF/best schedule found, MC-SF/best lower bound]. 'yes' needs the "
                "intervals to contain the paper's values and be narrower than the decisive width; 'n/a' "
                "when consistent but not decisive. " + VARIANT_NOTE.get(r.variant, "") + RECONSTRUCTION_NOTE
                + FIRST_ROUND_NOTE.get(ctx.params.get("first_round", "s_plus_1"), ""))
        rep = True if r.reproduced else (None if r.consistent and not r.decisive else False)
        ctx.claim(f"model{r.arrival_model}_{r.variant}", paper,
                  f"MC-SF/OPT on synthetic arrival model {r.arrival_model} ({r.variant})", pv, ours, rep, note,
                  "ratio_distribution.png")


# what each figure compares, printed under it in paper/report.md
CAPTIONS = {
    "ratio_distribution": (
        'Certified interval of MC-SF / OPT per trial (bar: from MC-SF / best schedule found up to MC-SF /'
        " best lower bound), for both variants, against the paper's mean (dashed) and worst (dotted) "
        'ratio, one panel per arrival model.'),
}


def figures(out) -> dict:
    """This experiment's figures, redrawn from its saved tables in ``out`` (results/<name>/).
    The pipeline and the notebook ``workflow/notebooks/experiment_figures.py`` both call it."""
    from pathlib import Path
    out = Path(out)
    return {"ratio_distribution": figure(pd.read_parquet(out / "trials.parquet"))}
