"""Fit the linear round-time model to the Splitwise performance measurements.

Data: ``splitwise_perf_model/perf_model.csv`` (Mutinifni/splitwise-sim). One row per run
of a batch of ``batch_size`` identical requests (``prompt_size`` prompt tokens, up to
``token_size`` output tokens) on ``tensor_parallel`` GPUs of type ``hardware``.

What the data show (checked on the file; the numbers are for llama2-70b/a100-80gb/TP2
unless said otherwise):

* The design is one-factor-at-a-time around (prompt 512, batch 1, tokens 128): per
  (model, hardware, tensor_parallel) triple 19 configurations, 5 repetitions each (the
  centre point, shared by the three sweeps, 15).
* ``prompt_time`` (ms) is the prefill iteration of the whole batch: it scales with
  ``batch_size * prompt_size`` (0.34-0.41 ms per prompt token from 512 to 16k batch
  tokens, e.g. 197 ms for 1x512, 1597 ms for 8x512, 2990 ms for 1x8192). Batching B
  prompts costs 8-23 % more than one prompt of the same total length. Short prefills hit a
  floor: 1x128 takes 81 ms, more than a decode iteration (54 ms), so prefill is not linear
  in its tokens at the small end (memory-bound weight reads); at TP 4-8 and for BLOOM the
  largest prefills grow faster than linearly (A100/TP8: 8x512 768 ms, 16x512 2084 ms).
  A line sharing ``c0`` with decode cannot follow either end: most of the fit error is
  there (prefill errors 10-21 % mean, up to 47 % at the extremes; decode within 8 %).
* ``token_time`` (ms) is the mean time of one decode iteration of the whole batch (every
  request gains one token): ``e2e_time ~= prompt_time + (token_size - 1) * token_time``
  within 1.1 % for every token_size=128 configuration except batches 32 (1.17x) and 64 at
  TP2, and it grows only mildly with the batch (55 ms at B=1, 72 ms at B=32), so it is not a
  per-request share. Run-to-run noise is visible: at (512, 1) token_time is 54.9 ms for
  token_size 128 but 59.7-60.4 ms for every larger token_size, a 9 % step that the KV size
  cannot explain; decode errors of that order are at the noise level.
* For ``token_size >= 1024`` (sometimes 512) ``e2e_time`` is far below that identity:
  generation stopped early (EOS or the context limit), and ``token_time`` is the mean over
  the tokens actually generated. We infer that count as
  ``n_gen = 1 + (e2e_time - prompt_time) / token_time`` (clipped to [1, token_size]) and
  use the mean decode KV context ``prompt_size + n_gen / 2`` per request.
* Batch 64 at TP2 (llama2-70b on a100 and h100): ``prompt_time`` is 794 ms (361 ms on
  H100), far below batch 32's 6633 ms, and ``e2e_time`` is 14-17x the identity above: the
  batch did not run as one batch. Configurations whose ``e2e_time`` exceeds the identity by
  more than ``E2E_INCONSISTENCY`` (1.5x) are excluded and listed in the report.
* ``h100-80gb-pcap`` equals ``h100-80gb`` with ``prompt_time`` multiplied by exactly 1.30
  and identical ``token_time``/``e2e_time``: a derived power-capped variant (the prefill
  slows, the memory-bound decode does not), not a separate measurement.
* ``average_power``/``peak_power`` are fractions of TDP; both are 0 (missing) for every
  H100 row and for A100 runs with batch >= 32 or token_size >= 256. Only A100 configs get a
  measured power; for the others ``power_w`` is None.

Fit: each configuration (median of its repetitions) gives two rows of the round model
``T = c0 + c_p*prefill_tokens + c_d*batch_size + c_kv*kv_tokens`` (seconds):
a prefill row (``prefill = kv = B*P``, batch B, ``T = prompt_time``) and a decode row
(prefill 0, batch B, ``kv = B*(P + n_gen/2)``, ``T = token_time``). Non-negative least
squares on relative error (rows weighted by 1/measured). Mixed prefill+decode rounds are
not in the data: the model assumes their costs add.

CLI: ``python -m kvsched.latency.fit --data-dir ../shared/data --markdown``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from .base import LinearLatency

CSV_RELPATH = Path("splitwise_perf_model") / "perf_model.csv"

# TDP per GPU (W), used to turn the csv's power fractions into watts.
TDP_PER_GPU_W: dict[str, float] = {
    "a100-80gb": 400.0,  # A100-80GB SXM
    "h100-80gb": 700.0,  # H100-80GB SXM
    # Power-capped H100 (Splitwise's "HHcap"): assumed capped at 70 % of 700 W. The csv
    # has no power data for it (all zeros), so this value is never used for a fit.
    "h100-80gb-pcap": 490.0,
}

# A configuration whose e2e_time exceeds prompt_time + (token_size-1)*token_time by this
# factor did not run as one batch; it is excluded.
E2E_INCONSISTENCY = 1.5

_COLUMNS = (
    "model", "hardware", "prompt_size", "batch_size", "token_size", "peak_power",
    "average_power", "prompt_time", "token_time", "e2e_time", "tensor_parallel",
)
_CFG_KEYS = ["prompt_size", "batch_size", "token_size"]
COEF_NAMES = ("c0", "c_p", "c_d", "c_kv")

Triple = tuple[str, str, int]


@dataclass(frozen=True)
class ErrorStats:
    """Absolute relative errors |pred/measured - 1| over ``n`` rows."""

    n: int
    mean: float
    median: float
    max: float

    @classmethod
    def of(cls, rel: np.ndarray) -> ErrorStats:
        rel = np.abs(np.asarray(rel, dtype=float))
        if rel.size == 0:
            return cls(0, math.nan, math.nan, math.nan)
        return cls(int(rel.size), float(rel.mean()), float(np.median(rel)), float(rel.max()))


@dataclass(frozen=True)
class FitReport:
    """Diagnostics of one fit. Times in seconds, power in W.

    Attributes:
        n_rows: csv rows of the triple; n_configs: distinct (prompt, batch, tokens) configs;
        n_fit_rows: rows in the least squares (2 per kept config).
        excluded: configs left out, as (prompt_size, batch_size, token_size, reason).
        coefficients: c0 (s), c_p (s/token), c_d (s/request), c_kv (s/token).
        prefill, decode: in-sample relative errors; r2: R^2 in seconds over all fit rows.
        heldout_prefill, heldout_decode: leave-one-configuration-out relative errors (each
        config's two rows predicted by a fit without them).
        power_*: see module docstring; power_fraction_* are per-GPU fractions of TDP.
        residuals: per kept config: prompt, batch, tokens, n_gen, measured and predicted
        prefill and decode times (s).
    """

    model: str
    hardware: str
    tensor_parallel: int
    n_rows: int
    n_configs: int
    n_fit_rows: int
    excluded: tuple[tuple[int, int, int, str], ...]
    coefficients: dict[str, float]
    prefill: ErrorStats
    decode: ErrorStats
    r2: float
    heldout_prefill: ErrorStats
    heldout_decode: ErrorStats
    power_w: float | None
    tdp_per_gpu_w: float | None
    power_fraction_median: float | None
    power_fraction_range: tuple[float, float] | None
    power_batch_spread: float | None
    n_power_configs: int
    notes: tuple[str, ...] = field(default_factory=tuple)
    residuals: tuple[dict[str, float], ...] = field(default_factory=tuple, repr=False)


def _read(csv_path: str | os.PathLike[str]) -> pd.DataFrame:
    path = Path(csv_path)
    if not path.is_file():
        raise DataError(f"latency data file not found: {path}")
    df = pd.read_csv(path)
    missing = [c for c in _COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}; found {list(df.columns)}")
    return df


def available_configs(csv_path: str | os.PathLike[str]) -> list[Triple]:
    """Sorted (model, hardware, tensor_parallel) triples present in the csv."""
    df = _read(csv_path)
    trip = df[["model", "hardware", "tensor_parallel"]].drop_duplicates()
    return sorted((str(m), str(h), int(t)) for m, h, t in trip.itertuples(index=False))


def _design(cfgs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Design matrices and targets (s) for the prefill and the decode rows of ``cfgs``."""
    B = cfgs["batch_size"].to_numpy(float)
    P = cfgs["prompt_size"].to_numpy(float)
    n_gen = cfgs["n_gen"].to_numpy(float)
    one = np.ones_like(B)
    Xp = np.column_stack([one, B * P, B, B * P])
    Xd = np.column_stack([one, np.zeros_like(B), B, B * (P + n_gen / 2.0)])
    return Xp, cfgs["prompt_time"].to_numpy(float) / 1e3, Xd, cfgs["token_time"].to_numpy(float) / 1e3


def _nnls_rel(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative least squares on relative error; columns scaled for conditioning."""
    w = 1.0 / y
    return _nnls_scaled(X * w[:, None], y * w)


def _nnls_scaled(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`nnls` with each column of ``A`` scaled to a largest entry of 1 (conditioning);
    returns the coefficients of the unscaled ``A``."""
    scale = np.abs(A).max(axis=0)
    scale[scale == 0] = 1.0
    return nnls(A / scale, b) / scale


def nnls(A: np.ndarray, b: np.ndarray, max_iter: int | None = None) -> np.ndarray:
    """``argmin ||A x - b||`` subject to ``x >= 0`` (Lawson and Hanson's active-set method).

    numpy only: every ``kvsched run`` with a fitted latency model fits at start-up, and
    importing ``scipy.optimize`` for this cost more than the fit (~0.6 s per process).
    Agrees with ``scipy.optimize.nnls`` (``tests/test_latency.py``)."""
    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float)
    n = A.shape[1]
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    tol = 10 * np.finfo(float).eps * np.linalg.norm(A, 1) * max(A.shape)
    for _ in range(max_iter or 3 * n):
        grad = A.T @ (b - A @ x)
        free = ~passive & (grad > tol)
        if not free.any():
            break
        passive[np.argmax(np.where(free, grad, -np.inf))] = True
        while True:
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(A[:, passive], b, rcond=None)[0]
            if np.all(z[passive] > 0):
                x = z
                break
            # step back to the boundary and drop the coefficients that reached zero
            neg = passive & (z <= 0)
            alpha = np.min(x[neg] / (x[neg] - z[neg]))
            x = x + alpha * (z - x)
            passive &= x > tol
            x[~passive] = 0.0
    return x


def fit_linear_latency(
    csv_path: str | os.PathLike[str], model: str, hardware: str, tensor_parallel: int
) -> tuple[LinearLatency, FitReport]:
    """Fit ``T = c0 + c_p*prefill + c_d*batch + c_kv*kv`` (s) for one (model, hardware, TP).

    See the module docstring for the interpretation of the data. Raises ``ConfigError``
    naming the available triples if the requested one is absent, ``DataError`` if the file
    is missing or malformed.
    """
    df = _read(csv_path)
    tp = int(tensor_parallel)
    sel = df[(df["model"] == model) & (df["hardware"] == hardware) & (df["tensor_parallel"] == tp)]
    if sel.empty:
        avail = ", ".join(f"{m}/{h}/tp{t}" for m, h, t in available_configs(csv_path))
        raise ConfigError(
            f"no measurements for model={model!r} hardware={hardware!r} tensor_parallel={tp} "
            f"in {csv_path}; available: {avail}"
        )

    # median per configuration (power: 0 means missing, so take the median of the nonzero)
    num = ["prompt_time", "token_time", "e2e_time"]
    cfgs = sel.groupby(_CFG_KEYS, as_index=False)[num].median()
    pw = sel[sel["average_power"] > 0].groupby(_CFG_KEYS)["average_power"].median()
    cfgs = cfgs.merge(pw.rename("power_frac").reset_index(), on=_CFG_KEYS, how="left")
    ident = cfgs["prompt_time"] + (cfgs["token_size"] - 1) * cfgs["token_time"]
    cfgs["e2e_ratio"] = cfgs["e2e_time"] / ident
    n_gen = 1.0 + (cfgs["e2e_time"] - cfgs["prompt_time"]) / cfgs["token_time"]
    cfgs["n_gen"] = np.clip(n_gen, 1.0, cfgs["token_size"].astype(float))

    bad = cfgs["e2e_ratio"] > E2E_INCONSISTENCY
    excluded = tuple(
        (int(r.prompt_size), int(r.batch_size), int(r.token_size),
         f"e2e_time {r.e2e_ratio:.1f}x prompt_time+(token_size-1)*token_time")
        for r in cfgs[bad].itertuples()
    )
    kept = cfgs[~bad].reset_index(drop=True)
    if len(kept) < 3:
        raise DataError(f"{csv_path}: only {len(kept)} usable configurations for {model}/{hardware}/tp{tp}")

    Xp, yp, Xd, yd = _design(kept)
    X, y = np.vstack([Xp, Xd]), np.concatenate([yp, yd])
    coef = _nnls_rel(X, y)
    pred_p, pred_d = Xp @ coef, Xd @ coef
    pred = np.concatenate([pred_p, pred_d])
    r2 = 1.0 - float(np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))

    # leave-one-configuration-out: drop both rows of config i, predict them
    n = len(kept)
    ho_p, ho_d = np.empty(n), np.empty(n)
    for i in range(n):
        keep = np.ones(2 * n, dtype=bool)
        keep[[i, n + i]] = False
        c_i = _nnls_rel(X[keep], y[keep])
        ho_p[i] = Xp[i] @ c_i / yp[i] - 1.0
        ho_d[i] = Xd[i] @ c_i / yd[i] - 1.0

    # power: median over configs with a measurement; batch sweep spread as a check
    notes: list[str] = []
    tdp = TDP_PER_GPU_W.get(hardware)
    fr = cfgs["power_frac"].dropna()
    power_w = frac_med = frac_rng = spread = None
    if len(fr) and tdp is not None:
        frac_med = float(fr.median())
        frac_rng = (float(fr.min()), float(fr.max()))
        power_w = frac_med * tdp * tp
        sweep = cfgs[(cfgs["prompt_size"] == 512) & (cfgs["token_size"] == 128)]["power_frac"].dropna()
        if len(sweep) >= 2:
            spread = float((sweep.max() - sweep.min()) / sweep.median())
            if spread > 0.15:
                notes.append(f"power varies with batch size: spread {spread:.0%} of the median over the batch sweep")
    elif len(fr):
        notes.append(f"no TDP known for hardware {hardware!r}: power_w is None")
    else:
        notes.append("no power measurements (average_power is 0 in every row): power_w is None")
    if hardware.endswith("-pcap"):
        notes.append("derived config: prompt_time = 1.3 x the uncapped one, token_time copied")

    residuals = tuple(
        {
            "prompt_size": int(r.prompt_size), "batch_size": int(r.batch_size),
            "token_size": int(r.token_size), "n_gen": float(r.n_gen),
            "prefill_s": float(yp[i]), "prefill_pred_s": float(pred_p[i]),
            "decode_s": float(yd[i]), "decode_pred_s": float(pred_d[i]),
        }
        for i, r in enumerate(kept.itertuples())
    )
    coefs = dict(zip(COEF_NAMES, map(float, coef)))
    lat = LinearLatency(**coefs, power_w=power_w, unit="s", name=f"splitwise_fit:{model}/{hardware}/tp{tp}")
    report = FitReport(
        model=model, hardware=hardware, tensor_parallel=tp,
        n_rows=len(sel), n_configs=len(cfgs), n_fit_rows=len(y), excluded=excluded,
        coefficients=coefs,
        prefill=ErrorStats.of(pred_p / yp - 1.0), decode=ErrorStats.of(pred_d / yd - 1.0), r2=r2,
        heldout_prefill=ErrorStats.of(ho_p), heldout_decode=ErrorStats.of(ho_d),
        power_w=power_w, tdp_per_gpu_w=tdp, power_fraction_median=frac_med,
        power_fraction_range=frac_rng, power_batch_spread=spread, n_power_configs=len(fr),
        notes=tuple(notes), residuals=residuals,
    )
    return lat, report


