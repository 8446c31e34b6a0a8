"""Tests for kvsched.traces and kvsched.datastore (small temp files + the shared data dir)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _synthetic_files_skip_checksums(monkeypatch):
    """Most tests here read small synthetic files in place of the published ones; the
    checksum check itself is tested on its own below."""
    monkeypatch.setenv("KVSCHED_NO_CHECKSUM", "1")

from helpers import data_is_required
from kvsched import datastore
from kvsched.datastore import DataFile, MANIFEST, data_path, fetch, resolve_data_dir, verify
from kvsched.errors import ConfigError, DataError, TraceFormatError
from kvsched.traces import cached_read, get_trace, list_traces, load_trace, register_trace
from kvsched.traces._io import read_csv_columns, read_jsonl_columns
from kvsched.traces.alpaca_eval import word_tokens
from kvsched.traces.azure import read_azure
from kvsched.traces.lmsys_like import fit_rounded_lognormal, rounded_stats

SHARED = resolve_data_dir(None)
HAVE_SHARED = all((SHARED / MANIFEST[k].relpath).is_file() for k in MANIFEST)
needs_shared = pytest.mark.skipif(not HAVE_SHARED and not data_is_required(), reason=f"shared data not found at {SHARED}")
AZ_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


@pytest.fixture(autouse=True, scope="session")
def _cache_in_tmp(tmp_path_factory):
    """Keep the parquet cache out of ~/.cache (shared across the session, so real traces parse once)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KVSCHED_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        mp.delenv("KVSCHED_CACHE", raising=False)
        yield


def _azure_dir(tmp_path: Path, body: str) -> Path:
    p = tmp_path / MANIFEST["azure_conv"].relpath
    p.parent.mkdir(parents=True)
    p.write_text(AZ_HEADER + body)
    return p


def _row(sec: float, s: int | str, o: int | str) -> str:
    return f"2023-11-16 18:15:{sec:010.7f},{s},{o}\n"


# ------------------------------------------------------------------ malformed files

def _assert_format_error(trace, data_dir, path, line, words):
    """Loading ``trace`` fails with a TraceFormatError naming ``path``, ``line`` and ``words``."""
    with pytest.raises(TraceFormatError) as e:
        load_trace({"name": trace}, data_dir)
    msg = str(e.value)
    assert str(path) in msg and f"line {line}:" in msg, msg
    for w in words:
        assert w in msg, msg


@pytest.mark.parametrize("body, line, words", [
    (_row(1, 10, 5) + _row(2, "abc", 5), 3, ["'ContextTokens'", "not a number", "'abc'"]),
    (_row(1, 10, 5) + _row(2, 10, 5) + _row(3, 10, -4), 4, ["'GeneratedTokens'", "negative"]),
    (_row(1, 10, 5) + "2023-11-16 18:15:02.0000000,10\n", 3, ["'GeneratedTokens'", "missing value"]),
    (_row(1, 10, 5) + "\n" + _row(2, 10, 5), 3, ["missing value"]),
    (_row(1, 10, 5) + _row(2, 10, 5) + "2023-11-16 18:15:03.0,1,2,3\n", 4, ["4 fields, the header has 3"]),
    (_row(1, 10, 5) + "yesterday,10,5\n", 3, ["'TIMESTAMP'", "bad timestamp"]),
    (_row(1, 10, 5) + _row(2, "7.5", 5), 3, ["not an integer"]),
])
def test_csv_errors_name_file_and_line(tmp_path, body, line, words):
    path = _azure_dir(tmp_path, body)
    _assert_format_error("azure_conv", tmp_path, path, line, words)


