"""``trace=file``: a user's own trace in CSV, JSON lines or parquet."""

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from kvsched.datastore import sha256_file
from kvsched.errors import ConfigError, TraceFormatError
from kvsched.traces import load_trace

ROWS = pd.DataFrame({"t": [0.0, 0.5, 0.5, 2.25], "in": [10, 3, 7, 1], "out": [4, 0, 9, 2],
                     "prompt_text": ["a b", "c", "d e f", "g"]})
KEYS = {"prompt_col": "in", "output_col": "out", "arrival_col": "t"}


def _load(path, **kw):
    return load_trace({"name": "file", "path": str(path), **KEYS, **kw}, seed=0)


def _write(tmp_path, fmt, rows=ROWS):
    if fmt == "csv":
        f = tmp_path / "trace.csv"
        rows.to_csv(f, index=False)
    elif fmt == "jsonl.gz":
        f = tmp_path / "trace.jsonl.gz"
        with gzip.open(f, "wt") as fh:
            for r in rows.to_dict("records"):
                fh.write(json.dumps(r) + "\n")
    else:
        f = tmp_path / "trace.parquet"
        rows.to_parquet(f, index=False)
    return f


@pytest.mark.parametrize("fmt", ["csv", "jsonl.gz", "parquet"])
def test_every_format_gives_the_same_workload(tmp_path, fmt):
    f = _write(tmp_path, fmt)
    w = _load(f, text_col="prompt_text")
    # the output-0 row is dropped (and counted); arrivals are seconds from the first request
    np.testing.assert_array_equal(w.arrival, [0.0, 0.5, 2.25])
    np.testing.assert_array_equal(w.prompt, [10, 7, 1])
    np.testing.assert_array_equal(w.output, [4, 9, 2])
    assert w.text == ["a b", "d e f", "g"] and w.time_unit == "s"
    assert w.meta["dropped_zero_output"] == 1 and w.meta["sha256"] == sha256_file(f)


def test_a_run_warns_about_dropped_rows(tmp_path, capsys):
    import json
    from kvsched.cli import main
    f = _write(tmp_path, "csv")
    out = tmp_path / "r"
    args = ["run", "trace=file", f"trace.path={f}", "trace.prompt_col=in", "trace.output_col=out",
            "trace.arrival_col=t", "algorithm=fcfs", "memory.capacity=64", "sim.progress=false", f"out={out}"]
    assert main(args) == 0
    msg = f"trace 'file' ({f.resolve()}): 1 of 4 rows have output 0 and were left out"
    assert msg in capsys.readouterr().err
    assert any(msg in w for w in json.loads((out / "summary.json").read_text())["warnings"])


def test_timestamps_in_csv_and_parquet(tmp_path):
    stamps = pd.to_datetime(["2024-01-01 10:00:00", "2024-01-01 10:00:01.5", "2024-01-01 10:00:04"], format="ISO8601")
    df = pd.DataFrame({"t": stamps, "in": [1, 2, 3], "out": [5, 6, 7]})
    df.to_parquet(tmp_path / "a.parquet", index=False)
    df.assign(t=df["t"].astype(str)).to_csv(tmp_path / "a.csv", index=False)
    for f in ("a.parquet", "a.csv"):
        np.testing.assert_allclose(_load(tmp_path / f).arrival, [0.0, 1.5, 4.0])


def test_azure_file_read_as_user_file_equals_azure_conv(data_dir):
    """The Azure conv CSV, loaded through trace=file with its column names, is azure_conv."""
    f = data_dir / "azure_llm_2023" / "AzureLLMInferenceTrace_conv.csv"
    mine = load_trace({"name": "file", "path": str(f), "prompt_col": "ContextTokens",
                       "output_col": "GeneratedTokens", "arrival_col": "TIMESTAMP", "n": 2000}, data_dir)
    ref = load_trace({"name": "azure_conv", "n": 2000}, data_dir)
    for a in ("arrival", "prompt", "output"):
        np.testing.assert_array_equal(getattr(mine, a), getattr(ref, a))


def test_no_arrival_column_needs_generated_arrivals(tmp_path):
    f = tmp_path / "lengths.csv"
    ROWS[["in", "out"]].to_csv(f, index=False)
    with pytest.raises(ConfigError, match="no timestamps, so trace.arrival=trace cannot replay them; generate arrivals with trace.arrival=poisson trace.rate="):
        _load(f, arrival_col=None)
    w = _load(f, arrival_col=None, arrival="poisson", rate=2.0)
    assert len(w) == 3 and np.all(np.diff(w.arrival) > 0)


