"""What a predictor returns is checked, on the fast path and the generic engine alike, and a
predictor is handed the true lengths only if it asks for them."""

import numpy as np
import pytest

from helpers import wl
from kvsched.errors import SimulationError
from kvsched.latency.base import unit_rounds
from kvsched.policies import build_policy
from kvsched.predictors import build_predictor
from kvsched.predictors.base import MAX_PREDICTION, Predictions, Predictor, checked_predictions
from kvsched.sim.engine import simulate

W = wl([2, 3, 1, 4], [5, 2, 7, 3], arrival=[0, 0, 1, 2])


class Returns(Predictor):
    """A test predictor returning ``make(n)`` for ``n`` arriving requests."""

    name = "returns"

    def __init__(self, make):
        super().__init__()
        self.make = make
        self.truth_seen = []

    def predict(self, ids, prompt, texts, truth):
        self.truth_seen.append(truth)
        return self.make(len(ids))


def run(pred, algorithm="mcsf", fast=True):
    pol = build_policy({"name": algorithm}, capacity=20)
    return simulate(W, pol, pred, 20, unit_rounds(), fast=fast)


BAD = [
    (lambda n: np.ones(n), "returned ndarray; predict must return Predictions"),
    (lambda n: Predictions(np.full(n, np.nan)), "point holds NaN or infinite values"),
    (lambda n: Predictions(np.full(n, np.inf)), "point holds NaN or infinite values"),
    (lambda n: Predictions(np.full(n, -5)), "point holds negative lengths"),
    (lambda n: Predictions(np.ones(n + 1)), r"point has shape \(\d+,\) for \d+ arriving requests"),
    (lambda n: Predictions(np.ones(n), lo=np.full(n, 9), hi=np.full(n, 2)), "interval lo > hi"),
    (lambda n: Predictions(np.ones(n), lo=np.ones(n)), "needs both lo and hi"),
    (lambda n: Predictions(np.ones(n, dtype=np.int64), hi=np.ones(n)), "needs both lo and hi"),
    (lambda n: Predictions(np.ones(n), quantiles=np.ones((n, 3))), r"quantiles has shape \(\d+, 3\)"),
]


@pytest.mark.parametrize("make,expect", BAD)
@pytest.mark.parametrize("fast", [True, False])
def test_bad_predictions_are_named_on_both_paths(make, expect, fast):
    pred = Returns(make)
    with pytest.raises(SimulationError, match=f"predictor 'returns'.*{expect}|predictor 'returns': {expect}"):
        run(pred, fast=fast)


def test_good_predictions_run_alike_on_both_paths():
    recs = [run(Returns(lambda n: Predictions(np.full(n, 3.0))), fast=f) for f in (True, False)]
    assert np.array_equal(recs[0].completion, recs[1].completion)


@pytest.mark.parametrize("fast", [True, False])
def test_huge_predictions_are_capped_not_wrapped_around(fast):
    # a float beyond int64 was cast to its minimum, then floored at 1: the longest prediction
    # became the shortest, and shortest-first ran that request first
    class Long(Predictor):
        name = "returns"

        def predict(self, ids, prompt, texts, truth):
            return Predictions(np.where(ids == 0, self.huge, 3.0))

    w = wl([4, 4], [2, 2])
    recs = []
    for huge in (1e30, 1e9):
        p = Long()
        p.huge = huge
        recs.append(simulate(w, build_policy({"name": "sf"}, capacity=10), p, 10, unit_rounds(), fast=fast))
    assert recs[0].completion.tolist() == recs[1].completion.tolist() == [4, 2]
    assert recs[0].evictions.sum() == 0
    p = checked_predictions(Long(), Predictions(np.array([1e30, 3.0])), 2)
    assert p[0].tolist() == [MAX_PREDICTION, 3]


def test_noisy_predictions_never_wrap_around():
    o = np.array([1, 10, 1000])
    p = build_predictor({"name": "noisy", "eps": 100.0, "dist": "lognormal"}, seed=0)
    pt = np.concatenate([p.predict(np.arange(3), o * 0, [None] * 3, o).point for _ in range(50)])
    assert pt.min() >= 1 and pt.max() <= MAX_PREDICTION and (pt == MAX_PREDICTION).any()


def test_a_predictor_gets_the_truth_only_if_it_asks():
    pred = Returns(lambda n: Predictions(np.ones(n)))
    run(pred)
    assert pred.truth_seen and all(t is None for t in pred.truth_seen)

    class Asks(Returns):
        uses_truth = True
    pred = Asks(lambda n: Predictions(np.ones(n)))
    run(pred)
    assert any(t is not None and len(t) for t in pred.truth_seen)
