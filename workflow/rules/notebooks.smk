# Figure notebooks (workflow/notebooks/*.py, jupytext pairs without outputs) executed
# headless on an experiment's table; the executed .ipynb (with outputs) lands in results/.
localrules:
    notebook_sweep_figure,
    notebook_experiment_figures,


# Sweeps: one parametrised notebook per figure the preset lists.
rule notebook_sweep_figure:
    input:
        table="results/{exp}/runs.parquet",
        stamp=lambda wc: stamp(wc.exp),
        notebook=str(Path(workflow.basedir) / "workflow" / "notebooks" / "sweep_figure.py"),
    output:
        "results/{exp}/notebooks/{fig}.ipynb",
    wildcard_constraints:
        exp=one_of(SWEEPS),
        fig=one_of(sorted({f for e in SWEEPS for f in SPECS[e].get("figures", [])})),
    log:
        "results/logs/{exp}/notebook_{fig}.log",
    shell:
        "python -m kvsched.analysis.notebooks {input.notebook} {output} "
        "-p experiment={wildcards.exp} -p figure={wildcards.fig} -p table={input.table} > {log} 2>&1"


# Module experiments: one parametrised notebook redraws all of an experiment's figures.
rule notebook_experiment_figures:
    input:
        done="results/{exp}/done.json",
        stamp=lambda wc: stamp(wc.exp),
        notebook=str(Path(workflow.basedir) / "workflow" / "notebooks" / "experiment_figures.py"),
    output:
        "results/{exp}/notebooks/experiment_figures.ipynb",
    wildcard_constraints:
        exp=one_of(MODULES),
    log:
        "results/logs/{exp}/notebook_experiment_figures.log",
    shell:
        "python -m kvsched.analysis.notebooks {input.notebook} {output} "
        "-p experiment={wildcards.exp} -p results=results/{wildcards.exp} > {log} 2>&1"
