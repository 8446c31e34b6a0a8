"""The fast path (sim/fast.py) is an optimisation of the built-in policies' rules: it must give
bit-identical run records to the generic engine, which consults the policy objects."""

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from helpers import instances, linear, wl
from kvsched.errors import SimulationError
from kvsched.latency.base import unit_rounds
from kvsched.policies import build_policy
from kvsched.predictors import build_predictor
from kvsched.sim.engine import Simulator, simulate

FIELDS = ["first_start", "last_start", "first_token", "completion", "evictions", "wasted_decode",
          "wasted_prefill"]
SCALARS = ["makespan", "rounds", "busy_time", "peak_memory", "memory_round_sum", "memory_time_sum",
           "energy_j", "decisions", "time_unit"]

FAST_POLICIES = [
    {"name": "vllm_fcfs"}, {"name": "vllm_fcfs", "watermark": 0.1}, {"name": "vllm_fcfs", "max_num_seqs": 3},
    {"name": "alpha_protection", "alpha": 0.3}, {"name": "fcfs"}, {"name": "sf"}, {"name": "mcsf"},
]
PREDICTORS = [{"name": "oracle"}, {"name": "noisy", "eps": 0.5}, {"name": "noisy", "eps": 0.8, "dist": "lognormal"}]


def run_both(w, algo, M, pred, lat):
    recs = []
    for fast in (True, False):
        pol = build_policy(dict(algo), capacity=M, seed=3)
        sim = Simulator(w, pol, build_predictor(dict(pred), seed=4), M, lat, fast=fast)
        assert sim.uses_fast_path() == fast
        try:
            recs.append(sim.run())
        except SimulationError as e:  # e.g. a deadlock: both paths must fail alike
            recs.append((type(e), str(e)))
    return recs


def assert_identical(a, b):
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert a == b
        return
    for f in FIELDS:
        assert np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True), f
    for f in SCALARS:
        assert getattr(a, f) == getattr(b, f), f
    assert a.reject_reason == b.reject_reason


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances(max_n=30, max_M=60, max_s=12, max_o=25, gaps=(0, 0, 0.5, 1, 3, 7, 20)), algo=st.sampled_from(FAST_POLICIES), pred=st.sampled_from(PREDICTORS),
       timed=st.booleans())
def test_fast_path_is_bit_identical_on_random_instances(inst, algo, pred, timed):
    w, M = inst
    lat = unit_rounds()
    if timed:
        w = w.with_arrivals(w.arrival * 1.37, "s")
        lat = linear(c0=0.3, c_p=0.01, c_d=0.05, c_kv=0.002, power_w=500.0)
    assert_identical(*run_both(w, algo, M, pred, lat))


def test_fast_path_is_bit_identical_on_a_real_trace_slice(data_dir):
    from kvsched.latency import build_latency
    from kvsched.traces import load_trace
    full = load_trace({"name": "azure_conv"}, data_dir, 0)
    lat = build_latency({"name": "splitwise_fit", "model": "llama2-70b", "hardware": "a100-80gb",
                         "tensor_parallel": 2}, data_dir)
    w = full.subset(np.arange(400))
    for algo in FAST_POLICIES:
        for pred in PREDICTORS[:2]:
            a, b = run_both(w, algo, 6000, pred, lat)
            assert not isinstance(a, tuple), (algo, pred, a)   # this slice runs: no failure to compare
            assert_identical(a, b)


def test_fast_path_is_not_used_where_it_does_not_apply():
    w = wl([1, 2], [3, 4])
    cases = [({"name": "mcsf"}, dict(step_mode=True)), ({"name": "mcsf"}, dict(on_advance=lambda *a: None)),
             ({"name": "fcfs", "eviction": "least_progress"}, {}), ({"name": "sf", "check": "current"}, {}),
             ({"name": "alpha_clearing"}, {})]
    for algo, kw in cases:
        pol = build_policy(algo, capacity=10, seed=0)
        assert not Simulator(w, pol, build_predictor({"name": "oracle"}), 10, unit_rounds(), **kw).uses_fast_path()
    rec = simulate(w, build_policy({"name": "mcsf"}, capacity=10), build_predictor({"name": "oracle"}), 10,
                   unit_rounds(), fast=False)
    assert np.all(np.isfinite(rec.completion))
