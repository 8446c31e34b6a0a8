"""Property tests: memory never exceeds M, each request ends exactly once, event skipping
matches the round-by-round reference bit for bit."""

import numpy as np
from hypothesis import given, settings, strategies as st, HealthCheck

from helpers import instances, linear, sim
from kvsched.policies import list_policies
from kvsched.sim.engine import REJECT_KV, REJECT_PROMPT

NON_PREEMPTIVE = ["fcfs", "sf", "mcsf"]


def check(rec, w, M, mems):
    assert max(mems, default=0) <= M
    done = ~np.isnan(rec.completion)
    rej = np.array([r is not None for r in rec.reject_reason])
    assert np.all(done ^ rej), "every request ends exactly once"
    # a request is rejected if and only if it can never fit (s + o > M), and the reason says
    # whether its prompt alone was too large (s + 1 > M) or it outgrew memory running alone
    assert np.array_equal(rej, (w.prompt + w.output) > M)
    reasons = [r for r in rec.reject_reason if r is not None]
    assert reasons == [REJECT_PROMPT if s + 1 > M else REJECT_KV for s in w.prompt[rej]]
    # completed requests ran their full output after their last start
    assert np.all(rec.completion[done] >= rec.last_start[done] + w.output[done] - 1e-9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances(), algo=st.sampled_from(["fcfs", "sf", "mcsf", "vllm_fcfs", "sglang_fcfs", "alpha_protection",
                                               "alpha_clearing"]),
       noisy=st.booleans())
def test_memory_and_exactly_once(inst, algo, noisy):
    w, M = inst
    pred = {"name": "noisy", "eps": 0.6} if noisy else {"name": "oracle"}
    mems = []
    rec = sim(w, algo, M, predictor=pred, step=True,
              on_advance=lambda c, k, b, kv, r: mems.append(kv + b * (k - 1)))
    check(rec, w, M, mems)
    fast = sim(w, algo, M, predictor=pred)
    for a, b in [(rec.completion, fast.completion), (rec.first_token, fast.first_token),
                 (rec.evictions, fast.evictions)]:
        assert np.array_equal(a, b, equal_nan=True)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances(), algo=st.sampled_from(NON_PREEMPTIVE), check_=st.sampled_from(["future_peak", "current"]),
       noisy=st.booleans())
def test_scan_skip_matches_stepping(inst, algo, check_, noisy):
    # scan: skip looks ahead over every waiting request, not only the head
    w, M = inst
    if algo == "mcsf" and check_ == "current":
        check_ = "future_peak"
    pred = {"name": "noisy", "eps": 0.6} if noisy else {"name": "oracle"}
    kw = dict(predictor=pred, scan="skip", check=check_)
    a, b = sim(w, algo, M, step=True, **kw), sim(w, algo, M, **kw)
    for x, y in [(a.completion, b.completion), (a.first_token, b.first_token), (a.evictions, b.evictions)]:
        assert np.array_equal(x, y, equal_nan=True)
    assert b.decisions <= a.decisions


@settings(max_examples=60, deadline=None)
@given(inst=instances(), algo=st.sampled_from(NON_PREEMPTIVE))
def test_exact_predictions_never_evict(inst, algo):
    w, M = inst
    rec = sim(w, algo, M)
    assert rec.evictions.sum() == 0


@settings(max_examples=60, deadline=None)
@given(inst=instances(), algo=st.sampled_from(["fcfs", "mcsf", "vllm_fcfs"]))
def test_event_skipping_matches_stepping_with_latency_model(inst, algo):
    w, M = inst
    w = w.with_arrivals(w.arrival * 1.37, "s")
    lat = linear(c0=0.3, c_p=0.01, c_d=0.05, c_kv=0.002, power_w=500.0)
    a = sim(w, algo, M, latency=lat, step=True, predictor={"name": "noisy", "eps": 0.4})
    b = sim(w, algo, M, latency=lat, predictor={"name": "noisy", "eps": 0.4})
    assert np.allclose(a.completion, b.completion, equal_nan=True, rtol=1e-12, atol=1e-9)
    assert np.allclose(a.first_token, b.first_token, equal_nan=True, rtol=1e-12, atol=1e-9)
    assert np.isclose(a.energy_j, b.energy_j, rtol=1e-9)
    assert np.isclose(a.memory_time_sum, b.memory_time_sum, rtol=1e-9)


def test_all_registered_policies_are_covered():
    assert set(list_policies()) >= {"fcfs", "sf", "mcsf", "vllm_fcfs", "alpha_protection", "alpha_clearing"}
