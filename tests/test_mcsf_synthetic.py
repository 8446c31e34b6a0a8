"""The mcsf_synthetic experiment saves a checkable certificate for every trial MC-SF loses."""

import json

import numpy as np
import pandas as pd
import pytest

from kvsched.experiments import run_experiment
from kvsched.optimum.heuristics import policy_starts
from kvsched.optimum.schedule import validate
from kvsched.traces.synthetic_mcsf import DEFAULTS, synthetic_mcsf
from kvsched.workload import Workload


@pytest.mark.parametrize("first_round", ["s_plus_1", "s"])
def test_certificates_hold_the_instance_and_both_schedules(tmp_path, first_round):
    out = run_experiment("mcsf_synthetic", "quick", ["trials=2", "models=[1]", "cpsat_n=0", "separation_n=0",
                                                     "processes=1", f"first_round={first_round}"], tmp_path)
    certs = json.loads((out / "certificates.json").read_text())["certificates"]
    trials = pd.read_parquet(out / "trials.parquet")
    assert "certificate" not in trials.columns
    assert len(certs) == int(trials.certified_suboptimal.sum()) > 0
    for c in certs:
        w = Workload(np.array(c["arrival"]), np.array(c["prompt"]), np.array(c["output"]), "cert", "rounds")
        # the instance is the generator's, as run
        g = synthetic_mcsf(dict(DEFAULTS, arrival_model=c["arrival_model"], n=None), None, c["seed"])
        assert c["memory"] == g.meta["memory"] and w.output.tolist() == g.output.tolist()
        assert w.prompt.tolist() == (g.prompt - (first_round == "s")).tolist()
        assert validate(w, c["memory"], c["variant_starts"]) == pytest.approx(c["variant_objective"])
        assert validate(w, c["memory"], c["better_starts"]) == pytest.approx(c["better_objective"])
        assert c["better_objective"] < c["variant_objective"]
        if c["variant"] == "mcsf":   # the saved schedule is MC-SF's own
            assert policy_starts(w, c["memory"], {"name": "mcsf"}).tolist() == c["variant_starts"]


def test_report_rows_label_the_reconstructions_and_the_skip_variant():
    """The report rows say that the generator's exact lengths are a reconstruction, that the
    first_round: s memory convention is a variant (s + 1, the default, is papers.md's), and that
    mcsf_skip, set beside the paper's MC-SF values, is not the paper's algorithm."""
    from helpers import ClaimRecorder
    from kvsched.experiments.mcsf_synthetic import report_claims

    row = dict(arrival_model=1, trials=6, mean_ratio_lo=1.06, mean_ratio_hi=1.34, worst_ratio_lo=1.08,
               worst_ratio_hi=1.39, certified_optimal=0, certified_suboptimal=6, paper_mean=1.005,
               paper_worst=1.074, paper_optimal=114, paper_trials=200, consistent=False, decisive=False,
               reproduced=False)
    ctx = ClaimRecorder({"first_round": "s"})
    report_claims(ctx, pd.DataFrame([dict(row, variant="mcsf"), dict(row, variant="mcsf_skip")]))
    mcsf, skip = ctx.rows["model1_mcsf"], ctx.rows["model1_mcsf_skip"]
    assert mcsf["paper_value"] == "mean 1.005, worst 1.074, 114/200 optimal"
    for r in (mcsf, skip):
        assert "exact output lengths are a reconstruction" in r["note"]
        assert "s tokens in a request's first round" in r["note"] and r["reproduced"] is False
    assert "not the paper's MC-SF" in skip["note"] and "not the paper's MC-SF" not in mcsf["note"]
    # the engine's convention, s + j tokens in the j-th round, is papers.md's (known), not ours
    ctx = ClaimRecorder({"first_round": "s_plus_1"})
    report_claims(ctx, pd.DataFrame([dict(row, variant="mcsf")]))
    note = ctx.rows["model1_mcsf"]["note"]
    assert "s + 1 in its first" in note and "convention (a reconstruction)" not in note
    assert "exact output lengths are a reconstruction" in note
