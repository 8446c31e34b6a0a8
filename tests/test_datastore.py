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


@pytest.fixture
def http_dir(tmp_path):
    """A local HTTP server over tmp_path/www; yields (folder, base URL)."""
    import functools
    import http.server
    import threading

    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield www, f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def _unreachable_port() -> int:
    import socket
    with socket.socket() as s:       # bound, never listening: a connection is refused
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("where", ["missing file://", "http 404", "connection refused"])
def test_a_failed_download_is_one_error_line_and_leaves_nothing(tmp_path, upstream, monkeypatch,
                                                                http_dir, where, capsys):
    www, base = http_dir
    url = {"missing file://": (tmp_path / "nowhere.csv").as_uri(), "http 404": f"{base}/nowhere.csv",
           "connection refused": f"http://127.0.0.1:{_unreachable_port()}/code.csv"}[where]
    monkeypatch.setitem(datastore.MANIFEST, "azure_code", DataFile(upstream.relpath, url, upstream.sha256, "t", "t"))
    d = tmp_path / "data"
    assert main(["data", "fetch", "azure_code", "--data-dir", str(d)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kvsched: error: could not download {upstream.relpath} (azure_code) from {url}: "), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    if where == "http 404":
        assert err.rstrip().endswith("HTTP Error 404: File not found"), err
    assert not d.exists()            # no temp file, no folder made for it


def test_fetch_progress_off_a_terminal_is_one_line(tmp_path, upstream, monkeypatch, capsys):
    """Piped or logged (stderr not a terminal), a download of several MB says so once, with no
    carriage-return redraws."""
    body = BODY + b"2023-11-16 18:15:02.0,10,5\n" * 100_000       # about 2.7 MB: three chunks
    src = tmp_path / "upstream" / "big.csv"
    src.write_bytes(body)
    monkeypatch.setitem(datastore.MANIFEST, "azure_code", DataFile(
        upstream.relpath, src.as_uri(), hashlib.sha256(body).hexdigest(), "t", "t"))
    assert main(["data", "fetch", "azure_code", "--data-dir", str(tmp_path / "data")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and err == f"{upstream.relpath} (azure_code): {len(body) / 1e6:.1f} MB\n", err


def test_fetch_over_http(tmp_path, upstream, http_dir, monkeypatch):
    www, base = http_dir
    (www / "code.csv").write_bytes(BODY)
    monkeypatch.setitem(datastore.MANIFEST, "azure_code",
                        DataFile(upstream.relpath, f"{base}/code.csv", upstream.sha256, "t", "t"))
    d = tmp_path / "data"
    assert main(["data", "fetch", "azure_code", "--data-dir", str(d)]) == 0
    assert (d / upstream.relpath).read_bytes() == BODY


def test_a_failed_alpaca_eval_build_names_the_upstream_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(datastore, "_raw", lambda repo, commit, path: (tmp_path / "up" / path).as_uri())
    d = tmp_path / "data"
    assert main(["data", "fetch", "alpaca_eval", "--data-dir", str(d)]) == 2
    err = capsys.readouterr().err.splitlines()[-1]   # after the progress line
    assert err.startswith("kvsched: error: could not download results/llama-2-7b-chat-hf/model_outputs.json "
                          "for alpaca_eval/model_outputs.jsonl.gz (alpaca_eval) from file://"), err
    assert not d.exists()


def _mirror(tmp_path: Path, body: bytes = BODY) -> Path:
    m = tmp_path / "mirror"
    (m / "azure").mkdir(parents=True)
    (m / "azure" / "code.csv").write_bytes(body)
    return m


@pytest.mark.parametrize("how", ["folder", "file://", "http://", "env"])
def test_fetch_from_a_mirror(tmp_path, upstream, monkeypatch, http_dir, how):
    """A mirror laid out like the data directory replaces the upstream URLs (here unreachable)."""
    monkeypatch.setitem(datastore.MANIFEST, "azure_code",
                        DataFile(upstream.relpath, (tmp_path / "gone.csv").as_uri(), upstream.sha256, "t", "t"))
    m = _mirror(tmp_path)
    www, base = http_dir
    (www / "azure").mkdir()
    (www / "azure" / "code.csv").write_bytes(BODY)
    src = {"folder": str(m), "file://": m.as_uri() + "/", "http://": base, "env": str(m)}[how]
    d = tmp_path / "data"
    if how == "env":
        monkeypatch.setenv("KVSCHED_DATA_MIRROR", src)
        args = []
    else:
        args = ["--mirror", src]
    assert main(["data", "fetch", "azure_code", "--data-dir", str(d), *args]) == 0
    assert (d / upstream.relpath).read_bytes() == BODY


def test_a_mirror_is_checked_against_the_manifest(tmp_path, upstream, capsys):
    m = _mirror(tmp_path, b"not the published file")
    d = tmp_path / "data"
    assert main(["data", "fetch", "azure_code", "--data-dir", str(d), "--mirror", str(m)]) == 2
    err = capsys.readouterr().err
    assert f"checksum mismatch for 'azure/code.csv' from {m.as_uri()}/azure/code.csv" in err, err
    assert not d.exists()
    assert main(["data", "fetch", "azure_code", "--data-dir", str(d), "--mirror", str(tmp_path / "nope")]) == 2
    assert "neither a URL" in capsys.readouterr().err


def test_a_mirror_serves_alpaca_eval_as_a_file(tmp_path, monkeypatch):
    """alpaca_eval has no upstream file (it is built from 16); a mirror has the built one."""
    body = b"built elsewhere"
    monkeypatch.setitem(datastore.MANIFEST, "alpaca_eval",
                        DataFile("alpaca_eval/m.jsonl.gz", None, hashlib.sha256(body).hexdigest(), "t", "t"))
    (tmp_path / "mirror" / "alpaca_eval").mkdir(parents=True)
    (tmp_path / "mirror" / "alpaca_eval" / "m.jsonl.gz").write_bytes(body)
    st = datastore.fetch(tmp_path / "data", ["alpaca_eval"], progress=False, mirror=tmp_path / "mirror")
    assert st == {"alpaca_eval": "downloaded"}
    assert (tmp_path / "data" / "alpaca_eval" / "m.jsonl.gz").read_bytes() == body


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077], ids=["022", "002", "077"])
def test_fetched_files_get_the_usual_permissions(tmp_path, upstream, umask):
    import os
    old = os.umask(umask)
    try:
        datastore.fetch(tmp_path / "data", ["azure_code"], progress=False)
    finally:
        os.umask(old)
    assert (tmp_path / "data" / upstream.relpath).stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_data_directory_is_a_mirror(tmp_path, data_dir, monkeypatch, capsys):
    """The published files, fetched from a data directory that has them (only read here)."""
    monkeypatch.delenv("KVSCHED_NO_CHECKSUM", raising=False)
    keys = ["azure_code", "splitwise_perf_model"]
    d = tmp_path / "data"
    assert main(["data", "fetch", *keys, "--mirror", str(data_dir), "--data-dir", str(d)]) == 0
    assert main(["data", "verify", *keys, "--data-dir", str(d)]) == 0


def test_a_failed_download_does_not_stop_the_other_files(tmp_path, upstream, monkeypatch, capsys):
    """Each file is fetched on its own: one that fails is named at the end, the others land."""
    monkeypatch.setitem(datastore.MANIFEST, "azure_conv",
                        DataFile("azure/conv.csv", (tmp_path / "nowhere.csv").as_uri(), upstream.sha256, "t", "t"))
    d = tmp_path / "data"
    assert main(["data", "fetch", "azure_conv", "azure_code", "--data-dir", str(d)]) == 2
    err = capsys.readouterr().err
    assert "kvsched: error: could not download azure/conv.csv (azure_conv)" in err, err
    assert "the other files: azure_code downloaded" in err, err
    assert (d / upstream.relpath).read_bytes() == BODY
    assert not (d / "azure" / "conv.csv").exists()


def test_a_failed_download_beside_a_mismatch_says_how_to_replace_it(tmp_path, upstream, monkeypatch, capsys):
    """The final error, not only a progress line, names the command that replaces a mismatching file."""
    monkeypatch.setitem(datastore.MANIFEST, "azure_conv",
                        DataFile("azure/conv.csv", (tmp_path / "nowhere.csv").as_uri(), upstream.sha256, "t", "t"))
    d = tmp_path / "data"
    (d / upstream.relpath).parent.mkdir(parents=True)
    (d / upstream.relpath).write_bytes(b"edited")
    with pytest.raises(DataError) as e:
        datastore.fetch(d, ["azure_conv", "azure_code"], progress=False)
    assert "azure_code mismatch" in str(e.value)
    assert f"kvsched data fetch --force azure_code --data-dir {d}` replaces them" in str(e.value)
    assert (d / upstream.relpath).read_bytes() == b"edited"      # left as it was


@pytest.mark.parametrize("opt", [["--force"], ["--mirror", "x"]])
def test_verify_refuses_the_options_of_fetch(tmp_path, upstream, opt, capsys):
    assert main(["data", "verify", "azure_code", "--data-dir", str(tmp_path), *opt]) == 2
    assert f"{opt[0]} applies to `kvsched data fetch`" in capsys.readouterr().err


def test_verify_says_how_to_restore_a_bad_or_missing_file(tmp_path, upstream, capsys):
    """A truncated copy is a mismatch; verify names the command that replaces it."""
    d = tmp_path / "data"
    (d / "azure").mkdir(parents=True)
    (d / upstream.relpath).write_bytes(BODY[:-7])
    assert main(["data", "verify", "--data-dir", str(d), "azure_code"]) == 1
    out, err = capsys.readouterr()
    assert "mismatch  azure_code" in out
    assert "1 file(s) differ from their sha256, corrupted, truncated or edited" in err
    assert main(_command_in(err)) == 0 and main(["data", "verify", "--data-dir", str(d), "azure_code"]) == 0
    (d / upstream.relpath).unlink()
    assert main(["data", "verify", "--data-dir", str(d), "azure_code"]) == 1
    assert "1 file(s) missing (`kvsched data fetch azure_code --data-dir" in capsys.readouterr().err
