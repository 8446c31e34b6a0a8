"""Policies cannot reach true output lengths (unless the predictor is the oracle), nor
anything about requests that have not arrived."""

import numpy as np
import pytest

from helpers import wl
from kvsched.latency.base import unit_rounds
from kvsched.policies.base import Policy
from kvsched.predictors import build_predictor
from kvsched.sim.engine import simulate
from kvsched.sim.view import DONE

SECRET = np.array([7919, 7907, 7901, 7883], dtype=np.int64)  # distinctive true lengths


def reachable(root, limit=20000):
    """Every object reachable from ``root`` through attributes, slots and containers."""
    seen, stack, out = set(), [root], []
    while stack and len(out) < limit:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        out.append(o)
        if isinstance(o, (str, bytes, int, float, bool, type(None))):
            continue
        if isinstance(o, np.ndarray):
            if o.base is not None:
                stack.append(o.base)
            continue
        if isinstance(o, dict):
            stack.extend(o.keys()); stack.extend(o.values()); continue
        if isinstance(o, (list, tuple, set, frozenset)):
            stack.extend(o); continue
        for name in getattr(type(o), "__slots__", ()):
            if hasattr(o, name):
                stack.append(getattr(o, name))
        if hasattr(o, "__dict__") and not isinstance(o, type):
            stack.append(vars(o))
    return out


class Spy(Policy):
    """Admits one request at a time and, at every decision, searches everything reachable
    from the view (and from itself) for the true length of any unfinished request."""

    name = "spy"

    def __init__(self, **kw):
        super().__init__(capacity=kw.pop("capacity"))
        self.views = []
        self.leaks = []

    def admit(self, view):
        self.views.append(view)
        unfinished = SECRET[np.asarray(view.status) != DONE]
        for o in reachable((view, self.__dict__)):
            if isinstance(o, np.ndarray) and o.dtype.kind in "iuf" and o.size:
                hit = np.isin(unfinished, o)
                if hit.any():
                    self.leaks.append((view.round, unfinished[hit].tolist()))
        return list(view.waiting[:1])


def _run(pred_cfg):
    w = wl([3, 3, 3, 3], SECRET, arrival=[0, 0, 5000, 9000])
    spy = Spy(capacity=100000)
    simulate(w, spy, build_predictor(pred_cfg, seed=1), 100000, unit_rounds())
    return spy


@pytest.mark.parametrize("pred", [{"name": "noisy", "eps": 0.5}])
def test_true_lengths_unreachable_from_view(pred):
    """Only completed requests' lengths (known to any real scheduler) may be seen."""
    spy = _run(pred)
    assert len(spy.views) >= 4
    assert spy.leaks == []


def test_spy_would_see_a_leak():
    """The search above can fail: the oracle predictor puts the truth in ``pred``."""
    spy = _run({"name": "oracle"})
    assert spy.leaks


def test_oracle_is_the_only_way_in():
    spy = _run({"name": "oracle"})
    v = spy.views[-1]
    assert set(np.asarray(v.pred)[:2]) <= set(SECRET)


def test_view_has_no_truth_attribute_and_is_read_only():
    spy = _run({"name": "noisy", "eps": 0.5})
    v = spy.views[0]
    for name in ("output", "true_output", "_truth", "workload"):
        assert not hasattr(v, name)
    with pytest.raises(AttributeError):
        v.secret = 1  # __slots__: nothing can be attached
    with pytest.raises(ValueError):
        v.prompt[0] = 1  # read-only
    with pytest.raises(ValueError):
        v.waiting[:] = 0


def test_future_requests_are_invisible():
    spy = _run({"name": "noisy", "eps": 0.5})
    assert spy.views[0].clock == 0
    # public arrays for not-yet-arrived requests hold placeholders, never their values
    from kvsched.sim.view import PublicState
    pub = PublicState(4)
    assert (pub.prompt == -1).all() and (pub.pred == -1).all() and (pub.arrival == -1).all()




# --- policies that read no predictions get none -------------------------------------------

BLIND = [{"name": "vllm_fcfs"}, {"name": "sglang_fcfs"}, {"name": "alpha_protection"}, {"name": "alpha_clearing"}, {"name": "gsa"},
         {"name": "fcfs", "check": "current"}, {"name": "fcfs", "check": "current", "scan": "skip"}]


class NoPredictor:
    """A predictor that fails if asked anything."""
    oracle = uses_truth = False

    def predict(self, *a):
        raise AssertionError("the predictor ran for a policy that reads no predictions")

    observe = predict


