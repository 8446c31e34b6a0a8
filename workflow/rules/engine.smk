# Real-engine validation: the simulator against a transformers model scheduled by the same policies
# (kvsched.engine, docs/engine.md). Needs the engine extra: pip install -e '.[engine]'.
#
#   snakemake --cores 2 validate                          CPU, tiny model, quick scale (< 2 min)
#   snakemake --cores 2 validate --config engine_device=cuda   CUDA, Llama-2-7B shape, full scale
#
# engine_device (workflow/config.yaml) picks the path: "cpu" runs the quick preset with no GPU
# resource; "cuda" runs the full preset and the job asks for resources gpu=1. On a cluster the
# SLURM executor (snakemake-executor-plugin-slurm) turns gpu=1 into "--gpus=1" on the job's sbatch
# line; the partition and time limit come from the profile workflow/profiles/slurm/config.yaml:
#   snakemake --workflow-profile workflow/profiles/slurm validate --config engine_device=cuda
# Not in the default target (rule all) yet: add engine_fidelity to `experiments` in
# workflow/config.yaml, or run `validate`.

ENGINE_DEVICE = str(config.get("engine_device", "cpu"))
ENGINE_CUDA = ENGINE_DEVICE.startswith("cuda")
ENGINE_SCALE = str(config.get("engine_scale") or ("full" if ENGINE_CUDA else "quick"))
ENGINE_RESOURCES = {"gpu": 1} if ENGINE_CUDA else {}
# checked now, not when the validation job runs
if ENGINE_DEVICE != "cpu" and not ENGINE_CUDA:
    raise ConfigError(f"engine_device={ENGINE_DEVICE!r}: choose cpu or cuda (cuda:N for one GPU of several)")
_ENGINE_SCALES = list(load_sweep("engine_fidelity").get("params", {}))
if ENGINE_SCALE not in _ENGINE_SCALES:
    raise ConfigError(f"engine_scale={ENGINE_SCALE!r}: choose one of {', '.join(_ENGINE_SCALES)} (or null: "
                      "quick on cpu, full on cuda)")

localrules: validate
ruleorder: engine_validate > experiment_module


rule engine_validate:
    output:
        # a failed rerun keeps the previous results ("A failed rerun" in common.smk)
        claims=update("results/engine_fidelity/claims.json"),
        done=update("results/engine_fidelity/done.json"),
        table=update("results/engine_fidelity/fidelity.csv"),
        markdown=update("results/engine_fidelity/fidelity.md"),
        png=update(report("results/engine_fidelity/fidelity.png", category="engine_fidelity")),
        pdf=update("results/engine_fidelity/fidelity.pdf"),
        stamp=touch("results/logs/engine_fidelity.ok"),
    log:
        "results/logs/engine_fidelity.log",
    params:
        scale=ENGINE_SCALE,
        device=ENGINE_DEVICE,
        data=lambda wc: module_data_arg("engine_fidelity"),
    threads: 1
    resources:
        **ENGINE_RESOURCES,
    shell:
        "kvsched experiment engine_fidelity --scale {params.scale} --set device={params.device} {params.data} > {log} 2>&1"


rule validate:
    input:
        rules.engine_validate.output,
