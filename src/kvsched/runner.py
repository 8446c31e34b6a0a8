"""Run one configuration end to end: trace -> predictor -> policy -> simulator -> files."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from omegaconf import DictConfig, OmegaConf

from .datastore import resolve_data_dir
from .errors import ConfigError
from .io import missing_dirs, remove_empty_dirs, write_json, write_parquet
from .latency import build_latency
from .metrics import request_table, run_summary
from .params import check_seed
from .policies import build_policy
from .policies.registry import check_predictor
from .plugins import load_plugins
from .predictors import build_predictor
from .provenance import provenance
from .sim.engine import simulate
from .traces import load_trace
from .workload import SOURCE_ROW, Workload


def resolve_capacity(value: Any, workload: Workload) -> int:
    """``memory.capacity`` in tokens; ``auto`` takes the trace's own M (synthetic_mcsf)."""
    if value == "auto":
        if "memory" not in workload.meta:
            raise ConfigError(f"memory.capacity=auto, but trace {workload.name!r} defines no memory size")
        return int(workload.meta["memory"])
    return check_capacity(value)


class Inputs(NamedTuple):
    """What a resolved config's run reads before it simulates (:func:`load_inputs`)."""

    plugins: list         # the loaded plugins' provenance records (file and sha256)
    data_dir: Path
    seed: int
    workload: Workload
    capacity: int         # M, tokens
    load_s: float         # seconds spent loading the trace


def load_inputs(c: Mapping[str, Any]) -> Inputs:
    """Load the plugins, the data folder, the seed, the trace and M of a resolved config (plain
    dict), as every entry point does: a run, a replay, ``kvsched optimum`` and the sweep check."""
    plugins = load_plugins(c.get("plugins"))
    data_dir = resolve_data_dir(c["data"]["dir"])
    seed = check_seed(c["seed"])
    t0 = time.perf_counter()
    wl = load_trace(c["trace"], data_dir, seed)
    load_s = time.perf_counter() - t0
    return Inputs(plugins, data_dir, seed, wl, resolve_capacity(c["memory"]["capacity"], wl), load_s)


def check_capacity(value: Any) -> int | str:
    """``memory.capacity`` as given: ``auto``, or a positive whole number of tokens (returned as int)."""
    if value == "auto":
        return value
    try:
        m = int(value)
        if isinstance(value, bool) or (not isinstance(value, int) and m != float(value)):  # 1.5 is not 1, true not 1
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"memory.capacity must be a positive integer (tokens) or 'auto', got {value!r}") from None
    if m <= 0:
        raise ConfigError(f"memory.capacity must be positive, got {m}")
    if m >= 2 ** 63:                    # token counts are int64 in the simulator and the policies
        raise ConfigError(f"memory.capacity must be at most 2**63 - 1 tokens, got {m}")
    return m


def _progress_bar(mode: Any, total: int, desc: str):
    show = sys.stderr.isatty() if mode == "auto" else bool(mode)
    if not show:
        return None, None
    from tqdm import tqdm
    bar = tqdm(total=total, desc=desc, unit="req", leave=False)
    return bar, bar.update


def execute(cfg: DictConfig) -> tuple[dict, Any]:
    """Simulate ``cfg``; return (summary dict, per-request DataFrame). Writes nothing."""
    prov = provenance()                 # the code version that runs, not the one at the end
    c = OmegaConf.to_container(cfg, resolve=True)
    inputs = load_inputs(c)
    prov["plugins"] = inputs.plugins                   # file + sha256 of any user code that runs
    data_dir, seed, wl, M, t_load = inputs.data_dir, inputs.seed, inputs.workload, inputs.capacity, inputs.load_s
    latency = build_latency(c["latency"], data_dir)
    notes = warn(unit_mismatch(wl.time_unit, latency.unit, wl.name, latency_label(c["latency"])) + trace_warnings(wl)
                 + no_power(latency, latency_label(c["latency"])))
    policy = build_policy(c["algorithm"], capacity=M, seed=seed + 1, latency=latency)
    predictor = build_predictor(c["predictor"], seed=seed + 2)
    check_predictor(type(policy), type(predictor))
    bar, cb = _progress_bar(c["sim"]["progress"], len(wl), f"{c['algorithm']['name']} on {wl.name}")
    t1 = time.perf_counter()
    try:
        rec = simulate(wl, policy, predictor, M, latency, step_mode=bool(c["sim"]["step_mode"]),
                       fast=bool(c["sim"].get("fast", True)), progress=cb)
    finally:
        if bar is not None:
            bar.close()
    t_sim = time.perf_counter() - t1
    metrics = run_summary(rec)
    summary = {
        "config": c,
        "resolved": {"memory_capacity": M, "data_dir": str(data_dir), "latency_model": latency.__dict__,
                     # a policy that reads no predictions runs no predictor: nothing it saw came from the truth
                     "predictor_is_oracle": bool(predictor.oracle and policy.reads_predictions),
                     "predictor_uses_truth": bool(predictor.uses_truth and policy.reads_predictions),
                     "policy_reads_predictions": bool(policy.reads_predictions), "trace_meta": _jsonable(wl.meta)},
        "metrics": metrics,
        "timing": {"load_s": t_load, "simulate_s": t_sim},
        "warnings": notes,
        "provenance": prov,
    }
    return summary, request_table(rec)


