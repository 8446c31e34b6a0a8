"""Simulator throughput benchmarks.

``kvsched bench [--algorithms fcfs,mcsf,vllm_fcfs] [--trace azure_conv] [--repeat 1] [--json PATH] [--generic]
[--predictor noisy:eps=0.5] [--params key=value,...]``

Runs full traces through the simulator (latency model: Llama-2-70B on 2xA100) and prints
wall time, simulated requests per second and simulated rounds per second, with the
machine it ran on. Trace loading is timed separately and excluded from the rates.
``--generic`` also times the generic engine (``sim.fast: false``) for comparison.

``kvsched bench --suite [--repeat 3] [--sizes 10000,100000,1000000] [--json PATH] [--plot PATH]``
prints three tables: (1) the full Azure conv trace for vllm_fcfs / fcfs / mcsf (fast path and
generic engine); (2) scaling in the number of requests on ``lmsys_like`` synthetic traces
(Poisson arrivals at 6 requests/s, about the service rate at M = 16,492, so the queue stays
bounded), with a log-log plot; (3) unit-round cost against the output-length scale: a
unit-time instance whose outputs, inter-arrival gaps and memory are all multiplied by 1 and
by 10 (ten times as many rounds, the same events), to show that event skipping makes the
cost follow the events, not the rounds. Every figure is the best of ``--repeat`` runs,
except sizes above 200,000 requests, which run once.

``kvsched bench --optimum [--scale full] [--processes 2] [--json PATH]`` times the
hindsight-optimum stack on the MC-SF synthetic instances (the ``mcsf_synthetic`` preset at that
scale: 2 x 200 instances at ``full``) and prints its total wall time, the median optimality
gap (best schedule against best lower bound) per arrival model, how many trials OPT was
proven for, and every trial with ``n <= 20`` requests. ``--prove-n N`` (default 20) then runs
the trials with ``n <= N`` again from scratch with the proof step of
:func:`~kvsched.optimum.solve.bracket` (one long CP-SAT run, ``--prove-limit`` deterministic
units) and prints how long each took to prove OPT (0 skips this).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from .datastore import resolve_data_dir
from .errors import ConfigError
from .latency import build_latency
from .latency.base import unit_rounds
from .optimum.solve import PROVE_TIME_LIMIT
from .policies import build_policy
from .predictors import build_predictor
from .provenance import provenance
from .sim.engine import simulate
from .sim.fast import fast_kind
from .traces import load_trace

PROVE_N = 20   # --optimum: prove OPT for the trials with at most this many requests (the target's n)


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


LATENCY = {"name": "splitwise_fit", "model": "llama2-70b", "hardware": "a100-80gb", "tensor_parallel": 2}


ORACLE = {"name": "oracle"}


def parse_pairs(text: str, flag: str) -> dict:
    """``key=value,...`` -> a dict; numbers become int or float."""
    cfg: dict = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"{flag} {text!r}: expected key=value, got {item!r}")
        try:
            cfg[key.strip()] = int(value)
        except ValueError:
            try:
                cfg[key.strip()] = float(value)
            except ValueError:
                cfg[key.strip()] = value.strip()
    return cfg


def parse_predictor(spec: str) -> dict:
    """``NAME[:key=value,...]`` -> a predictor config, e.g. ``noisy:eps=0.5,dist=lognormal``."""
    name, _, rest = spec.partition(":")
    cfg: dict = {"name": name.strip(), **parse_pairs(rest, "--predictor")}
    build_predictor(dict(cfg), seed=0)          # fail now, naming the bad key, not mid-benchmark
    return cfg


def parse_params(text: str, algorithms: list[str]) -> dict:
    """``key=value,...``: parameters given to every one of ``algorithms`` (checked now)."""
    params = parse_pairs(text, "--params")
    for alg in algorithms:
        build_policy({"name": alg, **params}, capacity=1 << 20, seed=0)
    return params


def time_run(wl, algorithm: str, capacity: int, lat, repeat: int, fast: bool = True,
             predictor: dict = ORACLE, params: dict | None = None) -> dict:
    """Best-of-``repeat`` wall time of one simulation (default: oracle predictor, the
    algorithm's default parameters)."""
    best = None
    for _ in range(repeat):
        pol = build_policy({"name": algorithm, **(params or {})}, capacity=capacity, seed=1)
        fast_used = fast and fast_kind(pol) is not None   # otherwise the generic engine runs it
        pred = build_predictor(dict(predictor), seed=2)
        t1 = time.perf_counter()
        rec = simulate(wl, pol, pred, capacity, lat, fast=fast)
        dt = time.perf_counter() - t1
        best = dt if best is None else min(best, dt)
    return {"algorithm": algorithm, "params": dict(params or {}), "engine": "fast" if fast_used else "generic",
            "predictor": dict(predictor), "memory": capacity,
            "requests": len(wl), "rounds": rec.rounds, "policy_decisions": rec.decisions, "repeat": repeat,
            "wall_s": round(best, 3), "requests_per_s": round(len(wl) / best, 1),
            "rounds_per_s": round(rec.rounds / best, 1)}


def bench_one(trace: str, algorithm: str, capacity: int, repeat: int, data_dir, fast: bool = True,
              predictor: dict = ORACLE, params: dict | None = None) -> dict:
    t0 = time.perf_counter()
    wl = load_trace({"name": trace}, data_dir, 0)
    load_s = time.perf_counter() - t0
    lat = build_latency(dict(LATENCY), data_dir)
    return {"trace": trace, "load_s": round(load_s, 3),
            **time_run(wl, algorithm, capacity, lat, repeat, fast, predictor, params)}


def _print_rows(rows: list[dict], first: str) -> None:
    print(f"{first:14s} {'algorithm':10s} {'engine':8s} {'M':>7s} {'requests':>8s} {'rounds':>9s} "
          f"{'decisions':>9s} {'wall s':>8s} {'req/s':>9s} {'rounds/s':>10s}")
    for r in rows:
        print(f"{str(r[first]):14s} {r['algorithm']:10s} {r['engine']:8s} {r['memory']:7d} {r['requests']:8d} "
              f"{r['rounds']:9d} {r['policy_decisions']:9d} {r['wall_s']:8.2f} {r['requests_per_s']:9.0f} "
              f"{r['rounds_per_s']:10.0f}")


def _stretched(n: int, scale: int, finer: bool, seed: int = 0):
    """Unit-time instance with lmsys_like lengths and Poisson arrivals at 2 per round (about the
    service rate at M = 16,492), floored to whole rounds. ``scale`` multiplies the outputs and
    the arrival times; with ``finer`` also the prompts (and the caller multiplies M), which is
    the same instance in ``scale`` times finer time: the same events, ``scale`` times the rounds."""
    from .workload import Workload
    base = load_trace({"name": "lmsys_like", "n": n, "arrival": "zero"}, None, seed)
    rng = np.random.default_rng(seed + 1)
    arrival = np.floor(np.cumsum(rng.exponential(1.0 / 2.0, size=n))) * scale
    prompt = base.prompt * scale if finer else base.prompt
    return Workload(arrival, prompt, base.output * scale, name=f"lmsys_like_x{scale}", time_unit="rounds")


def suite(a, d) -> dict:
    lat = build_latency(dict(LATENCY), d)
    algs = a.algorithms.split(",")
    out: dict = {}
    # 1. full Azure conv trace
    t0 = time.perf_counter()
    wl = load_trace({"name": "azure_conv"}, d, 0)
    load_s = time.perf_counter() - t0
    rows = []
    for alg in algs:
        rows.append({"trace": "azure_conv", **time_run(wl, alg, a.memory, lat, a.repeat)})
        if not a.no_generic:
            rows.append({"trace": "azure_conv", **time_run(wl, alg, a.memory, lat, 1, fast=False)})
    out["azure_conv"] = {"load_s": round(load_s, 3), "rows": rows}
    print(f"\n[1] Azure conv 2023, full trace (load {load_s:.2f} s, excluded); generic engine: best of 1")
    _print_rows(rows, "trace")
    # 2. scaling in the number of requests
    rows = []
    for n in [int(x) for x in a.sizes.split(",")]:
        wl = load_trace({"name": "lmsys_like", "n": n, "rate": 6.0}, d, 0)
        for alg in a.scaling_algorithms.split(","):
            rows.append({"n": n, **time_run(wl, alg, a.memory, lat, a.repeat if n <= 200_000 else 1)})
    out["scaling"] = {"trace": "lmsys_like (rate 6/s)", "rows": rows}
    print("\n[2] scaling: lmsys_like, Poisson 6 requests/s, same latency model and M")
    _print_rows(rows, "n")
    # 3. output-length scale under the unit time base
    rows = []
    unit = unit_rounds()
    variants = {"finer": "prompts, outputs, arrival times and M x scale (same instance, finer time)",
                "outputs": "outputs and arrival times x scale; prompts and M unchanged"}
    for variant in variants:
        for scale in (1, 10):
            wl = _stretched(a.stretch_n, scale, variant == "finer")
            M = a.memory * scale if variant == "finer" else a.memory
            for alg in a.scaling_algorithms.split(","):
                r = time_run(wl, alg, M, unit, a.repeat)
                r["us_per_request"] = round(1e6 * r["wall_s"] / len(wl), 2)
                rows.append({"variant": variant, "output_scale": scale, **r})
    out["output_scale"] = {"trace": f"lmsys_like lengths, {a.stretch_n} requests, unit rounds",
                           "variants": variants, "rows": rows}
    for variant, what in variants.items():
        print(f"\n[3{'ab'[list(variants).index(variant)]}] unit rounds, {a.stretch_n} requests: {what}")
        vr = [r for r in rows if r["variant"] == variant]
        _print_rows(vr, "output_scale")
        for alg in a.scaling_algorithms.split(","):
            w1 = [r["wall_s"] for r in vr if r["algorithm"] == alg]
            r1 = [r["rounds"] for r in vr if r["algorithm"] == alg]
            d1 = [r["policy_decisions"] for r in vr if r["algorithm"] == alg]
            print(f"    {alg}: x10 -> {r1[1] / r1[0]:.1f}x rounds, {d1[1] / d1[0]:.2f}x decisions, "
                  f"{w1[1] / w1[0]:.2f}x wall")
    if a.plot:
        _plot(out["scaling"]["rows"], a.plot)
    return out


def optimum_bench(scale: str, processes: int | None, prove_n: int = PROVE_N, prove_limit: float = PROVE_TIME_LIMIT) -> dict:
    """Run the ``mcsf_synthetic`` trials at ``scale`` once and summarise time and gaps; then
    prove OPT on the trials with ``n <= prove_n`` (module docstring)."""
    from .experiments import load_module_spec
    from .experiments.mcsf_synthetic import run_preset

    p = dict(load_module_spec("mcsf_synthetic")["params"][scale])
    if processes is not None:
        p["processes"] = processes
    t0 = time.perf_counter()
    df = run_preset(p)
    wall = time.perf_counter() - t0
    df = df[df.variant == "mcsf"]
    print(f"\nhindsight-optimum stack, mcsf_synthetic --scale {scale}: {len(df)} instances, "
          f"{p['processes']} process(es): {wall:.1f} s wall")
    print(f"{'model':>5} {'trials':>6} {'median gap':>10} {'mean gap':>8} {'proven':>6} {'median s':>8} {'max s':>6}")
    per_model = []
    for model, g in df.groupby("arrival_model"):
        row = dict(arrival_model=int(model), trials=len(g), median_gap=float(g.gap.median()),
                   mean_gap=float(g.gap.mean()), proven=int(g.proven.sum()),
                   median_trial_s=float(g.wall_s.median()), max_trial_s=float(g.wall_s.max()))
        per_model.append(row)
        print(f"{model:>5} {row['trials']:>6} {row['median_gap']:>10.1%} {row['mean_gap']:>8.1%} {row['proven']:>6} "
              f"{row['median_trial_s']:>8.2f} {row['max_trial_s']:>6.2f}")
    best_bound = {str(k): int(v) for k, v in df.lower_method.value_counts().sort_index().items()}
    print("best lower bound by method: " + ", ".join(f"{k} {v}" for k, v in best_bound.items()))
    best_sched = {str(k): int(v) for k, v in df.upper_method.value_counts().sort_index().items()}
    print("best schedule by method: " + ", ".join(f"{k} {v}" for k, v in best_sched.items()))
    cols = ["arrival_model", "trial", "n", "memory", "lower", "upper", "gap", "proven", "lower_method", "wall_s"]
    small = df[df.n <= 20][cols]
    print(f"\ninstances with n <= 20: {len(small)}")
    if len(small):
        print(small.to_string(index=False))
    proofs = []
    if prove_n and (df.n <= prove_n).any():
        only = {(int(m), int(k)) for m, k in df[df.n <= prove_n][["arrival_model", "trial"]].itertuples(index=False)}
        pp = dict(p, prove_n=prove_n, prove_time_limit=prove_limit)
        print(f"\nproving OPT for the {len(only)} trial(s) with n <= {prove_n} from scratch "
              f"(bracket, then one CP-SAT run of up to {prove_limit:g} deterministic units):")
        pr = run_preset(pp, only=only)
        pr = pr[pr.variant == "mcsf"][["arrival_model", "trial", "n", "memory", "lower", "upper", "proven",
                                        "prove_status", "prove_units", "wall_s"]]
        print(pr.to_string(index=False))
        print(f"proven {int(pr.proven.sum())} of {len(pr)}; wall per trial {pr.wall_s.min():.0f}-"
              f"{pr.wall_s.max():.0f} s (target: <= 10 s each)")
        proofs = pr.to_dict(orient="records")
    return {"scale": scale, "params": p, "instances": len(df), "wall_s": round(wall, 2),
            "median_gap": float(df.gap.median()), "per_model": per_model, "best_lower_bound": best_bound,
            "best_schedule": best_sched,
            "small_n": small.to_dict(orient="records"), "prove_n": prove_n, "prove_limit": prove_limit,
            "proofs": proofs}


def _plot(rows: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .analysis.style import figure_metadata
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for alg in dict.fromkeys(r["algorithm"] for r in rows):
        rr = [r for r in rows if r["algorithm"] == alg]
        ax.loglog([r["n"] for r in rr], [r["wall_s"] for r in rr], "o-", label=alg)
    ns = sorted({r["n"] for r in rows})
    w0 = min(r["wall_s"] for r in rows if r["n"] == ns[0])
    ax.loglog(ns, [w0 * n / ns[0] for n in ns], "k:", label="linear")
    ax.set_xlabel("requests (lmsys_like, 6/s)")
    ax.set_ylabel("simulation wall time (s)")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata=figure_metadata(os.path.splitext(path)[1][1:].lower()))
    print(f"plot: {path}")


def _save(path: str | None, payload: dict, prov: dict) -> None:
    """Write ``payload`` and the provenance record to ``path`` (JSON), if a path was given."""
    if path:
        from .io import write_json
        write_json(path, {**payload, "provenance": prov})


# options that only one kind of benchmark reads (the others would silently ignore them)
_SINGLE_ONLY = ("trace", "generic", "predictor", "params")
_SUITE_ONLY = ("sizes", "scaling_algorithms", "stretch_n", "no_generic", "plot")
_OPTIMUM_ONLY = ("scale", "processes", "prove_n", "prove_limit")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kvsched bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trace", default="azure_conv")
    ap.add_argument("--algorithms", default="vllm_fcfs,fcfs,mcsf")
    ap.add_argument("--memory", type=int, default=16492, help="KV capacity M (tokens)")
    ap.add_argument("--repeat", type=int, default=1, help="report the best of this many runs")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--generic", action="store_true", help="also time the generic engine (sim.fast: false)")
    ap.add_argument("--predictor", default="oracle",
                    help="NAME[:key=value,...], e.g. noisy:eps=0.5 (default oracle; not used by --suite)")
    ap.add_argument("--params", default="",
                    help="key=value,... given to every algorithm, e.g. check=current,preemption=index (not used by --suite)")
    ap.add_argument("--suite", action="store_true", help="run the benchmark suite (see above)")
    ap.add_argument("--sizes", default="10000,100000,1000000", help="suite: request counts for scaling")
    ap.add_argument("--scaling-algorithms", default="vllm_fcfs,mcsf", help="suite: policies for [2] and [3]")
    ap.add_argument("--stretch-n", type=int, default=10000, help="suite: requests in the output-scale test")
    ap.add_argument("--no-generic", action="store_true", help="suite: skip the generic-engine rows")
    ap.add_argument("--plot", default=None, help="suite: save the scaling plot here")
    ap.add_argument("--optimum", action="store_true", help="time the hindsight-optimum stack (see above)")
    ap.add_argument("--scale", default="full", help="optimum: the mcsf_synthetic preset's scale")
    ap.add_argument("--processes", type=int, default=None, help="optimum: parallel processes (default: preset's)")
    ap.add_argument("--prove-n", type=int, default=PROVE_N, help="optimum: then prove OPT for trials with n <= this (0: skip)")
    ap.add_argument("--prove-limit", type=float, default=PROVE_TIME_LIMIT,
                    help="optimum: CP-SAT deterministic units for each of those proofs")
    a = ap.parse_args(argv)
    mode = "--optimum" if a.optimum else "--suite" if a.suite else "a trace benchmark"
    for opts, used_by in ((_SINGLE_ONLY, "a trace benchmark"), (_SUITE_ONLY, "--suite"), (_OPTIMUM_ONLY, "--optimum")):
        given = [f"--{k.replace('_', '-')}" for k in opts if getattr(a, k) != ap.get_default(k)]
        if given and used_by != mode:      # e.g. --plot without --suite: no plot would be written
            ap.error(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} used only by {used_by}, "
                     f"not by {mode}")
    if a.optimum:
        from .experiments import load_module_spec
        scales = list(load_module_spec("mcsf_synthetic")["params"])
        if a.scale not in scales:
            ap.error(f"--scale {a.scale}: the mcsf_synthetic preset has no such scale; valid: {', '.join(scales)}")
    try:
        a.predictor = parse_predictor(a.predictor)
        a.params = parse_params(a.params, a.algorithms.split(","))
    except (ValueError, ConfigError) as e:
        ap.error(str(e))
    d = resolve_data_dir(a.data_dir)
    prov = provenance()                 # the code version that is timed, not the one at the end
    m = machine()
    print(f"machine: {m['cpu']} ({m['cores']} cores), Python {m['python']}, {m['platform']}")
    if a.optimum:
        res = optimum_bench(a.scale, a.processes, a.prove_n, a.prove_limit)
        _save(a.json, {"machine": m, **res}, prov)
        return 0
    print(f"wall times: best of {a.repeat} run(s)")
    if a.suite:
        res = suite(a, d)
        _save(a.json, {"machine": m, "repeat": a.repeat, **res}, prov)
        return 0
    rows = []
    for alg in a.algorithms.split(","):
        rows.append(bench_one(a.trace, alg, a.memory, a.repeat, d, predictor=a.predictor, params=a.params))
        if a.generic:
            rows.append(bench_one(a.trace, alg, a.memory, a.repeat, d, fast=False, predictor=a.predictor,
                                  params=a.params))
    _print_rows(rows, "trace")
    _save(a.json, {"machine": m, "results": rows}, prov)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
