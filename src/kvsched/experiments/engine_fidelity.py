"""Simulator fidelity against the real engine (kvsched.engine): calibrate, replay, compare.

1. **Engine.** A transformers Llama with random weights (``model``: ``tiny`` on CPU for the
   quick scale, the Llama-2-7B shape in bf16 on CUDA for the full scale) runs iteration by
   iteration under the KV budget ``memory`` (tokens), scheduled by the kvsched policy.
2. **Calibration.** Calibration replays (FCFS, their own request draw ``calibration.seed``)
   measure rounds: an offline batch (all requests at time 0; its throughput defines the load
   unit), then one replay per ``calibration.loads``. The simulator's ``LinearLatency`` is fitted to
   their rounds (:func:`kvsched.latency.fit.fit_from_iterations`). The evaluation replays are
   not used for the fit.
3. **Fidelity.** For each policy and load (arrival rate = load x the offline throughput,
   Poisson) the same trace is replayed on the engine and simulated with the calibrated model
   and the same policy, predictor and seeds. Per-request latency (completion - arrival, s) is
   compared: relative error of the mean, p50 and p99, and the distribution of per-request
   relative errors. Every replay writes the simulator's files (``runs/<policy>/load=<x>/``).
   Requests above ``memory`` or the model's context (prompt + output tokens) are left out.

Results carry the engine label (``cpu-tiny`` or ``cuda-llama2_7b``): numbers measured on a CPU
with a tiny model say how well the simulator follows that engine, not a GPU.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..latency.fit import fit_from_iterations, iteration_errors
from ..metrics import request_table, run_summary
from ..policies import build_policy
from ..predictors import build_predictor
from ..provenance import provenance
from ..sim.engine import simulate
from ..traces import load_trace
from ..workload import Workload

# the keys its preset's params.<scale> may set (any other is an error that names it)
PARAMS = frozenset({"calibration", "clock", "device", "dtype", "fit_weight", "loads", "memory",
                    "model", "policies", "seed", "threads", "threshold", "timer", "trace",
                    "warmup_rounds"})

PAPER = "Vidur (Agrawal et al., MLSys 2024)"


def poisson(w: Workload, rate: float | None, seed: int) -> Workload:
    """The same requests with Poisson arrivals at ``rate`` req/s (``None``: all at time 0)."""
    if rate is None:
        return w.with_arrivals(np.zeros(len(w)), "s")
    g = np.random.default_rng([seed, 7])
    return w.with_arrivals(np.cumsum(g.exponential(1.0 / rate, len(w))), "s")


def _fits(w: Workload, M: int, context: int) -> Workload:
    """The requests that fit in M and in the model's context (prompt + output tokens)."""
    return w.subset(np.flatnonzero(w.prompt + w.output <= min(M, context)))


def errors(measured: np.ndarray, simulated: np.ndarray) -> dict:
    """Relative errors (simulated/measured - 1) of the mean, p50 and p99 latency, and the
    per-request |relative error| distribution (mean, p50, p99)."""
    m, s = np.asarray(measured, float), np.asarray(simulated, float)
    per = np.abs(s / m - 1.0)
    out = {}
    for k, f in (("mean", np.mean), ("p50", lambda x: np.percentile(x, 50)), ("p99", lambda x: np.percentile(x, 99))):
        out[f"measured_{k}"] = float(f(m))
        out[f"sim_{k}"] = float(f(s))
        out[f"err_{k}"] = float(f(s) / f(m) - 1.0)
    out.update(per_request_abs_err_mean=float(per.mean()), per_request_abs_err_p50=float(np.median(per)),
               per_request_abs_err_p99=float(np.percentile(per, 99)))
    return out


def _bootstrap_mean_err(m: np.ndarray, s: np.ndarray, seed: int, B: int = 400) -> tuple[float, float]:
    g = np.random.default_rng(seed)
    idx = g.integers(0, len(m), (B, len(m)))
    r = s[idx].mean(axis=1) / m[idx].mean(axis=1) - 1.0
    return float(np.percentile(r, 2.5)), float(np.percentile(r, 97.5))


