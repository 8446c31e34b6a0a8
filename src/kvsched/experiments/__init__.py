"""Experiments that are more than a sweep of ``kvsched run`` (e.g. solving the hindsight
optimum per trial). Each is a module ``kvsched.experiments.<name>`` exposing

    def run(ctx: ExperimentContext) -> None
    PARAMS = frozenset({...})   # the keys its preset's params may set (optional)

and a preset ``conf/experiment/<name>.yaml``::

    name: <name>
    kind: module
    module: kvsched.experiments.<name>
    description: ...
    scale: quick              # default scale
    params:
      quick: {...}            # laptop scale (the default pipeline)
      full: {...}             # paper scale

Run alone with ``kvsched experiment <name> [--scale full] [--set key=value ...]``; it
writes tables and figures under ``results/<name>/`` and, last, ``results/<name>/done.json``
(resolved params, code version, package versions, what was written), after
``results/<name>/claims.json`` (the rows the replication report shows). A run writes into a
staging folder ``results/<name>/.staging-*/`` and moves its files into place once it has
finished; the folder of a killed run is removed by the experiment's next run. A key in
``params.<scale>`` that the module's ``PARAMS`` lacks is an error naming the preset file before
anything runs.
"""

from __future__ import annotations

import fcntl
import importlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ConfigError, ExperimentError, KvschedError, whole_traceback
from ..io import atomic_write, missing_dirs, remove_empty_dirs, write_json, write_parquet
from ..provenance import provenance


@dataclass
class ExperimentContext:
    """What an experiment module gets: its parameters, output directory and writers."""

    name: str
    scale: str
    params: dict[str, Any]
    out: Path
    data_dir: str | None = None
    written: list[str] = field(default_factory=list)
    claims: list[dict] = field(default_factory=list)

    def table(self, df: pd.DataFrame, stem: str) -> Path:
        """Write ``<out>/<stem>.parquet`` and ``.csv`` (tidy: one row per observation); the
        parquet file records the experiment, its scale and params and the provenance, as a run's
        tables do (:func:`kvsched.io.read_parquet_meta`)."""
        meta = {"experiment": self.name, "scale": self.scale, "params": self.params, "provenance": provenance()}
        p = write_parquet(self.out / f"{stem}.parquet", df, meta)
        atomic_write(self.out / f"{stem}.csv", lambda t: df.to_csv(t, index=False))
        self.written += [f"{stem}.parquet", f"{stem}.csv"]
        return p

    def markdown(self, text: str, stem: str) -> Path:
        p = atomic_write(self.out / f"{stem}.md", lambda t: t.write_text(text))
        self.written.append(f"{stem}.md")
        return p

    def figure(self, fig, stem: str) -> None:
        """Save a matplotlib figure as ``<stem>.png`` and ``<stem>.pdf``, as the sweep figures are
        (:func:`kvsched.analysis.plots.save`)."""
        from ..analysis.plots import save
        save(fig, [self.out / f"{stem}.{ext}" for ext in ("png", "pdf")])
        self.written += [f"{stem}.png", f"{stem}.pdf"]

    def summary(self, values: dict[str, Any], stem: str = "summary") -> Path:
        """Headline numbers (JSON) of the experiment, with the experiment, its scale and params
        and the provenance beside them, as its tables record them."""
        if "provenance" in values:
            raise ValueError(f"{stem}.json: 'provenance' is the record summary() adds; name the value otherwise")
        p = write_json(self.out / f"{stem}.json", {"experiment": self.name, "scale": self.scale, "params": self.params,
                                                   **values, "provenance": provenance()})
        self.written.append(f"{stem}.json")
        return p

    def claim(self, id: str, paper: str, claim: str, paper_value: Any, ours: Any,
              reproduced: bool | None, note: str = "", figure: str | None = None) -> None:
        """Record one claim for the replication report (see :mod:`kvsched.report`)."""
        self.claims.append(make_claim(id, paper, claim, paper_value, ours, reproduced, note, figure))


def make_claim(id: str, paper: str, claim: str, paper_value: Any, ours: Any, reproduced: bool | None,
               note: str = "", figure: str | None = None) -> dict:
    """One row of the report: a paper's claim, its value, ours, and whether it reproduced
    (``None``: not decidable from our data). ``ours`` must be computed, never typed."""
    return {"id": id, "paper": paper, "claim": claim, "paper_value": paper_value, "ours": ours,
            "reproduced": reproduced, "note": note, "figure": figure}


