# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The figures of one module experiment
#
# Redraws the figures of a module experiment (`kind: module` in `conf/experiment/`) from its
# saved tables in `results/<experiment>/`. It calls `kvsched.experiments.<experiment>.figures`,
# the same function the experiment uses when it writes its figures, so a restyle done here
# and the pipeline figure stay in step. Restyle the returned figures here; a change meant
# for the paper figure belongs in that function.
#
# Kept as a jupytext pair without outputs: open this `.py` in Jupyter ("Open as Notebook").
# Headless: `snakemake --cores 2 results/<experiment>/notebooks/experiment_figures.ipynb --config 'experiments=[<experiment>]'`
# (`--config` may be left out for an experiment of `workflow/config.yaml`; for any other, Snakemake
# says it has no rule for the file without it), or `python -m kvsched.analysis.notebooks` (README).

# %% tags=["parameters"]
experiment = "mcsf_synthetic"   # a module experiment
results = None                  # its results directory; None = results/<experiment>

# %%
import importlib
from pathlib import Path


def repo_root(start: Path) -> Path:
    """The checkout (the notebook may run from workflow/notebooks/ or the root)."""
    for d in [start, *start.parents]:
        if (d / "workflow" / "config.yaml").exists():
            return d
    return start


out = Path(results) if results else repo_root(Path.cwd().resolve()) / "results" / experiment
module = importlib.import_module(f"kvsched.experiments.{experiment}")
print(f"{experiment}: tables in {out}: {sorted(p.name for p in out.glob('*.parquet'))}")

# %%
import matplotlib.pyplot as plt

figs = module.figures(out)
for name, fig in figs.items():
    print(name)
    display(fig)  # noqa: F821  (IPython)
    plt.close(fig)  # shown once: the inline backend would show every open figure again