def test_csv_missing_column(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("TIMESTAMP,ContextTokens\n2023-11-16 18:15:01.0,3\n")
    with pytest.raises(TraceFormatError, match="missing required column 'GeneratedTokens'") as e:
        read_azure(p)
    assert str(p) in str(e.value)
    p.write_text("")
    with pytest.raises(TraceFormatError, match="empty"):
        read_azure(p)


@pytest.mark.parametrize("lines, line, words", [
    (['{"timestamp": 0, "input_length": 5, "output_length": 2}', '{"timestamp": 1, "input_len'], 2,
     ["bad JSON"]),
    (['{"timestamp": 0, "input_length": 5}'], 1, ["missing field 'output_length'"]),
    (['{"timestamp": 0, "input_length": 5, "output_length": 2}', "",
      '{"timestamp": 3, "input_length": -5, "output_length": 2}'], 3, ["'input_length'", "negative"]),
    (['{"timestamp": 0, "input_length": "5", "output_length": 2}'], 1, ["must be a number"]),
    (['{"timestamp": 0, "input_length": true, "output_length": 2}'], 1, ["must be a number"]),
    (['{"timestamp": 0, "input_length": 5.5, "output_length": 2}'], 1, ["must be an integer"]),
    (['[1, 2, 3]'], 1, ["expected a JSON object"]),
])
def test_jsonl_errors_name_file_and_line(tmp_path, lines, line, words):
    p = tmp_path / MANIFEST["mooncake_conv"].relpath
    p.parent.mkdir(parents=True)
    p.write_text("\n".join(lines) + "\n")
    _assert_format_error("mooncake_conv", tmp_path, p, line, words)


def test_jsonl_gz_and_trailing_blank_lines(tmp_path):
    p = tmp_path / "a.jsonl.gz"
    with gzip.open(p, "wt") as f:
        f.write('{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n\n')
    assert read_jsonl_columns(p, {"a": "int", "b": "str"}) == {"a": [1, 2], "b": ["x", "y"]}
    q = tmp_path / "b.csv"
    q.write_text("x,y\n1,2\n3,4\n\n\n")
    assert read_csv_columns(q, ["x", "y"])["y"].tolist() == [2, 4]


# ------------------------------------------------------------------ small synthetic files


def test_zero_output_rows_dropped_and_trace_replay(tmp_path):
    _azure_dir(tmp_path, _row(1.5, 10, 5) + _row(2.0, 20, 0) + _row(1.0, 30, 7) + _row(4.25, 40, 1))
    w = load_trace({"name": "azure_conv"}, tmp_path)
    assert w.meta["dropped_zero_output"] == 1 and w.meta["rows"] == 4
    assert w.prompt.tolist() == [30, 10, 40]  # sorted by arrival
    np.testing.assert_allclose(w.arrival, [0.0, 0.5, 3.25])
    w2 = load_trace({"name": "azure_conv", "start": 1, "n": 2}, tmp_path)
    assert w2.prompt.tolist() == [10, 40] and w2.arrival[0] == 0 and w2.meta["time_offset"] == 0.5
    w3 = load_trace({"name": "azure_conv", "arrival": "zero"}, tmp_path)
    assert not w3.arrival.any()
    w4 = load_trace({"name": "azure_conv", "arrival": "poisson", "rate": 2.0}, tmp_path, seed=3)
    assert len(w4) == 3 and np.all(np.diff(w4.arrival) >= 0) and w4.time_unit == "s"
    with pytest.raises(ConfigError, match="n=4"):
        load_trace({"name": "azure_conv", "n": 4}, tmp_path)



def test_trace_replay_at_a_rate_stretches_the_recorded_gaps(tmp_path):
    _azure_dir(tmp_path, _row(1.0, 10, 5) + _row(1.5, 20, 3) + _row(4.0, 30, 7) + _row(5.0, 40, 1))
    base = load_trace({"name": "azure_conv"}, tmp_path)          # gaps 0.5, 2.5, 1.0 s
    assert "time_scale" not in base.meta
    w = load_trace({"name": "azure_conv", "rate": 0.25}, tmp_path)
    # 3 gaps over 4 s = 0.75 req/s recorded; 0.25 req/s stretches every gap by 3
    np.testing.assert_allclose(w.arrival, [0.0, 1.5, 9.0, 12.0])
    assert w.meta["time_scale"] == pytest.approx(3.0) and w.meta["rate"] == 0.25
    assert (len(w) - 1) / w.arrival[-1] == pytest.approx(0.25)
    assert w.prompt.tolist() == base.prompt.tolist()
    faster = load_trace({"name": "azure_conv", "rate": 4 / 3.5, "start": 1}, tmp_path)
    np.testing.assert_allclose(np.diff(faster.arrival), [1.25, 0.5])   # 2 gaps in 3.5 s, twice as fast
    with pytest.raises(ConfigError, match="span 0 s"):
        load_trace({"name": "azure_conv", "rate": 1.0, "n": 1}, tmp_path)
    with pytest.raises(ConfigError, match="rate must be > 0"):
        load_trace({"name": "azure_conv", "rate": 0.0}, tmp_path)

def _alpaca_dir(tmp_path: Path) -> Path:
    p = tmp_path / MANIFEST["alpaca_eval"].relpath
    p.parent.mkdir(parents=True)
    recs = [("Say hi", "m1", "hi"), ("one two three four five six seven eight nine ten", "m2", ""),
            ("Say hi", "m2", "hello there you")]
    with gzip.open(p, "wt") as f:
        for ins, gen, out in recs:
            f.write(json.dumps({"dataset": "d", "instruction": ins, "generator": gen, "output": out}) + "\n")
    return p


def test_alpaca_eval_word_rule_and_generators(tmp_path):
    assert [word_tokens(t) for t in ["", "a", "a b", "x " * 10]] == [1, 2, 3, 13]
    _alpaca_dir(tmp_path)
    w = load_trace({"name": "alpaca_eval", "arrival": "zero"}, tmp_path)
    assert w.prompt.tolist() == [3, 13, 3] and w.output.tolist() == [2, 1, 4]
    assert w.text[1].startswith("one two") and w.meta["generator"] == ["m1", "m2", "m2"]
    w2 = load_trace({"name": "alpaca_eval", "generator": "m2", "rate": 1.0}, tmp_path)
    assert len(w2) == 2 and w2.meta["generator"] == ["m2", "m2"]
    assert w2.meta["source_row"] == [1, 2]      # the records' rows in the file, not in the selection
    with pytest.raises(ConfigError, match="unknown generator 'zz'.*m1, m2"):
        load_trace({"name": "alpaca_eval", "generator": ["zz"], "rate": 1.0}, tmp_path)


# ------------------------------------------------------------------ registry and config errors


def test_registry_errors(tmp_path):
    assert list_traces() == sorted(list_traces()) and "synthetic_mcsf" in list_traces()
    with pytest.raises(ConfigError) as e:
        get_trace("nope")
    assert ", ".join(sorted(list_traces())) in str(e.value)
    with pytest.raises(ConfigError, match="unknown trace"):
        load_trace({"n": 3})
    with pytest.raises(ConfigError, match=r"unknown key 'bogus'.*valid keys: .*arrival_model"):
        load_trace({"name": "synthetic_mcsf", "bogus": 1})
    with pytest.raises(ConfigError, match="unknown key 'sample'"):
        load_trace({"name": "azure_conv", "sample": True}, tmp_path)
    with pytest.raises(ValueError, match="is taken by the built-in trace"):
        register_trace("azure_conv", defaults={})(lambda p, d, s: None)
    with pytest.raises(ConfigError, match="arrival_model"):
        load_trace({"name": "synthetic_mcsf", "arrival_model": 3})
    with pytest.raises(ConfigError, match="m_low"):
        load_trace({"name": "synthetic_mcsf", "m_low": 60})


def test_untimed_traces_need_rate_and_reject_trace_arrivals(tmp_path):
    p = tmp_path / MANIFEST["sharegpt"].relpath
    p.parent.mkdir(parents=True)
    p.write_text("num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n5,6,11,0.8\n7,8,15,0.9\n")
    with pytest.raises(ConfigError, match="rate"):
        load_trace({"name": "sharegpt", "rate": None}, tmp_path)
    assert load_trace({"name": "sharegpt"}, tmp_path).meta["rate"] == 2.0  # the YAML's default
    with pytest.raises(ConfigError, match="no timestamps"):
        load_trace({"name": "sharegpt", "arrival": "trace"}, tmp_path)
    w = load_trace({"name": "sharegpt", "rate": 1.0, "sample": True, "n": 2}, tmp_path, seed=1)
    assert sorted(w.prompt.tolist()) == [5, 7]


def test_omegaconf_config(tmp_path):
    omegaconf = pytest.importorskip("omegaconf")
    _alpaca_dir(tmp_path)
    cfg = omegaconf.OmegaConf.create({"name": "alpaca_eval", "generator": ["m1"], "arrival": "zero"})
    assert len(load_trace(cfg, tmp_path)) == 1


def test_missing_data_file_message(tmp_path):
    with pytest.raises(DataError, match="kvsched data fetch") as e:
        data_path("azure_code", tmp_path)
    assert "AzureLLMInferenceTrace_code.csv" in str(e.value)
    with pytest.raises(DataError):
        load_trace({"name": "azure_code"}, tmp_path)


# ------------------------------------------------------------------ real traces


REAL = {  # name -> (requests, prompt mean, output mean) from the data README / our check
    "azure_conv": (19366, 1155, 211), "azure_code": (8819, 2048, 28),
    "mooncake_conv": (12031, 12035, 343), "mooncake_synthetic": (3993, None, None),
    "sharegpt": (30731, None, None), "arxiv_summarization": (28257, None, None),
    "alpaca_eval": (12879, None, None),
}


@needs_shared
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_traces_load(name):
    n, pm, om = REAL[name]
    w = load_trace({"name": name, **({} if name in ("azure_conv", "azure_code", "mooncake_conv",
                                                      "mooncake_synthetic") else {"rate": 5.0})}, SHARED)
    assert len(w) == n - w.meta["dropped_zero_output"] == w.meta["rows"] - w.meta["dropped_zero_output"]
    assert w.arrival[0] >= 0 and np.all(np.diff(w.arrival) >= 0) and w.output.min() >= 1
    if pm is not None:
        assert abs(w.prompt.mean() / pm - 1) < 0.005 and abs(w.output.mean() / om - 1) < 0.01
    if name == "azure_conv":
        assert np.median(w.prompt) == 1020 and w.prompt.max() == 14050 and w.output.max() == 1000
        assert 5.4 < len(w) / w.arrival[-1] < 5.7  # ~5.5 req/s over about an hour
    if name == "alpaca_eval":
        assert len(w.text) == n and len(set(w.meta["generator"])) == 16


@needs_shared
def test_real_trace_selection():
    full = load_trace({"name": "azure_conv"}, SHARED)
    part = load_trace({"name": "azure_conv", "start": 10, "n": 100}, SHARED)
    assert part.prompt.tolist() == full.prompt[10:110].tolist()
    np.testing.assert_allclose(part.arrival, full.arrival[10:110] - full.arrival[10])
    a = load_trace({"name": "sharegpt", "sample": True, "n": 500, "rate": 2.0}, SHARED, seed=1)
    b = load_trace({"name": "sharegpt", "sample": True, "n": 500, "rate": 2.0}, SHARED, seed=1)
    c = load_trace({"name": "sharegpt", "sample": True, "n": 500, "rate": 2.0}, SHARED, seed=2)
    assert np.array_equal(a.prompt, b.prompt) and np.array_equal(a.arrival, b.arrival)
    assert not np.array_equal(a.prompt, c.prompt)
    g = load_trace({"name": "alpaca_eval", "generator": "llama-2-70b-chat-hf", "arrival": "zero"}, SHARED)
    assert len(g) == 804


# ------------------------------------------------------------------ generators


@pytest.mark.parametrize("model", [1, 2])
def test_synthetic_mcsf(model):
    cfg = {"name": "synthetic_mcsf", "arrival_model": model}
    a, b = load_trace(cfg, seed=7), load_trace(cfg, seed=7)
    assert np.array_equal(a.prompt, b.prompt) and np.array_equal(a.output, b.output)
    assert np.array_equal(a.arrival, b.arrival) and a.meta == b.meta
    mems = set()
    for seed in range(60):
        w = load_trace(cfg, seed=seed)
        M = w.meta["memory"]
        mems.add(M)
        assert w.time_unit == "rounds" and 30 <= M <= 50
        assert w.prompt.min() >= 1 and w.prompt.max() <= 5
        assert w.output.min() >= 1 and np.all(w.prompt + w.output <= M)
        if model == 1:
            assert 40 <= len(w) <= 60 and not w.arrival.any()
        else:
            assert 0.5 <= w.meta["lam"] <= 1.5 and 40 <= w.meta["horizon"] <= 60
            assert np.all(w.arrival == np.floor(w.arrival)) and w.arrival.max() < w.meta["horizon"]
    assert len(mems) > 5
    assert len(load_trace({**cfg, "n": 25}, seed=1)) == 25


def test_lmsys_like_moments():
    for mean, median in [(40.62, 11), (85.32, 45)]:
        mu, sigma = fit_rounded_lognormal(mean, median)
        m, med = rounded_stats(mu, sigma)
        assert abs(m / mean - 1) < 0.02 and med == median
    w = load_trace({"name": "lmsys_like", "n": 100_000}, seed=0)
    for x, mean, median in [(w.prompt, 40.62, 11), (w.output, 85.32, 45)]:
        assert abs(x.mean() / mean - 1) < 0.03 and abs(np.median(x) / median - 1) < 0.03
    assert x.min() >= 1 and w.time_unit == "s"
    assert abs(len(w) / w.arrival[-1] / 50 - 1) < 0.02  # Poisson at 50 req/s
    capped = load_trace({"name": "lmsys_like", "n": 2000, "max_total": 300}, seed=0)
    assert (capped.prompt + capped.output).max() <= 300
    with pytest.raises(ConfigError, match="mean > median"):
        load_trace({"name": "lmsys_like", "prompt_mean": 5.0})


# ------------------------------------------------------------------ datastore


def test_resolve_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KVSCHED_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "x") == tmp_path / "x"
    assert resolve_data_dir("") == tmp_path / "env"
    monkeypatch.delenv("KVSCHED_DATA_DIR")
    assert resolve_data_dir(None).name in ("data",)


