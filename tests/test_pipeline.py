"""The Snakemake workflow: the full DAG resolves (dry run), and sweep expansion is sane."""

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
