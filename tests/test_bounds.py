"""The certified lower bound: hand-computed values and validity against simulated schedules."""

import numpy as np
from hypothesis import given, settings, strategies as st

from helpers import sim, wl
from kvsched.bounds import completion_lower_bound, kv_area


def test_hand_computed_bound():
    # M=10, s=1, o=4 (x3): area 1*4 + 4*5/2 = 14 each. S = 14, 28, 42 -> ceil(S/10) = 2, 3, 5;
    # e = 4, 4, 4 -> max: 4, 4, 5 -> 13. The best schedule (two at 0, one at 4) costs 4+4+8 = 16.
    assert kv_area(np.array([1]), np.array([4])).tolist() == [14.0]
    assert completion_lower_bound([1, 1, 1], [4, 4, 4], 10) == 13
    # one request: exact (o)
    assert completion_lower_bound([3], [5], 8) == 5
    # with arrivals: sum(c - a) >= sum(o) = 8 here (c_k >= a+o = 2, 7 -> 9 - 5 = 4 < 8)
    assert completion_lower_bound([1, 1], [4, 4], 100, arrival=[0, 5]) == 8


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 8), M=st.integers(6, 30), data=st.data())
def test_bound_never_exceeds_any_schedule(n, M, data):
    s = np.array(data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)))
    o = np.array([data.draw(st.integers(1, max(1, M - int(x)))) for x in s])
    w = wl(s, o)
    lb = completion_lower_bound(s, o, M)
    for algo in ("fcfs", "mcsf", "gsa", "vllm_fcfs"):
        rec = sim(w, algo, M)
        assert np.sum(rec.completion) >= lb - 1e-9, algo
