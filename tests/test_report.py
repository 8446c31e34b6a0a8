"""The replication report is rendered from claims files, never from typed numbers."""

import json

import pandas as pd

from kvsched.analysis.claims import mcsf_beats_benchmarks
from kvsched.experiments import make_claim, write_claims
from kvsched.report.build import build


def test_report_counts_and_renders_claims(tmp_path):
    exp = tmp_path / "results" / "demo"
    exp.mkdir(parents=True)
    (exp / "fig.png").write_bytes(b"\x89PNG fake")
    rows = [make_claim("a", "P", "x < y", 1.0, 1.2, False, "our value differs"),
            make_claim("b", "P", "z holds", "yes", "yes", True),
            make_claim("c", "P", "w", 3, None, None)]
    write_claims(exp, "demo", "A demo.", rows, ["fig.png"])
    text = build([exp / "claims.json"], tmp_path / "paper" / "report.md")
    assert "2 claims" not in text and "3 claims checked" in text
    assert "Not reproduced: 1" in text and "| **no** |" in text
    assert (tmp_path / "paper/figures/demo/fig.png").exists()
    assert "figures/demo/fig.png" in text


def test_mcsf_claim_is_computed_from_the_table():
    df = pd.DataFrame({"trace": ["t"] * 3, "memory": [10] * 3, "algorithm": ["mcsf", "fcfs", "vllm_fcfs"],
                       "latency_mean": [5.0, 4.0, 6.0]})
    rows = {r["id"]: r for r in mcsf_beats_benchmarks(df)}
    assert rows["mcsf_vs_fcfs"]["reproduced"] is False
    assert rows["mcsf_vs_vllm_fcfs"]["reproduced"] is True
    assert "1.25" in rows["mcsf_vs_fcfs"]["ours"]


def test_report_names_the_code_versions_of_mixed_results(tmp_path, monkeypatch):
    import kvsched.report.build as rb
    monkeypatch.setattr(rb, "provenance", lambda: {"git": {"commit": "c" * 40, "dirty": False},
                                                   "packages": {}, "platform": "test"})
    res = tmp_path / "results"
    files = []
    for name in ("mod", "sweep"):
        (res / name).mkdir(parents=True)
        write_claims(res / name, name, "", [make_claim("a", "P", "x", 1, 1, True)], [])
        files.append(res / name / "claims.json")
    (res / "mod" / "done.json").write_text(json.dumps({"provenance": {"git": {"commit": "c" * 40, "dirty": False}}}))
    pd.DataFrame({"git_commit": ["c" * 40, "c" * 40, "a" * 40], "git_dirty": [False, False, True]}).to_parquet(
        res / "sweep" / "runs.parquet")
    text = build(files, tmp_path / "report.md")
    assert ("**Code versions.** Not every result below comes from the version that built this report. "
            "`aaaaaaaaaaaa` with uncommitted changes: sweep (1 of 3 runs); `cccccccccccc`: mod, sweep (2 of 3 runs).") in text
    pd.DataFrame({"git_commit": ["c" * 40], "git_dirty": [False]}).to_parquet(res / "sweep" / "runs.parquet")
    assert "Code versions" not in build(files, tmp_path / "report.md")      # one version: no note
    # two uncommitted states of one commit are two versions, told apart by their diff's sha256
    pd.DataFrame({"git_commit": ["c" * 40] * 3, "git_dirty": [False, True, True],
                  "git_diff_sha256": [None, "1" * 64, "2" * 64]}).to_parquet(res / "sweep" / "runs.parquet")
    text = build(files, tmp_path / "report.md")
    assert ("`cccccccccccc` with uncommitted changes (diff `11111111`): sweep (1 of 3 runs); "
            "`cccccccccccc` with uncommitted changes (diff `22222222`): sweep (1 of 3 runs)") in text


def test_mcsf_claim_note_describes_the_runs_of_the_table():
    """The note says what the table's runs were: the full preset's whole traces are not 'the
    first 1,500 requests' of the quick one."""
    base = {"trace": ["azure_conv"] * 2, "memory": [10] * 2, "algorithm": ["mcsf", "fcfs"],
            "latency_mean": [4.0, 5.0], "predictor": ["oracle"] * 2, "latency.model": ["llama2-70b"] * 2,
            "latency.hardware": ["a100-80gb"] * 2, "latency.tensor_parallel": [2] * 2}
    full = mcsf_beats_benchmarks(pd.DataFrame(base))[0]["note"]
    assert "whole traces" in full and "1,500" not in full
    assert "azure_conv" in full and "llama2-70b on a100-80gb (TP 2)" in full and "oracle" in full
    quick = mcsf_beats_benchmarks(pd.DataFrame({**base, "trace.n": [1500] * 2}))[0]["note"]
    assert "first 1,500 requests" in quick and "whole traces" not in quick


def test_a_table_cut_short_is_named_by_the_figure_claims_and_report_steps(tmp_path, capsys):
    """A runs.parquet damaged after it was written (cut short) gave a pyarrow traceback."""
    from kvsched.analysis.claims import main as claims_main
    from kvsched.analysis.plots import main as plots_main
    from kvsched.report.build import main as report_main
    res = tmp_path / "results" / "skeleton"
    res.mkdir(parents=True)
    table = res / "runs.parquet"
    pd.DataFrame({"git_commit": ["a" * 40]}).to_parquet(table)
    table.write_bytes(table.read_bytes()[:40])          # cut short
    (res / "claims.json").write_text(json.dumps({"experiment": "skeleton", "description": "", "claims": [],
                                                 "figures": []}))
    for run in (lambda: plots_main(["latency_vs_memory", str(table), str(tmp_path / "f.png")]),
                lambda: claims_main(["skeleton", str(table), str(res / "claims.json")]),
                lambda: report_main(["--out", str(tmp_path / "report.md"), str(res / "claims.json")])):
        assert run() == 2
        err = capsys.readouterr().err
        assert f"{table}: not a readable parquet table" in err and "delete it and rerun" in err, err
        assert "Traceback" not in err
    assert not (tmp_path / "f.png").exists() and not (tmp_path / "report.md").exists()
