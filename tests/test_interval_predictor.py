"""The interval predictor: o in [lo, hi] always, lo/hi close to alpha, point choices."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from kvsched.errors import ConfigError
from kvsched.predictors import build_predictor
from kvsched.predictors.base import MAX_PREDICTION
from kvsched.predictors.interval import make_intervals


@settings(max_examples=200, deadline=None)
@given(o=st.lists(st.integers(1, 100000), min_size=1, max_size=40),
       alpha=st.floats(0.01, 1.0), rho=st.sampled_from(["uniform", "low", "high"]), seed=st.integers(0, 10))
def test_interval_contains_truth(o, alpha, rho, seed):
    o = np.asarray(o)
    p = build_predictor({"name": "interval", "alpha": alpha, "rho": rho}, seed=seed)
    pr = p.predict(np.arange(len(o)), np.zeros(len(o), int), [None] * len(o), o)
    assert np.all(pr.lo >= 1) and np.all(pr.lo <= o) and np.all(o <= pr.hi)
    # hi = ceil(lo/alpha): lo/hi <= alpha (up to float error) and lo/hi >= alpha*lo/(lo+alpha)
    ratio = pr.lo / pr.hi
    assert np.all(ratio <= alpha + 1e-9)
    assert np.all(ratio >= alpha * pr.lo / (pr.lo + alpha) - 1e-9)


def test_accuracy_approaches_alpha_for_long_outputs():
    o = np.full(1000, 5000)
    pr = build_predictor({"name": "interval", "alpha": 0.3}, seed=1).predict(np.arange(1000), o * 0, [None] * 1000, o)
    assert np.allclose(pr.lo / pr.hi, 0.3, atol=1e-3)


def test_hand_computed_intervals():
    # o=10, alpha=0.5: rho=0.5 -> lo=5, hi=10 (o at the top); rho=1 -> lo=10, hi=20 (o at the bottom)
    lo, hi = make_intervals(np.array([10, 10]), 0.5, np.array([0.5, 1.0]))
    assert lo.tolist() == [5, 10] and hi.tolist() == [10, 20]
    # o=7, alpha=0.3, rho=0.4: lo = ceil(2.8) = 3, hi = ceil(10) = 10
    lo, hi = make_intervals(np.array([7]), 0.3, np.array([0.4]))
    assert (lo[0], hi[0]) == (3, 10)


@pytest.mark.parametrize("point,expect", [("lo", 5), ("hi", 10), ("mid", 8), ("geometric", 7)])
def test_point_choice(point, expect):
    # rho=low: o=10, alpha=0.5 -> [5, 10]; mid = round(7.5) = 8; geometric = round(sqrt(50)) = 7
    p = build_predictor({"name": "interval", "alpha": 0.5, "rho": "low", "point": point})
    pr = p.predict(np.arange(1), np.zeros(1, int), [None], np.array([10]))
    assert pr.point[0] == expect


def test_alpha_one_is_exact_and_bad_values_rejected():
    o = np.array([1, 2, 30])
    pr = build_predictor({"name": "interval", "alpha": 1.0}).predict(np.arange(3), o * 0, [None] * 3, o)
    assert pr.lo.tolist() == o.tolist() and pr.hi.tolist() == o.tolist()
    for bad in ({"alpha": 0.0}, {"alpha": 1.5}, {"rho": "x"}, {"point": "max"}):
        with pytest.raises(ConfigError):
            build_predictor({"name": "interval", **bad})


def test_tiny_alpha_caps_hi_instead_of_wrapping_around():
    # lo / alpha beyond int64: hi was cast to a negative number, then raised to o, an exact upper end
    o = np.array([1, 50, 1000])
    pr = build_predictor({"name": "interval", "alpha": 1e-20, "rho": "high"}).predict(np.arange(3), o * 0,
                                                                                      [None] * 3, o)
    assert pr.lo.tolist() == o.tolist()
    assert pr.hi.tolist() == [MAX_PREDICTION] * 3
