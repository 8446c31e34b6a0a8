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