@pytest.mark.parametrize("cfg", BLIND, ids=lambda c: "-".join(map(str, c.values())))
def test_policies_that_read_no_predictions_get_none_and_lose_nothing(cfg):
    """The engine runs no predictor for them and their views hold no predictions; and the
    declaration is honest: the same policy told to read predictions (noisy ones, published)
    makes the same schedule."""
    from kvsched.policies import build_policy
    from kvsched.policies.registry import get_policy_class
    rng = np.random.default_rng(7)
    n = 60
    w = wl(rng.integers(1, 20, n), rng.integers(1, 60, n), np.cumsum(rng.exponential(2.0, n)))
    M = 300
    seen = []

    def build(reads):
        cls = get_policy_class(cfg["name"])
        sub = type("Probe", (cls,), {"reads_predictions": reads, "admit": lambda self, view: (
            seen.append((reads, np.asarray(view.pred).copy(), np.asarray(view.pred_q).copy()))
            or cls.admit(self, view))})
        pol = build_policy(cfg, capacity=M, seed=1)
        pol.__class__ = sub
        return pol

    blind = build_policy(cfg, capacity=M, seed=1)
    assert blind.reads_predictions is False
    for fast in (True, False):
        simulate(w, build_policy(cfg, capacity=M, seed=1), NoPredictor(), M, unit_rounds(), fast=fast)
    a = simulate(w, build(False), NoPredictor(), M, unit_rounds(), fast=False)
    b = simulate(w, build(True), build_predictor({"name": "noisy", "eps": 0.8}, seed=3), M, unit_rounds(), fast=False)
    assert all((p == -1).all() and (q == -1).all() for r, p, q in seen if not r)
    assert any((p > 0).any() for r, p, q in seen if r)       # the probe did publish predictions
    np.testing.assert_array_equal(a.completion, b.completion)
    np.testing.assert_array_equal(a.evictions, b.evictions)


def test_policies_that_read_predictions_say_so():
    from kvsched.policies import build_policy
    for cfg in ({"name": "fcfs"}, {"name": "sf", "check": "current"}, {"name": "mcsf"}, {"name": "gba"},
                {"name": "sagesched"}, {"name": "amax"}):
        assert build_policy(cfg, capacity=100).reads_predictions is True, cfg


# --- what a policy returns, and what it must not write ------------------------------------

class Scripted(Policy):
    """Admits the head of the queue (memory permitting), or returns ``answer`` once; with
    ``vandal`` it writes ``value`` through the base of a read-only view array once."""

    name = "scripted"

    def __init__(self, answer=None, vandal=None, value=0, target="running", **kw):
        super().__init__(capacity=kw.pop("capacity"))
        self.answer, self.vandal, self.value, self.target = answer, vandal, value, target

    def admit(self, view):
        if self.answer is not None and len(view.waiting):
            a, self.answer = self.answer, None
            return a
        ids = getattr(view, self.target)
        if self.vandal and len(ids):
            getattr(view, self.vandal).base[ids] = self.value
            self.vandal = None
        return [i for i in view.waiting[:1] if view.prompt[i] + 1 <= view.free]   # trusts what it sees


@pytest.mark.parametrize("answer", [[-1], [10**9], [0.5], [[0]]])
def test_ids_that_are_not_request_ids_are_refused(answer):
    from kvsched.errors import PolicyError
    w = wl([1, 1, 1], [3, 3, 3])
    with pytest.raises(PolicyError, match="not request ids"):
        simulate(w, Scripted(answer=answer, capacity=100), build_predictor({"name": "oracle"}), 100, unit_rounds())


def test_a_mask_instead_of_ids_is_shown():
    """A boolean mask (``waiting`` filtered the numpy way, without the ids) was refused with an
    empty list of offending values, as bools are ints to Python."""
    from kvsched.errors import PolicyError
    w = wl([1, 1, 1], [3, 3, 3])
    with pytest.raises(PolicyError, match=r"not request ids .*: \[True, False, True\]"):
        simulate(w, Scripted(answer=np.array([True, False, True]), capacity=100), build_predictor({"name": "oracle"}),
                 100, unit_rounds())


def test_a_zero_dimensional_array_is_refused_as_admit_answer():
    from kvsched.errors import PolicyError
    w = wl([1, 1, 1], [3, 3, 3])
    with pytest.raises(PolicyError, match=r"policy 'scripted': admit returned array\(0\); return a list of waiting"):
        simulate(w, Scripted(answer=np.array(0), capacity=100), build_predictor({"name": "oracle"}), 100, unit_rounds())


class Evicts(Scripted):
    """Admits everything waiting that fits now, and answers ``preempt`` or ``victims`` with ``answer``."""

    voluntary_preemption = True

    def admit(self, view):
        free, out = view.free, []
        for i in view.waiting.tolist():
            if view.prompt[i] + 1 <= free:
                out.append(i)
                free -= view.prompt[i] + 1
        return out

    def preempt(self, view):
        return self.answer if self.vandal == "preempt" and len(view.running) else ()

    def victims(self, view, excess):
        return self.answer if self.vandal == "victims" else super().victims(view, excess)


