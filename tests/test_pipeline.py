"""The Snakemake workflow: the full DAG resolves (dry run), and sweep expansion is sane."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kvsched.analysis.sweep import expand, load_sweep
from kvsched.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_skeleton_sweep_expands_to_readable_paths():
    spec = load_sweep("skeleton")
    pts = expand(spec)
    assert len(pts) == 2 * 3 * 4 * len(spec["seeds"])
    assert pts[0].path.startswith("trace=") and pts[0].path.endswith("seed=0")
    assert len({p.path for p in pts}) == len(pts)


def test_unknown_experiment_is_named():
    with pytest.raises(ConfigError, match="nope"):
        load_sweep("nope")


@pytest.mark.skipif(shutil.which("snakemake") is None and not (Path(sys.executable).parent / "snakemake").exists(),
                    reason="snakemake not installed")
def test_full_dag_dry_run(tmp_path):
    exe = shutil.which("snakemake") or str(Path(sys.executable).parent / "snakemake")
    r = subprocess.run([exe, "-n", "--cores", "1", "-d", str(tmp_path), "-s", str(ROOT / "Snakefile"),
                        "--configfile", str(ROOT / "workflow" / "config.yaml")],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "simulate" in r.stdout and "aggregate" in r.stdout
    assert re.search(r"^report\s+1\s*$", r.stdout, re.M), r.stdout     # the replication report
    # another list of experiments builds those alone and leaves paper/report.md as it is
    r = subprocess.run([exe, "-n", "--cores", "1", "-d", str(tmp_path), "-s", str(ROOT / "Snakefile"),
                        "--configfile", str(ROOT / "workflow" / "config.yaml"), "--config", "experiments=[skeleton]"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^sweep_claims\s+1\s*$", r.stdout, re.M) and not re.search(r"^report\s", r.stdout, re.M), r.stdout


def test_sweep_scales_select_fixed_and_seeds():
    quick, full = load_sweep("skeleton"), load_sweep("skeleton", "full")
    assert "trace.n=1500" in quick["fixed"] and not any(f.startswith("trace.n") for f in full["fixed"])
    assert quick["scale"] == "quick" and full["scale"] == "full"
    with pytest.raises(ConfigError, match="no scale"):
        load_sweep("skeleton", "huge")


def test_bad_override_fails_before_any_job():
    from kvsched.analysis.sweep import validate_points
    spec = load_sweep("skeleton")
    validate_points(spec)  # the shipped preset composes
    spec = dict(spec, axes={**spec["axes"], "algorithm": ["fcfs", "mcsff"]})
    with pytest.raises(ConfigError, match="algorithm=mcsff"):
        validate_points(spec)
    # a bad value too: it failed only in the jobs, after Snakemake had removed the points' old results
    with pytest.raises(ConfigError, match="memory.capacity must be a positive integer"):
        validate_points(load_sweep("skeleton"), ["memory.capacity=abc"])


def test_every_combination_of_axes_is_validated():
    """A bad point that only one combination of axis values makes (its values each composed
    fine elsewhere) fails before any job, naming it; so does a parameter value the policy or
    predictor refuses, and a claims checker or figure that does not exist."""
    from kvsched.analysis.sweep import validate_points
    spec = {"name": "combo", "fixed": ["trace.n=50", "memory.capacity=8192", "latency=unit"], "seeds": [0],
            "axes": {"trace": ["azure_code", "synthetic_mcsf"],
                     "policy": {"plain": ["algorithm=fcfs"], "rated": ["algorithm=mcsf", "trace.rate=2"]}}}
    with pytest.raises(ConfigError, match=r"point trace=synthetic_mcsf/policy=rated/seed=0: unknown config key 'trace.rate'"):
        validate_points(spec)
    spec = {"name": "evict", "fixed": [], "seeds": [0],
            "axes": {"algorithm": ["sagesched", "mcsf"], "algorithm.eviction": ["newest", "index"]}}
    with pytest.raises(ConfigError, match=r"point algorithm=mcsf/algorithm.eviction=index/seed=0: .*eviction='index'"):
        validate_points(spec)
    spec = load_sweep("skeleton")
    with pytest.raises(ConfigError, match=r"point trace=azure_conv/.*scan='stpo' is not valid"):
        validate_points(dict(spec, fixed=spec["fixed"] + ["algorithm.scan=stpo"]))
    with pytest.raises(ConfigError, match=r"predictor 'noisy': eps=-0.5 must be >= 0"):
        validate_points(dict(spec, fixed=spec["fixed"] + ["predictor=noisy", "predictor.eps=-0.5"]))
    spec = {"name": "pairs", "fixed": ["trace=synthetic_mcsf", "memory.capacity=auto", "latency=unit"], "seeds": [0],
            "axes": {"algorithm": ["mcsf", "hsf"], "predictor": ["oracle", "noisy"]}}
    with pytest.raises(ConfigError, match=r"point algorithm=hsf/predictor=noisy/seed=0: algorithm 'hsf' is a "
                                          r"hindsight benchmark and needs predictor=oracle"):
        validate_points(spec)
    spec = load_sweep("skeleton")
    with pytest.raises(ConfigError, match=r"unknown claims 'mcsf_beats_benchmark'; valid: mcsf_beats_benchmarks"):
        validate_points(dict(spec, claims="mcsf_beats_benchmark"))
    with pytest.raises(ConfigError, match=r"unknown figure\(s\) latency_by_algo; valid: latency_by_algorithm"):
        validate_points(dict(spec, figures=["latency_vs_memory", "latency_by_algo"]))


def test_trace_values_and_memory_auto_are_checked_before_any_job(tmp_path):
    """A trace value the loader refuses, ``memory.capacity=auto`` on a trace without its own M,
    and a missing data file used to fail only inside the jobs, after Snakemake had removed the
    points' old results."""
    from kvsched.analysis.sweep import validate_points
    from kvsched.errors import DataError
    spec = load_sweep("skeleton")
    with pytest.raises(ConfigError, match=r"point trace=azure_conv/.*: azure_conv: n must be >= 1, got -3"):
        validate_points(spec, ["trace.n=-3"])
    with pytest.raises(ConfigError, match=r"point trace=azure_conv/.*memory.capacity=auto, but trace "
                                          r"'azure_conv' defines no memory size"):
        validate_points(dict(spec, axes={k: v for k, v in spec["axes"].items() if k != "memory.capacity"}),
                        ["memory.capacity=auto"])
    with pytest.raises(DataError, match=r"point trace=azure_conv/.*not found in .*Run `kvsched data fetch"):
        validate_points(spec, [f"data.dir={tmp_path}"])
    synthetic = {"name": "s", "fixed": ["trace=synthetic_mcsf", "memory.capacity=auto", "latency=unit"],
                 "seeds": [0, 1], "axes": {"algorithm": ["fcfs", "mcsf"]}}
    validate_points(synthetic)                                # a generator's own M: fine


