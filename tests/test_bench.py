"""The benchmark command's option parsing and row records (no timings are asserted)."""

import pytest

from helpers import wl
from kvsched.bench import main, parse_params, parse_predictor, time_run
from kvsched.latency import unit_rounds


def test_parse_predictor_reads_numbers_and_words():
    assert parse_predictor("oracle") == {"name": "oracle"}
    assert parse_predictor("noisy:eps=0.5,dist=lognormal") == {"name": "noisy", "eps": 0.5, "dist": "lognormal"}


@pytest.mark.parametrize("spec, message", [("noisy:eps", "expected key=value"),
                                           ("noisy:epz=0.5", "epz"), ("psychic", "psychic")])
def test_bad_predictor_is_named_before_any_run(spec, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--predictor", spec])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_time_run_records_the_predictor():
    w = wl([1, 2, 1], [3, 5, 2])
    row = time_run(w, "mcsf", 12, unit_rounds(), repeat=1, predictor={"name": "noisy", "eps": 0.5})
    assert row["predictor"] == {"name": "noisy", "eps": 0.5}
    assert row["requests"] == 3 and row["policy_decisions"] >= 1


def test_params_reach_every_algorithm_and_the_row():
    assert parse_params("check=current,preemption=index,margin=1", ["sagesched", "srpt"]) == \
        {"check": "current", "preemption": "index", "margin": 1}
    w = wl([1, 2, 1], [3, 5, 2])
    row = time_run(w, "sagesched", 12, unit_rounds(), repeat=1, params={"check": "current", "preemption": "index"})
    assert row["params"] == {"check": "current", "preemption": "index"}


@pytest.mark.parametrize("params, message", [("preemption=index", "check"), ("chek=current", "chek"),
                                             ("margin", "expected key=value")])
def test_bad_params_are_named_before_any_run(params, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--algorithms", "sagesched", "--params", params])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_engine_column_names_the_engine_that_ran():
    """A policy the fast path does not restate runs on the generic engine, and says so."""
    w = wl([1, 2, 1], [3, 5, 2])
    assert time_run(w, "mcsf", 12, unit_rounds(), repeat=1)["engine"] == "fast"
    assert time_run(w, "mcsf", 12, unit_rounds(), repeat=1, fast=False)["engine"] == "generic"
    assert time_run(w, "sagesched", 12, unit_rounds(), repeat=1)["engine"] == "generic"


@pytest.mark.parametrize("argv, message", [
    (["--plot", "p.png"], "--plot is used only by --suite, not by a trace benchmark"),
    (["--suite", "--trace", "azure_code", "--predictor", "noisy"],
     "--trace, --predictor are used only by a trace benchmark, not by --suite"),
    (["--suite", "--prove-n", "5"], "--prove-n is used only by --optimum, not by --suite")])
def test_an_option_the_chosen_benchmark_ignores_is_an_error(argv, message, capsys):
    """``--plot`` without ``--suite`` wrote no plot and said nothing; such an option is refused
    before anything runs."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_an_unknown_optimum_scale_is_named_before_any_run(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--optimum", "--scale", "medium"])
    assert e.value.code == 2
    assert "--scale medium" in capsys.readouterr().err
