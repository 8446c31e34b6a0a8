"""What a result records about the code that produced it."""

import subprocess

import pytest

from kvsched.provenance import PACKAGES, package_versions, revision


def _git(root, *args):
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=root, check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("results/\n")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "one")
    return tmp_path


def test_a_clean_tree_is_its_commit(repo):
    r = revision(repo)
    assert len(r["commit"]) == 40 and r["dirty"] is False and "diff_sha256" not in r
    (repo / "results").mkdir()
    (repo / "results" / "out.json").write_text("{}")     # ignored output does not count
    assert revision(repo)["dirty"] is False


def test_new_and_changed_files_make_it_dirty_with_a_hash_of_the_difference(repo):
    """A new, untracked file (e.g. a preset of one's own) used to leave ``dirty: false``."""
    (repo / "mine.yaml").write_text("axes: {}\n")
    r1 = revision(repo)
    assert r1["dirty"] is True and r1["changed"] == ["mine.yaml"]
    (repo / "mine.yaml").write_text("axes: {seed: [1]}\n")
    r2 = revision(repo)
    assert r2["diff_sha256"] != r1["diff_sha256"]
    (repo / "mine.yaml").unlink()
    (repo / "a.py").write_text("x = 2\n")
    r3 = revision(repo)
    assert r3["dirty"] is True and r3["changed"] == ["a.py"] and r3["diff_sha256"] not in (r1["diff_sha256"],
                                                                                              r2["diff_sha256"])
    assert revision(repo) == r3                             # the same state, the same record


def test_solver_and_figure_versions_are_recorded():
    assert {"ortools", "scipy", "matplotlib"} <= set(PACKAGES)
    assert package_versions()["ortools"]


def test_a_rename_lists_both_paths(repo):
    """With -z, a rename's old path is an entry of its own, without the status letters; its first
    three characters used to be cut off."""
    _git(repo, "mv", "a.py", "b.py")
    assert revision(repo)["changed"] == ["a.py", "b.py"]


def test_a_file_name_that_is_not_utf8_does_not_break_the_record(repo):
    import os
    (repo / os.fsdecode(b"notes\xff.txt")).write_text("x")
    r = revision(repo)
    assert r["dirty"] is True and len(r["changed"]) == 1 and r["diff_sha256"]


def test_a_folder_inside_a_checkout_is_not_labelled_with_its_commit(repo):
    """kvsched installed as a copy (not editable) into a virtual environment inside a checkout
    reads git from the copy's folder; the commit found there is the checkout's, not the copy's."""
    lib = repo / ".venv" / "lib" / "python3.11"
    lib.mkdir(parents=True)
    assert revision(lib) == {"commit": None, "dirty": None}
    assert revision(repo)["commit"] is not None


def test_a_repository_without_commits_has_no_commit(tmp_path):
    """git prints the literal ``HEAD`` when there is no commit yet; it was recorded as the commit."""
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    r1 = revision(tmp_path)
    assert r1["commit"] is None and r1["dirty"] is True and r1["changed"] == ["a.py"]
    (tmp_path / "a.py").write_text("x = 2\n")
    assert revision(tmp_path)["diff_sha256"] != r1["diff_sha256"]   # the staged file's contents count


def test_a_module_experiments_tables_record_their_params_and_provenance(tmp_path):
    import pandas as pd

    from kvsched.experiments import ExperimentContext
    from kvsched.io import read_parquet_meta

    ExperimentContext("x", "quick", {"trials": 3}, tmp_path).table(pd.DataFrame({"a": [1, 2]}), "t")
    meta = read_parquet_meta(tmp_path / "t.parquet")
    assert meta["experiment"] == "x" and meta["scale"] == "quick" and meta["params"] == {"trials": 3}
    assert meta["provenance"]["git"].keys() >= {"commit", "dirty"} and meta["provenance"]["packages"]["pandas"]


def test_a_module_experiments_summary_records_its_params_and_provenance(tmp_path):
    import json

    from kvsched.experiments import ExperimentContext

    ctx = ExperimentContext("x", "quick", {"trials": 3}, tmp_path)
    s = json.loads(ctx.summary({"mean": 1.5}).read_text())
    assert s["mean"] == 1.5 and s["experiment"] == "x" and s["scale"] == "quick" and s["params"] == {"trials": 3}
    assert s["provenance"]["git"].keys() >= {"commit", "dirty"} and s["provenance"]["packages"]["numpy"]
    with pytest.raises(ValueError, match="provenance"):        # would be overwritten: refused
        ctx.summary({"provenance": "mine"}, "other")


@pytest.mark.parametrize("fmt", ["png", "pdf"])
def test_a_figure_records_what_drew_it(tmp_path, fmt):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kvsched.analysis.plots import save
    from kvsched.analysis.style import figure_provenance
    from kvsched.provenance import provenance

    outs = [tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"]
    for o in outs:
        fig, ax = plt.subplots()
        ax.plot([1, 2], [3, 4], label="x (y)")       # parentheses: escaped in a PDF's strings
        save(fig, [o])
    assert figure_provenance(outs[0]) == provenance()
    assert outs[0].read_bytes() == outs[1].read_bytes()     # no date: the same figure, the same bytes
    bare = tmp_path / f"bare.{fmt}"
    fig, ax = plt.subplots()
    fig.savefig(bare, metadata={"CreationDate": None} if fmt == "pdf" else None)
    assert figure_provenance(bare) is None


def test_an_aggregated_table_records_each_runs_packages_and_what_joined_them(tmp_path):
    import json

    import pandas as pd

    from kvsched.analysis.aggregate import main as aggregate
    from kvsched.cli import main
    from kvsched.io import read_parquet_meta

    for alg in ("fcfs", "mcsf"):
        assert main(["run", "trace=synthetic_mcsf", "memory.capacity=auto", "latency=unit", "sim.progress=false",
                     f"algorithm={alg}", f"out={tmp_path / alg}"]) == 0
    summaries = [str(tmp_path / a / "summary.json") for a in ("fcfs", "mcsf")]
    assert aggregate(["--out", str(tmp_path / "runs.parquet"), *summaries]) == 0
    df = pd.read_parquet(tmp_path / "runs.parquet")
    run = json.loads((tmp_path / "fcfs" / "summary.json").read_text())["provenance"]
    assert [json.loads(p) for p in df["packages"]] == [run["packages"]] * 2
    assert set(df["platform"]) == {run["platform"]}
    meta = read_parquet_meta(tmp_path / "runs.parquet")
    assert meta["summaries"] == 2 and meta["provenance"]["packages"]["pyarrow"]