@pytest.mark.parametrize("hook", ["preempt", "victims"])
@pytest.mark.parametrize("answer", [None, 0, "0", np.array(0)])
def test_evictions_that_are_not_lists_of_ids_are_refused(hook, answer):
    """``preempt`` and ``victims`` answered with something other than a list of ids once failed
    inside the engine (a TypeError with its traceback), not as the policy's error; a 0-d array
    (which has ``__iter__`` but cannot be iterated) did so for ``admit`` too."""
    from kvsched.errors import PolicyError
    w = wl([2, 2, 2], [5, 5, 5])
    with pytest.raises(PolicyError, match=rf"policy 'scripted': {hook} returned .*; return a list of running"):
        simulate(w, Evicts(answer=answer, vandal=hook, capacity=8), build_predictor({"name": "oracle"}), 8,
                 unit_rounds())


@pytest.mark.parametrize("field,value,target", [("progress", 10**9, "running"), ("prompt", 0, "running"),
                                                ("prompt", 0, "waiting"), ("status", DONE, "waiting"),
                                                ("evictions", 3, "running"), ("arrival", 99.0, "waiting")])
def test_writes_through_a_view_base_void_the_run(field, value, target):
    """Read-only views stop accidental writes; a deliberate write through ``.base`` changes only
    the copy the views show (the engine reads its own state), and voids the run, naming the field.
    A prompt of a waiting request written as 0 used to let the policy over-admit unseen."""
    from kvsched.errors import PolicyError
    w = wl([5, 5, 5, 5], [4, 6, 8, 9], arrival=[0, 0, 1, 2])
    ok = simulate(w, Scripted(capacity=14), build_predictor({"name": "oracle"}), 14, unit_rounds())
    assert (ok.completion > 0).all()
    with pytest.raises(PolicyError, match=rf"wrote to the state its view shows \({field}\).*void"):
        simulate(w, Scripted(vandal=field, value=value, target=target, capacity=14),
                 build_predictor({"name": "oracle"}), 14, unit_rounds())


def test_the_private_state_object_is_only_a_copy():
    """``view._pub`` is the shown copy, not the engine's state: writing a waiting request's
    prompt there voids the run instead of admitting it with less memory than it needs."""
    from kvsched.errors import PolicyError

    class Shrink(Scripted):
        def admit(self, view):
            view._pub.prompt[view.waiting] = 0
            return [i for i in view.waiting if view.prompt[i] + 1 <= view.free][:1]

    w = wl([5, 5, 5, 5], [4, 6, 8, 9], arrival=[0, 0, 1, 2])
    with pytest.raises(PolicyError, match=r"\(prompt\)"):
        simulate(w, Shrink(capacity=14), build_predictor({"name": "oracle"}), 14, unit_rounds())


class QueueVandal(Scripted):
    """Admits like Scripted, after swapping the first two entries of the queues' arrays through
    ``.base`` (or writing its own copies, when they have no base)."""

    def admit(self, view):
        for q in (view.running, view.waiting):
            arr = q.base if q.base is not None else q.copy()
            if len(arr) > 1:
                arr[[0, 1]] = arr[[1, 0]]
        return super().admit(view)


def test_the_queues_a_view_shows_are_copies():
    """``view.running`` and ``view.waiting`` once were views of the engine's own queues, so a
    write through ``.base`` changed which requests the engine decoded."""
    w = wl([5, 5, 5, 5, 5], [4, 6, 8, 9, 3], arrival=[0, 0, 0, 1, 2])
    pred = build_predictor({"name": "oracle"})
    clean = simulate(w, Scripted(capacity=40), pred, 40, unit_rounds())
    vandal = simulate(w, QueueVandal(capacity=40), pred, 40, unit_rounds())
    np.testing.assert_array_equal(vandal.completion, clean.completion)


class Early(Scripted):
    """Writes the prompt of a request that has not arrived yet, which arrival used to overwrite unseen."""

    def admit(self, view):
        if view.round == 0:
            view._pub.prompt[len(view.arrival) - 1] = 999
        return super().admit(view)


def test_a_write_before_a_request_arrives_voids_the_run():
    from kvsched.errors import PolicyError
    w = wl([5, 5, 5, 5], [4, 6, 8, 9], arrival=[0, 0, 1, 2])
    with pytest.raises(PolicyError, match=r"prompt or arrival of a request not arrived yet"):
        simulate(w, Early(capacity=14), build_predictor({"name": "oracle"}), 14, unit_rounds())
