"""Calibration of the latency model from measured engine rounds (no torch needed)."""

import numpy as np
import pandas as pd
import pytest

from kvsched.errors import DataError
from kvsched.latency.fit import fit_from_iterations, iteration_errors


def _rounds(n=400, noise=0.0, seed=0):
    g = np.random.default_rng(seed)
    pre = np.where(g.random(n) < 0.2, g.integers(1, 300, n), 0)
    b = g.integers(1, 20, n)
    kv = b * g.integers(10, 200, n)
    d = 2e-3 + 5e-5 * pre + 3e-4 * b + 1e-6 * kv
    return pd.DataFrame({"prefill_tokens": pre, "batch": b, "kv_tokens": kv,
                         "duration": d * (1 + noise * g.standard_normal(n))})


@pytest.mark.parametrize("weight", ["absolute", "relative"])
def test_fit_recovers_known_coefficients(weight):
    lat, rep = fit_from_iterations(_rounds(), weight=weight)
    assert [lat.c0, lat.c_p, lat.c_d, lat.c_kv] == pytest.approx([2e-3, 5e-5, 3e-4, 1e-6], rel=1e-6)
    assert rep["rows"] == 400 and rep["in_sample"]["rounds"]["max"] < 1e-9


def test_weight_selects_the_residuals_minimised():
    """On noisy rounds each weighting wins on its own objective: the absolute fit has the smaller
    sum of squared residuals in seconds, the relative fit the smaller one of relative residuals.
    Noiseless rounds (above) are fitted exactly by both, so they cannot tell them apart."""
    it = _rounds(noise=0.3, seed=3)
    X = it[["prefill_tokens", "batch", "kv_tokens"]].to_numpy(float)
    y = it["duration"].to_numpy(float)
    fits = {w: fit_from_iterations(it, weight=w) for w in ("absolute", "relative")}
    pred = {w: lat.c0 + X @ [lat.c_p, lat.c_d, lat.c_kv] for w, (lat, _) in fits.items()}
    sse = {w: np.sum((p - y) ** 2) for w, p in pred.items()}
    rel = {w: np.sum((p / y - 1) ** 2) for w, p in pred.items()}
    assert sse["absolute"] < sse["relative"] and rel["relative"] < rel["absolute"], (sse, rel)
    assert [r["weight"] for _, r in fits.values()] == ["absolute", "relative"]


def test_fit_with_noise_keeps_total_time_and_reports_errors():
    it = _rounds(noise=0.1, seed=1)
    lat, rep = fit_from_iterations(it)
    assert abs(rep["in_sample"]["total_time"]) < 0.02
    held = iteration_errors(lat, _rounds(noise=0.1, seed=2))
    assert 0.03 < held["rounds"]["mean"] < 0.2 and abs(held["total_time"]) < 0.03


def test_fit_needs_rounds_and_columns():
    with pytest.raises(DataError):
        fit_from_iterations(_rounds(3))
    with pytest.raises(DataError, match="kv_tokens"):
        fit_from_iterations(_rounds().drop(columns="kv_tokens"))
