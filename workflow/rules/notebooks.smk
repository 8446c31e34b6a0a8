# Figure notebooks (workflow/notebooks/*.py, jupytext pairs without outputs) executed
# headless on an experiment's table; the executed .ipynb (with outputs) lands in results/.
localrules:
    notebook_latency_vs_memory,


rule notebook_latency_vs_memory:
    input:
        table="results/{exp}/runs.parquet",
        notebook=str(Path(workflow.basedir) / "workflow" / "notebooks" / "latency_vs_memory.py"),
    output:
        "results/{exp}/notebooks/latency_vs_memory.ipynb",
    wildcard_constraints:
        exp=one_of(SWEEPS),
    log:
        "results/logs/{exp}/notebook_latency_vs_memory.log",
    shell:
        "python -m kvsched.analysis.notebooks {input.notebook} {output} "
        "-p experiment={wildcards.exp} -p table={input.table} > {log} 2>&1"