# ---------------------------------------------------------------------- measured iterations

ITERATION_COLUMNS = ("prefill_tokens", "batch", "kv_tokens", "duration")


def iteration_errors(lat: LinearLatency, iterations: pd.DataFrame) -> dict:
    """How well ``lat`` predicts measured rounds: per-round relative errors (all, prefill rounds,
    decode-only rounds) and the error of the total time, ``sum(pred) / sum(measured) - 1``."""
    it = iterations
    pred = (lat.c0 + lat.c_p * it["prefill_tokens"].to_numpy(float) + lat.c_d * it["batch"].to_numpy(float)
            + lat.c_kv * it["kv_tokens"].to_numpy(float))
    y = it["duration"].to_numpy(float)
    rel = pred / y - 1.0
    pre = it["prefill_tokens"].to_numpy() > 0
    return {"rounds": ErrorStats.of(rel).__dict__, "prefill_rounds": ErrorStats.of(rel[pre]).__dict__,
            "decode_rounds": ErrorStats.of(rel[~pre]).__dict__,
            "total_time": float(pred.sum() / y.sum() - 1.0) if y.sum() > 0 else math.nan}


def fit_from_iterations(iterations: pd.DataFrame, *, weight: str = "absolute",
                        name: str = "engine_fit") -> tuple[LinearLatency, dict]:
    """Fit ``T = c0 + c_p*prefill + c_d*batch + c_kv*kv`` (s) to measured rounds.

    ``iterations`` has one row per round with ``prefill_tokens``, ``batch``, ``kv_tokens`` and
    ``duration`` (s), as written by the engine backend (``iterations.parquet``). Non-negative
    least squares, ``weight="absolute"`` (default: plain residuals in seconds; with the intercept
    this keeps the total time close, which is what per-request latencies add up) or
    ``"relative"`` (rows weighted by 1/duration, as the Splitwise fit). Returns the model and a
    report: coefficients, rows, R^2 and :func:`iteration_errors` in sample.
    """
    missing = [c for c in ITERATION_COLUMNS if c not in iterations.columns]
    if missing:
        raise DataError(f"iterations table lacks column(s) {missing}")
    it = iterations[list(ITERATION_COLUMNS)].dropna()
    it = it[it["duration"] > 0]
    if len(it) < 4:
        raise DataError(f"need at least 4 measured rounds to fit 4 coefficients, got {len(it)}")
    X = np.column_stack([np.ones(len(it)), it["prefill_tokens"].to_numpy(float), it["batch"].to_numpy(float),
                         it["kv_tokens"].to_numpy(float)])
    y = it["duration"].to_numpy(float)
    if weight == "relative":
        coef = _nnls_rel(X, y)
    elif weight == "absolute":
        coef = _nnls_scaled(X, y)
    else:
        raise ConfigError(f"weight={weight!r}; valid: absolute, relative")
    lat = LinearLatency(*map(float, coef), unit="s", name=name)
    pred = X @ coef
    r2 = 1.0 - float(np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)) if np.ptp(y) > 0 else math.nan
    report = {"coefficients": dict(zip(COEF_NAMES, map(float, coef))), "rows": int(len(it)), "weight": weight,
              "r2": r2, "in_sample": iteration_errors(lat, it)}
    return lat, report


