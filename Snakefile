# kvsched pipeline: Hydra-configured sweeps -> simulation runs -> tidy tables -> figures.
#   snakemake --cores 2            (everything, quick scale)
#   snakemake --cores 2 -n         (dry run)
# All outputs live under results/ (and paper/ for the report).

configfile: "workflow/config.yaml"

include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/aggregate.smk"


rule all:
    input:
        expand("results/{exp}/runs.parquet", exp=EXPERIMENTS),
        expand("results/{exp}/latency_vs_memory.png", exp=EXPERIMENTS),
        expand("results/{exp}/done.json", exp=config.get("module_experiments", [])),
