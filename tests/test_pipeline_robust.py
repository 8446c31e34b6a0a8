"""Robustness of runs and of the pipeline: kills, resumes and config changes.

- A run killed while writing its results leaves no summary.json (the completion marker)
  and no requests.parquet under its final name; the next run clears the debris.
- A pipeline killed mid-sweep resumes without recomputing finished runs.
- Deleting one run's outputs re-runs that run only.
- A changed sweep axis runs only the new points; a changed fixed override runs them all.
- An edited trace file reruns the runs that read it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = str(Path(sys.executable).parent)
TINY = ["trace=synthetic_mcsf", "latency=unit", "memory.capacity=auto"]


def _env(src: Path) -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")])),
                PATH=f"{BIN}:{os.environ.get('PATH', '')}", KVSCHED_CONF_DIR="")


def test_run_clears_old_temp_files_but_not_a_concurrent_writers(tmp_path):
    """A killed run's temp file (older than this run) is removed; one written since this run
    began (another run of the same config into the same folder) is left to its writer."""
    import os
    import time
    from kvsched.config.compose import compose
    from kvsched.runner import run

    out = tmp_path / "run"
    out.mkdir()
    old, fresh = out / ".requests.parquet.old.tmp", out / ".requests.parquet.fresh.tmp"
    old.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(old, (time.time() - 3600,) * 2)
    os.utime(fresh, (time.time() + 3600,) * 2)    # stands for a write that began after this run
    run(compose(TINY + ["algorithm=mcsf", f"out={out}"]))
    assert not old.exists() and fresh.exists()


# ----------------------------------------------------------------------------------------
# One run killed while writing


KILL_WHILE_WRITING = textwrap.dedent("""
    import os, signal, sys
    import pandas as pd
    from kvsched.config.compose import compose
    from kvsched import runner

    real = pd.DataFrame.to_parquet

    def half_then_die(self, path, *a, **k):
        real(self, path, *a, **k)
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)      # killed in the middle of the write

    pd.DataFrame.to_parquet = half_then_die
    runner.run(compose(sys.argv[1:]))
