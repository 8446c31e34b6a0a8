"""Engine semantics: latency time base, rejections, deadlocks, policy errors."""

import numpy as np
import pytest

from helpers import Thrash, linear, sim, wl
from kvsched.errors import PolicyError, SimulationError
from kvsched.latency.base import unit_rounds
from kvsched.metrics import request_table, run_summary
from kvsched.policies import build_policy
from kvsched.policies.base import Policy
from kvsched.predictors import build_predictor
from kvsched.sim.engine import REJECT_KV, REJECT_PROMPT, simulate


def test_latency_time_base_hand_computed():
    # T = 1 + 0.1*prefill + 0.5*batch + 0.01*kv
    # r0 (s=10, o=3) at 0: rounds of 2.61 (prefill 10, kv 11), 1.62 (kv 12) -> next round at 4.23.
    # r1 (s=0, o=1) arrives at 3.0, is first seen at 4.23; round: batch 2, kv 13+1 -> 2.14.
    rec = sim(wl([10, 0], [3, 1], arrival=[0, 3.0], unit="s"), "fcfs", 100, latency=linear(power_w=100.0))
    assert rec.first_token[0] == pytest.approx(2.61)
    assert rec.first_start[1] == pytest.approx(4.23)
    assert rec.completion.tolist() == pytest.approx([6.37, 6.37])
    assert rec.energy_j == pytest.approx(100.0 * 6.37)


def test_rejections_are_recorded_and_run_continues():
    # M=6: r0 prompt 6 cannot run (6+1 > 6); r1 (s=2, o=9) outgrows memory alone; r2 is fine.
    rec = sim(wl([6, 2, 1], [1, 9, 2]), "vllm_fcfs", 6)
    assert rec.reject_reason == [REJECT_PROMPT, REJECT_KV, None]
    assert np.isnan(rec.completion[:2]).all() and rec.completion[2] > 0
    s = run_summary(rec)
    assert s["rejected_by_reason"] == {REJECT_PROMPT: 1, REJECT_KV: 1}
    t = request_table(rec)
    assert t["rejected"].tolist()[:2] == [REJECT_PROMPT, REJECT_KV]


def test_mcsf_admits_overlong_predictions_when_alone():
    # predicted peak above M (noisy over-prediction) must not block the queue forever
    rec = sim(wl([2], [3]), "mcsf", 6, predictor={"name": "noisy", "eps": 0.0})
    assert rec.completion[0] == 3


class Greedy(Policy):
    name = "greedy_bad"

    def admit(self, view):
        return list(view.waiting)


class Never(Policy):
    name = "never"

    def admit(self, view):
        return []


def test_infeasible_admission_is_a_policy_error():
    with pytest.raises(PolicyError, match="only .* free"):
        simulate(wl([5, 5], [2, 2]), Greedy(capacity=8), build_predictor({"name": "oracle"}), 8, unit_rounds())


class Readmit(Policy):
    """Admits the oldest running request again beside the first waiting one."""
    name = "readmit"

    def admit(self, view):
        return [int(view.running[0]), int(view.waiting[0])] if len(view.running) else [int(view.waiting[0])]


def test_readmitting_names_only_the_wrong_ids():
    w = wl([1, 1, 1], [5, 5, 5], arrival=[0, 1, 2])
    with pytest.raises(PolicyError, match=r"not waiting \(or twice\) in round 1: \[0\]$"):
        simulate(w, Readmit(capacity=50), build_predictor({"name": "oracle"}), 50, unit_rounds(), fast=False)


class Prescient(Policy):
    """Admits the last request of the trace at once, before it has arrived."""
    name = "prescient"

    def admit(self, view):
        return [len(view.arrival) - 1]


def test_admitting_a_request_that_has_not_arrived_says_so():
    w = wl([1, 1, 1], [5, 5, 5], arrival=[0, 1, 2])
    with pytest.raises(PolicyError, match=r"in round 0: \[2\]; not arrived yet: \[2\]$"):
        simulate(w, Prescient(capacity=50), build_predictor({"name": "oracle"}), 50, unit_rounds(), fast=False)


