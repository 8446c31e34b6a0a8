# kvsched pipeline: Hydra-configured experiments -> runs -> tidy tables -> figures -> report.
#   snakemake --cores 2            everything in workflow/config.yaml (quick scale) + paper/report.md
#   snakemake --cores 2 --config 'experiments=[all_algorithms]'   those experiments only (report untouched)
#   snakemake --cores 2 -n         dry run
#   snakemake --report report.html Snakemake's HTML report with the figures
#   snakemake --cores 2 validate  the simulator against the real engine (needs the engine extra; docs/engine.md)
# Outputs live under results/ and paper/ only.

from snakemake.utils import min_version

min_version("9.14")   # update() outputs restored when a job fails (workflow/rules/common.smk)

configfile: "workflow/config.yaml"

include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/notebooks.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/engine.smk"


localrules:
    all,


rule all:
    input:
        # the report when the experiments are the replication's (common.smk), else their claims
        "paper/report.md" if REPORTED else all_claims(),
        # an experiment whose last rerun failed is retried (its results kept meanwhile; common.smk)
        [stamp(e) for e in EXPERIMENTS],
        # every run too: a deleted run directory is recomputed (and only it)
        [s for e in SWEEPS for s in summaries_of(e)],
        [f for e in SWEEPS for f in sweep_figures(e)],
        [f"results/{e}/notebooks/{f}.ipynb" for e in SWEEPS for f in SPECS[e].get("figures", [])],
        [f"results/{e}/notebooks/experiment_figures.ipynb" for e in MODULES],
