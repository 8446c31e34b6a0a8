"""Per-request and per-run metrics from a :class:`~kvsched.sim.engine.RunRecord`.

Times are in the run's time unit (seconds, or rounds for the unit time base); sizes in
tokens. Latency is end-to-end: completion - arrival. TTFT is the end of the first round
of the request's first run - arrival.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .sim.engine import RunRecord
from .workload import SOURCE_ROW


def request_table(rec: RunRecord) -> pd.DataFrame:
    """One row per request; for a trace read from a table (a recorded trace or ``trace=file``)
    also ``source_row``, the request's record in the file (0-based, header not counted)."""
    w = rec.workload
    df = pd.DataFrame({
        "id": np.arange(len(w), dtype=np.int64),
        "arrival": w.arrival,
        "prompt": w.prompt,
        "output": w.output,
        "start": rec.first_start,
        "last_start": rec.last_start,
        "first_token": rec.first_token,
        "completion": rec.completion,
        "latency": rec.completion - w.arrival,
        "ttft": rec.first_token - w.arrival,
        "evictions": rec.evictions,
        "wasted_decode_tokens": rec.wasted_decode,
        "wasted_prefill_tokens": rec.wasted_prefill,
        "rejected": pd.array(rec.reject_reason, dtype="string"),
    })
    rows = w.meta.get(SOURCE_ROW)
    if isinstance(rows, list) and len(rows) == len(w):
        df["source_row"] = np.asarray(rows, dtype=np.int64)
    return df


def _pct(x: np.ndarray, q: float) -> float | None:
    return float(np.percentile(x, q)) if len(x) else None


def run_summary(rec: RunRecord) -> dict:
    """Aggregate metrics of one run (JSON-ready)."""
    w = rec.workload
    done = ~np.isnan(rec.completion)
    lat = (rec.completion - w.arrival)[done]
    ttft = (rec.first_token - w.arrival)[done]
    reasons: dict[str, int] = {}
    for r in rec.reject_reason:
        if r is not None:
            reasons[r] = reasons.get(r, 0) + 1
    out_tokens = int(np.sum(w.output[done]))
    span = rec.makespan
    m = {
        "time_unit": rec.time_unit,
        "requests": int(len(w)),
        "completed": int(done.sum()),
        "rejected": int(sum(reasons.values())),
        "rejected_by_reason": reasons,
        "latency_mean": float(lat.mean()) if len(lat) else None,
        "latency_p50": _pct(lat, 50), "latency_p90": _pct(lat, 90), "latency_p99": _pct(lat, 99),
        "latency_total": float(lat.sum()),
        "ttft_mean": float(ttft.mean()) if len(ttft) else None,
        "ttft_p50": _pct(ttft, 50), "ttft_p90": _pct(ttft, 90), "ttft_p99": _pct(ttft, 99),
        "makespan": float(span),
        "throughput_rps": float(done.sum() / span) if span > 0 else None,
        "throughput_tokens": float(out_tokens / span) if span > 0 else None,
        "rounds": int(rec.rounds),
        "busy_time": float(rec.busy_time),
        "memory_capacity": int(rec.capacity),
        "memory_peak": int(rec.peak_memory),
        "memory_mean_per_round": float(rec.memory_round_sum / rec.rounds) if rec.rounds else 0.0,
        "memory_mean_time_weighted": float(rec.memory_time_sum / rec.busy_time) if rec.busy_time else 0.0,
        "evictions": int(rec.evictions.sum()),
        "wasted_decode_tokens": int(rec.wasted_decode.sum()),
        "wasted_prefill_tokens": int(rec.wasted_prefill.sum()),
        "energy_j": None if rec.energy_j is None else float(rec.energy_j),
        # None without power data or without output tokens, as energy_j: every summary has the key
        "energy_per_token_j": float(rec.energy_j / out_tokens) if rec.energy_j is not None and out_tokens else None,
        "policy_decisions": int(rec.decisions),
    }
    return m