# ---------------------------------------------------------------------------- markdown CLI

def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def markdown_report(csv_path: str | os.PathLike[str], detail: Triple | None = ("llama2-70b", "a100-80gb", 2)) -> str:
    """Markdown tables of the fit for every available config (+ residuals of ``detail``)."""
    reports = [fit_linear_latency(csv_path, *t)[1] for t in available_configs(csv_path)]
    out = [
        "### Coefficients",
        "",
        "| model | hardware | TP | c0 (ms) | c_p (µs/token) | c_d (ms/request) | c_kv (µs/token) | power_w (W) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in reports:
        c = r.coefficients
        pw = "—" if r.power_w is None else f"{r.power_w:.0f}"
        out.append(
            f"| {r.model} | {r.hardware} | {r.tensor_parallel} | {c['c0'] * 1e3:.3f} | {c['c_p'] * 1e6:.4f} "
            f"| {c['c_d'] * 1e3:.4f} | {c['c_kv'] * 1e6:.5f} | {pw} |"
        )
    out += [
        "",
        "### Errors (absolute relative error; in-sample and leave-one-configuration-out)",
        "",
        "| model | hardware | TP | rows | configs (excl.) | prefill mean / median / max | decode mean / median / max "
        "| R² | held-out prefill mean / max | held-out decode mean / max |",
        "|---|---|---:|---:|---:|---|---|---:|---|---|",
    ]
    for r in reports:
        p, d, hp, hd = r.prefill, r.decode, r.heldout_prefill, r.heldout_decode
        out.append(
            f"| {r.model} | {r.hardware} | {r.tensor_parallel} | {r.n_rows} | {r.n_configs} ({len(r.excluded)}) "
            f"| {_pct(p.mean)} / {_pct(p.median)} / {_pct(p.max)} | {_pct(d.mean)} / {_pct(d.median)} / {_pct(d.max)} "
            f"| {r.r2:.4f} | {_pct(hp.mean)} / {_pct(hp.max)} | {_pct(hd.mean)} / {_pct(hd.max)} |"
        )
    out += [
        "",
        "### Power",
        "",
        "| model | hardware | TP | configs with power | median fraction of TDP | range | batch-sweep spread | TDP/GPU (W) | power_w (W) |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in reports:
        if r.power_w is None:
            out.append(f"| {r.model} | {r.hardware} | {r.tensor_parallel} | 0 | — | — | — | {r.tdp_per_gpu_w:.0f} | — |")
            continue
        lo, hi = r.power_fraction_range  # type: ignore[misc]
        sp = "—" if r.power_batch_spread is None else _pct(r.power_batch_spread)
        out.append(
            f"| {r.model} | {r.hardware} | {r.tensor_parallel} | {r.n_power_configs} | {r.power_fraction_median:.3f} "
            f"| {lo:.3f}–{hi:.3f} | {sp} | {r.tdp_per_gpu_w:.0f} | {r.power_w:.0f} |"
        )
    excl = [(r, e) for r in reports for e in r.excluded]
    out += ["", "### Excluded configurations", ""]
    out += [f"- {r.model}/{r.hardware}/tp{r.tensor_parallel}: prompt {e[0]}, batch {e[1]}, tokens {e[2]}: {e[3]}"
            for r, e in excl] or ["- none"]
    notes = [(r, n) for r in reports for n in r.notes]
    if notes:
        out += ["", "### Notes", ""]
        out += [f"- {r.model}/{r.hardware}/tp{r.tensor_parallel}: {n}" for r, n in notes]
    if detail is not None:
        r = next((x for x in reports if (x.model, x.hardware, x.tensor_parallel) == tuple(detail)), None)
        if r is not None:
            out += [
                "",
                f"### Per-configuration residuals: {r.model}/{r.hardware}/tp{r.tensor_parallel}",
                "",
                "| prompt | batch | tokens | n_gen | prefill ms | pred ms | err | decode ms | pred ms | err |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for x in r.residuals:
                ep = x["prefill_pred_s"] / x["prefill_s"] - 1
                ed = x["decode_pred_s"] / x["decode_s"] - 1
                out.append(
                    f"| {x['prompt_size']} | {x['batch_size']} | {x['token_size']} | {x['n_gen']:.0f} "
                    f"| {x['prefill_s'] * 1e3:.1f} | {x['prefill_pred_s'] * 1e3:.1f} | {100 * ep:+.1f}% "
                    f"| {x['decode_s'] * 1e3:.2f} | {x['decode_pred_s'] * 1e3:.2f} | {100 * ed:+.1f}% |"
                )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kvsched.latency.fit", description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("KVSCHED_DATA_DIR"),
                    help="directory holding splitwise_perf_model/perf_model.csv (default: $KVSCHED_DATA_DIR)")
    ap.add_argument("--markdown", action="store_true", help="print markdown tables for every config")
    ap.add_argument("--model")
    ap.add_argument("--hardware")
    ap.add_argument("--tensor-parallel", type=int)
    a = ap.parse_args(argv)
    if not a.data_dir:
        ap.error("--data-dir is required (or set KVSCHED_DATA_DIR)")
    csv_path = Path(a.data_dir) / CSV_RELPATH
    try:
        if a.markdown:
            sys.stdout.write(markdown_report(csv_path))
            return 0
        for t in available_configs(csv_path):
            if (a.model or t[0]) != t[0] or (a.hardware or t[1]) != t[1] or (a.tensor_parallel or t[2]) != t[2]:
                continue
            lat, r = fit_linear_latency(csv_path, *t)
            print(f"{t[0]}/{t[1]}/tp{t[2]}: {lat}")
            print(f"  prefill err mean {r.prefill.mean:.3f} max {r.prefill.max:.3f}; decode err mean "
                  f"{r.decode.mean:.3f} max {r.decode.max:.3f}; R2 {r.r2:.4f}; held-out prefill mean "
                  f"{r.heldout_prefill.mean:.3f}, decode mean {r.heldout_decode.mean:.3f}")
    except (ConfigError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