@pytest.mark.parametrize("fmt,edit,expect", [
    ("csv", lambda d: d.assign(**{"in": ["10", "-3", "7", "1"]}), r"trace\.csv, line 3: column 'in': negative value"),
    ("csv", lambda d: d.drop(columns="out"), r"missing required column 'out' \(header has: t, in, prompt_text\)"),
    ("csv", lambda d: d.assign(t=["0", "1", "x", "2"]), r"line 4: column 't': time must be a number of seconds >= 0 \('x'\)"),
    ("csv", lambda d: d.assign(t=["2024-01-01", "1", "x", "2"]), r"line 3: column 't': bad timestamp '1'"),
    ("parquet", lambda d: d.assign(**{"in": [10.0, 3.0, 7.5, 1.0]}), r"trace\.parquet, row 3: column 'in': not an integer"),
    ("parquet", lambda d: d.assign(t=["a", "b", "c", "d"]), r"column 't' must hold seconds or timestamps"),
    ("jsonl.gz", lambda d: d.assign(out=[4, 0, "9", 2]), r"line 3: field 'out' must be a number"),
    ("csv", lambda d: d.assign(**{"in": ["10", "1e20", "7", "1"]}), r"line 3: column 'in': too large \(>= 2\^53"),
    ("jsonl.gz", lambda d: d.assign(**{"in": [10, 3, 10**30, 1]}), r"line 3: field 'in' is too large"),
    ("csv", lambda d: d.assign(t=["2024-01-01T00:00:00+00:00", "2024-01-01T00:00:01+02:00", "2024-01-01T00:00:02+00:00",
                                  "2024-01-01T00:00:03+00:00"]), r"column 't': timestamps in more than one time zone"),
])
def test_malformed_files_name_the_place(tmp_path, fmt, edit, expect):
    f = _write(tmp_path, fmt, edit(ROWS))
    with pytest.raises(TraceFormatError, match=expect):
        _load(f)


def test_bad_paths_and_keys(tmp_path):
    with pytest.raises(ConfigError, match="set trace.path"):
        load_trace({"name": "file"})
    with pytest.raises(ConfigError, match="is not a file"):
        _load(tmp_path / "none.csv")
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(TraceFormatError, match=r"unknown format; the name must end in \.csv"):
        _load(tmp_path / "t.xlsx")
    with pytest.raises(ConfigError, match="prompt_col must be a column name"):
        _load(_write(tmp_path, "csv"), prompt_col=3)


