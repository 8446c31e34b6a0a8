"""Quality of distributional (and point) output-length predictions.

All scores are in tokens. With quantiles ``q_k`` at levels ``tau_k``
(:data:`~kvsched.predictors.base.QUANTILE_LEVELS`) and truth ``y``:

* pinball loss ``L_k = max(tau_k (y - q_k), (tau_k - 1)(y - q_k))``, averaged over levels;
* CRPS ~= 2 x mean pinball loss (the CRPS is ``2 * integral of L_tau d tau``; the midpoint
  levels make the mean a midpoint-rule approximation). A point prediction is a point mass,
  whose CRPS is its absolute error;
* calibration: coverage ``P(y <= q_k)`` per level against ``tau_k``; we report the mean
  absolute gap and the coverage of the central interval [q at level ~0.12, q at ~0.88];
* MAE of the median, and Spearman rank correlation of the median with the truth (what a
  shortest-first ordering needs).

:func:`replay_online` produces scheduler-independent predictions: requests arrive in
order, and the predictor learns a request's length once ``lag`` later requests have
arrived (a stand-in for the delay until completion).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from ..workload import Workload
from .base import MEDIAN_INDEX, QUANTILE_LEVELS, Predictor


def replay_online(w: Workload, predictor: Predictor, *, lag: int = 64, batch: int = 8,
                  text: bool = True) -> np.ndarray:
    """(n, Q) quantile predictions made online: predict ``batch`` arrivals at a time, then
    reveal the lengths of requests that are ``lag`` or more arrivals old. ``text=False``
    hides the prompt texts (history-only)."""
    n = len(w)
    texts = w.text if (text and w.text is not None) else [None] * n
    out = np.zeros((n, len(QUANTILE_LEVELS)), dtype=np.int64)
    seen = 0
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        upto = max(0, hi - lag)
        if upto > seen:
            ids = np.arange(seen, upto)
            predictor.observe(ids, w.prompt[ids], [texts[i] for i in ids], w.output[ids])
            seen = upto
        ids = np.arange(lo, hi)
        truth = w.output[ids] if predictor.uses_truth else None
        p = predictor.predict(ids, w.prompt[ids], [texts[i] for i in ids], truth)
        out[ids] = p.quantiles if p.quantiles is not None else np.asarray(p.point)[:, None]
    return out


def quantile_scores(q: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Scores of quantile predictions ``q`` (n, Q) against truths ``y`` (n,)."""
    q = np.asarray(q, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)[:, None]
    tau = QUANTILE_LEVELS[None, :]
    d = y - q
    pin = np.maximum(tau * d, (tau - 1.0) * d)
    cover = (y <= q).mean(axis=0)
    lo, hi = 2, len(QUANTILE_LEVELS) - 3
    med = q[:, MEDIAN_INDEX]
    rho = spearmanr(med, y[:, 0]).statistic if np.ptp(med) > 0 else 0.0
    return {
        "pinball": float(pin.mean()),
        "crps": float(2.0 * pin.mean()),
        "mae_median": float(np.abs(d[:, MEDIAN_INDEX]).mean()),
        "calib_gap": float(np.abs(cover - QUANTILE_LEVELS).mean()),
        "interval_nominal": float(QUANTILE_LEVELS[hi] - QUANTILE_LEVELS[lo]),
        "interval_coverage": float(((y[:, 0] >= q[:, lo]) & (y[:, 0] <= q[:, hi])).mean()),
        "spearman_median": float(rho),
    }
