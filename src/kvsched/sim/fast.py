"""Fast path of the simulator for the built-in greedy policies.

:class:`~kvsched.sim.engine.Simulator` consults a policy object through a
:class:`~kvsched.sim.view.SchedulerView` at every decision, with numpy arrays for the queues.
For the policies below the same decisions can be computed with plain Python integers and
incrementally maintained structures, which is an order of magnitude faster:

* ``vllm_fcfs`` (any watermark / max_num_seqs), ``alpha_protection`` (eviction ``newest``);
* ``fcfs``, ``sf``, ``mcsf`` with ``check: future_peak``, ``scan: stop``, ``eviction: newest``.

The policies stay the source of truth: this module re-states their rules (see
``policies/vllm.py``, ``policies/protection.py``, ``policies/admission.py`` and
``policies/future_peak.py``) and the tests check that it produces bit-identical records to
the generic engine. It is used automatically when applicable; ``sim.fast: false``
(``Simulator(fast=False)``) turns it off.

Data structures: the waiting queue is a heap of integer keys (``id`` for FCFS order,
``pred * n + id`` for shortest-predicted-first; the policies admit a prefix of the queue, so
only its successive minima are needed); the running batch a list in admission
order; completions a heap of ``(end round, admission number, id)`` with lazy deletion.
A running request's progress is ``round - start round``, so advancing ``k`` rounds touches
only the totals.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from itertools import accumulate

import numpy as np

from ..policies.admission import FCFS, MCSF, QUIET_HORIZON, ShortestFirst
from ..policies.protection import AlphaProtection
from ..policies.vllm import VllmFCFS
from ..predictors.base import Predictor, checked_points
from ..predictors.synthetic import Oracle
from .engine import ARRIVAL_TOL, REJECT_KV, REJECT_PROMPT, RunRecord, deadlock_error


def _rem(pred: int, j: int, s: int, M: int) -> int:
    """Scalar :func:`~kvsched.policies.future_peak.remaining_rounds`: predicted rounds left
    after ``j`` decoded tokens, at least 1, at most what memory can hold (M - s - j, >= 1)."""
    r = pred - j if pred - j > 1 else 1
    c = M - s - j if M - s - j > 1 else 1
    return r if r < c else c


def fast_kind(policy) -> str | None:
    """Which fast rule implements ``policy`` exactly, or None."""
    t = type(policy)
    p = policy.params
    if t is VllmFCFS:
        return "vllm"
    if t is AlphaProtection and p.eviction == "newest":
        return "alpha"
    if t in (FCFS, ShortestFirst, MCSF) and (p.check, p.scan, p.eviction) == ("future_peak", "stop", "newest"):
        return "peak"
    return None


class _Profile:
    """Pure-integer twin of :class:`~kvsched.policies.future_peak.PeakProfile`.

    Items are ``(rem, base)`` measured from a reference round ``R`` (the methods take the
    current round offset ``R``; 0 for a profile built at the current round). The same item
    in absolute rounds, ``(R + rem, base - R)``, describes the same memory at every later
    round as long as its predicted rounds left are not floored at 1, so the engine keeps
    one profile of the batch across decisions and rebuilds only when some item is floored.
    """

    __slots__ = ("cap", "rems", "bases", "suf", "u")

    def __init__(self, cap: int, items: list[tuple[int, int]]):
        self.cap = cap
        items.sort()
        self.rems = [r for r, _ in items]
        self.bases = [b for _, b in items]
        self._update()

    def _update(self) -> None:
        rems, bases = self.rems, self.bases
        P = len(rems)
        self.suf = suf = list(accumulate(reversed(bases)))[::-1] + [0]   # suf[m] = sum(bases[m:])
        # u[j] = usage at checkpoint rems[j] - 1 plus that offset (equal within a group of rems)
        u = [0] * P
        prev, val = None, 0
        for j in range(P):
            r = rems[j]
            if r != prev:
                prev, val = r, suf[j] + (r - 1) * (P - j) + r - 1
            u[j] = val
        self.u = u

    def usage_at(self, t: int) -> int:
        idx = bisect_right(self.rems, t)
        return self.suf[idx] + t * (len(self.rems) - idx)

    def fits(self, rem: int, base: int, R: int = 0) -> bool:
        k = bisect_right(self.rems, R + rem)           # checkpoints rems[j] - 1 <= R + rem - 1
        if k and max(self.u[:k]) > self.cap - base + R:
            return False
        return self.usage_at(R + rem - 1) + base + rem - 1 <= self.cap

    def add(self, rem: int, base: int) -> None:
        """Insert a request, updating the sums in place: it adds ``base + tau`` to the usage
        at every checkpoint ``tau`` before its last round, and ``base`` to the suffix sums."""
        rems, u, suf = self.rems, self.u, self.suf
        i = bisect_right(rems, rem)
        if i:
            u[:i] = [x + base + r - 1 for x, r in zip(u[:i], rems[:i])]
        old = suf[i]
        suf[:i + 1] = [x + base for x in suf[:i + 1]]
        suf.insert(i + 1, old)
        rems.insert(i, rem)
        self.bases.insert(i, base)
        g = bisect_left(rems, rem)
        t = rem - 1
        u.insert(i, suf[g] + t * (len(rems) - g) + t)

    def remove(self, rem: int, base: int) -> None:
        """Undo :meth:`add` of the item ``(rem, base)``."""
        rems, bases, u, suf = self.rems, self.bases, self.u, self.suf
        g, h = bisect_left(rems, rem), bisect_right(rems, rem)
        q = g + bases[g:h].index(base)
        del rems[q], bases[q], u[q]
        h -= 1
        if h:
            u[:h] = [x - base - r + 1 for x, r in zip(u[:h], rems[:h])]
        suf[:q] = [x - base for x in suf[:q]]
        del suf[q]

    def first_fit_delay(self, rem: int, base: int, horizon: int, R: int = 0) -> int:
        """Smallest delay in ``[0, horizon)`` at which the candidate fits, else ``horizon``.
        Jumps over runs of failing delays: a checkpoint that fails stays failing until the
        delay passes it or its slack; the end-of-run check fails monotonically between
        consecutive checkpoints. Items whose rounds run out before the delay (requests that
        outlive their predictions) count for the coming round only, as in
        :meth:`PeakProfile.first_fit_delay`: the whole batch must fit in it, which fails from
        some delay on."""
        if horizon <= 0:
            return 0
        cap, rems, u = self.cap, self.rems, self.u
        P = len(rems)
        last = horizon if P == 0 else min(horizon, (cap - base - self.suf[0]) // P - R + 1)
        d = 0
        while d < last:
            t = R + d + rem - 1
            i = bisect_right(rems, t)
            if self.suf[i] + t * (P - i) + base + rem - 1 > cap:
                if i == P:
                    return horizon
                d = max(d + 1, rems[i] - rem + 1 - R)
                continue
            lim = cap - base + d + R
            nd = d
            for j in range(bisect_left(rems, R + d + 1), bisect_right(rems, t + 1)):  # checkpoints in [d, t]
                if u[j] > lim:
                    nd = min(u[j] + base - cap - R, rems[j] - R)  # first delay at which it passes or leaves
                    break
            if nd == d:
                return d
            d = nd
        return horizon


def run_fast(sim) -> RunRecord:
    """Run ``sim`` (a fresh :class:`Simulator`) with the fast rules; same record as ``sim.run()``."""
    kind = fast_kind(sim.policy)
    w, lat, M, n = sim.w, sim.lat, sim.M, sim.n
    policy, predictor = sim.policy, sim.predictor
    unit = lat.is_unit
    arrival = w.arrival.tolist()
    prompt = w.prompt.tolist()
    truth = sim._truth
    out_len = truth.tolist()
    texts = sim._texts
    nan = math.nan
    first_start = [nan] * n
    last_start = [nan] * n
    first_token = [nan] * n
    completion = [nan] * n
    evictions = [0] * n
    wasted_decode = [0] * n
    wasted_prefill = [0] * n
    reject = sim.reject_reason
    pred = [0] * n
    start_round = [0] * n
    cur_seq = [-1] * n
    progress_cb = sim.progress_cb
    keyed = kind == "peak" and policy.by_prediction
    # policy parameters
    if kind == "vllm":
        limit = M - int(policy.params.watermark * M)
        cap_n = policy.params.max_num_seqs or 1 << 62
    elif kind == "alpha":
        alpha_limit = (1.0 - policy.params.alpha) * M

    wq: list[int] = []            # waiting keys, a heap
    pp = _Profile(M, []) if kind == "peak" else None   # the batch's profile in absolute rounds
    pitem: dict | None = {} if kind == "peak" else None  # id -> its item in pp
    running: list[int] = []       # admission order
    heap: list[tuple[int, int, int]] = []
    usage = 0
    clock = 0.0
    rnd = 0
    seq = 0
    finished = 0
    decisions = 0
    nxt = 0
    busy_time = 0.0
    peak = 0
    mem_round_sum = 0.0
    mem_time_sum = 0.0
    energy = 0.0 if lat.power_w is not None else None
    power = lat.power_w

    def key_of(i: int) -> int:
        return pred[i] * n + i if keyed else i

    def finish(c: int) -> None:
        nonlocal finished
        finished += c
        if progress_cb is not None and c:
            progress_cb(c)

    def jump_to(t: float) -> None:
        nonlocal clock
        if unit:
            t = float(math.ceil(t))
        clock = max(clock, t)

    # the predictor is skipped where the policy reads no predictions (as in the engine), and
    # where it is the stateless oracle (prediction = truth)
    no_pred = not sim.predicts
    oracle_only = not no_pred and type(predictor) is Oracle and type(predictor).observe is Predictor.observe
    observe = None if no_pred or type(predictor).observe is Predictor.observe else predictor.observe
    round_time, span, rounds_within = lat.round_time, lat.span, lat.rounds_within
    kv_integral = sim._kv_time_integral
    heappush, heappop = heapq.heappush, heapq.heappop
    tol = ARRIVAL_TOL

    while finished < n:
        # 1. arrivals visible at the start of this round (clock plus the rounding tolerance)
        hz = clock + tol * max(1.0, abs(clock))
        if nxt < n and arrival[nxt] <= hz:
            hi = bisect_right(arrival, hz, nxt)
            ok = []
            bad = 0
            for i in range(nxt, hi):
                if prompt[i] + 1 > M:
                    reject[i] = REJECT_PROMPT
                    bad += 1
                else:
                    ok.append(i)
            finish(bad)
            if ok and oracle_only:
                for i in ok:
                    v = out_len[i]
                    pred[i] = v if v > 1 else 1
            elif ok and not no_pred:
                oka = np.asarray(ok, dtype=np.int64)
                p = predictor.predict(oka, w.prompt[oka], [texts[i] for i in ok],
                                      truth[oka] if predictor.uses_truth else None)
                pv = checked_points(predictor, p, len(oka))
                for i, v in zip(ok, pv):
                    pred[i] = v
            for i in ok:
                heappush(wq, key_of(i))
            nxt = hi
        if not running and not wq:
            if nxt >= n:
                break
            jump_to(arrival[nxt])
            continue
        # 2. hopeless requests, then overflow evictions (newest first)
        B = len(running)
        if usage + B > M:
            gone = [i for i in running if prompt[i] + (rnd - start_round[i]) + 1 > M]
            if gone:
                gs = set(gone)
                for i in gone:
                    j = rnd - start_round[i]
                    usage -= prompt[i] + j
                    wasted_decode[i] += j
                    reject[i] = REJECT_KV
                    cur_seq[i] = -1
                    if pitem is not None:
                        pp.remove(*pitem.pop(i))
                running = [i for i in running if i not in gs]
                finish(len(gone))
        decisions += 1
        evicted_now = False
        while usage + len(running) > M:
            excess = usage + len(running) - M
            freed = 0
            victims = []
            while running and freed < excess:
                i = running.pop()
                victims.append(i)
                freed += prompt[i] + (rnd - start_round[i]) + 1
            for i in victims:
                j = rnd - start_round[i]
                usage -= prompt[i] + j
                wasted_decode[i] += j
                wasted_prefill[i] += prompt[i]
                evictions[i] += 1
                cur_seq[i] = -1
                if pitem is not None:
                    pp.remove(*pitem.pop(i))
                heappush(wq, key_of(i))
            evicted_now = True
        # 3. admission
        B = len(running)
        adm: list[int] = []
        prof = None
        if kind == "vllm":
            if not evicted_now:
                need, cnt = usage + B, B
                while wq:
                    key = wq[0]
                    add = prompt[key] + 1
                    if need + add > (limit if cnt else M) or cnt >= cap_n:   # as VllmFCFS.admit
                        break
                    heappop(wq); adm.append(key); need += add; cnt += 1
        elif kind == "alpha":
            if not evicted_now:
                need = usage + B
                while wq:
                    key = wq[0]
                    add = prompt[key] + 1
                    if need > alpha_limit or need + add > M:
                        break
                    heappop(wq); adm.append(key); need += add
        else:
            if not running or pp.rems[0] > rnd:   # no item floored: the kept profile is exact
                prof, R = pp, rnd
            else:
                items = []
                for i in running:
                    j = rnd - start_round[i]
                    items.append((_rem(pred[i], j, prompt[i], M), prompt[i] + j + 1))
                prof, R = _Profile(M, items), 0
            while wq:
                i = wq[0] % n if keyed else wq[0]
                r = _rem(pred[i], 0, prompt[i], M)
                b = prompt[i] + 1
                if prof.fits(r, b, R):
                    heappop(wq); adm.append(i)
                    prof.add(R + r, b - R)
                    pitem[i] = (rnd + r, b - rnd)
                    if prof is not pp:
                        pp.add(rnd + r, b - rnd)
                else:
                    break
        prefill = 0
        if adm:
            for i in adm:
                start_round[i] = rnd
                cur_seq[i] = seq
                heappush(heap, (rnd + out_len[i], seq, i))
                seq += 1
                if first_start[i] != first_start[i]:
                    first_start[i] = clock
                last_start[i] = clock
                prefill += prompt[i]
            running.extend(adm)
            usage += prefill
        B = len(running)
        if B == 0:
            if nxt < n:
                jump_to(arrival[nxt])
                continue
            if wq:
                raise deadlock_error(policy.name, len(wq))
            continue
        # 4. rounds to advance
        kv0 = usage + B
        while cur_seq[heap[0][2]] != heap[0][1]:
            heappop(heap)
        k = heap[0][0] - rnd
        k = min(k, (M - kv0) // B + 1)
        dur0 = round_time(prefill, B, kv0)
        if nxt < n:
            dt = arrival[nxt] - (clock + tol * max(1.0, abs(clock))) - dur0
            k = min(k, 1 + (rounds_within(dt, B, kv0 + B) if dt > 0 else 0))
        if evicted_now:
            k = 1
        elif k > 1 and kind == "peak" and wq:
            head = wq[0] % n if keyed else wq[0]
            r = _rem(pred[head], 0, prompt[head], M)
            k = min(k, max(1, prof.first_fit_delay(r, prompt[head] + 1, QUIET_HORIZON, R)))
        # 5. advance
        dur = dur0 + span(k - 1, B, kv0 + B)
        for i in adm:
            if first_token[i] != first_token[i]:
                first_token[i] = clock + dur0
        top = kv0 + B * (k - 1)
        if top > peak:
            peak = top
        mem_round_sum += k * kv0 + B * k * (k - 1) / 2.0
        mem_time_sum += kv_integral(dur0, k, B, kv0)
        busy_time += dur
        if energy is not None:
            energy += power * dur
        clock += dur
        rnd += k
        usage += B * k
        if heap[0][0] <= rnd:
            ds = set()
            while heap and heap[0][0] <= rnd:
                e, s_, i = heappop(heap)
                if cur_seq[i] == s_:
                    ds.add(i)
                    cur_seq[i] = -1
                    if pitem is not None:
                        pp.remove(*pitem.pop(i))
            done = [i for i in running if i in ds]
            running = [i for i in running if i not in ds]
            for i in done:
                usage -= prompt[i] + out_len[i]
                completion[i] = clock
            if done:
                if observe is not None:
                    da = np.asarray(done, dtype=np.int64)
                    observe(da, w.prompt[da], [texts[i] for i in done], truth[da])
                finish(len(done))
    pub_ev = np.asarray(evictions, dtype=np.int64)
    return RunRecord(
        workload=w, capacity=M, time_unit=("rounds" if unit else "s"),
        first_start=np.asarray(first_start, dtype=np.float64), last_start=np.asarray(last_start, dtype=np.float64),
        first_token=np.asarray(first_token, dtype=np.float64), completion=np.asarray(completion, dtype=np.float64),
        evictions=pub_ev, wasted_decode=np.asarray(wasted_decode, dtype=np.int64),
        wasted_prefill=np.asarray(wasted_prefill, dtype=np.int64), reject_reason=reject, makespan=clock,
        rounds=rnd, busy_time=busy_time, peak_memory=int(peak), memory_round_sum=mem_round_sum,
        memory_time_sum=mem_time_sum, energy_j=energy, decisions=decisions)
