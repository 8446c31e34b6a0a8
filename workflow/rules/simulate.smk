# One simulation per sweep point. summary.json is written last and atomically, so a killed
# job never leaves a result that looks complete.
rule simulate:
    input:
        plugin_files,
        trace_files,
    output:
        summary="results/runs/{exp}/{point}/summary.json",
        requests="results/runs/{exp}/{point}/requests.parquet",
    params:
        overrides=run_overrides,
    wildcard_constraints:
        exp=r"[A-Za-z0-9_\-]+",
    log:
        "results/logs/{exp}/{point}.log",
    # on a cluster, runs are batched into one submission per `group-components` runs
    # (workflow/profiles/slurm), so scheduler overhead stays small for tiny points
    group:
        "simulate"
    shell:
        "kvsched run {params.overrides} sim.progress=false \"out='results/runs/{wildcards.exp}/{wildcards.point}'\" "
        "> {log} 2>&1"
