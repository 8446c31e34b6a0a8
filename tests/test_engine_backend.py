"""The real-engine backend (kvsched.engine): the engine honours the policy's admission and eviction
choices exactly, never exceeds the KV budget, produces the forced output lengths and writes the
simulator's files. Skipped when the ``engine`` extra (torch, transformers) is not installed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from helpers import Thrash, linear, wl  # noqa: E402
from kvsched.errors import SimulationError  # noqa: E402
from kvsched.engine.backend import NullBackend  # noqa: E402
from kvsched.engine.loop import EngineLoop  # noqa: E402
from kvsched.engine.runner import Engine  # noqa: E402
from kvsched.latency.base import unit_rounds  # noqa: E402
from kvsched.policies import build_policy  # noqa: E402
from kvsched.policies.base import Policy  # noqa: E402
from kvsched.predictors import build_predictor  # noqa: E402
from kvsched.sim.engine import simulate  # noqa: E402

# a one-layer Llama: fast enough for many rounds on a shared CPU
MICRO = {"name": "micro", "vocab_size": 128, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
         "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 1024}


@pytest.fixture(scope="module")
def engine():
    return Engine(MICRO, device="cpu", dtype="float32", seed=0, threads=1, warmup_rounds=2)


class Recording(Policy):
    """Wraps a policy and logs every decision it makes: (round, kind, ids)."""

    def __init__(self, inner: Policy):
        super().__init__(inner.params, capacity=inner.capacity)
        self.inner, self.name, self.log = inner, inner.name, []
        self.voluntary_preemption = inner.voluntary_preemption

    def queue_key(self, view, ids):
        return self.inner.queue_key(view, ids)

    def preempt(self, view):
        out = [int(i) for i in self.inner.preempt(view)]
        if out:
            self.log.append((view.round, "preempt", out))
        return out

    def victims(self, view, excess):
        out = [int(i) for i in self.inner.victims(view, excess)]
        self.log.append((view.round, "victims", out))
        return out

    def admit(self, view):
        out = [int(i) for i in self.inner.admit(view)]
        if out:
            self.log.append((view.round, "admit", out))
        return out

    def quiet_rounds(self, view):
        return 1


def _policy(algorithm, M, seed=0):
    return Recording(build_policy(algorithm, capacity=M, seed=seed + 1))


def _workload(n=14, seed=3, unit="rounds"):
    g = np.random.default_rng(seed)
    arrival = np.sort(g.integers(0, 12, n)).astype(float) if unit == "rounds" else np.sort(g.uniform(0, 6, n))
    return wl(g.integers(1, 12, n), g.integers(1, 14, n), arrival=arrival, unit=unit)


CASES = [({"name": "fcfs"}, {"name": "oracle"}, 40),
         ({"name": "mcsf"}, {"name": "noisy", "eps": 0.8}, 40),   # short predictions: overflow evictions
         ({"name": "vllm_fcfs"}, {"name": "oracle"}, 30),          # preempts newest on overflow
         ({"name": "alpha_protection"}, {"name": "oracle"}, 40)]


@pytest.mark.parametrize("algorithm,predictor,M", CASES, ids=[c[0]["name"] for c in CASES])
def test_engine_makes_the_simulators_decisions_in_unit_rounds(engine, algorithm, predictor, M):
    w = _workload()
    p_sim, p_eng = _policy(algorithm, M), _policy(algorithm, M)
    rec_s = simulate(w, p_sim, build_predictor(predictor, seed=2), M, unit_rounds(), step_mode=True)
    loop = EngineLoop(w, p_eng, build_predictor(predictor, seed=2), M, engine.backend(0), clock="rounds")
    rec_e = loop.run()
    assert p_eng.log == p_sim.log                      # same decisions, same rounds, same order
    np.testing.assert_array_equal(rec_e.completion, rec_s.completion)
    np.testing.assert_array_equal(rec_e.evictions, rec_s.evictions)
    np.testing.assert_array_equal(rec_e.wasted_decode, rec_s.wasted_decode)
    assert rec_e.reject_reason == rec_s.reject_reason
    # the executor restarted exactly the evicted requests, once per eviction
    restarts = loop.backend.restarts
    assert {i: restarts.get(i, 0) for i in range(len(w)) if rec_e.evictions[i]} == \
        {i: int(rec_e.evictions[i]) for i in range(len(w)) if rec_e.evictions[i]}
    if algorithm["name"] != "fcfs":
        assert rec_e.evictions.sum() > 0, "case meant to exercise eviction"


def test_engine_with_model_durations_reproduces_the_simulator_in_seconds():
    """Rounds that last what the latency model says: the schedule and every time match."""
    w = _workload(unit="s")
    lat = linear(c0=0.5, c_p=0.02, c_d=0.1, c_kv=0.005)
    for algorithm, predictor, M in CASES:
        p_sim, p_eng = _policy(algorithm, M), _policy(algorithm, M)
        rec_s = simulate(w, p_sim, build_predictor(predictor, seed=2), M, lat, step_mode=False)
        loop = EngineLoop(w, p_eng, build_predictor(predictor, seed=2), M, NullBackend(),
                          duration_fn=lat.round_time)
        rec_e = loop.run()
        np.testing.assert_allclose(rec_e.completion, rec_s.completion, rtol=1e-9)
        np.testing.assert_allclose(rec_e.first_token, rec_s.first_token, rtol=1e-9)
        assert rec_e.rounds == rec_s.rounds and rec_e.evictions.sum() == rec_s.evictions.sum()


class Scripted(Policy):
    """Admits and evicts exactly as scripted: {round: [ids]}."""

    name = "scripted"
    voluntary_preemption = True

    def __init__(self, admit, evict, capacity):
        super().__init__(capacity=capacity)
        self.script_admit, self.script_evict = admit, evict

    def preempt(self, view):
        return self.script_evict.get(view.round, [])

    def admit(self, view):
        return [i for i in self.script_admit.get(view.round, []) if i in set(view.waiting.tolist())]


def test_scripted_admissions_and_evictions_are_executed(engine):
    w = wl([5, 3, 8], [6, 4, 3])
    pol = Scripted({0: [1], 1: [0], 2: [2], 4: [1], 6: [0]}, {3: [1], 5: [0]}, capacity=100)
    loop = EngineLoop(w, pol, build_predictor({"name": "oracle"}), 100, engine.backend(0), clock="rounds")
    rec = loop.run()
    ev = [(r, k, i) for r, k, i in loop.events if k in ("admit", "evict")]
    assert ev == [(0, "admit", 1), (1, "admit", 0), (2, "admit", 2), (3, "evict", 1), (4, "admit", 1),
                  (5, "evict", 0), (6, "admit", 0)]
    assert rec.evictions.tolist() == [1, 1, 0]
    assert rec.wasted_decode.tolist() == [4, 3, 0]       # tokens produced before each eviction
    assert loop.backend.restarts == {0: 1, 1: 1, 2: 0}
    assert rec.completion.tolist() == [12, 8, 5]


def test_budget_respected_and_output_lengths_forced(engine):
    w = _workload(n=20, seed=7)
    M = 35
    rows = []
    loop = EngineLoop(w, build_policy({"name": "vllm_fcfs"}, capacity=M), build_predictor({"name": "oracle"}), M,
                      engine.backend(0), clock="rounds", on_round=rows.append)
    rec = loop.run()
    it = pd.DataFrame(rows)
    assert (it.kv_tokens <= M).all() and (it.kv_physical <= it.kv_tokens).all()
    assert rec.evictions.sum() > 0
    done = ~np.isnan(rec.completion)
    assert done.any()
    for i in np.flatnonzero(done):                     # exactly o tokens in the final run
        assert loop.backend.generated[i] == w.output[i]
    assert not loop.backend.rows                       # every cache freed at the end


def test_kvsched_engine_writes_the_simulators_files(tmp_path):
    from kvsched.cli import main

    out = tmp_path / "run"
    rc = main(["engine", "trace=lmsys_like", "trace.n=6", "trace.rate=20", "trace.max_total=60",
               "algorithm=mcsf", "memory.capacity=200", f"out={out}", "--device", "cpu",
               "--model-json", json.dumps(MICRO), "--threads", "1"])
    assert rc == 0
    req = pd.read_parquet(out / "requests.parquet")
    it = pd.read_parquet(out / "iterations.parquet")
    s = json.loads((out / "summary.json").read_text())
    sim_cols = ["id", "arrival", "prompt", "output", "start", "last_start", "first_token", "completion", "latency",
                "ttft", "evictions", "wasted_decode_tokens", "wasted_prefill_tokens", "rejected"]
    assert list(req.columns) == sim_cols and len(req) == 6
    assert {"prefill_tokens", "batch", "kv_tokens", "duration"} <= set(it.columns) and len(it) > 0
    assert s["metrics"]["completed"] == 6 and s["metrics"]["time_unit"] == "s"
    assert s["engine"]["label"] == "cpu-micro" and s["engine"]["clock"] == "virtual" and s["engine"]["backend"] == "transformers"
    assert it.duration.sum() == pytest.approx(s["metrics"]["busy_time"])


def test_process_timer_runs_on_one_thread(tmp_path):
    """Process CPU time sums all threads: the CLI uses one thread for it, the API refuses more."""
    from kvsched.cli import main
    from kvsched.errors import ConfigError

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        out = tmp_path / "run"
        assert main(["engine", "trace=lmsys_like", "trace.n=3", "trace.max_total=40", "memory.capacity=200",
                     f"out={out}", "--device", "cpu", "--model-json", json.dumps(MICRO), "--timer", "process"]) == 0
        assert json.loads((out / "summary.json").read_text())["engine"]["threads"] == 1
        eng = Engine(MICRO, device="cpu", dtype="float32", threads=2, warmup_rounds=0)
        with pytest.raises(ConfigError, match="timer=process needs one torch thread"):
            eng.backend(timer="process")
    finally:
        torch.set_num_threads(before)


def test_kvsched_engine_prints_latency_in_rounds_for_a_trace_in_rounds(tmp_path, capsys):
    from kvsched.cli import main

    assert main(["engine", "trace=synthetic_mcsf", "trace.n=5", "algorithm=fcfs", f"out={tmp_path / 'run'}",
                 "--device", "cpu", "--model-json", json.dumps(MICRO), "--threads", "1"]) == 0
    line = capsys.readouterr().out
    assert "clock rounds" in line and " rounds, p99 " in line and " s, p99 " not in line


def test_kvsched_engine_warns_about_dropped_rows(tmp_path, capsys):
    from kvsched.cli import main
    f = tmp_path / "t.csv"
    f.write_text("t,in,out\n0,3,4\n0.1,2,0\n0.2,5,3\n")
    out = tmp_path / "run"
    assert main(["engine", "trace=file", f"trace.path={f}", "trace.prompt_col=in", "trace.output_col=out",
                 "trace.arrival_col=t", "algorithm=fcfs", "memory.capacity=64", f"out={out}", "--device", "cpu",
                 "--model-json", json.dumps(MICRO), "--threads", "1"]) == 0
    assert "1 of 3 rows have output 0 and were left out" in capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["warnings"][0].endswith(
        "1 of 3 rows have output 0 and were left out (every request decodes at least one token)")


def test_engine_fidelity_experiment_writes_table_figure_and_claim(tmp_path):
    from kvsched.experiments import run_experiment

    out = run_experiment("engine_fidelity", "quick", [
        f"model={json.dumps(MICRO)}", "trace={name: lmsys_like, n: 8, max_total: 60}", "memory=120",
        "loads=[0.8]", "calibration={seed: 5, loads: []}", "warmup_rounds=1"], out=tmp_path / "ef")
    df = pd.read_csv(out / "fidelity.csv")
    assert len(df) == 3 and set(df.policy) == {"fcfs", "mcsf", "mcsf_noisy"}
    assert (df.engine == "cpu-micro").all() and df.err_mean.notna().all()
    claims = json.loads((out / "claims.json").read_text())["claims"]
    assert claims[0]["id"] == "engine_fidelity" and "cpu-micro" in claims[0]["ours"]
    assert (out / "fidelity.png").exists() and (out / "runs" / "mcsf" / "load=0.8" / "iterations.parquet").exists()
    # the pipeline's notebook (experiment_figures.py) redraws it from the saved tables
    from kvsched.experiments.engine_fidelity import figures
    assert list(figures(out)) == ["fidelity"]
    assert json.loads((out / "done.json").read_text())["scale"] == "quick"
    # each replay records the arrivals it ran, not the trace's own
    tr = json.loads((out / "runs" / "mcsf" / "load=0.8" / "summary.json").read_text())["config"]["trace"]
    assert tr["arrival"] == "poisson" and tr["load"] == 0.8 and tr["rate"] == pytest.approx(df.rate_rps[0])
    assert json.loads((out / "calibration" / "offline" / "summary.json").read_text())["config"]["trace"]["arrival"] \
        == "offline"


def test_engine_loop_stops_a_livelock():
    """The loop shares the simulator's watchdog: evicting the whole batch every round never ends."""
    loop = EngineLoop(wl([1, 1], [5, 5]), Thrash(capacity=20), build_predictor({"name": "oracle"}), 20,
                      NullBackend(), clock="rounds")
    with pytest.raises(SimulationError, match="livelock: policy 'thrash' has run 121 rounds"):
        loop.run()