@needs_shared
def test_verify_shared():
    assert set(verify(SHARED).values()) == {"ok"}


def test_verify_missing_and_mismatch(tmp_path):
    st = verify(tmp_path)
    assert set(st) == set(MANIFEST) and set(st.values()) == {"missing"}
    p = tmp_path / MANIFEST["azure_code"].relpath
    p.parent.mkdir(parents=True)
    p.write_text("not it")
    assert verify(tmp_path, ["azure_code"]) == {"azure_code": "mismatch"}
    with pytest.raises(ConfigError, match="unknown data file"):
        verify(tmp_path, ["nope"])


def test_fetch_atomic_download_and_checksum(tmp_path, monkeypatch):
    monkeypatch.delenv("KVSCHED_DATA_MIRROR", raising=False)
    src = tmp_path / "upstream.csv"
    src.write_bytes(b"a,b\n1,2\n")
    good = hashlib.sha256(src.read_bytes()).hexdigest()
    entry = DataFile("sub/file.csv", src.as_uri(), good, "test", "test")
    monkeypatch.setitem(datastore.MANIFEST, "azure_code", entry)
    data = tmp_path / "data"
    dest = data / "sub" / "file.csv"

    assert fetch(data, ["azure_code"], progress=False) == {"azure_code": "downloaded"}
    assert dest.read_bytes() == src.read_bytes() and os.listdir(dest.parent) == ["file.csv"]
    mtime = dest.stat().st_mtime_ns
    assert fetch(data, ["azure_code"], force=True, progress=False) == {"azure_code": "ok"}
    assert dest.stat().st_mtime_ns == mtime  # a good file is never overwritten

    dest.write_bytes(b"corrupt")  # wrong file: left alone without force, replaced with it
    assert fetch(data, ["azure_code"], progress=False) == {"azure_code": "mismatch"}
    assert dest.read_bytes() == b"corrupt"
    assert fetch(data, ["azure_code"], force=True, progress=False) == {"azure_code": "downloaded"}
    assert dest.read_bytes() == src.read_bytes()

    bad = "0" * 64
    monkeypatch.setitem(datastore.MANIFEST, "azure_code", DataFile("sub/other.csv", src.as_uri(), bad, "t", "t"))
    with pytest.raises(DataError) as e:
        fetch(data, ["azure_code"], progress=False)
    msg = str(e.value)
    assert "sub/other.csv" in msg and bad in msg and good in msg
    assert os.listdir(dest.parent) == ["file.csv"]  # the bad download and its temp file are gone


