"""Replay one configuration through the real engine and write the simulator's outputs.

``kvsched engine <overrides> [--model tiny] [--device auto] [--clock virtual]`` composes the same
Hydra config as ``kvsched run`` (trace, algorithm, predictor, memory.capacity, seed, out; the
``latency`` group is not used: rounds take what they take) and writes into ``out``, each file
atomically, ``summary.json`` last:

* ``requests.parquet``: one row per request, the columns of ``kvsched run``;
* ``iterations.parquet``: one row per round (prefill tokens, batch size, KV tokens, duration,
  and the split into policy, prefill and decode time; see :mod:`kvsched.engine.loop`);
* ``summary.json``: config, metrics (as ``kvsched run``), the engine (backend, model, device,
  dtype, clock, package versions) and provenance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..io import write_json, write_parquet
from ..metrics import request_table, run_summary
from ..policies import build_policy
from ..policies.registry import check_predictor
from ..predictors import build_predictor
from ..provenance import provenance
from ..sim.engine import RunRecord
from ..workload import Workload
from .loop import EngineLoop

DEFAULT_ENGINE: dict[str, Any] = {"model": "tiny", "device": "auto", "dtype": "auto", "clock": "virtual",
                                  "timer": "wall", "threads": None, "warmup_rounds": 8}


@dataclass
class EngineResult:
    record: RunRecord
    iterations: pd.DataFrame
    events: list
    engine: dict = field(default_factory=dict)
    wall_s: float = 0.0


def engine_label(info: Mapping[str, Any]) -> str:
    """``cpu-tiny``, ``cuda-llama2_7b``, ...: where and on what the engine ran."""
    return f"{str(info.get('device', '?')).split(':')[0]}-{info.get('model', '?')}"


def engine_versions() -> dict:
    import torch
    import transformers
    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "cuda": torch.version.cuda, "cuda_available": bool(torch.cuda.is_available())}


class Engine:
    """A model loaded once and replayed many times (each replay gets a fresh executor state)."""

    def __init__(self, model: Any = "tiny", device: str = "auto", dtype: str = "auto", seed: int = 0,
                 threads: int | None = None, warmup_rounds: int = 8):
        import torch

        from .models import build_model

        if threads:
            torch.set_num_threads(int(threads))
        self.model, self.info = build_model(model, device, dtype, seed)
        self.info["threads"] = torch.get_num_threads()
        self.context = int(self.model.config.max_position_embeddings)   # tokens a request may hold
        self.info.update(engine_versions())
        self.info["label"] = engine_label(self.info)
        self.seed = seed
        self.warmup_rounds = int(warmup_rounds)

    def backend(self, seed: int = 0, timer: str = "wall"):
        from .backend import TorchBackend
        from .loop import TIMERS

        if timer == "process" and self.info["device"].startswith("cuda"):
            raise ConfigError("timer=process measures CPU time only; use timer=wall on CUDA")
        if timer == "process" and self.info["threads"] > 1:
            # process CPU time adds up every thread's time: rounds would look up to threads x longer
            raise ConfigError(f"timer=process needs one torch thread (it sums the CPU time of all "
                              f"{self.info['threads']}); use threads=1 (--threads 1) or timer=wall")
        return TorchBackend(self.model, seed=seed, model_info=self.info, timer=TIMERS[timer])

    def warmup(self, prompt: int = 64, batch: int = 4) -> None:
        """A few untimed rounds so that the first measured ones carry no one-off costs."""
        b = self.backend(seed=12345)
        b.step([(k, prompt) for k in range(batch)])
        for _ in range(max(self.warmup_rounds - 1, 0)):
            b.step([])
        b.release(list(range(batch)))

    def replay(self, workload: Workload, algorithm: Mapping[str, Any], predictor: Mapping[str, Any], capacity: int,
               *, seed: int = 0, clock: str = "virtual", timer: str = "wall", duration_fn=None,
               max_rounds: int | None = None, on_round=None) -> EngineResult:
        # a request holds at most min(s + o, M) tokens (beyond M it is rejected): more than the
        # model's context would run positions a real model of this shape never serves
        held = np.minimum(workload.prompt + workload.output, capacity)
        if (held > self.context).any():
            raise ConfigError(f"{int((held > self.context).sum())} of {len(workload)} requests need more than "
                              f"the model's context of {self.context} tokens (prompt + output, up to "
                              f"{int(held.max())}); cap the lengths (e.g. trace.max_total={self.context} for "
                              f"lmsys_like), lower memory.capacity, or use a model with a longer context")
        if self.warmup_rounds:
            self.warmup()
        policy = build_policy(dict(algorithm), capacity=capacity, seed=seed + 1)
        pred = build_predictor(dict(predictor), seed=seed + 2)
        check_predictor(type(policy), type(pred))
        loop = EngineLoop(workload, policy, pred, capacity, self.backend(seed, timer), clock=clock, timer=timer,
                          duration_fn=duration_fn, max_rounds=max_rounds, on_round=on_round)
        t0 = time.perf_counter()
        rec = loop.run()
        return EngineResult(rec, loop.iterations, loop.events, {**loop.backend.info(), "clock": clock, "timer": timer},
                            time.perf_counter() - t0)


def default_out(sim_out: str, engine: Mapping[str, Any]) -> str:
    """The default folder of a replay: the simulator's default folder for the same config
    (``sim_out``) with ``-engine-<digest of the engine options>`` appended, so that ``kvsched run``
    with the same overrides, or a replay on another model, device or clock, writes elsewhere
    instead of replacing the measured results."""
    from ..config.compose import digest
    return f"{sim_out}-engine-{digest({**DEFAULT_ENGINE, **dict(engine)})}"


def result_tables(res: EngineResult) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """(metrics, requests table, iterations table) of one replay."""
    return run_summary(res.record), request_table(res.record), res.iterations


def write_outputs(out: str | Path, summary: dict, requests: pd.DataFrame, iterations: pd.DataFrame) -> Path:
    from ..runner import table_meta
    out, meta = Path(out), table_meta(summary)
    write_parquet(out / "requests.parquet", requests, meta)
    write_parquet(out / "iterations.parquet", iterations, meta)
    write_json(out / "summary.json", summary)
    return out


def run(cfg, engine: Mapping[str, Any] | None = None) -> dict:
    """Replay the composed config ``cfg`` through the engine; write the three files into ``cfg.out``."""
    from omegaconf import OmegaConf

    from ..runner import _jsonable, load_inputs, trace_warnings, warn

    prov = provenance()                 # the code version that runs, not the one at the end
    e = {**DEFAULT_ENGINE, **dict(engine or {})}
    c = OmegaConf.to_container(cfg, resolve=True)
    inputs = load_inputs(c)
    prov["plugins"] = inputs.plugins
    data_dir, seed, wl, M = inputs.data_dir, inputs.seed, inputs.workload, inputs.capacity
    notes = warn(trace_warnings(wl))
    clock = "rounds" if wl.time_unit == "rounds" else e["clock"]
    timer = e["timer"] if clock == "virtual" else "wall"
    # the process timer is meaningful with one torch thread only: it is the default there
    threads = e["threads"] or (1 if timer == "process" else None)
    eng = Engine(e["model"], e["device"], e["dtype"], seed, threads, e["warmup_rounds"])
    res = eng.replay(wl, c["algorithm"], c["predictor"], M, seed=seed, clock=clock, timer=timer)
    metrics, req, it = result_tables(res)
    c.pop("latency", None)
    summary = {
        "config": c,
        "resolved": {"memory_capacity": M, "data_dir": str(data_dir), "latency_model": "measured (real engine)",
                     "trace_meta": _jsonable(wl.meta)},
        "metrics": metrics,
        "engine": res.engine,
        "warnings": notes,
        "timing": {"replay_s": res.wall_s, "iterations": int(len(it))},
        "provenance": prov,
    }
    write_outputs(c["out"], summary, req, it)
    return summary