def run(cfg: DictConfig) -> dict:
    """Simulate and write ``<out>/requests.parquet`` then ``<out>/summary.json`` (each atomically;
    the summary is written last and marks a complete run)."""
    made = missing_dirs(cfg.out) if isinstance(cfg.out, str) and cfg.out.strip() else []
    out = check_out_dir(cfg.out)                 # before the simulation, not after it
    started = time.time()
    try:
        summary, table = execute(cfg)            # a failure here keeps the previous results
    except BaseException:
        remove_empty_dirs(made)                  # ... and leaves no empty folder of its own behind
        raise
    # The new files replace the old ones one at a time: drop the old completion marker first,
    # so a kill in between leaves no complete-looking mix, and the temp files of a run that
    # was killed while writing (those from before this run began: a run of the same config into
    # the same folder may be writing its own now).
    (out / "summary.json").unlink(missing_ok=True)
    for name in ("requests.parquet", "summary.json"):
        for stale in out.glob(f".{name}.*.tmp"):
            try:
                if stale.stat().st_mtime < started:
                    stale.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
    write_parquet(out / "requests.parquet", table, table_meta(summary))
    write_json(out / "summary.json", summary)
    return summary


def table_meta(summary: dict) -> dict:
    """What a run's tables record about it (the summary's config, resolved values and
    provenance), so a table copied away from its summary still says what produced it. The
    config leaves out ``out`` and ``sim.progress``, which change no result: the same config run
    by the same code into two folders still gives byte-identical tables."""
    from .config.compose import result_settings
    meta = {k: summary[k] for k in ("config", "resolved", "engine", "provenance") if k in summary}
    if "config" in meta:
        meta["config"] = result_settings(meta["config"])
    return meta


def warn(notes: list[str]) -> list[str]:
    """Print a run's warnings to stderr; return them, for its summary."""
    for note in notes:
        print(f"kvsched: warning: {note}", file=sys.stderr)
    return notes


def unit_mismatch(trace_unit: str, latency_unit: str, trace: str, latency: Any) -> list[str]:
    """A warning when the trace's time unit is not the latency model's: arrivals in rounds read
    as seconds, or seconds as rounds. Allowed (a deliberate mix is possible) but rarely meant."""
    if trace_unit == latency_unit:
        return []
    fix = "latency=unit" if trace_unit == "rounds" else "a latency model in seconds (e.g. llama2_70b_a100_tp2)"
    return [f"trace {trace!r} times are in {trace_unit}, latency {latency} in {latency_unit}: "
            f"arrivals are read in the latency model's unit; use {fix} unless this is meant"]


def no_power(latency, label: str) -> list[str]:
    """A warning when a latency model in seconds has no power data: the run's energy is null,
    which a reader of the summary could otherwise take for a bug (unit rounds have no energy)."""
    if latency.unit != "s" or latency.power_w is not None:
        return []
    return [f"latency {label} has no power data: energy_j and energy_per_token_j are null; "
            f"set latency.power_w (W) for energy"]


def latency_label(cfg: Mapping[str, Any]) -> str:
    """The latency model as a user would name it: ``splitwise_fit (llama2-70b, a100-80gb, tp 2)``."""
    parts = [str(cfg[k]) for k in ("model", "hardware") if cfg.get(k)]
    if cfg.get("tensor_parallel"):
        parts.append(f"tp {cfg['tensor_parallel']}")
    return f"{cfg.get('name')}" + (f" ({', '.join(parts)})" if parts else "")


def trace_warnings(wl) -> list[str]:
    """Warnings about how the trace loader used the file: rows with output 0 left out (a request
    decodes at least one token), which would otherwise vanish from the results without a word,
    and rows run in another order than the file's."""
    k = int(wl.meta.get("dropped_zero_output") or 0)
    rows, src = wl.meta.get("rows"), wl.meta.get("source")
    where = f"trace {wl.name!r}{f' ({src})' if src else ''}"
    out = []
    if k:
        out.append(f"{where}: {k} of {rows} rows have output 0 and were left out "
                   f"(every request decodes at least one token)")
    if wl.meta.get("reordered"):
        out.append(f"{where}: the rows are not in arrival order; the requests run in arrival order "
                   f"(the source_row column of requests.parquet gives each one's row in the file)")
    return out


def check_out_dir(value: Any) -> Path:
    """``out`` as a Path, created if missing (an empty folder, no results); ConfigError if it
    cannot be, so that a bad ``out`` fails before the simulation rather than after it."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"out must name a folder for the results, got {value!r}")
    out = Path(value)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"out={value!r}: a file is in the way of that folder") from None
    except OSError as e:
        raise ConfigError(f"out={value!r}: cannot create the folder ({e.strerror})") from None
    return out


def _jsonable(meta: dict) -> dict:
    out = {}
    for k, v in meta.items():
        if k == SOURCE_ROW:        # per request: a column of requests.parquet instead
            continue
        if isinstance(v, (str, int, float, bool)) or v is None:
            out[k] = v
        elif isinstance(v, (list, tuple)) and len(v) <= 32:
            out[k] = list(v)
    return out
