"""Small builders shared by the tests."""

from __future__ import annotations

import numpy as np

from kvsched.latency.base import LinearLatency, unit_rounds
from kvsched.policies import build_policy
from kvsched.predictors import build_predictor
from kvsched.sim.engine import simulate
from kvsched.workload import Workload


def wl(prompt, output, arrival=None, unit="rounds"):
    n = len(prompt)
    return Workload(np.zeros(n) if arrival is None else np.asarray(arrival, float), np.asarray(prompt),
                    np.asarray(output), time_unit=unit)


def sim(w, algorithm, M, predictor=None, latency=None, step=False, seed=0, on_advance=None, **params):
    pol = build_policy({"name": algorithm, **params}, capacity=M, seed=seed, latency=latency)
    pred = build_predictor(predictor or {"name": "oracle"}, seed=seed)
    return simulate(w, pol, pred, M, latency or unit_rounds(), step_mode=step, on_advance=on_advance)


def linear(c0=1.0, c_p=0.1, c_d=0.5, c_kv=0.01, power_w=None):
    return LinearLatency(c0=c0, c_p=c_p, c_d=c_d, c_kv=c_kv, power_w=power_w)
