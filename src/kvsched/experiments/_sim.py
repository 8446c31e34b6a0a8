"""Helpers shared by the module experiments: one simulation -> one tidy row."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..latency.base import unit_rounds
from ..policies import build_policy
from ..predictors import build_predictor
from ..sim.engine import simulate
from ..workload import Workload


def offline(w: Workload, M: int) -> Workload:
    """All requests at round 0 (unit rounds), keeping only those that fit alone in M."""
    keep = np.flatnonzero(w.prompt + w.output <= M)
    w = w.subset(keep)
    return Workload(np.zeros(len(w)), w.prompt, w.output, w.name, "rounds", None, dict(w.meta))


def run_one(w: Workload, algorithm: dict[str, Any], predictor: dict[str, Any], M: int, seed: int = 0) -> dict:
    """Simulate in unit rounds; total latency sum(c - a) over the requests (all must complete)."""
    pol = build_policy(algorithm, capacity=M, seed=seed + 1)
    pred = build_predictor(predictor, seed=seed + 2)
    rec = simulate(w, pol, pred, M, unit_rounds())
    done = ~np.isnan(rec.completion)
    if not np.all(done):
        raise RuntimeError(f"{algorithm['name']}: {int((~done).sum())} request(s) did not complete")
    lat = rec.completion - w.arrival
    return {"total_latency": float(np.sum(lat)), "mean_latency": float(np.mean(lat)),
            "makespan": float(rec.makespan), "evictions": int(rec.evictions.sum()),
            "wasted_tokens": int(rec.wasted_decode.sum()), "peak_memory": int(rec.peak_memory)}


def label(algorithm: dict[str, Any]) -> str:
    """A short name: the algorithm plus any non-default parameters, e.g. ``sorted_f[windows]``.
    A boolean parameter shows its key (``sorted_f[windows,overlap]``; ``no_overlap`` when
    false), since a bare ``True`` does not say which switch is on."""
    extra = [(k if v else f"no_{k}") if isinstance(v, bool) else str(v)
             for k, v in algorithm.items() if k != "name"]
    return algorithm["name"] + (f"[{','.join(extra)}]" if extra else "")
