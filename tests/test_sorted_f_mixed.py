"""sorted_f_mixed: Sorted-F on batches mixing chat and summarisation lengths (papers.md §2)."""

import json

import numpy as np
import pandas as pd
import pytest

from helpers import ClaimRecorder
from kvsched.errors import ConfigError
from kvsched.experiments import run_experiment
from kvsched.experiments.sorted_f_mixed import claims, mixed_batch
from kvsched.traces import load_trace

CHAT = {"name": "lmsys_like"}
SOURCES = {"chat": "lmsys_like", "long": "arxiv_summarization"}
LONG = {"name": "arxiv_summarization", "sample": True}


def test_a_batch_holds_the_share_of_each_source_at_round_0(data_dir):
    p = {"chat": CHAT, "long": LONG, "n": 40}
    w = mixed_batch(p, 0.25, 3, str(data_dir))
    chat = load_trace({**CHAT, "n": 30, "arrival": "zero"}, str(data_dir), 3)
    long = load_trace({**LONG, "n": 10, "arrival": "zero"}, str(data_dir), 3)
    assert len(w) == 40 and not w.arrival.any() and w.time_unit == "rounds"
    src = np.array(w.meta["source"])
    assert (src == "long").sum() == 10
    # each source's requests, in the batch's order, are that source's draw
    pairs = lambda x: sorted(zip(x.prompt.tolist(), x.output.tolist()))
    assert sorted(zip(w.prompt[src == "chat"].tolist(), w.output[src == "chat"].tolist())) == pairs(chat)
    assert sorted(zip(w.prompt[src == "long"].tolist(), w.output[src == "long"].tolist())) == pairs(long)
    # shuffled: FCFS (the batch's order) must not serve every chat request first
    assert (src[:30] == "long").any()
    assert w.prompt.tolist() == mixed_batch(p, 0.25, 3, str(data_dir)).prompt.tolist()   # same seed, same batch
    assert len(mixed_batch(p, 0.0, 3, str(data_dir))) == 40        # no summarisation request at all


def test_the_rows_compare_each_sorted_f_variant_with_the_best_baseline(tmp_path, data_dir):
    out = run_experiment("sorted_f_mixed", "quick", ["n=60", "shares=[0.0, 0.5]", "seeds=[0]"], tmp_path,
                         str(data_dir))
    runs = pd.read_parquet(out / "runs.parquet")
    assert set(runs.share) == {0.0, 0.5} and (runs.ratio_ub >= 1.0).all()   # the bound is a lower bound
    half = runs[runs.share == 0.5].set_index("algorithm").total_latency
    best = min(half[a] for a in ("fcfs", "sf[current]", "mcsf"))
    rows = {c["id"]: c for c in json.loads((out / "claims.json").read_text())["claims"]}
    labels = ("sorted_f", "sorted_f[windows]", "sorted_f[overlap]", "sorted_f[windows,overlap]")
    assert set(rows) == {f"mixed_{lab}" for lab in labels}
    for lab in labels:
        assert rows[f"mixed_{lab}"]["reproduced"] is bool(half[lab] < best)
        assert f"50%: {half[lab] / best:.3f}" in rows[f"mixed_{lab}"]["ours"]


def test_a_variant_must_beat_the_best_baseline_at_every_mixed_share():
    def summary(ratios):
        return {"variants": {"sorted_f": {k: {"over_best_baseline": v, "best_baseline": "mcsf", "ratio_ub": 1.5,
                                              "n_long": 100 * float(k)} for k, v in ratios.items()}},
                "sources": SOURCES}
    for ratios, ok in [({"0": 2.0, "0.1": 0.9, "0.5": 0.99}, True),     # the chat-only batch does not count
                       ({"0": 0.5, "0.1": 0.9, "0.5": 1.0}, False)]:
        ctx = ClaimRecorder()
        claims(ctx, summary(ratios))
        assert ctx.rows["mixed_sorted_f"]["reproduced"] is ok
    ctx = ClaimRecorder()
    claims(ctx, summary({"0": 0.9}))          # no mixed share run: no row
    assert not ctx.rows


def test_every_baseline_the_check_names_must_run(tmp_path, data_dir):
    # the row says Sorted-F beats FCFS, SF and MC-SF: with MC-SF and SF left out it would compare
    # Sorted-F with FCFS alone and could pass on that
    with pytest.raises(ConfigError, match="each of fcfs, sf, mcsf"):
        run_experiment("sorted_f_mixed", "quick", ["n=20", "shares=[0.5]", "seeds=[0]",
                                                   "algorithms=[{name: sorted_f}, {name: fcfs}]"],
                       tmp_path, str(data_dir))


def test_a_share_whose_batch_holds_no_summarisation_request_is_not_a_mixed_one():
    # 10 % of 4 requests rounds to none: that batch is chat only and must not decide the row
    by = {"0.1": {"over_best_baseline": 1.2, "best_baseline": "mcsf", "ratio_ub": 1.5, "n_long": 0.0},
          "0.5": {"over_best_baseline": 0.9, "best_baseline": "mcsf", "ratio_ub": 1.5, "n_long": 2.0}}
    ctx = ClaimRecorder()
    claims(ctx, {"variants": {"sorted_f": by}, "sources": SOURCES})
    row = ctx.rows["mixed_sorted_f"]
    assert row["reproduced"] and "10%" not in row["ours"] and "50%: 0.900" in row["ours"]


def test_the_runs_count_the_summarisation_requests_left_after_the_drop(tmp_path, data_dir):
    # n = 4: 10 % rounds to no summarisation request; at M = 3,000 some arXiv requests do not fit
    out = run_experiment("sorted_f_mixed", "quick", ["n=4", "shares=[0.1, 1.0]", "seeds=[0]", "memory=3000"],
                         tmp_path, str(data_dir))
    runs = pd.read_parquet(out / "runs.parquet")
    want = {}
    for share in (0.1, 1.0):
        w = mixed_batch({"chat": CHAT, "long": LONG, "n": 4}, share, 0, str(data_dir))
        fits = (w.prompt + w.output <= 3000).tolist()
        want[share] = sum(f for f, src in zip(fits, w.meta["source"]) if src == "long")
    assert want[0.1] == 0 and 0 < want[1.0] < 4
    assert runs.groupby("share").n_long.first().to_dict() == want
    row = json.loads((out / "claims.json").read_text())["claims"][0]
    assert "10%" not in row["ours"]


def test_the_rows_do_not_depend_on_how_many_processes_ran_them(tmp_path, data_dir):
    sets = ["n=30", "shares=[0.0, 0.5]", "seeds=[0, 1]"]
    one = run_experiment("sorted_f_mixed", "quick", [*sets, "processes=1"], tmp_path / "one", str(data_dir))
    two = run_experiment("sorted_f_mixed", "quick", [*sets, "processes=2"], tmp_path / "two", str(data_dir))
    pd.testing.assert_frame_equal(pd.read_parquet(one / "runs.parquet"), pd.read_parquet(two / "runs.parquet"))