def test_engine_loop_names_a_policy_whose_admit_returns_none():
    """The loop checks what admit returns as the simulator does, naming the policy."""
    from kvsched.errors import PolicyError

    class Silent(Policy):
        name = "silent"

        def admit(self, view):
            return None

    loop = EngineLoop(wl([1, 1], [5, 5]), Silent(capacity=20), build_predictor({"name": "oracle"}), 20,
                      NullBackend(), clock="rounds")
    with pytest.raises(PolicyError, match="policy 'silent': admit returned None; return a list"):
        loop.run()


def test_a_device_torch_cannot_use_is_a_config_error(monkeypatch):
    """A misspelt device or a CUDA index beyond the visible devices is named, not a torch traceback."""
    from kvsched.engine.models import resolve_device
    from kvsched.errors import ConfigError

    for bad in ("gpu", "cuda:x", "mps"):
        with pytest.raises(ConfigError, match="valid: auto, cpu, cuda, cuda:N"):
            resolve_device(bad)
    assert resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == "cuda:0"
    with pytest.raises(ConfigError, match="torch sees 1 CUDA device"):
        resolve_device("cuda:1")


def test_requests_beyond_the_models_context_are_refused(engine):
    """MICRO's context is 1024 tokens: a request that could hold more is refused before the
    replay (a real model of that shape serves no such request); under M <= 1024 it is rejected
    by the budget instead, and the fidelity experiment leaves such requests out."""
    from kvsched.errors import ConfigError
    from kvsched.experiments.engine_fidelity import _fits

    w = wl([1500, 20], [4, 3], arrival=[0.0, 0.1], unit="s")
    with pytest.raises(ConfigError, match="1 of 2 requests need more than the model's context of 1024 tokens"):
        engine.replay(w, {"name": "fcfs"}, {"name": "oracle"}, 4000)
    rec = engine.replay(w, {"name": "fcfs"}, {"name": "oracle"}, 1000).record
    assert rec.reject_reason[0] is not None and rec.completion[1] > 0
    assert _fits(w, 4000, engine.context).prompt.tolist() == [20]