""")


def test_run_killed_while_writing_leaves_no_complete_looking_result(tmp_path):
    from kvsched.config.compose import compose
    from kvsched.runner import run

    out = tmp_path / "run"
    overrides = TINY + ["algorithm=mcsf", f"out={out}"]
    run(compose(overrides))                      # an earlier, complete result
    assert (out / "summary.json").exists()
    r = subprocess.run([sys.executable, "-c", KILL_WHILE_WRITING, *overrides], env=_env(ROOT / "src"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr
    # the re-run removed the old marker first, and the half-written file never got its name
    assert not (out / "summary.json").exists()
    debris = list(out.glob(".requests.parquet.*.tmp"))
    assert debris, "the simulated kill did not happen during the write"
    pd.read_parquet(out / "requests.parquet")    # the previous, complete file is intact
    summary = run(compose(overrides))
    assert (out / "summary.json").exists() and summary["metrics"]
    assert not list(out.glob(".*.tmp")), "debris of the killed run was not cleared"
    assert len(pd.read_parquet(out / "requests.parquet")) > 0


# ----------------------------------------------------------------------------------------
# The pipeline: kill, resume, delete, change


def _workdir(tmp: Path) -> Path:
    w = tmp / "wc"
    for d in ("src", "conf", "workflow"):
        shutil.copytree(ROOT / d, w / d, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "Snakefile", w / "Snakefile")
    return w


def _preset(w: Path, fixed: list[str], algorithms: list[str]) -> None:
    (w / "conf" / "experiment" / "robust.yaml").write_text(
        "name: robust\ndescription: pipeline robustness test\n"
        f"fixed: {json.dumps(fixed)}\naxes:\n  algorithm: {json.dumps(algorithms)}\nseeds: [0]\n")


def _snakemake(w: Path, *args: str, popen: bool = False):
    """The table and every run of the current preset (as `rule all` asks, less the figures)."""
    spec = (w / "conf" / "experiment" / "robust.yaml").read_text()
    algos = json.loads(re.search(r"algorithm: (\[.*\])", spec).group(1))
    targets = [str(_summary(w, a).relative_to(w)) for a in algos] + ["results/robust/runs.parquet"]
    cmd = [f"{BIN}/snakemake", "--cores", "1", "--config", "experiments=[robust]", "--rerun-incomplete",
           "--workflow-profile", "none", *targets, *args]
    kw = dict(cwd=w, env=_env(w / "src"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if popen:
        return subprocess.Popen(cmd, start_new_session=True, **kw)
    r = subprocess.run(cmd, timeout=300, **kw)
    assert r.returncode == 0, r.stdout[-6000:]
    return r.stdout


def _planned(out: str, rule: str = "simulate") -> int:
    m = re.search(rf"^{rule}\s+(\d+)\s*$", out, re.M)
    return int(m.group(1)) if m else 0


def _summary(w: Path, algo: str) -> Path:
    return w / "results" / "runs" / "robust" / f"algorithm={algo}" / "seed=0" / "summary.json"


@pytest.fixture(scope="module")
def snakemake_available():
    if not Path(BIN, "snakemake").exists():
        pytest.skip("snakemake is not installed")


def test_pipeline_resumes_and_reruns_only_what_changed(tmp_path, snakemake_available):
    w = _workdir(tmp_path)
    _preset(w, TINY, ["fcfs", "mcsf"])
    runs = {a: _summary(w, a) for a in ("fcfs", "mcsf")}

    # 1. kill the whole pipeline (SIGKILL to its process group) as soon as Snakemake has
    #    recorded one finished run. (Killed between a run's last write and that record, the
    #    run counts as incomplete and is redone: safe, but not what this step tests.)
    p = _snakemake(w, popen=True)
    log = []
    for line in p.stdout:
        log.append(line)
        if re.search(r"\b1 of \d+ steps", line):
            break
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    done = [a for a, f in runs.items() if f.exists()]
    assert done, "".join(log)[-4000:]
    assert len(done) == 1, "the pipeline finished both runs before it could be killed"
    (a_done,) = done
    (a_todo,) = set(runs) - {a_done}
    first, second = runs[a_done], runs[a_todo]
    assert not (w / "results" / "robust" / "runs.parquet").exists()
    for f in (w / "results").rglob("*.parquet"):   # nothing half-written under a final name
        pd.read_parquet(f)
    done_at = first.stat().st_mtime_ns

    # 2. resume (a hard kill leaves Snakemake's lock: --unlock first, as a user would): only
    #    the unfinished run is simulated
    _snakemake(w, "--unlock")
    out = _snakemake(w)
    assert _planned(out) == 1, out
    assert f"point=algorithm={a_todo}/seed=0" in out and f"point=algorithm={a_done}" not in out
    assert first.stat().st_mtime_ns == done_at and second.exists()
    assert len(pd.read_parquet(w / "results" / "robust" / "runs.parquet")) == 2

    # 3. a deleted run is re-run, alone
    kept_at = second.stat().st_mtime_ns
    shutil.rmtree(first.parent)
    out = _snakemake(w)
    assert _planned(out) == 1 and f"point=algorithm={a_done}/seed=0" in out, out
    assert first.exists() and second.stat().st_mtime_ns == kept_at

    # 4. an axis value changed: only the new point would run
    _preset(w, TINY, ["fcfs", "sf"])
    out = _snakemake(w, "-n")
    assert _planned(out) == 1 and "point=algorithm=sf/seed=0" in out, out
    assert _planned(out, "aggregate") == 1

    # 5. a fixed override changed: every point's command changed, so every point would run
    _preset(w, TINY + ["predictor=noisy"], ["fcfs", "mcsf"])
    out = _snakemake(w, "-n")
    assert _planned(out) == 2, out


def test_an_edited_trace_file_reruns_the_runs_that_read_it(tmp_path, snakemake_available):
    """A trace=file run's file is an input of its job, as a plugin file is: replacing its
    content reruns the runs that read it; a point of another trace stays."""
    from kvsched.traces.user_file import trace_files
    assert trace_files(["trace=file", "trace.path=a.csv", "trace.path='my b.csv'"]) == ["my b.csv"]
    assert trace_files(["trace=azure_conv", "trace.path=a.csv"]) == [] == trace_files(["seed=1"])
    w = _workdir(tmp_path)
    csv = w / "mine.csv"
    csv.write_text("arrival,prompt,output\n" + "".join(f"{i},{5 + i % 7},{3 + i % 5}\n" for i in range(30)))
    _preset(w, ["trace=file", "trace.path=mine.csv", "latency=unit", "memory.capacity=64"], ["fcfs", "mcsf"])
    _snakemake(w)
    assert _planned(_snakemake(w, "-n")) == 0
    csv.write_text(csv.read_text() + "30,9,4\n")
    out = _snakemake(w, "-n")
    assert _planned(out) == 2, out


def test_an_edited_sweep_preset_rebuilds_its_claims(tmp_path, snakemake_available):
    """A sweep's claims.json takes the preset's description, claims checker and figures: editing
    them rebuilds it (and nothing else), as an edited module preset reruns its experiment."""
    w = _workdir(tmp_path)
    _preset(w, TINY, ["fcfs", "mcsf"])
    _snakemake(w, "results/robust/claims.json")
    claims = w / "results" / "robust" / "claims.json"
    assert json.loads(claims.read_text())["description"] == "pipeline robustness test"
    preset = w / "conf" / "experiment" / "robust.yaml"
    preset.write_text(preset.read_text().replace("pipeline robustness test", "edited description"))
    out = _snakemake(w, "results/robust/claims.json", "-n")
    assert _planned(out, "sweep_claims") == 1 and _planned(out) == 0 and _planned(out, "aggregate") == 0, out
    _snakemake(w, "results/robust/claims.json")
    assert json.loads(claims.read_text())["description"] == "edited description"


# ----------------------------------------------------------------------------------------
# A broken run summary; experiments given without brackets


def test_aggregate_names_a_broken_summary(tmp_path, capsys):
    from kvsched.analysis.aggregate import main

    (tmp_path / "cut.json").write_text('{"config": {"trace": ')
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "module.json").write_text('{"lmsys_like": {}}')
    (tmp_path / "dir").mkdir()
    out = tmp_path / "t" / "runs.parquet"
    for name, why in [("cut.json", "not a complete run summary (invalid JSON: "),
                      ("empty.json", "not a complete run summary (invalid JSON: "),
                      ("module.json", "not a sweep run's summary (no 'config' key)"),
                      ("dir", "cannot read (Is a directory)")]:
        assert main(["--out", str(out), str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"kvsched: error: {tmp_path / name}: {why}"), err
        assert "Traceback" not in err and not out.exists()


def test_pipeline_reports_a_broken_summary(tmp_path, snakemake_available):
    w = _workdir(tmp_path)
    _preset(w, TINY, ["fcfs"])
    _snakemake(w)
    s = _summary(w, "fcfs")
    s.write_text(s.read_text()[:50])             # cut short
    table = w / "results" / "robust" / "runs.parquet"
    before = {f: f.read_bytes() for f in (table, table.with_suffix(".csv"))}
    p = _snakemake(w, popen=True)
    out = p.communicate(timeout=300)[0]
    assert p.returncode != 0
    assert f"{s.relative_to(w)}: not a complete run summary (invalid JSON" in out, out[-4000:]
    # the failed aggregation kept the previous table, and the next run tries it again
    assert {f: f.read_bytes() for f in before if f.exists()} == before
    assert _planned(_dry_run(w, "robust"), "aggregate") == 1


def _dry_run(w: Path, experiments: str) -> str:
    """What `snakemake -n` (the default target) would run for these experiments."""
    r = subprocess.run([f"{BIN}/snakemake", "-n", "--cores", "1", "--workflow-profile", "none",
                        "--config", f"experiments=[{experiments}]"], cwd=w, env=_env(w / "src"),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:]
    return r.stdout


@pytest.mark.parametrize("value, planned", [("robust", 1), ("robust,robust2", 2), ("[robust, robust2]", 2)])
def test_experiments_as_a_name_or_comma_separated(tmp_path, snakemake_available, value, planned):
    """`--config experiments=robust` is one experiment, not the letters of its name."""
    w = _workdir(tmp_path)
    _preset(w, TINY, ["fcfs"])
    presets = w / "conf" / "experiment"
    (presets / "robust2.yaml").write_text((presets / "robust.yaml").read_text().replace("name: robust", "name: robust2"))
    r = subprocess.run([f"{BIN}/snakemake", "-n", "--cores", "1", "--workflow-profile", "none",
                        "--config", f"experiments={value}"], cwd=w, env=_env(w / "src"),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:]
    assert _planned(r.stdout) == planned, r.stdout
    assert not (w / "results").exists()


# ----------------------------------------------------------------------------------------
# A module experiment whose rerun fails


FAKE_MODULE = textwrap.dedent("""
    import pandas as pd

    def run(ctx):
        if ctx.params["fail"]:
            raise ValueError("a corrupted input")
        ctx.table(pd.DataFrame({"x": [1, 2]}), "table")
        ctx.summary({"data_dir": ctx.data_dir})
        ctx.claim("c", "paper", "a claim", 1, 2, False)
