"""Property tests for the theory-paper algorithms: memory never exceeds M, every request
ends exactly once, event skipping matches the round-by-round reference exactly."""

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from helpers import sim
from test_properties import check, instances

# algorithm -> predictors it is run with (interval policies need intervals; hsf the oracle)
THEORY = {
    "amax": [{"name": "interval", "alpha": 0.4}],
    "amin": [{"name": "interval", "alpha": 0.4}, {"name": "interval", "alpha": 0.15, "rho": "low"}],
    "hsf": [{"name": "oracle"}],
    "sorted_f": [{"name": "oracle"}, {"name": "noisy", "eps": 0.6}],
    "gsa": [{"name": "oracle"}],
    "gba": [{"name": "oracle"}, {"name": "noisy", "eps": 0.6}],
}
# variants run in the same property test: (algorithm, params)
VARIANTS = [("sorted_f", {"candidates": "windows"}), ("sorted_f", {"overlap": True}),
            ("sorted_f", {"overlap": True, "candidates": "windows"}), ("amin", {"ties": "newest"}),
            ("gsa", {"stagger": False}), ("gsa", {"beta": 1.5, "l0": 3.0, "order": "prompt"}),
            ("gsa", {"late": "join"}), ("gba", {"stagger": False}),
            ("gba", {"beta": 3.0, "l0": 2.0, "order": "fcfs"}), ("gba", {"late": "join"})]


def _run_both(w, M, algo, pred, **params):
    mems = []
    ref = sim(w, algo, M, predictor=pred, step=True, seed=3,
              on_advance=lambda c, k, b, kv, r: mems.append(kv + b * (k - 1)), **params)
    check(ref, w, M, mems)
    fast = sim(w, algo, M, predictor=pred, seed=3, **params)
    for a, b in [(ref.completion, fast.completion), (ref.first_token, fast.first_token),
                 (ref.evictions, fast.evictions), (ref.wasted_decode, fast.wasted_decode)]:
        assert np.array_equal(a, b, equal_nan=True)
    return ref


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances(), algo=st.sampled_from(sorted(THEORY)), which=st.integers(0, 7))
def test_theory_memory_exactly_once_and_skipping(inst, algo, which):
    w, M = inst
    preds = THEORY[algo]
    _run_both(w, M, algo, preds[which % len(preds)])


@settings(max_examples=60, deadline=None)
@given(inst=instances(), alpha=st.floats(0.05, 1.0))
def test_amax_never_evicts(inst, alpha):
    w, M = inst
    rec = sim(w, "amax", M, predictor={"name": "interval", "alpha": alpha})
    assert rec.evictions.sum() == 0


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=instances(), v=st.sampled_from(VARIANTS), which=st.integers(0, 7))
def test_theory_variants(inst, v, which):
    w, M = inst
    algo, params = v
    preds = THEORY[algo]
    _run_both(w, M, algo, preds[which % len(preds)], **params)


@settings(max_examples=60, deadline=None)
@given(inst=instances(), algo=st.sampled_from(["gba", "sorted_f", "hsf"]))
def test_exact_plans_never_evict(inst, algo):
    w, M = inst
    assert sim(w, algo, M).evictions.sum() == 0


@settings(max_examples=60, deadline=None)
@given(inst=instances(), beta=st.sampled_from([1.5, 2.0, 3.0]), l0=st.sampled_from([1.0, 2.0, 5.0]))
def test_gsa_kills_exactly_at_budgets(inst, beta, l0):
    # offline (all at 0): a job that fits is started in every phase until its budget L_k
    # reaches o (budgets capped at M - s), and is killed only at the end of each budget:
    # evictions = #{k: L_k < o}, wasted tokens = sum of those L_k. No overflow eviction.
    from kvsched.policies.geometric import budget
    w, M = inst
    w = w.with_arrivals(np.zeros(len(w)))
    rec = sim(w, "gsa", M, beta=beta, l0=l0)
    for i in range(len(w)):
        s, o = int(w.prompt[i]), int(w.output[i])
        if s + o > M:
            continue
        kills = [b for b in (budget(l0, beta, k) for k in range(64)) if b < o and b < M - s]
        assert rec.evictions[i] == len(kills)
        assert rec.wasted_decode[i] == sum(kills)