def write_claims(out: Path, experiment: str, description: str, claims: list[dict], figures: list[str],
                 captions: dict[str, str] | None = None) -> Path:
    """``captions``: figure file -> the caption the report prints under it (what it compares)."""
    return write_json(out / "claims.json", {"experiment": experiment, "description": description,
                                             "claims": claims, "figures": figures,
                                             "captions": {f: captions[f] for f in figures if f in (captions or {})},
                                             "provenance": provenance()})


def load_module_spec(name: str) -> dict:
    from ..analysis.sweep import load_sweep
    spec = load_sweep(name)
    if spec.get("kind", "sweep") != "module":
        raise ConfigError(f"experiment {name!r} is a sweep; run it with snakemake: "
                          f"snakemake --cores 2 --config 'experiments=[{name}]'")
    return spec


def check_param_keys(name: str, scale: str, params: dict, accepted) -> None:
    """ConfigError naming the preset file and each key of ``params.<scale>`` that the module
    does not read (``accepted``: its ``PARAMS``; None: a module that declares none, unchecked),
    with the nearest accepted key: a misspelt key would otherwise leave its default in force."""
    if accepted is None:
        return
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        from difflib import get_close_matches
        from ..analysis.sweep import conf_dir
        hints = [f"{k!r}" + (f" (did you mean {m[0]!r}?)" if (m := get_close_matches(k, accepted, 1)) else "")
                 for k in unknown]
        raise ConfigError(f"{conf_dir() / 'experiment' / f'{name}.yaml'}: params.{scale} has unknown key(s) "
                          f"{', '.join(hints)}; {name} reads {', '.join(sorted(accepted))}")


def _coerce(v: str) -> Any:
    import yaml
    return yaml.safe_load(v)


def run_experiment(name: str, scale: str | None = None, sets: list[str] = (), out: str | Path | None = None,
                   data_dir: str | None = None) -> Path:
    spec = load_module_spec(name)
    scale = scale or spec.get("scale", "quick")
    levels = spec.get("params", {})
    if scale not in levels:
        raise ConfigError(f"experiment {name!r} has no scale {scale!r}; valid: {', '.join(levels)}")
    params = dict(levels[scale] or {})
    mod = importlib.import_module(spec["module"])
    check_param_keys(name, scale, params, getattr(mod, "PARAMS", None))
    changed = []
    for s in sets:
        if "=" not in s:
            raise ConfigError(f"--set expects key=value, got {s!r}")
        k, v = s.split("=", 1)
        if k not in params:
            raise ConfigError(f"experiment {name!r} has no parameter {k!r}; valid: {', '.join(params)}")
        params[k] = _check_set(name, k, params[k], _coerce(v))
        changed.append(f"{k}={params[k]!r}")
    outdir = Path(out) if out else Path("results") / name
    made = missing_dirs(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    prov = provenance()                 # the code version that runs, not the one at the end
    # The module writes into a staging folder beside the results; only a run that finishes
    # replaces them, so a failed or killed rerun leaves the previous results whole. A killed
    # run's staging folder stays behind: the next run of the experiment removes it.
    clear_stale_stages(outdir)
    stage, lock = _open_stage(outdir)
    try:
        ctx = ExperimentContext(name, scale, params, stage, data_dir)
        t0 = time.perf_counter()
        try:
            mod.run(ctx)
        except (KvschedError, KeyboardInterrupt):
            raise
        except Exception as e:
            raise module_failure(name, e, changed, outdir) from e
        figs = sorted({w.rsplit(".", 1)[0] + ".png" for w in ctx.written if w.endswith(".png")})
        caps = {f"{stem}.png": text for stem, text in getattr(mod, "CAPTIONS", {}).items()}
        write_claims(stage, name, spec.get("description", ""), ctx.claims, figs, caps)
        write_json(stage / "done.json", {"experiment": name, "scale": scale, "params": params,
                                         "wall_s": time.perf_counter() - t0, "written": ctx.written,
                                         "provenance": prov})
        _publish(stage, outdir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        os.close(lock)
        remove_empty_dirs(made)                 # a failed first run leaves no empty folders
    return outdir


STAGE_PREFIX = ".staging-"
STAGE_LOCK = ".staging.lock"
STAGE_GRACE_S = 60.0


def _open_stage(outdir: Path) -> tuple[Path, int]:
    """A new staging folder in ``outdir`` and the descriptor of its lock file, locked (flock):
    the lock lasts while this process holds it, and ends with the process, even a killed one.
    The lock file takes its name only once locked, so a folder with an unlocked lock file is a
    killed run's."""
    stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=outdir))
    fd, tmp = tempfile.mkstemp(prefix=".lock-", dir=stage)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(tmp, stage / STAGE_LOCK)
    return stage, fd


