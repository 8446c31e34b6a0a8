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
    return [line.split() for line in lines[2:] if line]      # blank lines part blocks


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


def test_every_sort_key_is_a_column_of_a_run(tmp_path):
    """Each metric --sort accepts is in a run's row (none is a dead key), and ranks smallest first."""
    import json
    from kvsched.analysis.aggregate import flatten
    from kvsched.analysis.compare import SORT_KEYS, SORT_KEYS_LARGEST, compare_table
    root = _runs(tmp_path)
    row = flatten(json.loads((root / "vllm" / "summary.json").read_text()))
    assert set(SORT_KEYS + SORT_KEYS_LARGEST) <= set(row), set(SORT_KEYS + SORT_KEYS_LARGEST) - set(row)
    for key in SORT_KEYS + SORT_KEYS_LARGEST:
        df = compare_table([root], sort=key)
        values = pd.to_numeric(df[key]).dropna().tolist()
        assert values == sorted(values, reverse=key in SORT_KEYS_LARGEST), key   # one block: one trace and M
    assert len(set(compare_table([root], sort="throughput_rps")["throughput_rps"])) > 1   # the order is tested


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


def test_compare_reads_engine_replays_and_module_folders(tmp_path, capsys):
    """Real-engine summaries (no latency group, replay time) are runs too, and a folder whose own
    summary.json is a module experiment's is searched below."""
    import json
    root = _runs(tmp_path)
    s = json.loads((root / "fcfs" / "summary.json").read_text())
    # the shape of an engine_fidelity replay's summary: no latency group, no resolved section
    s["config"].pop("latency"); s["config"]["memory"] = s.pop("resolved")["memory_capacity"]
    s["timing"] = {"replay_s": 1.5, "iterations": 10}
    s["engine"] = {"label": "cpu-tiny"}
    mod = tmp_path / "module"
    (mod / "runs" / "a").mkdir(parents=True)
    (mod / "runs" / "a" / "summary.json").write_text(json.dumps(s))
    (mod / "summary.json").write_text('{"experiment": "x"}')
    capsys.readouterr()
    assert main(["compare", str(mod), str(root / "mcsf")]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    rows = _table(out)
    assert sorted(r[2] for r in rows) == ["fcfs", "mcsf"]
    assert "latency_model=measured (real engine)" in out and "latency_model=unit" in out


def test_compare_ranks_only_like_with_like_and_lists_a_run_once(tmp_path, capsys):
    a, b = tmp_path / "n20", tmp_path / "n30"
    for out, n, algo in [(a, 20, "fcfs"), (b, 30, "mcsf")]:
        assert main(["run", *SMALL, f"trace.n={n}", f"algorithm={algo}", f"out={out}"]) == 0
    assert main(["run", *SMALL, "trace.n=30", "algorithm=fcfs", f"out={tmp_path / 'n30b'}"]) == 0
    (tmp_path / "link").symlink_to(a, target_is_directory=True)
    capsys.readouterr()
    assert main(["compare", str(tmp_path), str(a), str(tmp_path / "link")]) == 0
    out = capsys.readouterr().out
    rows = _table(out)
    assert len(rows) == 3                                   # n20 once, however it was named
    assert len(out.strip().splitlines()) == 2 + 3 + 1      # n=20 and n=30 apart, a blank line between
    assert [r[-1] for r in rows] == ["trace.n=20", "trace.n=30", "trace.n=30"]   # n blocks, not one ranking


def test_compare_csv_to_a_folder_is_an_error(tmp_path, capsys):
    root = _runs(tmp_path)
    assert main(["compare", str(root / "fcfs"), "--csv", str(tmp_path)]) == 2
    assert f"kvsched: error: cannot write {tmp_path}" in capsys.readouterr().err


def test_compare_shows_older_summaries_that_lack_some_metrics(tmp_path, capsys):
    import json
    root = _runs(tmp_path)
    f = root / "fcfs" / "summary.json"
    s = json.loads(f.read_text())
    for k in ("time_unit", "memory_peak", "ttft_mean"):
        s["metrics"].pop(k)
    f.write_text(json.dumps(s))
    capsys.readouterr()
    assert main(["compare", str(root), "--sort", "memory_peak"]) == 0
    rows = _table(capsys.readouterr().out)
    assert sorted(r[2] for r in rows) == ["fcfs", "mcsf", "mcsf", "vllm_fcfs"]


def test_compare_tells_apart_plugin_code_and_simulation_switches_and_groups_a_file_by_content(
        tmp_path, capsys, monkeypatch):
    import textwrap
    root = tmp_path / "runs"
    plugin = tmp_path / "mine.py"
    body = textwrap.dedent('''
        from dataclasses import dataclass
        from kvsched.policies import Policy, register_policy

        @register_policy
        class Mine(Policy):
            """Admits the head of the queue when it fits now."""
            name = "mine_cmp"

            @dataclass(frozen=True)
            class Params:
                slack: int = {slack}

            def admit(self, view):
                w = view.waiting
                return [int(w[0])] if len(w) and view.prompt[w[0]] + 1 + {slack} <= view.free else []
    ''')
    plugin.write_text(body.format(slack=0))
    run = lambda *o: main(["run", *SMALL, *o])  # noqa: E731
    assert run(f"plugins={plugin}", "algorithm=mine_cmp", f"out={root / 'p0'}") == 0
    plugin.write_text(body.format(slack=0) + "\n# edited\n")
    from kvsched import plugins as plugins_mod
    plugins_mod._LOADED.clear()
    assert run(f"plugins={plugin}", "algorithm=mine_cmp", f"out={root / 'p1'}") == 0
    assert run("algorithm=mcsf", "sim.fast=false", f"out={root / 'slow'}") == 0
    assert run("algorithm=mcsf", f"out={root / 'fast'}") == 0
    capsys.readouterr()
    assert main(["compare", str(root), "--csv", str(tmp_path / "t.csv")]) == 0
    out = capsys.readouterr().out
    assert "sim.fast=False" in out and "sim.fast=True" in out
    assert out.count("plugins=mine.py@") == 2 and len(set(out.split("plugins=mine.py@")[1:])) == 2
    csv = (tmp_path / "t.csv").read_text()
    assert ",47," in csv and ",47.0," not in csv           # whole numbers stay whole

    # one file, named relatively and absolutely: one block, ranked together
    f = tmp_path / "t.csv.d" / "trace.csv"
    f.parent.mkdir()
    pd.DataFrame({"t": [0.0, 0.5, 1.0], "in": [5, 3, 4], "out": [9, 2, 6]}).to_csv(f, index=False)
    monkeypatch.chdir(tmp_path)
    file = ["trace=file", "trace.prompt_col=in", "trace.output_col=out", "trace.arrival_col=t",
            "memory.capacity=64", "sim.progress=false"]
    assert main(["run", *file, "trace.path=t.csv.d/trace.csv", "algorithm=fcfs", "out=files/a"]) == 0
    assert main(["run", *file, f"trace.path={f}", "algorithm=mcsf", "out=files/b"]) == 0
    capsys.readouterr()
    assert main(["compare", "files"]) == 0
    out = capsys.readouterr().out
    assert "" not in out.strip().splitlines() and "trace.path" not in out


def test_compare_tells_an_unset_parameter_from_a_set_one(tmp_path, capsys):
    """A run with ``trace.n`` unset (the whole trace) is not ranked with one cut to ``trace.n=20``,
    and one plugin run among built-in runs shows its plugin."""
    import textwrap
    root = tmp_path / "runs"
    assert main(["run", *SMALL, "algorithm=fcfs", f"out={root / 'all'}"]) == 0
    assert main(["run", *SMALL, "trace.n=20", "algorithm=mcsf", f"out={root / 'n20'}"]) == 0
    plugin = tmp_path / "solo.py"
    plugin.write_text(textwrap.dedent('''
        from kvsched.policies import Policy, register_policy

        @register_policy
        class Solo(Policy):
            """The head of the queue when it fits now."""
            name = "solo_cmp"

            def admit(self, view):
                w = view.waiting
                return [int(w[0])] if len(w) and view.prompt[w[0]] + 1 <= view.free else []
    '''))
    assert main(["run", *SMALL, f"plugins={plugin}", "algorithm=solo_cmp", f"out={root / 'p'}"]) == 0
    capsys.readouterr()
    assert main(["compare", str(root)]) == 0
    out = capsys.readouterr().out
    assert "" in out.strip().splitlines()                  # two blocks: trace.n unset and n=20
    assert out.count("trace.n=20") == 1
    rows = {r[2]: r for r in _table(out)}
    assert "plugins=solo.py@" in " ".join(rows["solo_cmp"])
    assert "plugins=" not in " ".join(rows["fcfs"])


def test_compare_tells_apart_replays_on_different_engines(tmp_path, capsys):
    """Two real-engine replays of one config on another model or device are told apart by the
    engine's settings (they share the latency model ``measured (real engine)``)."""
    import json
    root = _runs(tmp_path)
    s = json.loads((root / "fcfs" / "summary.json").read_text())
    s["config"].pop("latency")
    s["resolved"]["latency_model"] = "measured (real engine)"
    s["timing"] = {"replay_s": 1.5, "iterations": 10}
    for name, label, dtype in [("cpu", "cpu-tiny", "float32"), ("gpu", "cuda-llama2_7b", "bfloat16")]:
        s["engine"] = {"label": label, "model": label.split("-")[1], "dtype": dtype, "clock": "virtual",
                       "config": {"hidden_size": 256}}
        (tmp_path / "eng" / name).mkdir(parents=True)
        (tmp_path / "eng" / name / "summary.json").write_text(json.dumps(s))
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "eng")]) == 0
    out = capsys.readouterr().out
    assert "engine.label=cpu-tiny" in out and "engine.label=cuda-llama2_7b" in out
    assert "engine.clock" not in out and "engine.config" not in out     # the same in both; not a value


def test_compare_writes_latencies_from_ten_thousand_up_whole():
    """4 significant digits below 10^4; from there on whole numbers, never 1.541e+04."""
    from kvsched.analysis.compare import _fmt
    assert [_fmt(v) for v in (870.1185, 9999.4, 9999.7, 15409.71, 123456.7, 0.07855)] == \
        ["870.1", "9999", "10000", "15410", "123457", "0.07855"]


def test_compare_shows_the_metric_it_ranks_by(tmp_path, capsys):
    root = _runs(tmp_path)
    capsys.readouterr()
    assert main(["compare", str(root), "--sort", "latency_p50"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line]
    at = lines[0].index("latency_p50")             # right-aligned under its header
    p50 = [float(line[at:at + len("latency_p50")]) for line in lines[2:]]
    assert p50 == sorted(p50) and len(p50) == 4
    assert main(["compare", str(root)]) == 0               # shown already: not twice
    assert capsys.readouterr().out.splitlines()[0].split().count("latency_mean") == 0
