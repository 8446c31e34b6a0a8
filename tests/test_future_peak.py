"""The future-peak profile's look-ahead (``first_fit_delay``) against checking every delay.

The reference rebuilds the profile as the policy would ``d`` rounds later with the same
requests running: ``max(rem - d, 1)`` rounds left (a request past its prediction is planned
to need one more round), ``base + d`` tokens in the coming round.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from kvsched.policies.future_peak import PeakProfile
from kvsched.sim.fast import _Profile

items = st.lists(st.tuples(st.integers(1, 12), st.integers(1, 10)), max_size=6)


def first_fit_by_rebuilding(cap, its, rem, base, horizon):
    for d in range(horizon):
        prof = PeakProfile(cap, [max(r - d, 1) for r, _ in its], [b + d for _, b in its])
        if prof.fits(rem, base):
            return d
    return horizon


@settings(max_examples=400, deadline=None)
@given(its=items, cap=st.integers(5, 60), rem=st.integers(1, 10), base=st.integers(1, 8),
       horizon=st.integers(0, 25), R=st.integers(0, 30))
def test_first_fit_delay_equals_checking_every_delay(its, cap, rem, base, horizon, R):
    want = first_fit_by_rebuilding(cap, its, rem, base, horizon)
    got = PeakProfile(cap, [r for r, _ in its], [b for _, b in its]).first_fit_delay(rem, base, horizon)
    assert got == want
    # the fast path's profile, also kept in absolute rounds from an earlier reference round
    assert _Profile(cap, list(its)).first_fit_delay(rem, base, horizon) == want
    shifted = _Profile(cap, [(R + r, b - R) for r, b in its])
    assert shifted.first_fit_delay(rem, base, horizon, R) == want