def test_cached_read(tmp_path, monkeypatch):
    monkeypatch.setenv("KVSCHED_CACHE_DIR", str(tmp_path / "cache"))
    p = _azure_dir(tmp_path, _row(1, 10, 5) + _row(2, 20, 6))
    calls = []

    def reader(path):
        calls.append(path)
        return read_azure(path)

    first = cached_read(p, reader)
    second = cached_read(p, reader)
    assert len(calls) == 1 and first.equals(second)
    for f in (tmp_path / "cache" / "traces").iterdir():
        f.write_bytes(b"garbage")  # a corrupt entry is ignored and rewritten
    assert cached_read(p, reader).equals(first) and len(calls) == 2
    monkeypatch.setenv("KVSCHED_CACHE_DIR", str(p))  # not a directory: caching fails silently
    assert cached_read(p, reader).equals(first)
    monkeypatch.setenv("KVSCHED_CACHE", "0")
    cached_read(p, reader)
    assert len(calls) == 4


def test_cache_entry_follows_the_readers_code(tmp_path, monkeypatch):
    """An edited reader (its module's code changed) parses the file again instead of reusing the
    entry its older code wrote."""
    import importlib
    import sys
    from kvsched.traces import cache
    monkeypatch.setenv("KVSCHED_CACHE_DIR", str(tmp_path / "cache"))
    p = _azure_dir(tmp_path, _row(1, 10, 5) + _row(2, 20, 6))
    mod = tmp_path / "my_reader.py"
    mod.write_text("from kvsched.traces.azure import read_azure\nCALLS = []\n"
                   "def reader(path):\n    CALLS.append(path)\n    return read_azure(path)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    m = importlib.import_module("my_reader")
    try:
        cached_read(p, m.reader)
        cached_read(p, m.reader)
        assert len(m.CALLS) == 1
        mod.write_text(mod.read_text() + "# a fix in the reader\n")   # a new version of its code
        cache._code_sha.cache_clear()                                   # as in a new process
        cached_read(p, m.reader)
        assert len(m.CALLS) == 2
    finally:
        sys.modules.pop("my_reader", None)


def test_cache_sees_an_in_place_edit_of_unverified_data(tmp_path, monkeypatch):
    """Under KVSCHED_NO_CHECKSUM=1 an edit that keeps the size and mtime still reaches the reader."""
    import os
    monkeypatch.setenv("KVSCHED_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KVSCHED_NO_CHECKSUM", "1")
    p = _azure_dir(tmp_path, _row(1, 10, 5) + _row(2, 20, 6))
    st = p.stat()
    first = cached_read(p, read_azure)
    p.write_text(p.read_text().replace(",20,6", ",20,7"))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert p.stat().st_size == st.st_size and p.stat().st_mtime_ns == st.st_mtime_ns
    assert not cached_read(p, read_azure).equals(first)


def _cache_entry(tmp_path: Path) -> Path:
    (entry,) = (tmp_path / "cache" / "traces").glob("*.parquet")
    return entry


@pytest.mark.parametrize("edit", ["columns", "values"])
def test_a_modified_cache_entry_is_parsed_again(tmp_path, monkeypatch, caplog, edit):
    """A cache entry that is valid parquet but not what was cached (other columns, edited values)
    is a bad entry: warned about, parsed again and replaced; never used, and no KeyError."""
    import pandas as pd
    monkeypatch.setenv("KVSCHED_CACHE_DIR", str(tmp_path / "cache"))
    _azure_dir(tmp_path, _row(1, 10, 5) + _row(2, 20, 6))
    cfg = {"name": "azure_conv", "arrival": "trace"}
    first = load_trace(cfg, tmp_path)
    entry = _cache_entry(tmp_path)
    good = entry.read_bytes()
    df = pd.read_parquet(entry)
    bad = df.rename(columns={"prompt": "ctx"}) if edit == "columns" else df.assign(prompt=df["prompt"] + 1)
    bad.to_parquet(entry, index=False)
    with caplog.at_level("WARNING", logger="kvsched.traces.cache"):
        again = load_trace(cfg, tmp_path)
    assert again.prompt.tolist() == first.prompt.tolist() == [10, 20]
    assert "is corrupted or modified" in caplog.text and entry.name in caplog.text
    assert entry.read_bytes() == good       # rewritten
    caplog.clear()
    with caplog.at_level("WARNING", logger="kvsched.traces.cache"):
        load_trace(cfg, tmp_path)
    assert caplog.text == ""


def test_cache_entries_carry_their_sha256(tmp_path, monkeypatch, caplog):
    """Each entry has a sha256sum-style sidecar; an entry without one (an older kvsched's) is
    parsed again quietly and gets one."""
    monkeypatch.setenv("KVSCHED_CACHE_DIR", str(tmp_path / "cache"))
    p = _azure_dir(tmp_path, _row(1, 10, 5))
    calls = []

    def reader(path):
        calls.append(path)
        return read_azure(path)

    first = cached_read(p, reader)
    entry = _cache_entry(tmp_path)
    side = entry.with_name(entry.name + ".sha256")
    assert side.read_text() == f"{hashlib.sha256(entry.read_bytes()).hexdigest()}  {entry.name}\n"
    assert sorted(f.name for f in entry.parent.iterdir()) == [entry.name, side.name]  # no temp files
    side.unlink()
    with caplog.at_level("WARNING", logger="kvsched.traces.cache"):
        assert cached_read(p, reader).equals(first) and len(calls) == 2
    assert caplog.text == "" and side.is_file()
    assert cached_read(p, reader).equals(first) and len(calls) == 2


def test_corrupted_data_file_is_named_with_its_checksum(tmp_path, data_dir, monkeypatch):
    """A data file whose bytes differ from the manifest fails with a clear error, even when
    its content still parses."""
    monkeypatch.delenv("KVSCHED_NO_CHECKSUM", raising=False)
    import shutil
    from kvsched.datastore import MANIFEST
    from kvsched.errors import DataError
    from kvsched.latency import build_latency
    from kvsched.traces import load_trace
    rel = MANIFEST["azure_code"].relpath
    (tmp_path / rel).parent.mkdir(parents=True)
    text = (data_dir / rel).read_text().replace(",374,44\n", ",374,45\n", 1)  # still valid CSV
    (tmp_path / rel).write_text(text)
    with pytest.raises(DataError, match="corrupted or modified.*data fetch --force azure_code"):
        load_trace({"name": "azure_code", "n": 5}, tmp_path, 0)
    monkeypatch.setenv("KVSCHED_NO_CHECKSUM", "1")
    assert len(load_trace({"name": "azure_code", "n": 5}, tmp_path, 0)) == 5
    monkeypatch.delenv("KVSCHED_NO_CHECKSUM")
    with pytest.raises(DataError, match="not found.*kvsched data fetch"):
        build_latency({"name": "splitwise_fit", "model": "llama2-70b", "hardware": "a100-80gb",
                       "tensor_parallel": 2}, tmp_path)
    shutil.rmtree(tmp_path / rel.split("/")[0])


def test_csv_first_row_with_an_extra_field(tmp_path):
    """pandas would read a first row one field longer than the header with an index column."""
    q = tmp_path / "x.csv"
    q.write_text("x,y\n1,2,3\n4,5,6\n")
    with pytest.raises(TraceFormatError, match=r"x\.csv, line 2: 3 fields, the header has 2"):
        read_csv_columns(q, ["x", "y"])


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_load_trace_refuses_a_bad_seed_as_a_run_does(seed):
    """The same check as ``kvsched run seed=...``; numpy would refuse -1 with its own words."""
    with pytest.raises(ConfigError, match=r"seed must be an integer >= 0, got"):
        load_trace({"name": "synthetic_mcsf"}, None, seed)
