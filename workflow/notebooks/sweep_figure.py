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
# # A sweep experiment's figure
#
# Loads the aggregated table of one sweep experiment (`results/<experiment>/runs.parquet`,
# written by `snakemake`) and draws one of its figures with the function the `figure` rule
# calls (`kvsched.analysis.plots.FIGURES[figure]`: `latency_vs_memory`,
# `latency_by_algorithm`, `latency_vs_rate`). Restyle the returned figure here; a change meant for the paper
# figure belongs in that function, so rule and notebook agree.
#
# Kept as a jupytext pair without outputs: open this `.py` in Jupyter ("Open as Notebook").
# Headless: `snakemake --cores 2 results/<experiment>/notebooks/<figure>.ipynb --config 'experiments=[<experiment>]'`
# (`--config` may be left out for an experiment of `workflow/config.yaml`; for any other, Snakemake
# says it has no rule for the file without it), or `python -m kvsched.analysis.notebooks` (README).

# %% tags=["parameters"]
experiment = "skeleton"         # conf/experiment/<experiment>.yaml
figure = "latency_vs_memory"    # a name in kvsched.analysis.plots.FIGURES
table = None                    # path to runs.parquet; None = results/<experiment>/runs.parquet
out = None                      # optional list of files (.png/.pdf) to save the figure to

# %%
from pathlib import Path

import pandas as pd

from kvsched.analysis.plots import FIGURES, save


def repo_root(start: Path) -> Path:
    """The checkout (the notebook may run from workflow/notebooks/ or the root)."""
    for d in [start, *start.parents]:
        if (d / "workflow" / "config.yaml").exists():
            return d
    return start


path = Path(table) if table else repo_root(Path.cwd().resolve()) / "results" / experiment / "runs.parquet"
df = pd.read_parquet(path)
print(f"{len(df)} runs from {path}")
df[["trace", "algorithm", "memory", "seed", "latency_mean", "latency_p99"]].head()

# %%
fig = FIGURES[figure](df)   # shown inline at the end of the cell

# %%
if out:
    save(fig, list(out))