def run(ctx) -> None:
    from ..engine.runner import Engine, write_outputs

    p = ctx.params
    M = int(p["memory"])
    seed = int(p.get("seed", 0))
    eng = Engine(p["model"], p["device"], p.get("dtype", "auto"), seed, p.get("threads"),
                 int(p.get("warmup_rounds", 8)))
    label = eng.info["label"]
    clock = p.get("clock", "virtual")
    timer = p.get("timer", "wall")
    trace = dict(p["trace"])

    def replay(w, alg, pred, s, out, load=None, rate=None):
        res = eng.replay(w, alg, pred, M, seed=s, clock=clock, timer=timer)
        metrics = run_summary(res.record)
        # the arrivals replayed: the trace's own are replaced (all at 0, or Poisson at load x capacity)
        arrivals = {"arrival": "poisson" if rate else "offline", "rate": rate, "load": load}
        summary = {"config": {"trace": {**trace, **arrivals}, "algorithm": alg, "predictor": pred, "memory": M,
                              "seed": s},
                   "metrics": metrics, "engine": res.engine,
                   "timing": {"replay_s": res.wall_s, "iterations": int(len(res.iterations))},
                   "provenance": provenance()}
        write_outputs(ctx.out / out, summary, request_table(res.record), res.iterations)
        ctx.written += [f"{out}/{f}" for f in ("requests.parquet", "iterations.parquet", "summary.json")]
        return res, metrics

    # --- calibration ---------------------------------------------------------------------
    cal = dict(p["calibration"])
    cseed = int(cal["seed"])
    wc = _fits(load_trace(trace, ctx.data_dir, cseed), M, eng.context)
    fcfs, oracle = {"name": "fcfs"}, {"name": "oracle"}
    res0, m0 = replay(poisson(wc, None, cseed), fcfs, oracle, cseed, "calibration/offline")
    capacity_rps = m0["completed"] / m0["makespan"]
    cal_iters = [res0.iterations.assign(run="offline")]
    for load in cal.get("loads", []):
        r, _ = replay(poisson(wc, float(load) * capacity_rps, cseed), fcfs, oracle, cseed,
                      f"calibration/load={load:g}", float(load), float(load) * capacity_rps)
        cal_iters.append(r.iterations.assign(run=f"load={load:g}"))
    cal_it = pd.concat(cal_iters, ignore_index=True)
    lat, fit = fit_from_iterations(cal_it, weight=p.get("fit_weight", "absolute"), name=f"engine_fit:{label}")
    ctx.table(cal_it, "calibration_iterations")

    # --- evaluation ------------------------------------------------------------------------
    w0 = _fits(load_trace(trace, ctx.data_dir, seed), M, eng.context)
    rows, per_req = [], []
    for pol in p["policies"]:
        for load in p["loads"]:
            w = poisson(w0, float(load) * capacity_rps, seed)
            res, mm = replay(w, pol["algorithm"], pol["predictor"], seed, f"runs/{pol['label']}/load={load:g}",
                             float(load), float(load) * capacity_rps)
            sim_rec = simulate(w, build_policy(dict(pol["algorithm"]), capacity=M, seed=seed + 1),
                               build_predictor(dict(pol["predictor"]), seed=seed + 2), M, lat)
            ms = run_summary(sim_rec)
            done = ~np.isnan(res.record.completion) & ~np.isnan(sim_rec.completion)
            lm = (res.record.completion - w.arrival)[done]
            ls = (sim_rec.completion - w.arrival)[done]
            e = errors(lm, ls)
            lo, hi = _bootstrap_mean_err(lm, ls, seed)
            ie = iteration_errors(lat, res.iterations)
            # the same comparison with the model fitted on this replay's own rounds: what is left
            # when the engine's speed drift between replays (a shared CPU) is taken out
            lat_self, _ = fit_from_iterations(res.iterations, weight=p.get("fit_weight", "absolute"))
            self_rec = simulate(w, build_policy(dict(pol["algorithm"]), capacity=M, seed=seed + 1),
                                build_predictor(dict(pol["predictor"]), seed=seed + 2), M, lat_self)
            ok = done & ~np.isnan(self_rec.completion)
            es = errors((res.record.completion - w.arrival)[ok], (self_rec.completion - w.arrival)[ok])
            rows.append({"engine": label, "policy": pol["label"], "load": float(load),
                         "rate_rps": float(load) * capacity_rps, "requests": int(done.sum()), **e,
                         "err_mean_ci_lo": lo, "err_mean_ci_hi": hi,
                         "measured_evictions": mm["evictions"], "sim_evictions": ms["evictions"],
                         "measured_makespan": mm["makespan"], "sim_makespan": ms["makespan"],
                         "measured_rounds": mm["rounds"], "sim_rounds": ms["rounds"],
                         "round_abs_err_mean": ie["rounds"]["mean"], "busy_time_err": ie["total_time"],
                         "self_err_mean": es["err_mean"], "self_err_p50": es["err_p50"], "self_err_p99": es["err_p99"],
                         "self_per_request_abs_err_mean": es["per_request_abs_err_mean"]})
            per_req.append(pd.DataFrame({"engine": label, "policy": pol["label"], "load": float(load),
                                         "id": np.flatnonzero(done), "measured": lm, "simulated": ls}))
    df = pd.DataFrame(rows)
    pr = pd.concat(per_req, ignore_index=True)
    ctx.table(df, "fidelity")
    ctx.table(pr, "per_request")
    for stem, fig in figures(ctx.out).items():
        ctx.figure(fig, stem)

    worst = {k: float(df[f"err_{k}"].abs().max()) for k in ("mean", "p50", "p99")}
    ranking = {}
    for load, d in df.groupby("load"):
        meas = list(d.sort_values("measured_mean").policy)
        sim = list(d.sort_values("sim_mean").policy)
        ranking[f"load={load:g}"] = {"measured": meas, "simulated": sim, "agree": meas == sim}
    ctx.markdown(_markdown(df, lat, fit, label, eng.info, capacity_rps, ranking), "fidelity")
    worst_self = {k: float(df[f"self_err_{k}"].abs().max()) for k in ("mean", "p50", "p99")}
    overall = max(worst.values())
    thr = float(p.get("threshold", 0.09))
    ctx.summary({"engine": eng.info, "label": label, "memory": M, "clock": clock, "timer": timer,
                 "capacity_rps": capacity_rps, "calibration": {"fit": fit, "latency": lat.__dict__},
                 "ranking": ranking, "worst_abs_err": worst, "worst_abs_err_self_calibrated": worst_self,
                 "per_request_abs_err_mean_max": float(df.per_request_abs_err_mean.max()),
                 "runs": rows})
    where = ("CPU, tiny random-weight Llama" if label.startswith("cpu") else f"{eng.info.get('gpu_name')}, "
             f"{eng.info['model']} shape, {eng.info['dtype']}")
    ctx.claim("engine_fidelity", PAPER, "A calibrated simulator predicts a real engine's request latency",
              "< 9% error",
              f"{label}: worst |error| of mean {worst['mean']:.1%}, p50 {worst['p50']:.1%}, p99 {worst['p99']:.1%} "
              f"over {len(p['policies'])} policies × {len(p['loads'])} loads",
              bool(overall < thr),
              f"Engine: {where} ({label}). Latency model fitted on separate calibration replays; "
              f"reproduced if every mean/p50/p99 error is below {thr:.0%}. Per-request |error| mean up to "
              f"{df.per_request_abs_err_mean.max():.1%}. Fitted on each replay's own rounds instead (speed drift "
              f"between replays removed), the worst errors are mean {worst_self['mean']:.1%}, p50 "
              f"{worst_self['p50']:.1%}, p99 {worst_self['p99']:.1%}. The simulator orders the policies by mean "
              f"latency as measured at {sum(v['agree'] for v in ranking.values())}/{len(ranking)} loads.",
              "fidelity.png")


