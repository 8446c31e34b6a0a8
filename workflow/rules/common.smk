# Helpers shared by all rules: expand experiment presets (conf/experiment/*.yaml) into jobs.
import re
import shlex
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from kvsched.analysis.sweep import expand as _expand, load_sweep, run_dir, validate_points  # noqa: E402
from kvsched.errors import ConfigError  # noqa: E402


def _names(value):
    """A list of names; a string is one name or several, comma-separated (``experiments=a,b``)."""
    if isinstance(value, str):
        return [n.strip() for n in value.split(",") if n.strip()]
    return list(value or [])


_DEFAULTS = yaml.safe_load((Path(workflow.basedir) / "workflow" / "config.yaml").read_text()) or {}
# The config keys. A misspelt one would be ignored and its default used: --config experimnts=[...]
# ran the default experiments, and `scael: full` in workflow/config.yaml itself the quick scale.
CONFIG_KEYS = ("engine_device", "engine_scale", "experiments", "extra_overrides", "scale")


def _check_keys(keys, where=""):
    unknown = sorted(set(keys) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"{where}unknown config key(s) {', '.join(unknown)}; valid: {', '.join(CONFIG_KEYS)} "
                          "(see workflow/config.yaml)")


_check_keys(_DEFAULTS, "workflow/config.yaml: ")
_check_keys(config)
if "experiments" not in _DEFAULTS:
    raise ConfigError("workflow/config.yaml: no 'experiments' list (the experiments the replication runs)")

EXPERIMENTS = _names(config.get("experiments", []))
if not EXPERIMENTS:
    raise ConfigError("experiments is empty: name at least one preset of conf/experiment/, "
                      "e.g. --config 'experiments=[skeleton]'")
# paper/report.md covers the replication: workflow/config.yaml's experiments. Another list
# (--config 'experiments=[...]') builds those experiments and leaves the report as it is.
_REPLICATION = _DEFAULTS["experiments"]
REPORTED = sorted(EXPERIMENTS) == sorted(_REPLICATION)
# a string is one override (extra_overrides=seed=1), not a list of its letters; overrides may
# hold commas (x=[1,2]), so it is never split
_extra = config.get("extra_overrides") or []
EXTRA = [_extra] if isinstance(_extra, str) else [str(o) for o in _extra]
SCALE = config.get("scale") or None   # quick (default) | full; per-preset default otherwise
SPECS = {e: load_sweep(e, SCALE) for e in EXPERIMENTS}
SWEEPS = [e for e in EXPERIMENTS if SPECS[e].get("kind", "sweep") == "sweep"]
MODULES = [e for e in EXPERIMENTS if SPECS[e].get("kind") == "module"]
POINTS = {e: {p.path: p for p in _expand(SPECS[e])} for e in SWEEPS}
for _e in SWEEPS:  # compose every point and load its trace now: a bad override fails before any job runs
    validate_points(SPECS[_e], EXTRA)


def _parse_extra(overrides):
    """extra_overrides, parsed: (the data folder they set or None, the other overrides)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as e:
        raise ConfigError(f"extra_overrides: {e}") from None
    data = [o for o in parsed if o.key_or_group == "data.dir" and not o.is_delete()]
    value = None
    if data:   # as a sweep run resolves it (interpolations such as ${oc.env:...} included)
        from kvsched.config.compose import compose
        value = compose([o.input_line for o in data]).data.dir
    return (None if value in (None, "") else str(value)), [o.input_line for o in parsed if o not in data]


EXTRA_DATA, EXTRA_OTHER = _parse_extra(EXTRA)


def module_data_arg(exp):
    """``--data-dir DIR`` for `kvsched experiment <exp>` when extra_overrides set data.dir, as
    sweep runs read it. No other run override means anything to a module experiment (its
    parameters are its preset's), so one is an error, not ignored."""
    if EXTRA_OTHER:
        raise ConfigError(
            f"extra_overrides {', '.join(EXTRA_OTHER)} cannot apply to the module experiment {exp}: "
            "a module experiment takes only data.dir from extra_overrides; its own parameters are "
            f"in its preset (conf/experiment/{exp}.yaml). To apply them to the sweeps alone, leave "
            "the module experiments out: --config 'experiments=[...]'")
    return f"--data-dir {shlex.quote(EXTRA_DATA)}" if EXTRA_DATA else ""


# A failed rerun keeps what was computed. Snakemake removes a job's outputs before it runs and
# again when it fails. The rules that write an experiment's results (aggregate,
# experiment_module, engine_validate) flag them update() instead: Snakemake leaves them in place
# and, if the job fails, restores them from a copy. A restored file is newer than the job's inputs
# and has lost its metadata, so it would pass as up to date; hence each such rule also touches a
# stamp (stamp() below), which Snakemake does remove, and every rule that reads those results
# (and `all`) takes the stamp as an input too: after a failure, the next run retries the job.


def stamp(exp):
    """The stamp of an experiment's results: present while the last run that wrote them finished."""
    return f"results/logs/{exp}.ok" if exp in MODULES else f"results/logs/{exp}/aggregate.ok"


def one_of(names):
    """Wildcard constraint matching exactly these names (nothing if empty)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def summaries_of(exp):
    return [str(run_dir("results", p) / "summary.json") for p in POINTS[exp].values()]


def run_summaries(wc):
    return summaries_of(wc.exp)


def point_overrides(wc):
    """Every override of one sweep point: the preset's fixed ones, the point's, then EXTRA."""
    return POINTS[wc.exp][wc.point].overrides(SPECS[wc.exp]["fixed"]) + EXTRA


def run_overrides(wc):
    return " ".join(f"'{o}'" for o in point_overrides(wc))


def plugin_files(wc):
    """Plugin files a run loads (``plugins=[...]``): its inputs, so editing one reruns it."""
    from kvsched.plugins import plugin_files as _files
    return _files(point_overrides(wc))


def trace_files(wc):
    """The file a ``trace=file`` run reads: an input, so editing it reruns the run."""
    from kvsched.traces.user_file import trace_files as _files
    return _files(point_overrides(wc))


def sweep_figures(exp):
    return [f"results/{exp}/{f}.{ext}" for f in SPECS[exp].get("figures", []) for ext in ("png", "pdf")]


def module_scale(exp):
    """The scale a module experiment runs at: the config's ``scale``, else its preset's."""
    return SCALE or SPECS[exp].get("scale", "quick")


def module_params(exp):
    """A module experiment's parameters at that scale (its preset's ``params.<scale>``)."""
    return SPECS[exp].get("params", {}).get(module_scale(exp), {})


def module_processes(exp):
    """Worker processes a module experiment asks for (its preset's ``processes``; default 1)."""
    return int(module_params(exp).get("processes", 1) or 1)


def parallel_modules(parallel):
    """The module experiments that run several processes (``parallel``), or those that run one."""
    return [e for e in MODULES if (module_processes(e) > 1) == parallel]


def processes_override(wc, threads):
    """``--set processes=N`` with N = the threads Snakemake granted, for presets that use it."""
    return f"--set processes={threads}" if "processes" in module_params(wc.exp) else ""


def all_claims():
    return [f"results/{e}/claims.json" for e in EXPERIMENTS]