def test_unreadable_and_short_rows_and_shared_columns(tmp_path):
    (tmp_path / "t.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(TraceFormatError, match=r"t\.csv\.gz: cannot read"):
        _load(tmp_path / "t.csv.gz")
    (tmp_path / "short.csv").write_text("in,out,t\n1,2,0\n3,4\n")
    with pytest.raises(TraceFormatError, match=r"line 3: column 't': missing value \(an empty field or a short row\)"):
        _load(tmp_path / "short.csv")
    with pytest.raises(ConfigError, match="prompt_col and text_col both name column 'in'"):
        _load(_write(tmp_path, "csv"), text_col="in")


@pytest.mark.parametrize("body", ["100,50,0,7\n5,30,1,2\n", "100,50,0,7\n5,30,1\n"])
def test_rows_longer_than_the_header_are_refused(tmp_path, body):
    """A first data row with an extra field is an error, not an unnamed index column."""
    f = tmp_path / "x.csv"
    f.write_text("in,out,t\n" + body)
    with pytest.raises(TraceFormatError, match=r"x\.csv, line 2: 4 fields, the header has 3"):
        _load(f)


def test_a_repeated_header_name_is_refused_where_it_is_read(tmp_path):
    """Which of two 'in' columns holds the prompts is a guess; it used to be the first, silently."""
    f = tmp_path / "dup.csv"
    f.write_text("t,in,out,in\n0,5,2,9\n1,6,3,9\n")
    with pytest.raises(TraceFormatError, match=r"dup\.csv: column 'in' appears twice in the header \(columns 2 and 4\)"):
        _load(f)
    f.write_text("t,in,out,note,note\n0,5,2,a,b\n1,6,3,c,d\n")      # a column the trace does not read
    np.testing.assert_array_equal(_load(f).prompt, [5, 6])


def test_text_that_is_not_utf8_names_its_line(tmp_path):
    f = tmp_path / "latin.csv"
    f.write_bytes(b"t,in,out\n0,5,2\n1,6,3\n2,7,4 caf\xe9\n")
    with pytest.raises(TraceFormatError, match=r"latin\.csv: line 4: not UTF-8 text \(byte 0xe9, byte 10 of the line\)"):
        _load(f)


def test_a_null_in_parquet_is_called_one(tmp_path):
    f = _write(tmp_path, "parquet", ROWS.assign(out=[4.0, np.nan, 9.0, 2.0]))
    with pytest.raises(TraceFormatError, match=r"row 2: column 'out': missing value \(null or NaN\) \(nan\)"):
        _load(f)


def test_requests_map_back_to_their_rows_in_the_file(tmp_path):
    """Rows are run in arrival order; ``source_row`` in requests.parquet names each one's record
    in the file (0-based, header not counted, dropped rows counted)."""
    import json
    from kvsched.cli import main
    rows = pd.DataFrame({"t": [3.0, 1.0, 2.0, 0.5], "in": [1, 2, 3, 4], "out": [5, 0, 7, 8]})
    f = _write(tmp_path, "csv", rows)
    out = tmp_path / "r"
    assert main(["run", "trace=file", f"trace.path={f}", "trace.prompt_col=in", "trace.output_col=out",
                 "trace.arrival_col=t", "algorithm=fcfs", "memory.capacity=64", "sim.progress=false",
                 f"out={out}"]) == 0
    req = pd.read_parquet(out / "requests.parquet")
    assert req.source_row.tolist() == [3, 2, 0]
    assert (req.prompt.to_numpy() == rows["in"].to_numpy()[req.source_row]).all()
    assert "source_row" not in json.loads((out / "summary.json").read_text())["resolved"]["trace_meta"]
    w = _load(f)
    assert w.subset(np.array([0, 2])).meta["source_row"] == [3, 0]


def test_a_run_says_when_it_reorders_the_rows(tmp_path, capsys):
    from kvsched.cli import main
    base = ["trace=file", "trace.prompt_col=in", "trace.output_col=out", "trace.arrival_col=t",
            "algorithm=fcfs", "memory.capacity=64", "sim.progress=false"]
    shuffled = _write(tmp_path, "csv", pd.DataFrame({"t": [2.0, 1.0], "in": [1, 2], "out": [3, 4]}))
    assert main(["run", *base, f"trace.path={shuffled}", f"out={tmp_path / 'a'}"]) == 0
    assert "the rows are not in arrival order" in capsys.readouterr().err
    in_order = _write(tmp_path, "parquet", pd.DataFrame({"t": [1.0, 2.0], "in": [1, 2], "out": [3, 4]}))
    assert main(["run", *base, f"trace.path={in_order}", f"out={tmp_path / 'b'}"]) == 0
    assert "arrival order" not in capsys.readouterr().err
    # generated arrivals too: the rows are still taken in timestamp order (here the second first)
    assert main(["run", *base, f"trace.path={shuffled}", "trace.arrival=zero", "trace.n=1",
                 f"out={tmp_path / 'c'}"]) == 0
    assert "the rows are not in arrival order" in capsys.readouterr().err
    assert pd.read_parquet(tmp_path / "c" / "requests.parquet").source_row.tolist() == [1]


@pytest.mark.parametrize("rows, kw, expect", [
    ({"t": [0.0], "in": [1], "out": [0]}, {}, "all 1 rows have output 0"),
    ({"t": [0.0, 1.0], "in": [1, 2], "out": [3, 4]}, {"start": 2}, "start=2 skips all 2 requests"),
    ({"t": [0.0, 1.0], "in": [1, 2], "out": [3, 4]}, {"n": 3}, "asked for n=3 after start=0, but only 2"),
])
def test_too_few_requests_names_why(tmp_path, rows, kw, expect):
    f = _write(tmp_path, "csv", pd.DataFrame(rows))
    with pytest.raises(ConfigError, match=expect):
        _load(f, **kw)


def test_an_edited_trace_file_gets_a_folder_of_its_own(tmp_path):
    """The default output folder's digest covers the trace file's content, not its path, so
    rerunning after an edit keeps the earlier results, and the same content gives the same
    folder wherever it lies."""
    from kvsched.config import compose
    f = _write(tmp_path, "csv")
    over = ["trace=file", f"trace.path={f}", "trace.prompt_col=in", "trace.output_col=out",
            "trace.arrival_col=t", "memory.capacity=64"]
    before = compose(over).out
    assert compose(over).out == before
    copy = tmp_path / "sub" / "copy.csv"             # the same content elsewhere: the same run
    copy.parent.mkdir()
    copy.write_bytes(f.read_bytes())
    assert compose([o.replace(str(f), str(copy)) for o in over]).out == before
    ROWS.assign(out=ROWS["out"] + 1).to_csv(f, index=False)
    assert compose(over).out != before


def test_a_header_with_spaces_after_the_commas_is_read(tmp_path):
    """The fields are read stripped of spaces; the header names are too ("t, in, out")."""
    f = tmp_path / "spaced.csv"
    f.write_text("t, in , out\n0, 5, 2\n1.5, 6, 3\n")
    w = _load(f)
    np.testing.assert_array_equal(w.prompt, [5, 6])
    np.testing.assert_array_equal(w.arrival, [0.0, 1.5])


def test_a_semicolon_file_and_a_missing_first_time_say_so(tmp_path):
    f = tmp_path / "semi.csv"
    f.write_text("t;in;out\n0;5;2\n")
    with pytest.raises(TraceFormatError, match=r"missing required column 'in' \(header has: t;in;out\) "
                                               r"\(fields separated by ';'\? they must be separated by commas\)"):
        _load(f)
    f = tmp_path / "gap.csv"
    f.write_text("t,in,out\n,5,2\n2024-01-01T00:00:01,6,3\n")
    with pytest.raises(TraceFormatError, match=r"gap\.csv, line 2: column 't': missing value"):
        _load(f)
