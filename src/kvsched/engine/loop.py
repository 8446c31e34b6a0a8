"""The engine loop: kvsched policies scheduling a real executor, one iteration at a time.

:class:`EngineLoop` is the simulator (:class:`~kvsched.sim.engine.Simulator`) with its time
advance replaced by execution: the same arrival handling, rejection rules, queue order,
policy calls (``preempt``, ``victims``, ``admit`` on a :class:`~kvsched.sim.view.SchedulerView`
built from the loop's :class:`~kvsched.sim.view.PublicState`), validation and accounting are
inherited, so the information barrier and the memory check are the simulator's. Each round:

1. requests that arrived by the round's start become visible;
2. the policy evicts (voluntarily, or while the batch would exceed ``M``) and admits;
3. the executor drops the KV cache of every evicted request (it restarts later from its
   prompt, the tokens it had produced are counted as wasted), prefills the admitted requests
   (their first token) and decodes one token for the others;
4. a request that has produced its ``o`` tokens (the trace's output length, forced: EOS is
   never consulted) completes and frees its cache.

The batch is never skipped ahead: every round is executed. Memory is accounted as in the model
(a request holds ``s + j`` tokens in its ``j``-th round); the executor's real cache holds one
token less per request (the last token is fed in the next round), so the model's count bounds
it, and both are checked against ``M`` every round.

Clocks (``clock``), all in seconds except ``rounds``:

* ``virtual`` (default): each round advances the clock by its measured duration (policy
  decisions + model work, wall time); idle gaps until the next arrival are skipped, not slept.
  Arrivals are honoured on this clock. Reproducible decisions for a given set of durations,
  and no idle waiting.
* ``wall``: the clock is the wall time since the start; the loop sleeps until the next
  arrival when idle. What a live server would see.
* ``rounds``: each round lasts one time unit (the theory's unit rounds; for traces in rounds).

``timer`` (``virtual`` clock only): ``wall`` (default) measures rounds in wall time;
``process`` in this process's CPU time, which other processes sharing the CPU do not inflate
(CPU execution with one torch thread; a GPU's work is not CPU time).

``duration_fn(prefill, batch, kv)`` replaces the measured duration (tests: a loop whose rounds
take exactly what a latency model says must reproduce the simulator's schedule).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import ConfigError, SimulationError
from ..latency.base import LinearLatency, unit_rounds
from ..policies.base import Policy
from ..predictors.base import Predictor
from ..sim.engine import RunRecord, Simulator, admitted, deadlock_error
from ..sim.view import DONE
from ..workload import Workload

CLOCKS = ("virtual", "wall", "rounds")
#: how a round's duration is measured in the ``virtual`` clock: wall time, or the CPU time of this
#: process (immune to other processes on a shared CPU; meaningful only for CPU execution)
TIMERS = {"wall": time.perf_counter, "process": time.process_time}


class BudgetExceeded(SimulationError):
    """The executor's KV cache held more than ``M`` tokens (must never happen)."""


