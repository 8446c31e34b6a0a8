"""Small builders shared by the tests."""

from __future__ import annotations

import os

import numpy as np

from kvsched.latency.base import LinearLatency, unit_rounds
from kvsched.policies import build_policy
from kvsched.policies.base import Policy
from kvsched.predictors import build_predictor
from kvsched.sim.engine import simulate
from kvsched.workload import Workload


def data_is_required() -> bool:
    """Whether missing reference data fails the tests that need it instead of skipping them: so
    when KVSCHED_DATA_DIR names where the data is (as where the suite runs with the data), a
    missing or moved file cannot turn those tests into silent skips."""
    return bool(os.environ.get("KVSCHED_DATA_DIR"))


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


def instances(max_n=12, max_M=40, max_s=8, max_o=15, gaps=(0, 0, 0.5, 1, 3, 7)):
    """Hypothesis strategy: a small random workload (unit rounds) and a memory limit M."""
    from hypothesis import strategies as st

    @st.composite
    def draw_instance(draw):
        n = draw(st.integers(1, max_n))
        M = draw(st.integers(4, max_M))
        s = draw(st.lists(st.integers(0, max_s), min_size=n, max_size=n))
        o = draw(st.lists(st.integers(1, max_o), min_size=n, max_size=n))
        g = draw(st.lists(st.sampled_from(list(gaps)), min_size=n, max_size=n))
        return wl(s, o, arrival=np.cumsum(g)), M

    return draw_instance()


class Thrash(Policy):
    """Admits the first waiting request, then evicts the whole batch before the next round: a livelock."""
    name = "thrash"
    voluntary_preemption = True

    def admit(self, view):
        return [int(view.waiting[0])] if len(view.waiting) else []

    def preempt(self, view):
        return [int(i) for i in view.running]


class ClaimRecorder:
    """Stands in for an experiment's context where only its report rows are wanted: ``claim``
    records each row (:func:`kvsched.experiments.make_claim`) under its id in ``rows``."""

    def __init__(self, params: dict | None = None):
        self.params = dict(params or {})
        self.rows: dict[str, dict] = {}

    def claim(self, id, paper, claim, paper_value, ours, reproduced, note="", figure=None):
        from kvsched.experiments import make_claim
        self.rows[id] = make_claim(id, paper, claim, paper_value, ours, reproduced, note, figure)
