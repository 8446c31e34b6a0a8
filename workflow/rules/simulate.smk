# One simulation per sweep point. summary.json is written last and atomically, so a killed
# job never leaves a result that looks complete.
rule simulate:
    output:
        summary="results/runs/{exp}/{point}/summary.json",
        requests="results/runs/{exp}/{point}/requests.parquet",
    params:
        overrides=run_overrides,
    wildcard_constraints:
        exp=r"[A-Za-z0-9_\-]+",
    log:
        "results/logs/{exp}/{point}.log",
    shell:
        "kvsched run {params.overrides} sim.progress=false \"out='results/runs/{wildcards.exp}/{wildcards.point}'\" "
        "> {log} 2>&1"