def test_variant_axis_bundles_overrides_under_one_label():
    spec = {"name": "v", "fixed": ["trace=azure_conv"], "seeds": [0, 1],
            "axes": {"memory.capacity": [64, 128],
                     "policy": {"mcsf_knn": ["algorithm=mcsf", "predictor=sage_knn"], "hsf": "algorithm=hsf"}}}
    pts = expand(spec)
    assert len(pts) == 2 * 2 * 2
    p = pts[0]
    assert p.path == "memory.capacity=64/policy=mcsf_knn/seed=0"
    assert p.overrides(spec["fixed"]) == ["trace=azure_conv", "memory.capacity=64", "algorithm=mcsf",
                                          "predictor=sage_knn", 'label="mcsf_knn"', "seed=0"]
    assert pts[2].overrides([])[1:3] == ["algorithm=hsf", 'label="hsf"']       # one override as a string
    from kvsched.config import compose
    numeric = expand({"name": "n", "fixed": [], "seeds": [0], "axes": {"v": {"1.50": ["algorithm=fcfs"]}}})
    assert compose(numeric[0].overrides([])).label == "1.50"                   # a label stays a string
    plain = expand({"name": "p", "fixed": [], "seeds": [3], "axes": {"algorithm": ["fcfs"]}})
    assert plain[0].overrides(["x=1"]) == ["x=1", "algorithm=fcfs", "seed=3"]


