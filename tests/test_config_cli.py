"""Config composition (Hydra compose API), CLI errors, outputs and determinism."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from kvsched.cli import main
from kvsched.config import compose, conf_dir
from kvsched.errors import ConfigError, ExperimentError
from kvsched.policies import get_policy_class, list_policies
from kvsched.params import params_fields
from kvsched.predictors.registry import _REGISTRY as PREDICTORS
from kvsched.traces import get_trace, list_traces

SMALL = ["trace=synthetic_mcsf", "memory.capacity=auto", "latency=unit", "sim.progress=false"]


def test_default_config_composes():
    cfg = compose([])
    assert cfg.algorithm.name == "mcsf" and cfg.trace.name == "azure_conv"
    assert cfg.latency.name == "splitwise_fit" and cfg.memory.capacity == 16492


def test_latency_yaml_lists_every_key():
    """``latency.power_w=...`` works without a ``+``: each preset lists every key its model takes."""
    from kvsched.latency import _SCHEMA
    for f in sorted((conf_dir() / "latency").glob("*.yaml")):
        node = OmegaConf.to_container(OmegaConf.load(f))
        required, optional = _SCHEMA[node["name"]]
        assert set(node) - {"name"} == set(required | optional), f


def _dataclass_defaults(cls) -> dict:
    import dataclasses
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


@pytest.mark.parametrize("group,names,defaults", [
    ("algorithm", list_policies, lambda n: _dataclass_defaults(get_policy_class(n).Params)),
    ("trace", list_traces, lambda n: {k: v for k, v in get_trace(n).defaults.items() if k != "name"}),
    ("predictor", lambda: list(PREDICTORS), lambda n: _dataclass_defaults(PREDICTORS[n].Params)),
])
def test_group_yaml_matches_registry(group, names, defaults):
    """Each option's YAML lists exactly the parameters its registry entry accepts, with the
    same defaults, so every parameter can be overridden, a typo is caught, and
    ``kvsched list --long`` prints what a run would use."""
    for name in names():
        f = conf_dir() / group / f"{name}.yaml"
        if not f.exists():
            continue  # registered but not exposed as a preset (e.g. test-only)
        yaml = {k: v for k, v in OmegaConf.to_container(OmegaConf.load(f)).items() if k != "name"}
        want = defaults(name)
        assert sorted(yaml) == sorted(want), f"{f}: keys out of sync with the registry"
        for k, v in yaml.items():
            assert v == want[k], f"{f}: {k} is {v!r} in the YAML but {want[k]!r} in the registry"


@pytest.mark.parametrize("override,expect", [
    (["memory.capcity=5"], "memory.capcity"),
    (["algorithm.alpah=0.3"], "algorithm.alpah"),
    (["algorithm=nope"], "nope"),
    (["trace=nope"], "nope"),
    (["sedd=3"], "sedd"),
])
def test_unknown_keys_and_names_are_named(override, expect):
    with pytest.raises(ConfigError, match=expect.replace(".", r"\.")):
        compose(override)


@pytest.mark.parametrize("cfg,expect", [
    ({"name": "alpha_clearing", "phi": "abc"}, "phi must be a number, got 'abc'"),
    ({"name": "sorted_f", "overlap": "no"}, "overlap must be true or false, got 'no'"),
    ({"name": "vllm_fcfs", "max_num_seqs": 2.5}, "max_num_seqs must be an integer, got 2.5"),
    ({"name": "gsa", "beta": None}, "beta must be a number, got None"),
    ({"name": "amin", "keep_estimate": 1}, "keep_estimate must be true or false"),
])
def test_parameter_types_are_checked(cfg, expect):
    from kvsched.policies import build_policy
    with pytest.raises(ConfigError, match=expect):
        build_policy(cfg, capacity=100)


@pytest.mark.parametrize("cfg,expect", [
    ({"name": "sage_knn", "k": 2.5}, "k must be an integer"),
    ({"name": "noisy", "eps": "abc"}, "eps must be a number"),
    ({"name": "noisy", "eps": float("nan")}, "eps=nan must be a finite number"),
    ({"name": "noisy", "eps": float("inf"), "dist": "lognormal"}, "eps=inf must be a finite number"),
    ({"name": "sage_knn", "point_only": "yes"}, "point_only must be true or false"),
])
def test_predictor_parameter_types_are_checked(cfg, expect):
    from kvsched.predictors import build_predictor
    with pytest.raises(ConfigError, match=expect):
        build_predictor(cfg)


def test_every_yaml_default_passes_the_type_checks():
    from kvsched.policies import build_policy
    from kvsched.predictors import build_predictor
    for group, names in (("algorithm", list_policies()), ("predictor", list(PREDICTORS))):
        for name in names:
            f = conf_dir() / group / f"{name}.yaml"
            if f.exists():
                cfg = OmegaConf.to_container(OmegaConf.load(f))
                if group == "algorithm":
                    build_policy(cfg, capacity=1000)
                else:
                    build_predictor(cfg)


def test_cli_names_a_mistyped_parameter(tmp_path, capsys):
    assert main(["run", *SMALL, "algorithm=alpha_clearing", "algorithm.phi=abc", f"out={tmp_path}"]) == 2
    assert "phi must be a number, got 'abc'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_default_out_differs_whenever_the_config_does():
    base = compose(["predictor=noisy", "predictor.eps=0.5"]).out
    assert compose(["predictor=noisy", "predictor.eps=0.5", "sim.progress=false"]).out == base
    for other in (["predictor=noisy", "predictor.eps=1.0"], ["predictor=noisy", "predictor.eps=0.5", "trace.n=50"],
                  ["predictor=noisy", "predictor.eps=0.5", "latency=llama2_70b_h100_tp2"]):
        assert compose(other).out != base, other
    assert base.startswith("results/runs/adhoc/azure_conv/mcsf/M16492/seed0-")
    assert compose(["out=/tmp/x"]).out == "/tmp/x"


@pytest.mark.parametrize("override,expect", [
    ("+memroy.capacity=10", "unknown config key 'memroy'; valid keys: trace, algorithm"),
    ("+sim.fats=false", "unknown config key 'sim.fats'; valid keys under sim: step_mode"),
    ("memroy.capacity=10", "unknown config key 'memroy.capacity'; valid keys: trace, algorithm"),
])
def test_misspelt_top_level_keys_are_named_even_with_plus(override, expect):
    with pytest.raises(ConfigError, match=expect):
        compose([override])


def test_unknown_algorithm_lists_valid_options():
    with pytest.raises(ConfigError) as e:
        compose(["algorithm=nope"])
    assert "mcsf" in str(e.value) and "vllm_fcfs" in str(e.value)


def test_typo_in_group_lists_valid_keys():
    with pytest.raises(ConfigError) as e:
        compose(["algorithm=alpha_clearing", "algorithm.alpah=0.3"])
    assert "alpha" in str(e.value) and "phi" in str(e.value)


def test_cli_run_writes_outputs_and_provenance(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", *SMALL, "algorithm=fcfs", f"out={out}"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["config"]["algorithm"]["name"] == "fcfs"
    assert s["resolved"]["memory_capacity"] >= 30
    assert s["provenance"]["packages"]["numpy"]
    assert "commit" in s["provenance"]["git"]
    df = pd.read_parquet(out / "requests.parquet")
    assert len(df) == s["metrics"]["requests"]
    assert not list(out.glob(".*tmp"))  # no temporary files left behind


def test_requests_table_records_what_produced_it(tmp_path):
    """requests.parquet says on its own which config, code and packages produced it (copied away
    from its summary.json, it used to record nothing), and reads as before."""
    from kvsched.io import read_parquet_meta
    out = tmp_path / "run"
    assert main(["run", *SMALL, "algorithm=fcfs", "seed=3", f"out={out}"]) == 0
    s = json.loads((out / "summary.json").read_text())
    meta = read_parquet_meta(out / "requests.parquet")
    assert meta is not None
    s["config"].pop("out"); s["config"]["sim"].pop("progress")     # change no result
    assert meta["config"] == s["config"] and meta["config"]["seed"] == 3
    assert meta["resolved"] == s["resolved"] and meta["provenance"] == s["provenance"]
    assert meta["provenance"]["packages"]["numpy"] and "commit" in meta["provenance"]["git"]
    assert len(pd.read_parquet(out / "requests.parquet")) == s["metrics"]["requests"]


@pytest.fixture
def moving_commit(monkeypatch):
    """A git revision that changes while a run is going (a commit made mid-run), read once
    per process like the real one."""
    import functools

    import kvsched.provenance as prov
    state = {"commit": "at-start"}
    monkeypatch.setattr(prov, "git_revision", functools.lru_cache(maxsize=1)(
        lambda: {"commit": state["commit"], "dirty": False}))
    return state


def test_run_records_the_code_version_it_started_with(tmp_path, monkeypatch, moving_commit):
    import kvsched.runner as runner
    real = runner.simulate

    def simulate(*a, **k):
        moving_commit["commit"] = "committed-mid-run"
        return real(*a, **k)
    monkeypatch.setattr(runner, "simulate", simulate)
    assert main(["run", *SMALL, "algorithm=fcfs", f"out={tmp_path}"]) == 0
    s = json.loads((tmp_path / "summary.json").read_text())
    assert moving_commit["commit"] == "committed-mid-run"
    assert s["provenance"]["git"]["commit"] == "at-start"


def test_experiment_records_the_code_version_it_started_with(tmp_path, monkeypatch, moving_commit):
    import types

    import kvsched.experiments as ex

    def run(ctx):
        moving_commit["commit"] = "committed-mid-run"
        ctx.summary({"ok": True})
    monkeypatch.setattr(ex, "load_module_spec", lambda name: {"module": "fake", "params": {"quick": {}}})
    monkeypatch.setattr(ex, "importlib", types.SimpleNamespace(import_module=lambda name: types.SimpleNamespace(run=run)))
    out = ex.run_experiment("fake", out=tmp_path)
    for f in ("done.json", "claims.json"):
        assert json.loads((out / f).read_text())["provenance"]["git"]["commit"] == "at-start", f


def test_cli_errors_are_clean(tmp_path, capsys):
    assert main(["run", "algorithm=nope", f"out={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kvsched: error:") and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_same_seed_identical_parquet(tmp_path):
    for d in ("a", "b"):
        assert main(["run", *SMALL, "predictor=noisy", "predictor.eps=0.5", "seed=3",
                     f"out={tmp_path / d}"]) == 0
    assert (tmp_path / "a/requests.parquet").read_bytes() == (tmp_path / "b/requests.parquet").read_bytes()
    assert main(["run", *SMALL, "predictor=noisy", "predictor.eps=0.5", "seed=4", f"out={tmp_path / 'c'}"]) == 0
    assert (tmp_path / "a/requests.parquet").read_bytes() != (tmp_path / "c/requests.parquet").read_bytes()


def test_prompt_larger_than_memory_is_rejected_not_fatal(tmp_path, data_dir):
    out = tmp_path / "r"
    assert main(["run", "trace=azure_conv", "trace.n=300", "memory.capacity=2000", "algorithm=vllm_fcfs",
                 "sim.progress=false", f"out={out}"]) == 0
    s = json.loads((out / "summary.json").read_text())["metrics"]
    assert s["rejected_by_reason"].get("prompt_exceeds_memory", 0) > 0
    assert s["completed"] + s["rejected"] == 300


def test_run_where_every_request_is_rejected(tmp_path, data_dir, capsys):
    """No request completes: the latency metrics are undefined, which the CLI says instead of
    failing after the files were written."""
    out = tmp_path / "r"
    assert main(["run", "trace=azure_conv", "trace.n=50", "memory.capacity=100",
                 "sim.progress=false", f"out={out}"]) == 0
    line = capsys.readouterr().out
    assert "0/50 completed, 50 rejected (prompt_exceeds_memory:" in line and "mean latency n/a" in line
    m = json.loads((out / "summary.json").read_text())["metrics"]
    assert m["completed"] == 0 and m["latency_mean"] is None


def test_failed_run_keeps_previous_results(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", *SMALL, f"out={out}"]) == 0
    before = (out / "summary.json").read_bytes()
    assert main(["run", *SMALL, "predictor=noisy", "predictor.eps=-1", f"out={out}"]) == 2
    assert (out / "summary.json").read_bytes() == before
    # the refused value is named with the predictor it was given to, as for algorithms
    assert "kvsched: error: predictor 'noisy': eps=-1 must be >= 0" in capsys.readouterr().err


def test_failed_run_leaves_no_folder_of_its_own(tmp_path):
    keep = tmp_path / "keep"
    keep.mkdir()
    out = keep / "a" / "b"
    assert main(["run", *SMALL, "predictor=noisy", "predictor.eps=-1", f"out={out}"]) == 2
    assert list(keep.iterdir()) == []        # a/ and a/b/ were made by the run and are gone again
    assert main(["run", *SMALL, "predictor=noisy", "predictor.eps=-1", f"out={keep}"]) == 2
    assert keep.is_dir()                      # a folder that was there before stays


def test_results_are_readable_by_others(tmp_path):
    import os
    import stat
    from kvsched.io import write_json
    old = os.umask(0o022)
    try:
        p = write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644


def test_aggregate_names_each_run_by_its_label(tmp_path):
    """label= (a sweep variant's name) is recorded and becomes the table's label; without it
    the label is the algorithm."""
    from kvsched.analysis.aggregate import aggregate
    assert main(["run", *SMALL, "algorithm=mcsf", "label=mcsf_noisy", "predictor=noisy", f"out={tmp_path / 'a'}"]) == 0
    assert main(["run", *SMALL, "algorithm=mcsf", f"out={tmp_path / 'b'}"]) == 0
    df = aggregate([tmp_path / "a" / "summary.json", tmp_path / "b" / "summary.json"])
    assert sorted(zip(df["label"], df["predictor"])) == [("mcsf", "oracle"), ("mcsf_noisy", "noisy")]
    # the trace's settings are columns too (a sweep over trace.rate plots against it)
    assert df["trace.arrival_model"].tolist() == [1, 1] and "trace.n" in df


def test_experiment_on_a_sweep_gives_the_command_to_run_it(capsys):
    assert main(["experiment", "all_algorithms"]) != 0
    assert "snakemake --cores 2 --config 'experiments=[all_algorithms]'" in capsys.readouterr().err


def test_data_verify_checks_only_the_named_files(data_dir, capsys):
    assert main(["data", "verify", "azure_conv", "--data-dir", str(data_dir)]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if not ln.startswith("data dir")]
    assert [ln.split()[-1] for ln in lines] == ["azure_conv"]
    assert main(["data", "verify", "nope", "--data-dir", str(data_dir)]) == 2
    assert "unknown data file 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("override,expect", [
    ("seed=-1", "seed must be an integer >= 0, got -1"),
    ("seed=abc", "bad override seed=abc: Value 'abc' of type 'str' could not be converted to Integer"),
    ("sim.fast=maybe", "bad override sim.fast=maybe: sim.fast must be true or false"),
    ("sim.step_mode=3", "bad override sim.step_mode=3: sim.step_mode must be true or false"),
    ("sim.fast=0", "bad override sim.fast=0: sim.fast must be true or false"),
    ("sim.progress=7", "sim.progress must be auto, true or false, got 7"),
    ("sim.progress=yes", "sim.progress must be auto, true or false, got 'yes'"),
    ("out=", "out must name a folder"),
])
def test_bad_top_level_values_are_explained(override, expect, capsys):
    assert main(["run", *SMALL, override]) == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err


def test_an_unusable_out_fails_before_the_simulation(tmp_path, monkeypatch, capsys):
    from kvsched import runner
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setattr(runner, "simulate", lambda *a, **k: pytest.fail("simulated before checking out"))
    assert main(["run", *SMALL, f"out={blocker}"]) == 2
    assert "a file is in the way" in capsys.readouterr().err
    assert main(["run", *SMALL, f"out={blocker / 'sub'}"]) == 2
    assert "cannot create the folder" in capsys.readouterr().err
    assert blocker.read_text() == "x"


def test_mixing_time_units_warns_and_is_recorded(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "trace=synthetic_mcsf", "memory.capacity=auto", "sim.progress=false", f"out={out}"]) == 0
    assert "times are in rounds, latency splitwise_fit (llama2-70b, a100-80gb, tp 2) in s" in capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["warnings"]
    assert main(["run", *SMALL, f"out={out}"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["warnings"] == []


def test_a_latency_model_without_power_data_warns_that_energy_is_null(tmp_path, data_dir, capsys):
    out = tmp_path / "r"
    run = ["run", "trace=azure_conv", "trace.n=20", "memory.capacity=16492", "sim.progress=false", f"out={out}"]
    assert main([*run, "latency=llama2_70b_h100_tp2"]) == 0
    assert "has no power data: energy_j and energy_per_token_j are null; set latency.power_w" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["energy_j"] is None and "no power data" in summary["warnings"][0]
    assert main([*run, "latency=llama2_70b_h100_tp2", "latency.power_w=700"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["metrics"]["energy_j"] > 0


def test_a_list_of_options_for_a_group_is_refused():
    """Hydra would merge the options (the last one wins, silently); a run takes one."""
    with pytest.raises(ConfigError, match="a run takes one algorithm"):
        compose(["algorithm=[mcsf,sf]"])


@pytest.mark.parametrize("value", [1.5, True, "abc", 0, 2 ** 63, 10 ** 30])
def test_memory_capacity_must_be_a_whole_number_of_tokens(value):
    from kvsched.runner import resolve_capacity
    with pytest.raises(ConfigError, match="memory.capacity must be"):
        resolve_capacity(value, None)
    assert resolve_capacity(2048.0, None) == 2048
    assert resolve_capacity(2 ** 63 - 1, None) == 2 ** 63 - 1   # beyond int64 a policy failed with OverflowError


@pytest.mark.parametrize("written", ["2048.0", "2.048e3"])
def test_a_whole_float_capacity_is_the_same_run_as_the_integer(written):
    """``memory.capacity=2048.0`` is M = 2048: the same folder, digest and config, not ``M2048.0``."""
    want = compose(["memory.capacity=2048"])
    got = compose([f"memory.capacity={written}"])
    assert got.memory.capacity == 2048 and isinstance(got.memory.capacity, int)
    assert got.out == want.out and "/M2048/" in got.out


@pytest.mark.parametrize("override,expect", [
    ("memory.capacity=1.5", "memory.capacity must be a positive integer"),
    ("seed=-3", "seed must be an integer >= 0"),
    ("sim.progress=7", "sim.progress must be"),
])
def test_cfg_checks_values_before_printing(override, expect, capsys):
    """``run --cfg`` shows the config a run would use, so it refuses what a run would refuse."""
    assert main(["run", "--cfg", override]) == 2
    assert expect in capsys.readouterr().err


def _fake_module_experiment(monkeypatch, run):
    """A module experiment 'fake' whose ``run(ctx)`` is ``run``."""
    import sys
    import types
    from kvsched import experiments
    mod = types.ModuleType("kvsched_test_fake_experiment")
    mod.run = run
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setattr(experiments, "load_module_spec", lambda name: {
        "name": name, "kind": "module", "module": mod.__name__, "scale": "quick",
        "params": {"quick": {"seeds": [0], "trials": 2, "limit": 1.0, "label": "x", "n": None}}})


def test_a_failed_experiment_rerun_keeps_the_previous_results(tmp_path, monkeypatch):
    from kvsched.experiments import run_experiment

    def run(ctx):
        if ctx.params["trials"] < 0:
            ctx.table(pd.DataFrame({"t": []}), "trials")    # half the outputs, then a crash
            raise KeyError("arrival_model")
        ctx.table(pd.DataFrame({"t": range(ctx.params["trials"])}), "trials")
    _fake_module_experiment(monkeypatch, run)
    out = tmp_path / "fake"
    run_experiment("fake", out=out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ExperimentError, match=r"experiment 'fake' failed: KeyError: 'arrival_model' at "
                       r"test_config_cli.py:\d+ in run .*this run set trials=-1: check those values"):
        run_experiment("fake", sets=["trials=-1"], out=out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before     # no staging folder left either
    monkeypatch.setenv("KVSCHED_TRACEBACK", "1")
    with pytest.raises(KeyError):                                        # the module's own exception
        run_experiment("fake", sets=["trials=-1"], out=out)
    monkeypatch.delenv("KVSCHED_TRACEBACK")
    with pytest.raises(ExperimentError):
        run_experiment("fake", sets=["trials=-1"], out=tmp_path / "new" / "a" / "b")
    assert not (tmp_path / "new").exists()                               # a failed first run leaves no folders
    run_experiment("fake", sets=["trials=3"], out=out)
    assert len(pd.read_csv(out / "trials.csv")) == 3 and json.loads((out / "done.json").read_text())["params"]["trials"] == 3


KILLED_EXPERIMENT = """
import os, signal, sys, types
import pandas as pd
from kvsched import experiments

def run(ctx):
    ctx.table(pd.DataFrame({"t": [1]}), "trials")
    os.kill(os.getpid(), signal.SIGKILL)             # killed mid-run (kill -9)

mod = types.ModuleType("kvsched_test_killed_experiment")
mod.run = run
sys.modules[mod.__name__] = mod
experiments.load_module_spec = lambda name: {"name": name, "kind": "module", "module": mod.__name__,
                                             "scale": "quick", "params": {"quick": {}}}
experiments.run_experiment("fake", out=sys.argv[1])
"""


def test_the_next_run_removes_a_killed_runs_staging_folder_only(tmp_path, monkeypatch):
    """A killed run leaves its staging folder; the next run of the experiment removes it, but
    not the folder of a run still going (it holds the folder's lock) nor one just made."""
    import os
    import signal
    import subprocess
    import sys
    import tempfile
    import time
    from kvsched.experiments import run_experiment

    out = tmp_path / "fake"
    r = subprocess.run([sys.executable, "-c", KILLED_EXPERIMENT, str(out)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr
    (killed,) = out.glob(".staging-*")
    assert (killed / "trials.parquet").exists()
    hour_ago = time.time() - 3600
    os.utime(killed, (hour_ago, hour_ago))
    new = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))   # made this instant, not locked yet
    _fake_module_experiment(monkeypatch, lambda ctx: ctx.table(pd.DataFrame({"t": [2]}), "trials"))
    run_experiment("fake", out=out)
    assert not killed.exists() and new.exists()
    published = sorted(p.name for p in out.iterdir() if not p.name.startswith(".staging-"))
    assert published == ["claims.json", "done.json", "trials.csv", "trials.parquet"]   # no lock, no debris
    assert pd.read_parquet(out / "trials.parquet")["t"].tolist() == [2]

    from kvsched.experiments import _open_stage
    running, lock = _open_stage(out)                 # a concurrent run of the same experiment
    for d in (new, running):
        os.utime(d, (hour_ago, hour_ago))
    run_experiment("fake", out=out)
    assert running.exists() and not new.exists()     # new never took a lock: a killed run's too
    os.close(lock)                                   # that run was killed as well
    os.utime(running, (hour_ago, hour_ago))
    run_experiment("fake", out=out)
    assert not list(out.glob(".staging-*"))


def test_a_run_right_after_a_kill_removes_the_killed_runs_staging_folder(tmp_path, monkeypatch):
    """The killed run's folder had changed less than a minute before, so the next run took it
    for one whose run had not locked it yet and left it behind; its lock file says otherwise."""
    import signal
    import subprocess
    import sys
    from kvsched.experiments import run_experiment

    out = tmp_path / "fake"
    r = subprocess.run([sys.executable, "-c", KILLED_EXPERIMENT, str(out)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert len(list(out.glob(".staging-*"))) == 1
    _fake_module_experiment(monkeypatch, lambda ctx: ctx.table(pd.DataFrame({"t": [2]}), "trials"))
    run_experiment("fake", out=out)
    assert not list(out.glob(".staging-*"))
    assert pd.read_parquet(out / "trials.parquet")["t"].tolist() == [2]


@pytest.mark.parametrize("setting,expect", [
    ("seeds=5", "seeds must be a list"),
    ("trials=abc", "trials must be a whole number"),
    ("trials=1.5", "trials must be a whole number"),
    ("limit=[1]", "limit must be a number"),
])
def test_experiment_set_values_have_the_presets_types(monkeypatch, tmp_path, setting, expect):
    from kvsched.experiments import run_experiment
    _fake_module_experiment(monkeypatch, lambda ctx: pytest.fail("ran with a mistyped parameter"))
    with pytest.raises(ConfigError, match=expect):
        run_experiment("fake", sets=[setting], out=tmp_path)
    _fake_module_experiment(monkeypatch, lambda ctx: None)
    run_experiment("fake", sets=["limit=2", "n=7", "seeds=[1, 2]"], out=tmp_path)   # int for a float, null's any


@pytest.mark.parametrize("setting,expect", [
    ("families=[nope]", r"unknown families \['nope'\]; valid: fat_prompts, hol_blocking"),
    ("algorithms=[]", "has neither gsa nor gba"),
    ("algorithms=[{name: fcfs}]", "has neither gsa nor gba"),
    ("synthetic_trials=-2", "synthetic_trials must be >= 0, got -2"),
])
def test_gsa_gba_names_a_bad_value(tmp_path, setting, expect):
    from kvsched.experiments import run_experiment
    with pytest.raises(ConfigError, match=expect):
        run_experiment("gsa_gba", sets=["traces=[]", setting], out=tmp_path)


@pytest.mark.parametrize("name,sets,expect", [
    ("gsa_gba", ["traces=[]", "synthetic_trials=1", "families=[hol_blocking]", "family_memory=[16]",
                 "algorithms=[{name: gba}]"], [r"\[1/2\] synthetic_mcsf seed 0 M \d+ \(n=\d+\): 1 algorithms in ",
                                               r"\[2/2\] hol_blocking seed 0 M 16 \(n=\d+\): 1 algorithms in "]),
    ("adversarial_ratios", ["families=[hol_blocking]", "memory=[16]", "algorithms=[{name: fcfs}]"],
     [r"\[1/1\] hol_blocking M 16 \(n=\d+\): 1 algorithms in "]),
])
def test_module_experiments_report_progress(tmp_path, capsys, name, sets, expect):
    """A module experiment that runs for minutes at full scale prints a line per instance."""
    import re
    from kvsched.experiments import run_experiment
    run_experiment(name, sets=sets, out=tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(expect) and all(re.match(e, line) for e, line in zip(expect, lines)), lines


def test_gsa_gba_runs_with_one_of_its_two_algorithms(tmp_path):
    from kvsched.experiments import run_experiment
    out = run_experiment("gsa_gba", sets=["traces=[]", "synthetic_trials=1", "families=[hol_blocking]",
                                          "family_memory=[16]", "algorithms=[{name: gba}, {name: fcfs}]"],
                         out=tmp_path)
    claims = json.loads((out / "claims.json").read_text())["claims"]
    assert {c["id"] for c in claims} == {"gba_general"}
    out = run_experiment("gsa_gba", sets=["traces=[]", "synthetic_trials=1", "families=[hol_blocking]",
                                          "family_memory=[16]", "algorithms=[{name: gsa, beta: 1.5}, {name: gsa}]"],
                         out=tmp_path)            # a variant with parameters gets its own claim
    claims = json.loads((out / "claims.json").read_text())["claims"]
    assert [c["id"] for c in claims] == ["gsa[1.5]_general", "gsa_general"]


def test_data_without_an_action_names_only_the_action(capsys):
    """``keys`` is optional (``kvsched data verify`` checks every file), so only the action is missing."""
    with pytest.raises(SystemExit) as e:
        main(["data"])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip().endswith("error: the following arguments are required: action")


def test_engine_line_counts_rejections_as_run_does(monkeypatch, tmp_path, capsys):
    """The engine command's summary line gives rejections with their reasons, like ``kvsched run``'s.
    The replay is replaced by a fixed summary, so no model (or torch) is needed."""
    import kvsched.engine.runner as engine_runner

    metrics = {"requests": 40, "completed": 34, "rejected": 6,
               "rejected_by_reason": {"kv_exceeds_memory": 5, "prompt_exceeds_memory": 1},
               "latency_mean": 3.29, "latency_p99": 12.86, "evictions": 0, "time_unit": "s"}
    summary = {"metrics": metrics, "resolved": {"memory_capacity": 256}, "timing": {"iterations": 1809},
               "engine": {"label": "cpu-tiny", "dtype": "float32", "clock": "virtual"}}
    monkeypatch.setattr(engine_runner, "run", lambda cfg, engine: summary)
    assert main(["engine", "trace=lmsys_like", "algorithm=mcsf", "memory.capacity=256", f"out={tmp_path}"]) == 0
    line = capsys.readouterr().out
    assert ("34/40 completed, 6 rejected (kv_exceeds_memory: 5, prompt_exceeds_memory: 1), "
            "mean latency 3.29 s, p99 12.86 s, evictions 0, 1809 iterations") in line, line
    metrics.update(rejected=0, rejected_by_reason={}, completed=40)
    assert main(["engine", "trace=lmsys_like", "algorithm=mcsf", "memory.capacity=256", f"out={tmp_path}"]) == 0
    assert "40/40 completed, 0 rejected, mean latency" in capsys.readouterr().out


def test_overrides_may_follow_options(monkeypatch, tmp_path, capsys):
    """``run`` and ``engine`` read overrides before and after their options, as ``data`` reads its
    keys: an override appended to ``kvsched engine OVERRIDES --device cpu --timer process`` (the
    command in docs/engine.md) is an override, not an unrecognized argument."""
    assert main(["run", "trace=synthetic_mcsf", "--cfg", "seed=3"]) == 0
    printed = OmegaConf.create(capsys.readouterr().out)
    assert printed.seed == 3 and printed.trace.name == "synthetic_mcsf"
    import kvsched.engine.runner as engine_runner

    seen = {}
    metrics = {"requests": 1, "completed": 1, "rejected": 0, "rejected_by_reason": {}, "latency_mean": 1.0,
               "latency_p99": 1.0, "evictions": 0, "time_unit": "s"}
    summary = {"metrics": metrics, "resolved": {"memory_capacity": 256}, "timing": {"iterations": 1},
               "engine": {"label": "cpu-tiny", "dtype": "float32", "clock": "virtual"}}
    monkeypatch.setattr(engine_runner, "run", lambda cfg, engine: seen.update(cfg=cfg, engine=engine) or summary)
    assert main(["engine", "trace=lmsys_like", "memory.capacity=256", "--device", "cpu", "--timer", "process",
                 f"out={tmp_path}", "algorithm=fcfs"]) == 0
    assert seen["cfg"].out == str(tmp_path) and seen["cfg"].algorithm.name == "fcfs"
    assert seen["engine"]["device"] == "cpu" and seen["engine"]["timer"] == "process"


def test_a_policy_that_reads_no_predictions_records_no_oracle(tmp_path):
    """vllm_fcfs runs no predictor, so its summary must not claim the oracle's truth reached it."""
    out = tmp_path / "r"
    assert main(["run", *SMALL, "algorithm=vllm_fcfs", "predictor=oracle", f"out={out}"]) == 0
    resolved = json.loads((out / "summary.json").read_text())["resolved"]
    assert resolved["policy_reads_predictions"] is False
    assert resolved["predictor_is_oracle"] is False and resolved["predictor_uses_truth"] is False
    assert main(["run", *SMALL, "algorithm=mcsf", "predictor=oracle", f"out={tmp_path / 'm'}"]) == 0
    assert json.loads((tmp_path / "m" / "summary.json").read_text())["resolved"]["predictor_is_oracle"] is True


@pytest.mark.parametrize("override,message", [
    ("~seed", r"~seed: seed is part of every run's config and cannot be removed"),
    ("~memory.capacity", r"memory.capacity is part of every run's config"),
    ("~trace", r"trace is part of every run's config"),
    ("seed=1,2", r"seed=1,2: a run takes one value; to compare several, sweep them"),
    ("hydra.run.dir=x", r"hydra.run.dir=x: Hydra's own settings are not used"),
])
def test_overrides_a_run_cannot_honour_are_refused_by_name(override, message, tmp_path, capsys):
    """Removing a required key used to crash with OmegaConf's traceback, ``key=a,b`` advised a
    --multirun that ``run`` does not have, and ``hydra.*`` was silently ignored."""
    assert main(["run", *SMALL, override, f"out={tmp_path / 'r'}"]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def test_engine_default_folder_is_not_the_simulators(monkeypatch, capsys):
    """Without ``out=``, a replay does not write into the folder ``kvsched run`` uses for the same
    overrides (which would replace the measured results or leave a stale iterations.parquet beside
    simulated ones), nor into the folder of a replay on another model or device."""
    import kvsched.engine.runner as engine_runner

    seen = []
    metrics = {"requests": 1, "completed": 1, "rejected": 0, "rejected_by_reason": {}, "latency_mean": 1.0,
               "latency_p99": 1.0, "evictions": 0, "time_unit": "s"}
    summary = {"metrics": metrics, "resolved": {"memory_capacity": 256}, "timing": {"iterations": 1},
               "engine": {"label": "cpu-tiny", "dtype": "float32", "clock": "virtual"}}
    monkeypatch.setattr(engine_runner, "run", lambda cfg, engine: seen.append(cfg.out) or summary)
    over = ["trace=lmsys_like", "trace.n=10", "memory.capacity=256"]
    assert main(["run", "--cfg", *over]) == 0
    sim_out = OmegaConf.create(capsys.readouterr().out).out
    assert main(["engine", *over, "--device", "cpu"]) == 0
    assert main(["engine", *over, "--device", "cpu"]) == 0
    assert main(["engine", *over, "--device", "cpu", "--model-json", '{"num_hidden_layers": 2}']) == 0
    assert seen[0] == seen[1] != seen[2]                     # the same replay reruns into its folder
    assert all(o.startswith(f"{sim_out}-engine-") for o in seen)
    assert seen[0] in capsys.readouterr().out


def test_a_value_for_a_group_of_keys_or_an_unparsable_override_is_named(capsys):
    """``memory=16492`` (for ``memory.capacity=16492``) names the keys to set, and an override
    Hydra's grammar rejects is named, which Hydra's own message does not do."""
    assert main(["run", "memory=16492", "trace.n=10"]) == 2
    err = capsys.readouterr().err
    assert "bad override memory=16492" in err and "memory.capacity=..." in err
    assert main(["run", "sim=false"]) == 2
    assert "sim.fast=..." in capsys.readouterr().err
    assert main(["run", "trace.n=10", "algorithm.scan=skip=1"]) == 2
    assert "cannot parse the override 'algorithm.scan=skip=1'" in capsys.readouterr().err


def test_an_unknown_experiment_lists_modules_and_sweeps_apart(capsys):
    """`kvsched experiment` runs module experiments only, so the message says which are which."""
    assert main(["experiment", "nope"]) == 2
    err = capsys.readouterr().err
    modules, sweeps = err.split("module experiments")[1].split("sweeps")
    assert "mcsf_synthetic" in modules and "skeleton" not in modules and "skeleton" in sweeps


def test_a_misspelt_module_parameter_in_a_preset_is_named_before_anything_runs(tmp_path, monkeypatch):
    import kvsched.experiments as ex
    spec = ex.load_module_spec("amin_amax")
    spec["params"]["quick"] = {**spec["params"]["quick"], "alpahs": [0.5]}
    monkeypatch.setattr(ex, "load_module_spec", lambda name: spec)
    with pytest.raises(ConfigError, match=r"amin_amax\.yaml: params\.quick has unknown key\(s\) 'alpahs' "
                                          r"\(did you mean 'alphas'\?\)"):
        ex.run_experiment("amin_amax", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_every_module_preset_sets_only_keys_its_module_reads():
    import importlib

    import yaml

    from kvsched.config.compose import conf_dir
    for f in sorted((conf_dir() / "experiment").glob("*.yaml")):
        spec = yaml.safe_load(f.read_text())
        if spec.get("kind") != "module":
            continue
        accepted = importlib.import_module(spec["module"]).PARAMS
        for scale, level in spec["params"].items():
            assert set(level) <= accepted, (f.name, scale, set(level) - accepted)
