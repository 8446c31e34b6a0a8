"""The discrete-time KV-cache scheduling simulator (papers.md §0), with event skipping.

Round semantics (exact): a request started in round ``p`` produces its first token in
round ``p`` (the prefill is part of that round) and in its ``j``-th round of running holds
``s + j`` KV tokens; it completes at the end of round ``p + o - 1`` and then frees all
its memory. In every round the running batch holds at most ``M`` tokens: the engine
enforces this, asking the policy to evict (recompute preemption: KV dropped, progress
lost, restart from scratch) when the batch would outgrow memory.

Time: a round lasts ``latency.round_time(prefill, batch, kv)`` time units (1 for the unit
time base). A request arriving at time ``a`` is first seen by the round starting at or
after ``a``.

Event skipping: between events (arrival, completion, a memory crossing, or the end of the
policy's declared quiet period) the batch is fixed and memory grows by the batch size per
round, so the engine advances many rounds in one step with closed-form time and memory
sums. ``step_mode=True`` disables skipping (the round-by-round reference).

Fast path: for the built-in greedy policies (``vllm_fcfs``, ``alpha_protection``, ``fcfs``,
``sf``, ``mcsf`` in their default variants) :meth:`Simulator.run` hands over to
:func:`kvsched.sim.fast.run_fast`, which restates their rules with Python integers and
incremental structures and gives bit-identical records (``tests/test_fast_path.py``). It is
never used with ``step_mode``, an ``on_advance`` hook, a subclass (e.g. the real-model
engine loop) or ``fast=False`` (config ``sim.fast: false``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import PolicyError, SimulationError
from ..latency.base import LinearLatency
from ..policies.base import INF_ROUNDS, Policy
from ..predictors.base import Predictor, checked_predictions
from ..workload import Workload
from .view import DONE, FUTURE, REJECTED, RUNNING, WAITING, PublicState, SchedulerView

REJECT_PROMPT = "prompt_exceeds_memory"     # s + 1 > M: cannot run even its first round
REJECT_KV = "kv_exceeds_memory"             # s + o > M: outgrew memory running alone
# An arrival within this relative distance of the clock counts as arrived: a round boundary that
# coincides with an arrival must be seen alike whether the clock was summed round by round or
# advanced in closed form (the two differ in the last bits).
ARRIVAL_TOL = 1e-9


@dataclass
class RunRecord:
    """Raw outcome of a simulation (per-request arrays indexed by request id; times in the
    run's time unit, sizes in tokens)."""

    workload: Workload
    capacity: int
    time_unit: str
    first_start: np.ndarray
    last_start: np.ndarray
    first_token: np.ndarray
    completion: np.ndarray
    evictions: np.ndarray
    wasted_decode: np.ndarray        # decoded tokens thrown away by evictions
    wasted_prefill: np.ndarray       # prompt tokens recomputed after evictions
    reject_reason: list[str | None]
    makespan: float
    rounds: int
    busy_time: float
    peak_memory: int
    memory_round_sum: float          # sum over busy rounds of KV tokens held
    memory_time_sum: float           # integral of KV tokens over busy time
    energy_j: float | None
    decisions: int                   # times the policy was consulted
    stats: dict = field(default_factory=dict)


def tampered_error(policy: str, what: str) -> PolicyError:
    """The error for a policy that wrote to the state its views show (``what``: the fields)."""
    return PolicyError(
        f"policy {policy!r} wrote to the state its view shows ({what}), reached through .base, ._pub "
        f"or similar; the engine keeps its own copy, so nothing was simulated wrongly, but the run is void")


def deadlock_error(policy: str, waiting: int, how_long: str = "") -> SimulationError:
    """The error for a policy that admits nothing while the batch is empty, ``waiting``
    requests wait, and none is still to arrive (``how_long``: for how long, if it idles on purpose)."""
    return SimulationError(
        f"deadlock: policy {policy!r} admits none of {waiting} waiting "
        f"request(s) while the batch is empty and no request is still to arrive{how_long}")


def admitted(policy: str, adm, hook: str = "admit") -> list:
    """What ``admit`` (or ``hook``: ``preempt``, ``victims``) returned, as a list; anything but an
    iterable of ids is the policy's error."""
    if adm is not None and not isinstance(adm, (str, bytes)) and hasattr(adm, "__iter__"):
        try:
            return list(adm)
        except TypeError:                   # e.g. a 0-d array: iterable in name only
            pass
    want = ("waiting request ids ([] to admit none)" if hook == "admit" else
            "running request ids ([] to evict none)" if hook == "preempt" else "running request ids")
    raise PolicyError(f"policy {policy!r}: {hook} returned {adm!r:.80}; return a list of {want}")


def livelock_error(policy: str, rounds: int, evictions: int, limit: float, factor: int) -> SimulationError:
    """The error for a policy that keeps evicting while nothing finishes: ``rounds`` rounds since
    a request last finished, ``evictions`` evictions in them, ``limit`` the watchdog's bound."""
    return SimulationError(
        f"livelock: policy {policy!r} has run {rounds} rounds and evicted requests {evictions} times "
        f"without any request finishing, more than {limit:.0f} ({factor} x the whole workload's output "
        f"tokens, +1 per request, x the policy's rework_factor). Evicting every request before it "
        f"completes, e.g. all of the batch each round, never makes progress; a policy that restarts "
        f"requests on purpose can declare how much work it may redo with rework_factor")


class Simulator:
    """One simulation run. Build it, call :meth:`run` once."""

    # Livelock watchdog: a run is stopped after more rounds without a request finishing, with
    # evictions in them, than STALL_FACTOR x the policy's rework_factor x the whole workload's
    # output tokens (+1 per request). Every round decodes a token, so no policy that redoes less
    # work than that between two completions is stopped: one that never evicts finishes a request
    # within its output length, and GSA declares the geometric series its restarts redo. A policy
    # that evicts the whole batch every round is stopped, after that many rounds. A policy that
    # idles on purpose (``may_idle``) with nothing running or still to arrive is stopped as a
    # deadlock after that many idle rounds.
    STALL_FACTOR = 10

    def __init__(self, workload: Workload, policy: Policy, predictor: Predictor, capacity: int,
                 latency: LinearLatency, *, step_mode: bool = False, progress=None, on_advance=None,
                 fast: bool = True):
        self.w = workload
        self.fast = fast  # use sim.fast's specialised loop where it applies (see uses_fast_path)
        self.on_advance = on_advance  # optional hook(clock, k, batch, kv0, running ids) (tests, traces)
        self.policy = policy
        self.predictor = predictor
        self.M = int(capacity)
        self.lat = latency
        self.step_mode = step_mode
        self.progress_cb = progress
        n = len(workload)
        self.n = n
        # What policies see (``pub``, through views) is a copy the engine writes and never reads:
        # its own state is in the private arrays below and in the workload, so a policy that writes
        # to its view's arrays cannot change what is simulated (``_check_published`` voids the run).
        self.pub = PublicState(n)
        self._status = np.zeros(n, dtype=np.int8)
        self._progress = np.zeros(n, dtype=np.int64)   # tokens decoded in the current run
        self._evicted = np.zeros(n, dtype=np.int64)
        self._own = {"status": self._status, "progress": self._progress, "evictions": self._evicted}
        self._shown = {name: getattr(self.pub, name) for name in self._own}
        self._truth = workload.output            # private: never handed to policies
        self._texts = workload.text if workload.text is not None else [None] * n
        # outcome arrays
        self.first_start = np.full(n, np.nan)
        self.first_token = np.full(n, np.nan)
        self.completion = np.full(n, np.nan)
        self.wasted_decode = np.zeros(n, dtype=np.int64)
        self.wasted_prefill = np.zeros(n, dtype=np.int64)
        self.reject_reason: list[str | None] = [None] * n
        # queue state
        self.waiting = np.zeros(0, dtype=np.int64)
        self.wkey = np.zeros(0, dtype=np.float64)
        self.running = np.zeros(0, dtype=np.int64)
        self.usage = 0                            # sum(s + progress) over running
        self.clock = 0.0
        self.rnd = 0
        self.seq = 0
        self.finished = 0
        self.decisions = 0
        self.evicted_now = False
        # livelock watchdog (STALL_FACTOR): the round of the last completion or rejection, and
        # the evictions since then
        self._finish_rnd = 0
        self._finish_clock = 0.0
        self._evicted_since = 0
        self._stall_rounds = (self.STALL_FACTOR * max(1.0, float(policy.rework_factor))
                              * (int(np.sum(workload.output)) + n))
        self.oracle = bool(predictor.oracle)
        # a policy that reads no predictions gets none: the predictor is not run at all
        self.predicts = bool(policy.reads_predictions)
        self._ro_w_src = self._ro_r_src = None
        self._ro_w = self._ro_r = None

    # --- queue helpers -----------------------------------------------------------------
    def _view(self) -> SchedulerView:
        # the queues are shown as read-only copies (a view's .base would be the engine's own
        # queue), made once per queue array, not once per view
        if self._ro_w_src is not self.waiting:
            self._ro_w_src = self.waiting
            self._ro_w = self.waiting.copy()
            self._ro_w.flags.writeable = False
        if self._ro_r_src is not self.running:
            self._ro_r_src = self.running
            self._ro_r = self.running.copy()
            self._ro_r.flags.writeable = False
        return SchedulerView(self.pub, self.clock, self.rnd, self.M, self._ro_w, self._ro_r, self.usage,
                             self.evicted_now, self.oracle)

    def _horizon(self) -> float:
        """Latest arrival time visible at the current clock (the clock plus a rounding tolerance)."""
        return self.clock + ARRIVAL_TOL * max(1.0, abs(self.clock))

    def _enqueue(self, ids: np.ndarray) -> None:
        """Insert ``ids`` into the waiting queue, kept sorted by (key, id): the new ids are
        sorted among themselves and merged in by binary search (no re-sort of the queue)."""
        m = len(ids)
        if m == 0:
            return
        self._set("status", ids, WAITING)
        key = self.policy.queue_key(self._view(), ids)
        key = np.zeros(m) if key is None else self._keys(key, m)
        if m > 1:
            o = np.lexsort((ids, key))
            ids, key = ids[o], key[o]
        W, K = self.waiting, self.wkey
        if len(W) == 0 or (float(key[0]), int(ids[0])) > (float(K[-1]), int(W[-1])):
            self.waiting = np.concatenate((W, ids))
            self.wkey = np.concatenate((K, key))
            return
        lo = np.searchsorted(K, key, side="left")
        hi = np.searchsorted(K, key, side="right")
        pos = lo.copy()
        for j in np.flatnonzero(hi > lo):           # among equal keys, by id
            pos[j] += int(np.searchsorted(W[lo[j]:hi[j]], ids[j]))
        if m == 1:
            p = int(pos[0])
            self.waiting = np.concatenate((W[:p], ids, W[p:]))
            self.wkey = np.concatenate((K[:p], key, K[p:]))
        else:
            self.waiting = np.insert(W, pos, ids)
            self.wkey = np.insert(K, pos, key)

    def _keys(self, key, m: int) -> np.ndarray:
        """``queue_key``'s answer for ``m`` arriving requests: one finite number each."""
        try:
            k = np.asarray(key, dtype=np.float64)
        except (TypeError, ValueError):
            k = None
        if k is None or k.shape != (m,) or not np.all(np.isfinite(k)):
            raise PolicyError(f"policy {self.policy.name!r}: queue_key must return one finite number per "
                              f"arriving request ({m}), got {key!r:.80}")
        return k

    def _idle_target(self, in_rounds: bool, more_to_arrive: bool) -> float | None:
        """Until when a policy that may idle on purpose (``may_idle``, time in rounds only) leaves
        the empty batch idle while requests wait: ``quiet_rounds`` from now, at least one; None
        when it does not idle. With nothing still to arrive, only the policy can end the idling:
        beyond the watchdog's bound past the last completion or arrival it is a deadlock."""
        if not (self.policy.may_idle and in_rounds and len(self.waiting)):
            return None
        q = self._quiet()
        if q >= INF_ROUNDS:
            return None
        idle_to = self.clock + max(1, q)
        if not more_to_arrive and idle_to - max(self._finish_clock, float(self.w.arrival[-1])) > self._stall_rounds:
            raise deadlock_error(self.policy.name, len(self.waiting),
                                 f" for more than {self._stall_rounds:.0f} rounds (may_idle)")
        return idle_to

    def _quiet(self) -> int:
        """``quiet_rounds``'s answer, a whole number of rounds."""
        q = self.policy.quiet_rounds(self._view())
        try:
            if isinstance(q, bool) or q != int(q):
                raise ValueError
            return int(q)
        except (TypeError, ValueError, OverflowError):
            raise PolicyError(f"policy {self.policy.name!r}: quiet_rounds must return a whole number of "
                              f"rounds, got {q!r:.80}") from None

    def _dequeue(self, m: int | None = None) -> None:
        """Drop requests that are no longer waiting (status already updated). ``m``: how many
        left the queue; when they are its first ``m`` entries the queue is just sliced."""
        if m is not None and m <= len(self.waiting) and not np.any(self._status[self.waiting[:m]] == WAITING):
            self.waiting, self.wkey = self.waiting[m:], self.wkey[m:]
            return
        keep = self._status[self.waiting] == WAITING
        self.waiting, self.wkey = self.waiting[keep], self.wkey[keep]

    def _finish(self, ids: np.ndarray) -> None:
        if len(ids):
            self.finished += len(ids)
            self._finish_rnd, self._finish_clock, self._evicted_since = self.rnd, self.clock, 0
            if self.progress_cb is not None:
                self.progress_cb(len(ids))

    # --- state transitions -------------------------------------------------------------
    def _arrive(self, lo: int, hi: int) -> None:
        ids = np.arange(lo, hi, dtype=np.int64)
        pub, w = self.pub, self.w
        if (pub.prompt[lo:hi] != -1).any() or (pub.arrival[lo:hi] != -1).any():   # written before arriving
            raise tampered_error(self.policy.name, "prompt or arrival of a request not arrived yet")
        pub.arrival[lo:hi] = w.arrival[lo:hi]
        pr = w.prompt[lo:hi]
        pub.prompt[lo:hi] = pr
        pub.text[lo:hi] = self._texts[lo:hi]
        fits = pr + 1 <= self.M
        if fits.all():
            ok = ids
        else:
            bad = ids[~fits]
            for i in bad:
                self.reject_reason[i] = REJECT_PROMPT
            self._set("status", bad, REJECTED)
            self._finish(bad)
            ok = ids[fits]
        if len(ok):
            if self.predicts:
                self._predict(ok)
            self._enqueue(ok)

    def _predict(self, ok: np.ndarray) -> None:
        """Run the predictor on newly arrived requests ``ok`` and publish its predictions."""
        pub, w = self.pub, self.w
        truth = self._truth[ok] if self.predictor.uses_truth else None
        p = self.predictor.predict(ok, w.prompt[ok], [self._texts[i] for i in ok], truth)
        pub.pred[ok], lo, hi, q = checked_predictions(self.predictor, p, len(ok))
        if lo is not None:
            pub.pred_lo[ok] = lo
            pub.pred_hi[ok] = hi
        pub.pred_q[ok] = q if q is not None else pub.pred[ok][:, None]   # a point prediction is a point mass

    def _observe(self, done: np.ndarray) -> None:
        """Show the predictor the requests that just completed (a learning predictor's history)."""
        if self.predicts:
            self.predictor.observe(done, self.w.prompt[done], [self._texts[i] for i in done], self._truth[done])

    def _remove_running(self, ids: np.ndarray, new_status: int) -> None:
        """Take ``ids`` out of the batch and give them ``new_status``."""
        self.usage -= int(np.sum(self.w.prompt[ids] + self._progress[ids]))
        self._set("status", ids, new_status)
        self.running = self.running[self._status[self.running] == RUNNING]

    def _ids(self, ids, what: str) -> np.ndarray:
        """A policy's answer as request ids, each an integer in [0, n)."""
        a = np.asarray(ids)
        if a.size == 0:
            return np.zeros(0, dtype=np.int64)
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= self.n:
            bad = ([x for x in a.tolist() if not (type(x) is int and 0 <= x < self.n)] if a.ndim == 1
                   else a.tolist())                    # nested: the whole answer is malformed; bools: a mask
            raise PolicyError(f"policy {self.policy.name!r} {what} ids that are not request ids "
                              f"(a flat list of integers 0..{self.n - 1}): {bad[:5]}")
        return a.astype(np.int64, copy=False)

    def _evict(self, ids, *, why: str) -> None:
        ids = np.unique(self._ids(ids, "returned victim"))
        if len(ids) == 0:
            raise PolicyError(f"policy {self.policy.name!r} returned no victims while memory overflows ({why})")
        if np.any(self._status[ids] != RUNNING):
            self._check_published()
            raise PolicyError(f"policy {self.policy.name!r} tried to evict requests that are not running: "
                              f"{ids[self._status[ids] != RUNNING][:5].tolist()}")
        pub = self.pub
        self._remove_running(ids, WAITING)
        self.wasted_decode[ids] += self._progress[ids]
        self.wasted_prefill[ids] += self.w.prompt[ids]
        self._set("evictions", ids, self._evicted[ids] + 1)
        self._evicted_since += len(ids)
        self._set("progress", ids, 0)
        pub.start_time[ids] = np.nan
        pub.start_round[ids] = -1
        pub.admit_seq[ids] = -1
        self._enqueue(ids)

    def _reject_hopeless(self) -> None:
        """Abort running requests that cannot fit their next token even alone (s + o > M)."""
        run = self.running
        if len(run) == 0:
            return
        need = self.w.prompt[run] + self._progress[run] + 1
        bad = run[need > self.M]
        if len(bad):
            self._remove_running(bad, REJECTED)
            self.wasted_decode[bad] += self._progress[bad]
            for i in bad:
                self.reject_reason[i] = REJECT_KV
            self._finish(bad)

    def _start(self, ids: list[int]) -> int:
        """Validate and start admitted requests; returns their prefill tokens."""
        if not ids:
            return 0
        a = self._ids(ids, "admitted")
        pub, st, prompt = self.pub, self._status, self.w.prompt
        if len(set(a.tolist())) != len(a) or np.any(st[a] != WAITING):
            self._check_published()
            ids_, counts = np.unique(a, return_counts=True)
            bad = ids_[(st[ids_] != WAITING) | (counts > 1)]
            future = bad[st[bad] == FUTURE]
            raise PolicyError(f"policy {self.policy.name!r} admitted requests that are not waiting "
                              f"(or twice) in round {self.rnd}: {bad[:10].tolist()}"
                              + (f"; not arrived yet: {future[:10].tolist()}" if len(future) else ""))
        add = int(np.sum(prompt[a] + 1))
        if self.usage + len(self.running) + add > self.M:
            self._check_published()
            raise PolicyError(
                f"policy {self.policy.name!r} admitted {len(a)} request(s) needing {add} tokens in round "
                f"{self.rnd}, but only {self.M - self.usage - len(self.running)} of M={self.M} are free")
        self._set("status", a, RUNNING)
        self._dequeue(len(a))
        self._set("progress", a, 0)
        pub.start_time[a] = self.clock
        pub.start_round[a] = self.rnd
        pub.admit_seq[a] = np.arange(self.seq, self.seq + len(a))
        self.seq += len(a)
        first = np.isnan(self.first_start[a])
        self.first_start[a[first]] = self.clock
        self.running = np.concatenate((self.running, a))
        prefill = int(np.sum(prompt[a]))
        self.usage += prefill
        return prefill

    def _evictions(self) -> int:
        """Step 2 of a round, after hopeless requests are gone: the policy's voluntary
        preemption, then its eviction rule while the batch would overflow M in the coming
        round. Returns the number of voluntary evictions; sets ``evicted_now``."""
        self.decisions += 1
        pre = (admitted(self.policy.name, self.policy.preempt(self._view()), "preempt")
               if self.policy.voluntary_preemption else ())
        if len(pre):
            self._evict(pre, why="voluntary")
        guard = 0
        self.evicted_now = False
        while self.usage + len(self.running) > self.M:
            excess = self.usage + len(self.running) - self.M
            self._evict(admitted(self.policy.name, self.policy.victims(self._view(), excess), "victims"),
                        why=f"excess {excess} tokens")
            self.evicted_now = True
            guard += 1
            if guard > self.n + 1:
                raise SimulationError("eviction loop did not converge")
        return len(pre)

    # --- main loop ---------------------------------------------------------------------
    def uses_fast_path(self) -> bool:
        """Whether :meth:`run` hands over to the specialised loop of :mod:`kvsched.sim.fast`: only
        for a plain Simulator (subclasses override its hooks) without the stepping reference or a
        per-advance hook, and a built-in policy whose rules that loop restates."""
        if not self.fast or self.step_mode or self.on_advance is not None or type(self) is not Simulator:
            return False
        from .fast import fast_kind
        return fast_kind(self.policy) is not None

    def run(self) -> RunRecord:
        if self.uses_fast_path():
            from .fast import run_fast
            return run_fast(self)
        w, pub, M, lat = self.w, self.pub, self.M, self.lat
        n = self.n
        unit = lat.is_unit
        nxt = 0                       # next request (by id) not yet arrived
        last_start = np.full(n, np.nan)
        busy_time = 0.0
        peak = 0
        mem_round_sum = 0.0
        mem_time_sum = 0.0
        energy = 0.0 if lat.power_w is not None else None
        while self.finished < n:
            # 1. arrivals visible at the start of this round
            if nxt < n and w.arrival[nxt] <= self._horizon():
                hi = int(np.searchsorted(w.arrival, self._horizon(), side="right"))
                self._arrive(nxt, hi)
                nxt = hi
            if len(self.running) == 0 and len(self.waiting) == 0:
                if nxt >= n:
                    break
                self._jump_to(w.arrival[nxt], unit)
                continue
            # 2. evictions: hopeless requests, voluntary preemption, overflow
            if self.usage + len(self.running) > M:
                self._reject_hopeless()
            n_pre = self._evictions()
            # 3. admission
            view = self._view()
            adm = admitted(self.policy.name, self.policy.admit(view))
            prefill = self._start(adm)
            for i in adm:
                last_start[i] = self.clock
            B = len(self.running)
            if B == 0:
                idle_to = self._idle_target(unit, nxt < n)
                if nxt < n:
                    self._jump_to(w.arrival[nxt] if idle_to is None else min(w.arrival[nxt], idle_to), unit)
                    continue
                if idle_to is not None:
                    self._jump_to(idle_to, unit)
                    continue
                if len(self.waiting):
                    raise deadlock_error(self.policy.name, len(self.waiting))
                continue
            # 4. how many rounds can be advanced in one step
            kv0 = self.usage + B                          # tokens held in the first round
            rem = self._truth[self.running] - self._progress[self.running]
            k = int(np.min(rem))                           # until the first completion
            k = min(k, (M - kv0) // B + 1)                 # until memory would cross M
            dur0 = lat.round_time(prefill, B, kv0)
            if nxt < n:                                   # until the next arrival is visible
                dt = w.arrival[nxt] - self._horizon() - dur0
                k = min(k, 1 + (lat.rounds_within(dt, B, kv0 + B) if dt > 0 else 0))
            if self.step_mode or self.evicted_now or n_pre:
                k = 1  # after an eviction the policy decides again next round
            elif k > 1:
                k = min(k, max(1, self._quiet()))
            # 5. advance k rounds
            if self.on_advance is not None:
                self.on_advance(self.clock, k, B, kv0, self.running.copy())
            dur = dur0 + lat.span(k - 1, B, kv0 + B)
            if adm:
                a = np.asarray(adm, dtype=np.int64)
                a = a[np.isnan(self.first_token[a])]
                self.first_token[a] = self.clock + dur0
            peak = max(peak, kv0 + B * (k - 1))
            ksum = k * kv0 + B * k * (k - 1) / 2.0
            mem_round_sum += ksum
            mem_time_sum += self._kv_time_integral(dur0, k, B, kv0)
            busy_time += dur
            if energy is not None:
                energy += lat.power_w * dur
            self.clock += dur
            self.rnd += k
            self._decode(k)
            self.usage += B * k
            done_mask = self._progress[self.running] >= self._truth[self.running]
            if np.any(done_mask):
                done = self.running[done_mask]
                self._remove_running(done, DONE)
                self.completion[done] = self.clock
                self._observe(done)
                self._finish(done)
            else:
                self._check_livelock()
        self._check_published()
        return RunRecord(
            workload=w, capacity=M, time_unit=("rounds" if unit else "s"),
            first_start=self.first_start, last_start=last_start, first_token=self.first_token,
            completion=self.completion, evictions=self._evicted.copy(),
            wasted_decode=self.wasted_decode, wasted_prefill=self.wasted_prefill,
            reject_reason=self.reject_reason, makespan=self.clock, rounds=self.rnd, busy_time=busy_time,
            peak_memory=int(peak), memory_round_sum=mem_round_sum, memory_time_sum=mem_time_sum,
            energy_j=energy, decisions=self.decisions)

    def _set(self, name: str, ids: np.ndarray, value) -> None:
        """Set field ``name`` (status, progress or evictions) of requests ``ids`` in the engine's
        state and in the copy its views show, after checking that copy still equals the state
        there (a policy's write would otherwise be overwritten unseen)."""
        mine, shown = self._own[name], self._shown[name]
        if (shown[ids] != mine[ids]).any():
            raise tampered_error(self.policy.name, name)
        mine[ids] = value
        shown[ids] = value

    def _decode(self, k: int) -> None:
        """Every running request decodes ``k`` tokens."""
        self._set("progress", self.running, self._progress[self.running] + k)

    def _check_published(self) -> None:
        """The run is void if a policy wrote to what its views show: the published status,
        progress, eviction counts, prompts and arrival times must equal the engine's own (-1 for
        requests not arrived yet). Checked at the end of a run, and before a policy error whose
        cause a write could be (a request admitted twice, memory over-admitted); :meth:`_set`
        checks the entries it is about to overwrite."""
        pub, w = self.pub, self.w
        seen = self._status != FUTURE
        bad = [name for name, mine in self._own.items() if not np.array_equal(self._shown[name], mine)]
        bad += [name for name, mine in (("prompt", w.prompt), ("arrival", w.arrival))
                if not np.array_equal(getattr(pub, name), np.where(seen, mine, -1))]
        if bad:
            raise tampered_error(self.policy.name, ", ".join(bad))

    def _check_livelock(self) -> None:
        """After rounds in which no request finished: the livelock error once evictions happened
        and more than ``STALL_FACTOR`` x ``rework_factor`` x the workload's output tokens (+1 each)
        rounds have passed."""
        if self._evicted_since and self.rnd - self._finish_rnd > self._stall_rounds:
            raise livelock_error(self.policy.name, self.rnd - self._finish_rnd, self._evicted_since,
                                 self._stall_rounds, self.STALL_FACTOR)

    def _kv_time_integral(self, dur0: float, k: int, B: int, kv0: int) -> float:
        """Sum over the k rounds of (KV tokens held) x (round duration), token-seconds."""
        lat = self.lat
        total = kv0 * dur0
        if k > 1:
            # rounds r = 1..k-1 hold kv0 + B r tokens and last c + c_kv B r time units,
            # with c = c0 + c_d B + c_kv kv0 (decode-only rounds): closed-form sums
            c = lat.c0 + lat.c_d * B + lat.c_kv * kv0
            m = k - 1
            s1 = m * (m + 1) / 2.0
            s2 = m * (m + 1) * (2 * m + 1) / 6.0
            total += m * kv0 * c + (kv0 * lat.c_kv * B + B * c) * s1 + lat.c_kv * B * B * s2
        return total

    def _jump_to(self, t: float, unit: bool) -> None:
        """Idle until time ``t`` (the next arrival); unit rounds start at integer times."""
        if unit:
            t = float(np.ceil(t))
        self.clock = max(self.clock, t)


def simulate(workload: Workload, policy: Policy, predictor: Predictor, capacity: int,
             latency: LinearLatency, *, step_mode: bool = False, progress=None, on_advance=None,
             fast: bool = True) -> RunRecord:
    """Run one simulation and return its raw record (``fast=False``: never the fast path)."""
    return Simulator(workload, policy, predictor, capacity, latency, step_mode=step_mode,
                     progress=progress, on_advance=on_advance, fast=fast).run()
