"""Simulator throughput benchmarks.

``kvsched bench [--algorithms fcfs,mcsf,vllm_fcfs] [--trace azure_conv] [--repeat 1] [--json PATH]``

Runs full traces through the simulator (latency model: Llama-2-70B on 2xA100) and prints
wall time, simulated requests per second and simulated rounds per second, with the
machine it ran on. Trace loading is timed separately and excluded from the rates.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from .datastore import resolve_data_dir
from .latency import build_latency
from .policies import build_policy
from .predictors import build_predictor
from .provenance import provenance
from .sim.engine import simulate
from .traces import load_trace


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


def bench_one(trace: str, algorithm: str, capacity: int, repeat: int, data_dir) -> dict:
    t0 = time.perf_counter()
    wl = load_trace({"name": trace}, data_dir, 0)
    load_s = time.perf_counter() - t0
    lat = build_latency({"name": "splitwise_fit", "model": "llama2-70b", "hardware": "a100-80gb",
                         "tensor_parallel": 2}, data_dir)
    best = None
    for _ in range(repeat):
        pol = build_policy({"name": algorithm}, capacity=capacity, seed=1)
        pred = build_predictor({"name": "oracle"}, seed=2)
        t1 = time.perf_counter()
        rec = simulate(wl, pol, pred, capacity, lat)
        dt = time.perf_counter() - t1
        best = dt if best is None else min(best, dt)
    return {"trace": trace, "algorithm": algorithm, "memory": capacity, "requests": len(wl),
            "rounds": rec.rounds, "policy_decisions": rec.decisions, "load_s": round(load_s, 3),
            "wall_s": round(best, 3), "requests_per_s": round(len(wl) / best, 1),
            "rounds_per_s": round(rec.rounds / best, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kvsched bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trace", default="azure_conv")
    ap.add_argument("--algorithms", default="vllm_fcfs,fcfs,mcsf")
    ap.add_argument("--memory", type=int, default=16492, help="KV capacity M (tokens)")
    ap.add_argument("--repeat", type=int, default=1, help="report the best of this many runs")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--data-dir", default=None)
    a = ap.parse_args(argv)
    d = resolve_data_dir(a.data_dir)
    rows = [bench_one(a.trace, alg, a.memory, a.repeat, d) for alg in a.algorithms.split(",")]
    m = machine()
    print(f"machine: {m['cpu']} ({m['cores']} cores), Python {m['python']}")
    print(f"{'trace':12s} {'algorithm':10s} {'M':>6s} {'requests':>8s} {'rounds':>8s} {'wall s':>8s} "
          f"{'req/s':>9s} {'rounds/s':>10s}")
    for r in rows:
        print(f"{r['trace']:12s} {r['algorithm']:10s} {r['memory']:6d} {r['requests']:8d} {r['rounds']:8d} "
              f"{r['wall_s']:8.2f} {r['requests_per_s']:9.0f} {r['rounds_per_s']:10.0f}")
    if a.json:
        from .io import write_json
        write_json(a.json, {"machine": m, "results": rows, "provenance": provenance()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
