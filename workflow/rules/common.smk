# Helpers shared by all rules: expand experiment presets into run directories.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from kvsched.analysis.sweep import expand as _expand, load_sweep, run_dir  # noqa: E402

EXPERIMENTS = list(config.get("experiments", []))
EXTRA = list(config.get("extra_overrides", []))
SPECS = {e: load_sweep(e) for e in EXPERIMENTS}
POINTS = {e: {p.path: p for p in _expand(SPECS[e])} for e in EXPERIMENTS}


def summaries_of(exp):
    return [str(run_dir("results", p) / "summary.json") for p in POINTS[exp].values()]


def run_summaries(wc):
    return summaries_of(wc.exp)


def run_overrides(wc):
    point = POINTS[wc.exp][wc.point]
    return " ".join(f"'{o}'" for o in point.overrides(SPECS[wc.exp]["fixed"]) + EXTRA)