def test_deadlock_is_reported():
    with pytest.raises(SimulationError, match="deadlock"):
        simulate(wl([1], [1]), Never(capacity=8), build_predictor({"name": "oracle"}), 8, unit_rounds())


class Idler(Policy):
    """Idles on purpose, one round at a time, and never admits anything."""

    name = "idler"
    may_idle = True

    def admit(self, view):
        return []

    def quiet_rounds(self, view):
        assert view.clock < 2e6, "the engine let the policy idle for ever"
        return 1


def test_idling_for_ever_is_a_deadlock():
    # with nothing running or still to arrive, an idling policy used to loop without end; it is
    # stopped after STALL_FACTOR x (1 + 1) rounds past the last arrival (at 1e6)
    w = wl([1], [1], arrival=[1e6])
    with pytest.raises(SimulationError, match=r"deadlock: policy 'idler' .* for more than 20 rounds"):
        simulate(w, Idler(capacity=8), build_predictor({"name": "oracle"}), 8, unit_rounds())


def test_livelock_is_reported():
    # nothing ever completes: the watchdog stops it after STALL_FACTOR x (5 + 1 + 5 + 1) rounds
    with pytest.raises(SimulationError, match=r"livelock: policy 'thrash' has run 121 rounds"):
        simulate(wl([1, 1], [5, 5]), Thrash(capacity=20), build_predictor({"name": "oracle"}), 20, unit_rounds())


def test_livelock_watchdog_spares_heavy_preemption():
    # vLLM-style recompute under memory pressure evicts often, but requests keep finishing
    rng = np.random.default_rng(3)
    n = 300
    w = wl(rng.integers(1, 20, n).tolist(), rng.integers(1, 200, n).tolist())
    rec = simulate(w, build_policy({"name": "vllm_fcfs"}, capacity=240), build_predictor({"name": "oracle"}), 240,
                   unit_rounds(), fast=False)
    assert rec.evictions.sum() > 100 and np.isfinite(rec.completion).all()


def test_livelock_watchdog_spares_restarts_before_the_first_completion():
    # GSA kills and restarts every request at budgets 1, 2, 4, ...: with 200 equal long requests
    # and room for a few, 10k rounds pass before the first completes (a bound of 10 x the longest
    # output stopped it)
    w = wl([1] * 200, [1000] * 200)
    rec = simulate(w, build_policy({"name": "gsa"}, capacity=4000), build_predictor({"name": "oracle"}), 4000,
                   unit_rounds(), fast=False)
    assert np.isfinite(rec.completion).all() and np.nanmin(rec.completion) > 10 * 1001
    # budgets growing by 10 %: one request redoes ~11x its output (5,919 rounds for 500 tokens),
    # beyond 10 x the workload; GSA declares that with rework_factor
    rec = simulate(wl([1], [500]), build_policy({"name": "gsa", "beta": 1.1}, capacity=1000),
                   build_predictor({"name": "oracle"}), 1000, unit_rounds(), fast=False)
    assert rec.completion[0] > 10 * 501


def test_idle_gaps_are_skipped():
    rec = sim(wl([1, 1], [1, 1], arrival=[0, 1e9]), "fcfs", 8)
    assert rec.completion.tolist() == [1, 1e9 + 1]
    assert rec.rounds == 2


def test_summary_metrics_consistent():
    rec = sim(wl([1, 2, 3], [4, 5, 6]), "mcsf", 100)
    s = run_summary(rec)
    assert s["completed"] == 3 and s["rejected"] == 0
    assert s["latency_mean"] == pytest.approx(np.mean([4, 5, 6]))
    assert s["memory_peak"] == 1 + 4 + 2 + 4 + 3 + 4  # round 4: r0 done after 4 rounds -> peak at round 3
