"""The replication report (``paper/report.md``), built from ``results/*/claims.json``."""