def test_engine_loop_idles_for_a_policy_that_may_idle():
    """A fixed schedule with a gap (may_idle): the loop waits its quiet rounds as the simulator
    does, instead of reporting a deadlock."""
    from kvsched.optimum.schedule import FixedStarts

    w = wl([1, 1, 2], [1, 2, 1], arrival=[0.0, 0.0, 1.0])
    starts = [0, 3, 6]
    rec_s = simulate(w, FixedStarts(starts, capacity=10), build_predictor({"name": "oracle"}), 10, unit_rounds(),
                     step_mode=True)
    rec_e = EngineLoop(w, FixedStarts(starts, capacity=10), build_predictor({"name": "oracle"}), 10, NullBackend(),
                       clock="rounds").run()
    assert rec_e.completion.tolist() == rec_s.completion.tolist() == [1, 5, 7]
    assert rec_e.rounds == rec_s.rounds


def test_engine_loop_stops_a_policy_idling_for_ever_as_the_simulator_does():
    """With nothing running or still to arrive, a may_idle policy that never admits is a deadlock
    after the watchdog's bound in the simulator; the engine loop idled without end."""
    from test_engine import Idler

    w = wl([1], [1], arrival=[0.0])
    with pytest.raises(SimulationError, match=r"deadlock: policy 'idler' .* for more than 20 rounds"):
        EngineLoop(w, Idler(capacity=8), build_predictor({"name": "oracle"}), 8, NullBackend(), clock="rounds").run()
