# Sweep runs -> one tidy table per experiment -> figures and checked claims.
# Cheap rules run on the submit host, never as cluster jobs.
localrules:
    aggregate,
    figure,
    sweep_claims,


rule aggregate:
    input:
        run_summaries,
    output:
        # a failed rerun keeps the previous table ("A failed rerun" in common.smk)
        table=update("results/{exp}/runs.parquet"),
        csv=update("results/{exp}/runs.csv"),
        stamp=touch("results/logs/{exp}/aggregate.ok"),
    wildcard_constraints:
        exp=one_of(SWEEPS),
    shell:
        "python -m kvsched.analysis.aggregate --out {output.table} {input}"


rule figure:
    input:
        table="results/{exp}/runs.parquet",
        stamp=lambda wc: stamp(wc.exp),
    output:
        png=report("results/{exp}/{fig}.png", category="{exp}"),
        pdf="results/{exp}/{fig}.pdf",
    wildcard_constraints:
        exp=one_of(SWEEPS),
        fig=r"[a-z_]+",
    shell:
        "python -m kvsched.analysis.plots {wildcards.fig} {input.table} {output.png} {output.pdf}"


rule sweep_claims:
    input:
        table="results/{exp}/runs.parquet",
        # its claims checker, description and figure list come from the preset: an edit to
        # them rebuilds claims.json (and the report), not the runs
        preset=lambda wc: str(Path(workflow.basedir) / "conf" / "experiment" / f"{wc.exp}.yaml"),
        stamp=lambda wc: stamp(wc.exp),
        figures=lambda wc: sweep_figures(wc.exp),
    output:
        "results/{exp}/claims.json",
    wildcard_constraints:
        exp=one_of(SWEEPS),
    shell:
        "python -m kvsched.analysis.claims {wildcards.exp} {input.table} {output}"


# Module experiments (kind: module): one job each; claims.json, then done.json, are written last.
# A failed run changes nothing in results/<exp>/ (the experiment publishes only a finished run),
# and Snakemake keeps and restores the two declared files too ("A failed rerun" in common.smk).
rule experiment_module:
    input:
        # an edited preset reruns its experiment
        preset=lambda wc: str(Path(workflow.basedir) / "conf" / "experiment" / f"{wc.exp}.yaml"),
    output:
        claims=update("results/{exp}/claims.json"),
        done=update("results/{exp}/done.json"),
        stamp=touch("results/logs/{exp}.ok"),
    wildcard_constraints:
        exp=one_of(parallel_modules(False)),
    params:
        scale=lambda wc: module_scale(wc.exp),
        processes=lambda wc, threads: processes_override(wc, threads),
        data=lambda wc: module_data_arg(wc.exp),
    threads: lambda wc: module_processes(wc.exp)
    resources:
        # on SLURM, one CPU per process (the profile's default cpus_per_task is 1)
        cpus_per_task=lambda wc, threads: threads,
    log:
        "results/logs/{exp}.log",
    priority: 1
    shell:
        "kvsched experiment {wildcards.exp} --scale {params.scale} {params.processes} {params.data} > {log} 2>&1"


# Module experiments that run several processes start first. A job that needs every core cannot
# start while single-core jobs hold some, so at the same priority it would wait for the end of
# the run and then run alone.
use rule experiment_module as experiment_module_parallel with:
    wildcard_constraints:
        exp=one_of(parallel_modules(True)),
    priority: 3