def clear_stale_stages(outdir: Path, grace_s: float = STAGE_GRACE_S) -> list[Path]:
    """Remove the staging folders in ``outdir`` that no run uses: those of killed runs. A folder
    is in use while a process holds its lock (another run of the same experiment, say). A folder
    without a lock file changed less than ``grace_s`` ago is left alone, as its run may not have
    taken its lock yet; older, it is a killed run's as well. A folder whose lock file no process
    holds is a killed run's, however recent: a run started right after the kill removes it."""
    removed = []
    for d in sorted(Path(outdir).glob(STAGE_PREFIX + "*")):
        try:
            if not d.is_dir():
                continue
            fd = os.open(d / STAGE_LOCK, os.O_RDWR)
        except FileNotFoundError:
            fd = None
            try:
                if time.time() - d.stat().st_mtime < grace_s:
                    continue
            except OSError:
                continue
        except OSError:
            continue
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
        except BlockingIOError:                 # a running run's
            pass
        finally:
            if fd is not None:
                os.close(fd)
    return removed


def module_failure(name: str, exc: Exception, changed: list[str], outdir: Path) -> Exception:
    """A module's own exception (a KeyError for an unknown family name, say) as an error that
    names the experiment, the failing line and the ``--set`` values, the likely cause. With
    KVSCHED_TRACEBACK=1 the exception itself is raised, with its whole traceback."""
    import traceback
    if whole_traceback():
        return exc
    frames = traceback.extract_tb(exc.__traceback__)
    where = next((f for f in reversed(frames[1:]) if _own_code(f.filename)), frames[-1] if frames else None)
    at = f" at {Path(where.filename).name}:{where.lineno} in {where.name} ({(where.line or '').strip()})" if where else ""
    cause = (f"; this run set {', '.join(changed)}: check those values" if changed
             else "; the preset's own values were used")
    return ExperimentError(f"experiment {name!r} failed: {type(exc).__name__}: {exc}{at}{cause}. "
                           f"Nothing in {outdir} was changed (KVSCHED_TRACEBACK=1 shows the whole traceback)")


def _own_code(filename: str) -> bool:
    """Whether a traceback frame is in kvsched or an experiment's own module, not in a library
    (numpy, pandas, ...) or the standard library: the line worth showing."""
    import site
    import sysconfig
    f = Path(filename).resolve()
    if f.is_relative_to(Path(__file__).resolve().parents[1]):
        return True
    libs = {sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")}
    libs.update(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        libs.add(site.getusersitepackages())
    return not any(f.is_relative_to(Path(d).resolve()) for d in libs)


def _publish(stage: Path, outdir: Path) -> None:
    """Move every file of ``stage`` (but its lock) to the same place under ``outdir`` (each move
    atomic); ``done.json``, the completion marker, is removed first and moved last."""
    (outdir / "done.json").unlink(missing_ok=True)
    done = stage / "done.json"
    files = (p for p in stage.rglob("*") if p.is_file() and p != stage / STAGE_LOCK)
    for f in sorted(files, key=lambda p: (p == done, p)):
        dest = outdir / f.relative_to(stage)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(f, dest)


def _check_set(name: str, key: str, default: Any, value: Any) -> Any:
    """A ``--set`` value must have the preset value's type where that is a list, a number, a
    switch or a mapping: ``seeds=5`` for a list of seeds was a TypeError deep in the run."""
    def kind(v):
        if isinstance(v, bool):
            return "true or false"
        if isinstance(v, int):
            return "a whole number"
        if isinstance(v, float):
            return "a number"
        if isinstance(v, (list, tuple)):
            return "a list, e.g. [1, 2]"
        if isinstance(v, dict):
            return "a mapping, e.g. {a: 1}"
        return None
    want, got = kind(default), kind(value)
    if want is None or value is None:         # a string (a name or a spec) or null: the module checks it
        return value
    if want == "a number" and got == "a whole number":
        return float(value)
    if got != want:
        raise ConfigError(f"experiment {name!r}: --set {key}={value!r}: {key} must be {want} "
                          f"(the preset has {default!r})")
    return value
