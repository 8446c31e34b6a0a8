# The replication report: every number comes from a claims.json written by a rule above.
localrules:
    report,


rule report:
    input:
        claims=all_claims(),
        stamps=[stamp(e) for e in EXPERIMENTS],   # a failed rerun is retried first (common.smk)
        template=str(Path(workflow.basedir) / "paper" / "templates" / "report.md"),
    output:
        md="paper/report.md",
        # every experiment's figures, copied beside the report; also in `snakemake --report`
        figures=report(directory("paper/figures"), patterns=["{experiment}/{name}.png"],
                       category="{experiment}", caption=str(Path(workflow.basedir) / "workflow" / "report" / "figure.rst")),
    shell:
        "python -m kvsched.report.build --out {output.md} --template {input.template} {input.claims}"