""")


def _module(w: Path, fail: bool, *args: str, config: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Preset 'modexp' (a module experiment that fails when its parameter says so), then its claims."""
    (w / "src" / "modexp_module.py").write_text(FAKE_MODULE)
    (w / "conf" / "experiment" / "modexp.yaml").write_text(
        "name: modexp\nkind: module\nmodule: modexp_module\ndescription: pipeline robustness test\n"
        f"scale: quick\nparams:\n  quick: {{fail: {json.dumps(fail)}}}\n")
    return subprocess.run([f"{BIN}/snakemake", "--cores", "1", "--config", "experiments=[modexp]", *config,
                           "--rerun-incomplete", "--workflow-profile", "none", "results/modexp/claims.json", *args],
                          cwd=w, env=_env(w / "src"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300)


def test_a_failed_module_experiment_rerun_keeps_its_results(tmp_path, snakemake_available):
    """Snakemake removes a job's outputs before it runs and after it fails; the experiment's
    claims.json and done.json survive a failed rerun all the same, and the next run retries it."""
    w = _workdir(tmp_path)
    r = _module(w, fail=False)
    assert r.returncode == 0, r.stdout[-4000:]
    out = w / "results" / "modexp"
    before = {f: f.read_bytes() for f in (out / "claims.json", out / "done.json", out / "table.parquet")}
    r = _module(w, fail=True)                      # an edited preset reruns it, and the run fails
    assert r.returncode != 0 and "a corrupted input" in (w / "results" / "logs" / "modexp.log").read_text()
    assert {f: f.read_bytes() for f in before if f.exists()} == before, r.stdout[-4000:]
    assert not list(out.glob(".staging-*"))
    assert _planned(_dry_run(w, "modexp"), "experiment_module") == 1        # not taken as done
    r = _module(w, fail=False)
    assert r.returncode == 0, r.stdout[-4000:]
    assert json.loads((out / "claims.json").read_text())["claims"][0]["ours"] == 2


def test_module_experiments_read_the_data_dir_of_extra_overrides(tmp_path, snakemake_available, monkeypatch):
    """extra_overrides apply to every run: a module experiment reads the data folder they set
    (sweep runs did, module experiments the default one), and an override that cannot apply to
    it is an error, not ignored."""
    w = _workdir(tmp_path)
    r = _module(w, False, config=("extra_overrides=data.dir=elsewhere",))
    assert r.returncode == 0, r.stdout[-4000:]
    assert json.loads((w / "results" / "modexp" / "summary.json").read_text())["data_dir"] == "elsewhere"
    r = _module(w, False, "-n", config=("extra_overrides=[data.dir=elsewhere, sim.fast=false]",))
    assert r.returncode != 0, r.stdout[-4000:]
    assert "extra_overrides sim.fast=false cannot apply to the module experiment modexp" in r.stdout, r.stdout
    # resolved as a sweep run resolves it (an interpolation used to reach the module verbatim)
    monkeypatch.setenv("KVSCHED_TEST_DATA_DIR", "fromenv")
    r = _module(w, False, "-n", "-p", "--forceall", config=("extra_overrides=data.dir=${oc.env:KVSCHED_TEST_DATA_DIR}",))
    assert r.returncode == 0 and "--data-dir fromenv" in r.stdout, r.stdout[-4000:]


def test_config_keys_are_checked_and_an_override_string_is_one_override(tmp_path, snakemake_available):
    """A misspelt key was ignored (the default experiments ran); `extra_overrides=seed=1` was
    read as the overrides 's', 'e', ..."""
    w = _workdir(tmp_path)
    _preset(w, TINY, ["fcfs"])

    def dry(*config):
        return subprocess.run([f"{BIN}/snakemake", "-n", "-p", "--cores", "1", "--workflow-profile", "none",
                               "--config", *config], cwd=w, env=_env(w / "src"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=300)

    r = dry("experimnts=[robust]")
    assert r.returncode != 0 and "unknown config key(s) experimnts; valid: engine_device, engine_scale, " \
        "experiments, extra_overrides, scale" in r.stdout, r.stdout[-4000:]
    r = dry("experiments=[robust]", "extra_overrides=predictor=noisy")
    assert r.returncode == 0, r.stdout[-4000:]
    assert _planned(r.stdout) == 1 and "'predictor=noisy' sim.progress=false" in r.stdout, r.stdout[-4000:]
    r = dry("experiments=[robust]", "extra_overrides=[predictor=noisy, seed=3]")
    assert r.returncode == 0 and "'predictor=noisy' 'seed=3' sim.progress" in r.stdout, r.stdout[-4000:]


def test_a_misspelt_key_in_workflow_config_and_an_empty_experiments_list_are_errors(tmp_path, snakemake_available):
    """The keys were checked against workflow/config.yaml itself, so a misspelt key there
    (`scael: full`) was valid and ignored (the quick scale ran); an empty experiments list ran
    nothing and succeeded."""
    w = _workdir(tmp_path)
    _preset(w, TINY, ["fcfs"])
    cfg = w / "workflow" / "config.yaml"
    original = cfg.read_text()

    def dry(*config):
        return subprocess.run([f"{BIN}/snakemake", "-n", "--cores", "1", "--workflow-profile", "none",
                               "--config", *config], cwd=w, env=_env(w / "src"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=300)

    cfg.write_text(original.replace("\nscale: quick", "\nscael: full"))
    r = dry("experiments=[robust]")
    assert r.returncode != 0 and "workflow/config.yaml: unknown config key(s) scael; valid: engine_device, " \
        "engine_scale, experiments, extra_overrides, scale" in r.stdout, r.stdout[-4000:]
    cfg.write_text(original)
    for value in ("[]", ""):
        r = dry(f"experiments={value}")
        assert r.returncode != 0 and "experiments is empty: name at least one preset" in r.stdout, r.stdout[-4000:]
    assert _planned(dry("experiments=[robust]").stdout) == 1
    # the real-engine settings are checked at once, not when the validation job runs
    r = dry("experiments=[robust]", "engine_device=gpu")
    assert r.returncode != 0 and "engine_device='gpu': choose cpu or cuda" in r.stdout, r.stdout[-4000:]
    r = dry("experiments=[robust]", "engine_scale=fulll")
    assert r.returncode != 0 and "engine_scale='fulll': choose one of quick, full" in r.stdout, r.stdout[-4000:]
