"""`kvsched data fetch|verify` and kvsched.datastore, against small local stand-ins for the
published files (file:// URLs; no network)."""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import Path

import pytest

from kvsched import datastore
from kvsched.cli import main
from kvsched.datastore import DataFile, data_path
from kvsched.errors import DataError

BODY = b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:01.0,10,5\n"


@pytest.fixture(autouse=True)
def _default_data_dir_in_tmp(tmp_path, monkeypatch):
    """A fetch without --data-dir must never write into the real data directory."""
    monkeypatch.setenv("KVSCHED_DATA_DIR", str(tmp_path / "default-data"))
    monkeypatch.delenv("KVSCHED_DATA_MIRROR", raising=False)


@pytest.fixture
def upstream(tmp_path, monkeypatch):
    """``azure_code`` replaced by a small file served from tmp_path/upstream; returns its entry."""
    monkeypatch.delenv("KVSCHED_NO_CHECKSUM", raising=False)
    src = tmp_path / "upstream" / "code.csv"
    src.parent.mkdir()
    src.write_bytes(BODY)
    entry = DataFile("azure/code.csv", src.as_uri(), hashlib.sha256(BODY).hexdigest(), "t", "t")
    monkeypatch.setitem(datastore.MANIFEST, "azure_code", entry)
    datastore._VERIFIED.clear()
    return entry


@pytest.mark.parametrize("order", [
    ["fetch", "--force", "azure_code", "--data-dir", "{d}"],
    ["fetch", "--data-dir", "{d}", "azure_code", "--force"],
    ["--force", "fetch", "azure_code", "--data-dir={d}"],
    ["fetch", "azure_code", "--force", "--data-dir", "{d}"],
])
def test_data_options_and_keys_in_any_order(tmp_path, upstream, order, capsys):
    d = tmp_path / "data"
    assert main([a.format(d=d) for a in ["data", *order]]) == 0
    assert (d / upstream.relpath).read_bytes() == BODY
    assert main(["data", "verify", "--data-dir", str(d), "azure_code"]) == 0
    assert main(["data", "verify", "azure_code", "--data-dir", str(d)]) == 0
    assert capsys.readouterr().out.startswith("ok        azure_code")


def _command_in(msg: str) -> list[str]:
    cmd = shlex.split(re.search(r"`(kvsched data fetch[^`]*)`", msg).group(1))
    assert cmd[:3] == ["kvsched", "data", "fetch"]
    return cmd[1:]


def test_the_printed_commands_work(tmp_path, upstream, capsys):
    """The commands that the missing-file and corrupted-file errors print restore the file,
    in the data directory that was read (not the default one)."""
    d = tmp_path / "data"
    with pytest.raises(DataError, match="not found") as e:
        data_path("azure_code", d)
    assert main(_command_in(str(e.value))) == 0
    assert data_path("azure_code", d).read_bytes() == BODY

    (d / upstream.relpath).write_bytes(BODY.replace(b",5\n", b",6\n"))
    with pytest.raises(DataError, match="corrupted or modified") as e:
        data_path("azure_code", d)
    cmd = _command_in(str(e.value))
    assert "--force" in cmd and "--data-dir" in cmd
    assert main(cmd) == 0
    assert data_path("azure_code", d).read_bytes() == BODY


def test_the_printed_command_names_no_data_dir_for_the_default_one(tmp_path, upstream, monkeypatch):
    monkeypatch.setenv("KVSCHED_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DataError) as e:
        data_path("azure_code")
    assert "`kvsched data fetch azure_code`" in str(e.value)


def test_fetch_fails_when_a_mismatching_file_is_left_in_place(tmp_path, upstream, capsys):
    """`verify || fetch` (run.sh replicate) must not go on into the pipeline with a bad file."""
    d = tmp_path / "data"
    (d / "azure").mkdir(parents=True)
    (d / upstream.relpath).write_bytes(b"edited")
    assert main(["data", "fetch", "--data-dir", str(d)] + ["azure_code"]) == 1
    err = capsys.readouterr().err
    assert "kvsched: error: 1 file(s)" in err and "azure_code" in err
    assert (d / upstream.relpath).read_bytes() == b"edited"   # not replaced without --force
    assert main(_command_in(err)) == 0                       # the command it names replaces it
    assert (d / upstream.relpath).read_bytes() == BODY
    assert main(["data", "fetch", "--data-dir", str(d), "azure_code"]) == 0
