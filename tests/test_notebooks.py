"""Every workflow notebook runs headless (nbclient) on a small synthetic table."""

import os
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "workflow" / "notebooks"

pytest.importorskip("nbclient")
pytest.importorskip("jupytext")
pytest.importorskip("ipykernel")


def synthetic_table() -> pd.DataFrame:
    rows = []
    for trace in ("trace_a", "trace_b"):
        for k, algo in enumerate(("fcfs", "sf", "mcsf")):
            for m in (64, 128, 256):
                for seed in (0, 1):
                    mean = 1000.0 / m * (1 + 0.2 * k) + seed
                    rows.append({"trace": trace, "algorithm": algo, "memory": m, "seed": seed,
                                 "trace.rate": 0.5 * m / 64,    # stands in for a rate axis
                                 "latency_mean": mean, "latency_p99": 3 * mean, "time_unit": "rounds"})
    return pd.DataFrame(rows)


def test_notebooks_are_outputless_jupytext_pairs():
    import jupytext
    files = sorted(NOTEBOOKS.glob("*.py"))
    assert files, "no notebooks"
    assert not list(NOTEBOOKS.glob("*.ipynb")), "keep only the .py of each pair in the workflow"
    for f in files:
        nb = jupytext.read(f)
        assert nb.metadata["jupytext"]["text_representation"]["format_name"] == "percent"
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{f.name}: needs exactly one cell tagged 'parameters'"


@pytest.mark.parametrize("figure", ["latency_vs_memory", "latency_by_algorithm", "latency_vs_rate"])
def test_sweep_figure_notebook_executes(tmp_path, monkeypatch, figure):
    from kvsched.analysis.notebooks import execute
    table = tmp_path / "runs.parquet"
    synthetic_table().to_parquet(table)
    out_nb = tmp_path / "executed.ipynb"
    png, pdf = tmp_path / "fig.png", tmp_path / "fig.pdf"
    # the kernel is a separate process: it must import this checkout's kvsched
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    nb = execute(NOTEBOOKS / "sweep_figure.py", out_nb,
                 {"experiment": "synthetic", "figure": figure, "table": str(table), "out": [str(png), str(pdf)]},
                 cwd=tmp_path)
    assert out_nb.exists()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the figure is not shown inline"
    assert any("36 runs" in o.get("text", "") for o in outputs)
    assert png.stat().st_size > 1000 and pdf.stat().st_size > 1000


def test_experiment_figures_notebook_executes(tmp_path, monkeypatch):
    """The module-experiment notebook redraws an experiment's figure from its saved table."""
    from kvsched.analysis.notebooks import execute
    rows = [{"trace": t, "algorithm": a, "alpha": al, "ratio_mean": 1 + (1 - al) * (2 if a == "amax" else 0.1)}
            for t in ("trace_a",) for a in ("amax", "amin") for al in (0.2, 0.5, 1.0)]
    res = tmp_path / "results" / "amin_amax"
    res.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(res / "ratio_vs_alpha.parquet")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    nb = execute(NOTEBOOKS / "experiment_figures.py", tmp_path / "nb.ipynb",
                 {"experiment": "amin_amax", "results": str(res)}, cwd=tmp_path)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # amin_amax has one figure: shown once, not again by the inline backend at the cell's end
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 1


def test_a_failing_notebook_is_reported_in_plain_text(tmp_path, monkeypatch, capsys):
    """A failing cell: its traceback without terminal colours, then one line naming the notebook
    and the error (not nbclient's own traceback)."""
    from kvsched.analysis.notebooks import main
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    missing = tmp_path / "none" / "runs.parquet"
    nb = NOTEBOOKS / "sweep_figure.py"
    assert main([str(nb), str(tmp_path / "out.ipynb"), "-p", f"table={missing}"]) == 1
    err = capsys.readouterr().err
    assert "\x1b[" not in err
    assert err.rstrip().splitlines()[-1].startswith(f"kvsched: error: notebook {nb} failed: FileNotFoundError")
    assert str(missing) in err and "df = pd.read_parquet(path)" in err
    assert not (tmp_path / "out.ipynb").exists()


def test_every_module_experiment_can_redraw_its_figures():
    """The pipeline runs experiment_figures.py for every module experiment in `experiments`; it
    calls the module's figures(out)."""
    import importlib

    import yaml
    for f in sorted((ROOT / "conf" / "experiment").glob("*.yaml")):
        spec = yaml.safe_load(f.read_text())
        if spec.get("kind") == "module":
            module = importlib.import_module(f"kvsched.experiments.{f.stem}")
            assert callable(getattr(module, "figures", None)), f"{f.stem} has no figures(out)"
