"""``kvsched compare``: runs side by side from their summaries."""

import pandas as pd

from kvsched.cli import main

SMALL = ["trace=synthetic_mcsf", "memory.capacity=auto", "latency=unit", "sim.progress=false"]


def _runs(tmp_path):
    root = tmp_path / "runs"
    for name, extra in [("fcfs", []), ("mcsf", []), ("skip", ["algorithm=mcsf", "algorithm.scan=skip"]),
                        ("vllm", ["algorithm=vllm_fcfs"])]:
        algo = [] if extra else [f"algorithm={name}"]
        assert main(["run", *SMALL, *algo, *extra, f"out={root / name}"]) == 0
    return root


def _table(out: str) -> list[list[str]]:
    lines = out.strip().splitlines()
    assert set(lines[1]) <= {"-", " "}
    return [line.split() for line in lines[2:]]


def test_compare_sorts_runs_and_shows_what_tells_them_apart(tmp_path, capsys):
    root = _runs(tmp_path)
    capsys.readouterr()
    assert main(["compare", str(root), "--csv", str(tmp_path / "t.csv")]) == 0
    rows = _table(capsys.readouterr().out.rsplit("\n", 2)[0])
    assert [r[2] for r in rows][0] == "mcsf" and len(rows) == 4
    mean = [float(r[6]) for r in rows]
    assert mean == sorted(mean)
    settings = {(r[2], r[13] if len(r) > 13 else "") for r in rows}
    assert {("mcsf", "algorithm.scan=skip"), ("mcsf", "algorithm.scan=stop")} <= settings
    assert [r[3] for r in rows if r[2] == "vllm_fcfs"] == ["-"]   # reads no predictions: none shown
    csv = pd.read_csv(tmp_path / "t.csv")
    assert len(csv) == 4 and {"latency_mean", "algorithm.scan", "summary"} <= set(csv.columns)

    # options and paths in any order
    assert main(["compare", str(root / "vllm"), "--sort", "evictions", str(root / "fcfs" / "summary.json")]) == 0
    assert [r[2] for r in _table(capsys.readouterr().out)] == ["fcfs", "vllm_fcfs"]


def test_compare_skips_a_broken_summary_and_names_it(tmp_path, capsys):
    root = _runs(tmp_path)
    (root / "fcfs" / "summary.json").write_text('{"config": ')
    capsys.readouterr()
    assert main(["compare", str(root)]) == 0
    out, err = capsys.readouterr()
    assert sorted(r[2] for r in _table(out)) == ["mcsf", "mcsf", "vllm_fcfs"]
    assert f"skipped {root / 'fcfs' / 'summary.json'}: not a complete run summary" in err


def test_compare_errors_name_the_problem(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "nowhere")]) == 2
    assert f"{tmp_path / 'nowhere'}: no such file or folder" in capsys.readouterr().err
    assert main(["compare", str(tmp_path)]) == 2
    assert "no run summaries found" in capsys.readouterr().err
    assert main(["compare", "--sort", "speed", str(tmp_path)]) == 2
    assert "cannot sort by 'speed'" in capsys.readouterr().err
