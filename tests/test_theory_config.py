"""Config presets of the theory-paper algorithms list every parameter; families are valid."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from kvsched.adversarial import FAMILIES
from kvsched.policies import build_policy, get_policy_class
from kvsched.params import params_fields
from kvsched.predictors import build_predictor

CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.mark.parametrize("name", ["amax", "amin", "hsf", "sorted_f", "gsa", "gba"])
def test_algorithm_presets_list_every_parameter(name):
    cfg = yaml.safe_load((CONF / "algorithm" / f"{name}.yaml").read_text())
    assert set(cfg) - {"name"} == set(params_fields(get_policy_class(name).Params))
    build_policy(cfg, capacity=100)


def test_interval_preset():
    cfg = yaml.safe_load((CONF / "predictor" / "interval.yaml").read_text())
    assert set(cfg) == {"name", "alpha", "rho", "point"}
    build_predictor(cfg)


@pytest.mark.parametrize("fam", sorted(FAMILIES))
@pytest.mark.parametrize("M", [4, 17, 64])
def test_adversarial_families_fit(fam, M):
    w = FAMILIES[fam](M)
    assert np.all(w.prompt + w.output <= M) and np.all(w.arrival == 0)
