"""The list decoder and the local search over request orders (kvsched.optimum.list_search).

Hand-checked instance L (M = 10, all at 0): r0 (s=2, o=6), r1 (s=0, o=6), r2 (s=2, o=4).
MC-SF (shortest output first) starts r2 at 0, then r0 at 2, r1 at 6: completions 8, 12, 4,
total 24. The list (r2, r1, r0) decodes to starts (4, 0, 0): r1 and r2 hold 4 + 2t in round
t = 0..3 (10 at t = 3); r0 from round 4 holds 3, 4, ... beside r1's 5, 6 (8, 10); completions
10, 6, 4, total 20 = OPT. One insertion move (r1 before r0) turns MC-SF's list into it.
"""

import numpy as np
import pytest

from helpers import wl
from kvsched.optimum.exact import exact_optimum
from kvsched.optimum.heuristics import heuristic_schedules
from kvsched.optimum.list_search import ListDecoder, descend, list_search
from kvsched.optimum.schedule import earliest_starts, evaluate, validate
from kvsched.optimum.solve import bracket

L = dict(prompt=[2, 0, 2], output=[6, 6, 4])


def _instances(count, seed, n_lo=2, n_hi=7):
    """Random instances; odd seeds draw fractional arrival times (a request starts at ceil(a))."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n = int(rng.integers(n_lo, n_hi + 1))
        M = int(rng.integers(6, 16))
        s = rng.integers(0, 3, n)
        o = rng.integers(1, np.minimum(8, M - s) + 1)
        arr = np.sort(rng.uniform(0, 6, n) if seed % 2 else rng.integers(0, 6, n).astype(float))
        yield wl(s, o, arrival=arr), M


def test_hand_instance():
    w = wl(**L)
    dec = ListDecoder(w, 10)
    assert dec.decode([2, 0, 1]).tolist() == [2, 6, 0]       # MC-SF's schedule
    assert dec.decode([2, 1, 0]).tolist() == [4, 0, 0]
    mcsf = heuristic_schedules(w, 10, ("mcsf",), shift=False)["mcsf"]
    assert mcsf[0] == 24 and mcsf[1].tolist() == [2, 6, 0]
    r = list_search(w, 10, mcsf[1])
    assert r.objective == 20 == exact_optimum(w, 10)[0] and r.starts.tolist() == [4, 0, 0]
    assert r.moves >= 1 and validate(w, 10, r.starts) == 20


@pytest.mark.parametrize("seed", [0, 1])
def test_decoder_places_each_request_at_its_earliest_fitting_round(seed):
    for w, M in _instances(25, seed):
        n = len(w)
        order = np.random.default_rng(seed + n).permutation(n)
        p = ListDecoder(w, M).decode(order)
        assert evaluate(w, M, p)[0]
        r = earliest_starts(w)
        for j, i in enumerate(order):
            placed = [int(k) for k in order[:j + 1]]
            for t in range(int(r[i]), int(p[i])):          # every earlier round overflows ...
                q = p.copy()
                q[i] = t
                assert _peak(w, placed, q) > M
            assert _peak(w, placed, p) <= M                 # ... and the chosen one fits


def _peak(w, ids, starts):
    """Most tokens held in one round by requests ``ids`` started at ``starts[ids]``."""
    mem = np.zeros(int(max(starts[i] + w.output[i] for i in ids)) + 1, dtype=np.int64)
    for i in ids:
        mem[starts[i]:starts[i] + w.output[i]] += w.prompt[i] + 1 + np.arange(w.output[i])
    return int(mem.max())


def _reference_search(w, M, starts, max_evals, reach):
    """The same descent, decoding every candidate list from scratch."""
    dec = ListDecoder(w, M)
    n = len(w)
    state = {"order": [int(i) for i in np.lexsort((np.arange(n), starts))]}
    state["p"] = dec.decode(state["order"])

    def try_move(a, b):
        cand = state["order"].copy()
        cand.insert(b, cand.pop(a))
        q = dec.decode(cand)
        if dec.objective(q) < dec.objective(state["p"]) - 1e-9:
            state.update(order=cand, p=q)
            return True
        return False

    evals, _, _ = descend(n, reach, max_evals, try_move)
    return dec.objective(state["p"]), state["p"], evals


@pytest.mark.parametrize("seed", [3, 4])
def test_search_with_kept_prefixes_equals_decoding_from_scratch(seed):
    # the search re-decodes only the suffix after a move; a stale prefix profile would diverge
    for w, M in _instances(12, seed, 5, 12):
        start = heuristic_schedules(w, M, ("fcfs",), shift=False)["fcfs"][1]
        r = list_search(w, M, start, max_evals=150, reach=4)
        best, p, evals = _reference_search(w, M, start, 150, reach=4)
        assert (r.objective, r.evals) == (best, evals) and r.starts.tolist() == p.tolist()


@pytest.mark.parametrize("seed", [5, 6])
def test_search_is_valid_never_worse_and_never_below_opt(seed):
    for w, M in _instances(15, seed, 2, 5):
        start = heuristic_schedules(w, M, ("mcsf",), shift=False)["mcsf"][1]
        r = list_search(w, M, start, max_evals=60)
        assert r.evals <= 60 and r.status in ("local_optimum", "budget")
        assert validate(w, M, r.starts) == pytest.approx(r.objective)
        dec = ListDecoder(w, M)
        assert r.objective <= dec.objective(dec.decode(np.lexsort((np.arange(len(w)), start)))) + 1e-9
        assert r.objective >= exact_optimum(w, M)[0] - 1e-9


def test_search_is_deterministic_and_can_be_skipped():
    w, M = next(_instances(1, 8, 10, 10))
    start = heuristic_schedules(w, M, ("fcfs",), shift=False)["fcfs"][1]
    a, b = list_search(w, M, start, max_evals=50), list_search(w, M, start, max_evals=50)
    assert (a.objective, a.evals, a.starts.tolist()) == (b.objective, b.evals, b.starts.tolist())
    assert list_search(w, M, start, max_evals=0).starts is None
    assert list_search(wl([1], [2]), 5, [0]).status.startswith("skipped")


def test_search_skips_instances_whose_profiles_would_not_fit_in_memory(monkeypatch):
    import kvsched.optimum.list_search as ls

    w, M = next(_instances(1, 8, 10, 10))
    start = heuristic_schedules(w, M, ("fcfs",), shift=False)["fcfs"][1]
    monkeypatch.setattr(ls, "MAX_CELLS", 10)
    r = ls.list_search(w, M, start)
    assert r.starts is None and r.status.startswith("skipped: 10 requests")
    b = bracket(w, M, use_cpsat=False, separation_n=0)
    assert b.info["search_status"] == r.status and b.method != "list_search"


def test_bracket_takes_the_search_schedule_and_can_turn_it_off():
    w = wl(**L)
    b = bracket(w, 10, heuristics=("mcsf",), use_cpsat=False, separation_n=0)
    assert b.upper == 20 and b.method == "list_search" and b.info["search_moves"] >= 1
    off = bracket(w, 10, heuristics=("mcsf",), use_cpsat=False, separation_n=0, search_evals=0)
    assert off.upper == 24 and "search_evals" not in off.info


def test_search_rejects_a_request_that_cannot_run_alone():
    # request 0 holds 5 + 4 = 9 > 8 tokens in its last round: no list decodes to a feasible schedule
    w = wl([5, 1], [4, 1])
    with pytest.raises(ValueError, match="request 0 needs"):
        list_search(w, 8, [0, 1])
    with pytest.raises(ValueError, match="request 0 needs"):
        ListDecoder(w, 8)
