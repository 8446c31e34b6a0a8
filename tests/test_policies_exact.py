"""Hand-computed schedules (unit rounds, exact completion times) for every policy.

Instance B (M = 10, all arrive at 0): r0 (s=4, o=5, peak 9), r1 (s=1, o=2), r2 (s=1, o=2).
Derivations are in the comments of each test; a request started in round p with output o
completes at p + o and holds s + j tokens in its j-th round.
"""

import numpy as np
import pytest

from helpers import sim, wl

B = dict(prompt=[4, 1, 1], output=[5, 2, 2])


def completions(rec):
    return rec.completion.tolist()


@pytest.mark.parametrize("step", [False, True])
def test_fcfs_future_peak(step):
    # round 0: r0 and r1 admitted (peak 5+1+3 = 9 at round 1); r2 would make round 1 hold 12.
    # r2 fails the check at t=2,3,4 (r0's peak 9 leaves no room) and starts at 5.
    rec = sim(wl(**B), "fcfs", 10, step=step)
    assert completions(rec) == [5, 2, 7]
    assert rec.evictions.sum() == 0


@pytest.mark.parametrize("step", [False, True])
@pytest.mark.parametrize("algo", ["mcsf", "sf"])
def test_shortest_first_future_peak(algo, step):
    # sorted by predicted length: r1, r2 (both fit, peak 6), then r0 fails (12 at round 1);
    # r0 starts at 2 when both finish.
    rec = sim(wl(**B), algo, 10, step=step)
    assert completions(rec) == [7, 2, 2]
    assert rec.first_start.tolist() == [2, 0, 0]


@pytest.mark.parametrize("step", [False, True])
def test_vllm_fcfs_preempts_newest(step):
    # admits all three on current memory (9); round 1 needs 12 -> r2 preempted (newest);
    # r2 readmitted at t=2 (7+2=9), preempted again at t=3 (8+3=11); starts for good at 5.
    rec = sim(wl(**B), "vllm_fcfs", 10, step=step)
    assert completions(rec) == [5, 2, 7]
    assert rec.evictions.tolist() == [0, 0, 2]
    assert rec.wasted_decode.tolist() == [0, 0, 2]
    assert rec.wasted_prefill.tolist() == [0, 0, 2]
    assert rec.first_token.tolist() == [1, 1, 1]  # TTFT counts the first run's first token


@pytest.mark.parametrize("step", [False, True])
def test_sglang_fcfs_retracts_the_longest_prompt_among_the_fewest_output_tokens(step):
    # M = 20: all three start at round 0 (3 + 7 + 4 = 14 tokens) and grow by 3 a round; their
    # last round (round 3) needs 23. Each has decoded 3 tokens: vLLM preempts the last admitted
    # (prompt 3), SGLang the longest prompt (6). The other two complete at 4, and the retracted
    # one reruns alone from round 4 to 8.
    w = wl([2, 6, 3], [4, 4, 4])
    v, s = sim(w, "vllm_fcfs", 20, step=step), sim(w, "sglang_fcfs", 20, step=step)
    assert completions(v) == [4, 4, 8] and v.evictions.tolist() == [0, 0, 1]
    assert completions(s) == [4, 8, 4] and s.evictions.tolist() == [0, 1, 0]
    assert v.wasted_decode.tolist() == [0, 0, 3] and s.wasted_decode.tolist() == [0, 3, 0]