class EngineLoop(Simulator):
    """One replay of a workload through an executor (see the module docstring). Build it and
    call :meth:`run` once; :attr:`iterations` then holds one row per round."""

    def __init__(self, workload: Workload, policy: Policy, predictor: Predictor, capacity: int, backend, *,
                 clock: str = "virtual", timer: str = "wall",
                 duration_fn: Callable[[int, int, int], float] | None = None,
                 max_rounds: int | None = None, progress=None, on_round=None):
        if clock not in CLOCKS:
            raise ConfigError(f"engine clock {clock!r}; valid: {', '.join(CLOCKS)}")
        if (clock == "rounds") != (workload.time_unit == "rounds"):
            raise ConfigError(f"engine clock {clock!r} does not fit a trace in {workload.time_unit!r}: use "
                              f"clock=rounds exactly for traces in rounds")
        if timer not in TIMERS:
            raise ConfigError(f"engine timer {timer!r}; valid: {', '.join(TIMERS)}")
        if timer != "wall" and clock != "virtual":
            raise ConfigError(f"engine timer {timer!r} applies to the virtual clock only")
        self.timer = TIMERS[timer]
        self.timer_name = timer
        lat = unit_rounds() if clock == "rounds" else LinearLatency(c0=0.0, name="measured")
        super().__init__(workload, policy, predictor, capacity, lat, step_mode=True, progress=progress)
        self.backend = backend
        self.clock_mode = clock
        self.duration_fn = duration_fn
        self.max_rounds = max_rounds
        self.on_round = on_round          # hook(row dict) after each round (tests)
        self.iterations: pd.DataFrame | None = None
        self.events: list[tuple[int, str, int]] = []   # (round, "admit"|"evict"|"complete"|"reject", id)
        self._t0 = 0.0

    # every removal from the batch (completion, eviction, rejection) frees the executor's cache
    def _remove_running(self, ids: np.ndarray, new_status: int) -> None:
        self.backend.release(ids)
        super()._remove_running(ids, new_status)

    def _evict(self, ids, *, why: str) -> None:
        for i in np.unique(np.asarray(ids, dtype=np.int64)):
            self.events.append((self.rnd, "evict", int(i)))
        super()._evict(ids, why=why)

    def _now(self) -> float:
        return time.perf_counter() - self._t0

    def _idle_until(self, t: float) -> None:
        if self.clock_mode == "wall":
            dt = t - self._now()
            if dt > 0:
                time.sleep(dt)
            self.clock = max(self.clock, self._now(), t)
        elif self.clock_mode == "rounds":
            self.clock = max(self.clock, float(np.ceil(t)))
        else:
            self.clock = max(self.clock, t)

    def run(self) -> RunRecord:
        w, M = self.w, self.M
        n = self.n
        nxt = 0
        last_start = np.full(n, np.nan)
        busy_time = 0.0
        peak = 0
        mem_round_sum = mem_time_sum = 0.0
        rows: list[dict] = []
        self._t0 = time.perf_counter()
        while self.finished < n:
            if self.max_rounds is not None and self.rnd >= self.max_rounds:
                raise SimulationError(f"engine stopped after max_rounds={self.max_rounds}")
            if self.clock_mode == "wall":
                self.clock = max(self.clock, self._now())
            r0 = self.timer()
            # 1. arrivals
            if nxt < n and w.arrival[nxt] <= self._horizon():
                hi = int(np.searchsorted(w.arrival, self._horizon(), side="right"))
                self._arrive(nxt, hi)
                self.events += [(self.rnd, "reject", i) for i in range(nxt, hi) if self.reject_reason[i] is not None]
                nxt = hi
            if len(self.running) == 0 and len(self.waiting) == 0:
                if nxt >= n:
                    break
                self._idle_until(w.arrival[nxt])
                continue
            # 2. evictions
            if self.usage + len(self.running) > M:
                run_before = self.running.copy()
                self._reject_hopeless()
                for i in np.setdiff1d(run_before, self.running):
                    self.events.append((self.rnd, "reject", int(i)))
            ev0 = len(self.events)
            self._evictions()
            n_evicted = sum(1 for e in self.events[ev0:] if e[1] == "evict")
            # 3. admission
            adm = admitted(self.policy.name, self.policy.admit(self._view()))
            prefill = self._start(adm)
            for i in adm:
                last_start[i] = self.clock
                self.events.append((self.rnd, "admit", int(i)))
            B = len(self.running)
            if B == 0:
                # a policy that may idle on purpose (unit rounds) waits its quiet rounds, as in the simulator
                idle_to = self._idle_target(self.clock_mode == "rounds", nxt < n)
                if nxt < n or idle_to is not None:
                    self._idle_until(min(w.arrival[nxt] if nxt < n else np.inf,
                                         np.inf if idle_to is None else idle_to))
                    continue
                if len(self.waiting):
                    raise deadlock_error(self.policy.name, len(self.waiting))
                continue
            kv0 = self.usage + B                      # tokens held in this round (model accounting)
            if kv0 > M:
                raise BudgetExceeded(f"round {self.rnd}: batch holds {kv0} > M={M} tokens")
            r1 = self.timer()
            # 4. execute the round
            st = self.backend.step([(int(i), int(w.prompt[i])) for i in adm])
            if st.kv_physical > M:
                raise BudgetExceeded(f"round {self.rnd}: executor cache holds {st.kv_physical} > M={M} tokens")
            r2 = self.timer()
            if self.duration_fn is not None:
                dur = float(self.duration_fn(prefill, B, kv0))
            elif self.clock_mode == "rounds":
                dur = 1.0
            elif self.clock_mode == "wall":
                dur = max(self._now() - self.clock, 0.0)
            else:
                dur = r2 - r0
            start = self.clock
            if adm:
                a = np.asarray(adm, dtype=np.int64)
                a = a[np.isnan(self.first_token[a])]
                self.first_token[a] = start + dur
            peak = max(peak, kv0)
            mem_round_sum += kv0
            mem_time_sum += kv0 * dur
            busy_time += dur
            self.clock = start + dur
            self.rnd += 1
            self._decode(1)
            self.usage += B
            done_mask = self._progress[self.running] >= self._truth[self.running]
            done = self.running[done_mask]
            if len(done):
                self._remove_running(done, DONE)
                self.completion[done] = self.clock
                self._observe(done)
                self._finish(done)
                for i in done:
                    self.events.append((self.rnd - 1, "complete", int(i)))
            else:
                self._check_livelock()
            row = {"round": self.rnd - 1, "start": start, "duration": dur, "prefill_tokens": int(prefill),
                   "prefill_requests": len(adm), "batch": int(B), "kv_tokens": int(kv0),
                   "kv_physical": int(st.kv_physical), "kv_padded": int(st.kv_padded),
                   "evicted": int(n_evicted), "completed": int(len(done)),
                   "policy_s": r1 - r0, "prefill_s": st.prefill_s, "decode_s": st.decode_s,
                   "measured_s": r2 - r0}
            rows.append(row)
            if self.on_round is not None:
                self.on_round(row)
        self._check_published()
        self.iterations = pd.DataFrame(rows, columns=[
            "round", "start", "duration", "prefill_tokens", "prefill_requests", "batch", "kv_tokens",
            "kv_physical", "kv_padded", "evicted", "completed", "policy_s", "prefill_s", "decode_s", "measured_s"])
        return RunRecord(
            workload=w, capacity=M, time_unit=("rounds" if self.clock_mode == "rounds" else "s"),
            first_start=self.first_start, last_start=last_start, first_token=self.first_token,
            completion=self.completion, evictions=self._evicted.copy(),
            wasted_decode=self.wasted_decode, wasted_prefill=self.wasted_prefill,
            reject_reason=self.reject_reason, makespan=self.clock, rounds=self.rnd, busy_time=busy_time,
            peak_memory=int(peak), memory_round_sum=mem_round_sum, memory_time_sum=mem_time_sum,
            energy_j=None, decisions=self.decisions)
