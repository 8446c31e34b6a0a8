# The replication report: every number comes from a claims.json written by a rule above.
localrules:
    report,


rule report:
    input:
        claims=all_claims(),
        template=str(Path(workflow.basedir) / "paper" / "templates" / "report.md"),
    output:
        "paper/report.md",
    shell:
        "python -m kvsched.report.build --out {output} --template {input.template} {input.claims}"
