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