def figures(out) -> dict:
    """This experiment's figure, redrawn from its saved tables in ``out`` (results/<name>/).
    The pipeline and the notebook ``workflow/notebooks/experiment_figures.py`` both call it."""
    from pathlib import Path
    out = Path(out)
    df = pd.read_parquet(out / "fidelity.parquet")
    pr = pd.read_parquet(out / "per_request.parquet")
    return {"fidelity": _figure(df, pr, str(df.engine.iloc[0]))}


def _figure(df: pd.DataFrame, pr: pd.DataFrame, label: str):
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.5))
    pols = list(df.policy.unique())
    loads = sorted(df.load.unique())
    marks = ["o", "s", "^", "D", "v"]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, pol in enumerate(pols):
        for j, load in enumerate(loads):
            d = pr[(pr.policy == pol) & (pr.load == load)]
            a.scatter(d.measured, d.simulated, s=12, alpha=0.7, color=colors[i % len(colors)],
                      marker=marks[j % len(marks)], label=f"{pol}, load {load:g}")
    lim = [max(pr[["measured", "simulated"]].min().min(), 1e-4), pr[["measured", "simulated"]].max().max()]
    a.plot(lim, lim, "k--", lw=1)
    a.set_xscale("log"); a.set_yscale("log")
    a.set_xlabel("measured latency (s)"); a.set_ylabel("simulated latency (s)")
    a.set_title(f"per-request latency, {label}")
    a.legend(fontsize=7)
    width = 0.8 / max(len(loads), 1)
    x = np.arange(len(pols))
    for j, load in enumerate(loads):
        d = df[df.load == load].set_index("policy").loc[pols]
        err = 100 * d.err_mean.to_numpy()
        yerr = 100 * np.abs(np.vstack([d.err_mean - d.err_mean_ci_lo, d.err_mean_ci_hi - d.err_mean]))
        b.bar(x + j * width, err, width, yerr=yerr, capsize=3, label=f"mean, load {load:g}")
        b.scatter(x + j * width, 100 * d.err_p50, color="k", marker="_", s=80, zorder=3,
                  label="p50" if j == 0 else None)
        b.scatter(x + j * width, 100 * d.err_p99, color="r", marker="x", s=30, zorder=3,
                  label="p99" if j == 0 else None)
    for y in (-9, 9):
        b.axhline(y, color="grey", ls=":", lw=1)
    b.axhline(0, color="k", lw=0.8)
    b.set_xticks(x + width * (len(loads) - 1) / 2, pols)
    b.set_ylabel("simulated / measured − 1 (%)")
    b.set_title("latency error (bars: mean, 95% bootstrap CI)")
    b.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _markdown(df: pd.DataFrame, lat, fit: dict, label: str, info: dict, capacity_rps: float, ranking: dict) -> str:
    c = fit["coefficients"]
    ins = fit["in_sample"]
    out = [f"## Simulator vs real engine ({label})", "",
           f"Engine: {info['model']} ({info['parameters']:,} parameters, {info['dtype']}) on {info['device']}"
           f"{' (' + info['gpu_name'] + ')' if info.get('gpu_name') else ''}, torch {info['torch']}, "
           f"transformers {info['transformers']}, {info.get('threads')} CPU thread(s). Offline throughput "
           f"{capacity_rps:.3g} req/s (load 1.0).", "",
           f"Calibrated round time: c0 = {c['c0'] * 1e3:.3f} ms, c_p = {c['c_p'] * 1e6:.3f} µs/token, "
           f"c_d = {c['c_d'] * 1e3:.4f} ms/request, c_kv = {c['c_kv'] * 1e6:.4f} µs/token "
           f"({fit['rows']} calibration rounds, R² {fit['r2']:.3f}, per-round |error| mean "
           f"{ins['rounds']['mean']:.1%}, total time {ins['total_time']:+.1%}).", "",
           "| policy | load | requests | measured mean (s) | sim mean (s) | err mean | err p50 | err p99 "
           "| per-request abs err mean / p50 / p99 | evictions measured / sim | round abs err | busy-time err "
           "| self-calibrated err mean / p50 / p99 |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---|"]
    for r in df.itertuples():
        out.append(f"| {r.policy} | {r.load:g} | {r.requests} | {r.measured_mean:.3f} | {r.sim_mean:.3f} "
                   f"| {r.err_mean:+.1%} | {r.err_p50:+.1%} | {r.err_p99:+.1%} "
                   f"| {r.per_request_abs_err_mean:.1%} / {r.per_request_abs_err_p50:.1%} / "
                   f"{r.per_request_abs_err_p99:.1%} | {r.measured_evictions} / {r.sim_evictions} "
                   f"| {r.round_abs_err_mean:.1%} | {r.busy_time_err:+.1%} "
                   f"| {r.self_err_mean:+.1%} / {r.self_err_p50:+.1%} / {r.self_err_p99:+.1%} |")
    out += ["", "err = simulated / measured − 1 with the model fitted on the calibration replays (held out). "
            "Busy-time err: the calibrated model's total round time over the measured one, per replay (the "
            "engine's speed drift between replays). Self-calibrated: the model fitted on that replay's own rounds.",
            "", "Policies by mean latency, best first (measured | simulated):", ""]
    out += [f"- {k}: {' < '.join(v['measured'])} | {' < '.join(v['simulated'])}"
            f"{'' if v['agree'] else ' (order differs)'}" for k, v in ranking.items()]
    return "\n".join(out) + "\n"
