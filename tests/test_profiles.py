"""The Snakemake profiles: the local default is picked up, the SLURM one parses, and the
cheap rules stay local."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PLUGIN_CACHE = ROOT / ".cache" / "slurm-plugin"    # where tests/slurm/run_slurm_test.sh puts it
LOCAL_RULES = ("aggregate", "figure", "sweep_claims", "notebook_sweep_figure", "report")


def _dry_run(*args: str, pythonpath: list[str] = (), experiments: str = "slurm_smoke") -> str:
    if not (BIN / "snakemake").exists():
        pytest.skip("snakemake is not installed")
    pp = [str(ROOT / "src"), *pythonpath, os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, pp)), PATH=f"{BIN}:{os.environ['PATH']}")
    r = subprocess.run([str(BIN / "snakemake"), "-n", "--config", f"experiments=[{experiments}]", *args],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout + r.stderr


def _slurm_plugin_path() -> list[str]:
    """Where the SLURM executor plugin can be imported from (skip the test if nowhere)."""
    extra = [str(PLUGIN_CACHE)] if PLUGIN_CACHE.exists() else []
    probe = subprocess.run([sys.executable, "-c", "import snakemake_executor_plugin_slurm"],
                           env=dict(os.environ, PYTHONPATH=os.pathsep.join(extra)), capture_output=True)
    if probe.returncode != 0:
        pytest.skip("snakemake-executor-plugin-slurm is not installed")
    return extra


def declared_localrules() -> set[str]:
    """Names in every `localrules:` block of the Snakefile and workflow/rules/*.smk (a dry
    run prints all jobs as `rule`; the SLURM test checks where they really run)."""
    names = set()
    for f in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        for block in re.findall(r"^localrules:\s*\n((?:[ \t]+\S.*\n)+)", f.read_text(), re.M):
            names |= {n.strip() for n in block.replace("\n", ",").split(",") if n.strip()}
    return names


def test_cheap_rules_are_local_and_simulations_are_not():
    local = declared_localrules()
    assert set(LOCAL_RULES) <= local
    assert "simulate" not in local and "experiment_module" not in local


def test_default_profile_is_used():
    out = _dry_run()
    assert "workflow specific profile profiles/default" in out
    assert "rule simulate:" in out


def test_slurm_profile():
    prof = yaml.safe_load((ROOT / "workflow/profiles/slurm/config.yaml").read_text())
    assert prof["executor"] == "slurm" and prof["slurm-status-command"] == "squeue"
    assert {"slurm_partition", "runtime", "mem_mb", "cpus_per_task"} <= set(prof["default-resources"])
    # the GPU comes from the rule itself (gpu=1 only with engine_device=cuda), not the profile,
    # so a CPU validation on the cluster does not wait for a GPU node
    assert "gpu" not in prof["set-resources"]["engine_validate"]
    rules = (ROOT / "workflow" / "rules" / "engine.smk").read_text()
    assert '{"gpu": 1} if ENGINE_CUDA else {}' in rules
    out = _dry_run("--workflow-profile", "workflow/profiles/slurm", pythonpath=_slurm_plugin_path())
    assert "workflow specific profile workflow/profiles/slurm" in out
    assert "rule simulate:" in out


def test_slurm_jobs_get_one_cpu_per_process():
    """The SLURM profile's default cpus_per_task (1) would override a rule's threads; module
    experiments that run several processes ask for that many CPUs."""
    out = _dry_run("--workflow-profile", "workflow/profiles/slurm", "--forceall",
                   pythonpath=_slurm_plugin_path(), experiments="mcsf_synthetic,gsa_gba")
    jobs = {m.group(2): (m.group(1), int(m.group(3))) for m in re.finditer(
        r"rule (experiment_module\w*):.*?wildcards: exp=(\w+).*?cpus_per_task=(\d+)", out, re.S)}
    assert jobs == {"mcsf_synthetic": ("experiment_module_parallel", 2), "gsa_gba": ("experiment_module", 1)}