@pytest.mark.parametrize("axes, fixed, match", [
    ({"a": {"x": ["algorithm=fcfs"]}, "b": {"y": ["algorithm=sf"]}}, [], "at most one variant axis"),
    ({"a": {"x/y": ["algorithm=fcfs"]}}, [], "variant label 'x/y'"),
    ({"a": {"x": ["algorithm"]}}, [], "list of key=value overrides"),
    ({"a": {"x": {"algorithm": "fcfs"}}}, [], "list of key=value overrides"),
    ({"a": {"x": ["algorithm=fcfs"]}}, ["label=mine"], "remove it from fixed"),
    ({"algorithm": []}, [], "non-empty list"),
])
def test_bad_axes_are_named(axes, fixed, match):
    with pytest.raises(ConfigError, match=match):
        expand({"name": "bad", "fixed": fixed, "seeds": [0], "axes": axes})


def test_scale_axes_replace_only_the_axes_they_name():
    quick, full = load_sweep("all_algorithms"), load_sweep("all_algorithms", "full")
    assert full["axes"]["memory.capacity"] == [8192, 16492, 32768]
    assert quick["axes"]["memory.capacity"] == [8192, 32768]
    assert full["axes"]["algorithm"] == quick["axes"]["algorithm"] and full["axes"]["trace"] == quick["axes"]["trace"]


@pytest.mark.parametrize("preset", ["all_algorithms_predicted", "all_algorithms_load"])
@pytest.mark.parametrize("scale", ["quick", "full"])
def test_all_algorithms_predicted_covers_every_builtin_algorithm(preset, scale):
    """Each built-in algorithm appears once under its own name; any other label is a variant of
    one (it sets an ``algorithm.*`` parameter); only H-SF has the oracle."""
    from kvsched.analysis.sweep import validate_points
    from kvsched.policies import get_policy_class, list_policies

    spec = load_sweep(preset, scale)
    variants = spec["axes"]["policy"]
    builtin = [n for n in list_policies() if get_policy_class(n).__module__.startswith("kvsched.policies.")]
    algo = {label: next(o.split("=", 1)[1] for o in ovs if o.startswith("algorithm=")) for label, ovs in variants.items()}
    assert {label: a for label, a in algo.items() if label in builtin} == {n: n for n in builtin}
    for label in set(algo) - set(builtin):
        assert algo[label] in builtin and any(o.startswith("algorithm.") for o in variants[label]), label
    assert [label for label, ovs in variants.items() if "predictor=oracle" in ovs] == ["hsf"]
    if scale == "quick":
        validate_points(spec)


@pytest.mark.parametrize("scale", ["quick", "full"])
def test_all_algorithms_preset_lists_every_builtin_algorithm(scale):
    """The league table covers every registered algorithm (a new one must be added to it), and
    every point composes."""
    from kvsched.analysis.sweep import validate_points
    from kvsched.policies import get_policy_class, list_policies

    spec = load_sweep("all_algorithms", scale)
    builtin = [n for n in list_policies() if get_policy_class(n).__module__.startswith("kvsched.policies.")]
    assert sorted(spec["axes"]["algorithm"]) == sorted(builtin)   # plugins loaded by other tests excluded
    if scale == "quick":
        validate_points(spec)


def test_a_copied_sweep_preset_that_kept_its_name_is_named(tmp_path, monkeypatch):
    """A sweep's runs are found by its preset's file name: a copy that kept the original's
    `name:` (README: copy all_algorithms_predicted.yaml) failed in Snakemake with KeyError."""
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    shutil.copy(conf / "experiment" / "slurm_smoke.yaml", conf / "experiment" / "mine.yaml")
    monkeypatch.setenv("KVSCHED_CONF_DIR", str(conf))
    with pytest.raises(ConfigError, match=r"mine.yaml: name 'slurm_smoke' is not the file's name; set name: mine"):
        load_sweep("mine")
    text = (conf / "experiment" / "mine.yaml").read_text()
    (conf / "experiment" / "mine.yaml").write_text(text.replace("name: slurm_smoke", "name: mine"))
    assert load_sweep("mine")["name"] == "mine"
    (conf / "experiment" / "mine.yaml").write_text(text.replace("name: slurm_smoke\n", ""))
    assert load_sweep("mine")["name"] == "mine"
