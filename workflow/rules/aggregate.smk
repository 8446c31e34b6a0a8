# Runs -> one tidy table per experiment -> figures.
# Cheap: they run on the submit host, never as cluster jobs.
localrules:
    aggregate,
    figure_latency_vs_memory,


rule aggregate:
    input:
        run_summaries,
    output:
        table="results/{exp}/runs.parquet",
        csv="results/{exp}/runs.csv",
    shell:
        "python -m kvsched.analysis.aggregate --out {output.table} {input}"


rule figure_latency_vs_memory:
    input:
        "results/{exp}/runs.parquet",
    output:
        png="results/{exp}/latency_vs_memory.png",
        pdf="results/{exp}/latency_vs_memory.pdf",
    shell:
        "python -m kvsched.analysis.plots latency_vs_memory {input} {output.png} {output.pdf}"


# Module experiments (kind: module): one job each; done.json is written last.
rule experiment_module:
    output:
        "results/{exp}/done.json",
    wildcard_constraints:
        exp=r"[A-Za-z0-9_\-]+",
    log:
        "results/logs/{exp}.log",
    shell:
        "kvsched experiment {wildcards.exp} > {log} 2>&1"