@pytest.mark.parametrize("fast", [True, False])
def test_vllm_fcfs_watermark_never_blocks_a_request_that_fits_alone(fast):
    # M=10, watermark 0.2 -> admission limit 8. r0 (s=1, o=2) runs in rounds 0-1; r1 (s=8, o=1)
    # needs 9 > 8 tokens, but fits M alone: it starts at 2, once the batch is empty, and completes
    # at 3 (the watermark must not hold it back for good: that was a deadlock). r2 (s=1, o=1),
    # behind it in FCFS order, cannot join it (9 + 2 > 8): it starts at 3 and completes at 4.
    from kvsched.latency.base import unit_rounds
    from kvsched.policies import build_policy
    from kvsched.predictors import build_predictor
    from kvsched.sim.engine import Simulator
    w = wl([1, 8, 1], [2, 1, 1], arrival=[0, 1, 1])
    pol = build_policy({"name": "vllm_fcfs", "watermark": 0.2}, capacity=10)
    s = Simulator(w, pol, build_predictor({"name": "oracle"}), 10, unit_rounds(), fast=fast)
    assert s.uses_fast_path() == fast
    rec = s.run()
    assert completions(rec) == [2, 3, 4]
    assert rec.reject_reason == [None, None, None]


@pytest.mark.parametrize("step", [False, True])
def test_alpha_protection(step):
    # alpha=0.5 -> admit while need <= 5: r0 (need 5), r1 (need 7), stop; no overflow.
    rec = sim(wl(**B), "alpha_protection", 10, step=step, alpha=0.5)
    assert completions(rec) == [5, 2, 7]
    assert rec.evictions.sum() == 0
    # alpha=0.2 (limit 8) admits all three, like vLLM, and overflows at round 1.
    rec = sim(wl(**B), "alpha_protection", 10, step=step, alpha=0.2)
    assert completions(rec) == [5, 2, 7]
    assert rec.evictions.tolist() == [0, 0, 2]


@pytest.mark.parametrize("step", [False, True])
def test_alpha_clearing(step):
    # alpha=0.2, phi=0.5: round 1 overflows with 3 running -> evict ceil(1.5)=2 newest (r2, r1).
    # t=2: r1 readmitted (need 7<=8), r2 not (9>8). t=3: 8+3=11 -> evict 1 newest (r1).
    # t=5: r0 done at 5; r1 and r2 start, both finish at 7.
    rec = sim(wl(**B), "alpha_clearing", 10, step=step, alpha=0.2, phi=0.5)
    assert completions(rec) == [5, 7, 7]
    assert rec.evictions.tolist() == [0, 2, 1]


def test_scan_skip_variant_admits_past_failure():
    # FCFS order r0 (s=4,o=5), r1 (s=5,o=5), r2 (s=0,o=1), M=10: r1 fails; with scan=stop
    # r2 waits behind it, with scan=skip r2 runs at once.
    w = wl([4, 5, 0], [5, 5, 1])
    stop = sim(w, "fcfs", 10)
    skip = sim(w, "fcfs", 10, scan="skip")
    assert stop.first_start[2] > 0
    assert skip.first_start[2] == 0


def test_arrivals_wait_for_their_round():
    # arrivals at 0.5 and 3: seen by the rounds starting at 1 and 3.
    rec = sim(wl([1, 1], [2, 2], arrival=[0.5, 3.0]), "fcfs", 10)
    assert rec.first_start.tolist() == [1, 3]
    assert completions(rec) == [3, 5]


def test_noisy_underprediction_triggers_eviction_not_overflow():
    # predictions of 1 for requests of length 6: MC-SF packs too many, memory would overflow,
    # the eviction rule fires and memory stays within M.
    from kvsched.latency.base import unit_rounds
    from kvsched.policies import build_policy
    from kvsched.predictors.base import Predictions, Predictor
    from kvsched.sim.engine import simulate

    class AllOnes(Predictor):
        name = "all_ones"

        def predict(self, ids, prompt, texts, truth):
            return Predictions(np.ones(len(ids), dtype=np.int64))

    peaks = []
    w = wl([2, 2, 2], [6, 6, 6])
    rec = simulate(w, build_policy({"name": "mcsf"}, capacity=12, seed=0), AllOnes(), 12, unit_rounds(),
                   on_advance=lambda c, k, b, kv, r: peaks.append(kv + b * (k - 1)))
    assert rec.evictions.sum() > 0          # the eviction rule did fire
    assert max(peaks) <= 12
    assert np.all(~np.isnan(rec.completion))
