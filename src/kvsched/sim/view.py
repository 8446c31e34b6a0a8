"""What a policy may see: the information barrier.

The engine keeps its own state apart from what it shows:

* :class:`PublicState` -- arrays a real scheduler could observe. Per-request fields are
  written only when the request arrives (before that they read as -1), so a policy
  cannot peek at future arrivals either. The engine writes them and never reads them: it
  simulates from private copies (status, progress, evictions) and the workload.
* the private truth (true output lengths) -- held by the engine alone and never
  referenced from ``PublicState`` or :class:`SchedulerView`.

Policies receive a :class:`SchedulerView`, whose arrays are read-only views of the
``PublicState`` (the queues: read-only copies). The only way true lengths reach a policy is
through ``pred`` (and ``pred_q``) when the configured predictor is the oracle. This is an
interface, not a sandbox: in-process Python can reach around it (``gc``, frames, patching the
engine at import). A write to the shown arrays (``.base``, ``_pub``) cannot change what is
simulated, and the engine voids the run when it finds one.
"""

from __future__ import annotations

import numpy as np

from ..predictors.base import N_QUANTILES

WAITING, RUNNING, DONE, REJECTED, FUTURE = 1, 2, 3, 4, 0


class PublicState:
    """Observable per-request state (indexed by request id = position in arrival order).

    Units: tokens for sizes and progress, the run's time unit (seconds or rounds) for times.
    """

    __slots__ = ("n", "arrival", "prompt", "pred", "pred_lo", "pred_hi", "pred_q", "progress", "start_time",
                 "start_round", "admit_seq", "evictions", "status", "text", "_ro")

    def __init__(self, n: int):
        self.n = n
        self.arrival = np.full(n, -1.0)
        self.prompt = np.full(n, -1, dtype=np.int64)
        self.pred = np.full(n, -1, dtype=np.int64)      # point prediction of the output length (tokens)
        self.pred_lo = np.full(n, -1, dtype=np.int64)   # interval prediction, lower end (tokens)
        self.pred_hi = np.full(n, -1, dtype=np.int64)   # interval prediction, upper end (tokens)
        # distributional prediction: output-length quantiles at predictors.base.QUANTILE_LEVELS
        # (tokens, non-decreasing per row); a point predictor's row is its point, repeated
        self.pred_q = np.full((n, N_QUANTILES), -1, dtype=np.int64)
        self.progress = np.zeros(n, dtype=np.int64)     # tokens decoded in the current run
        self.start_time = np.full(n, np.nan)            # clock at the start of the current run
        self.start_round = np.full(n, -1, dtype=np.int64)
        self.admit_seq = np.full(n, -1, dtype=np.int64)  # global admission counter of the current run
        self.evictions = np.zeros(n, dtype=np.int64)
        self.status = np.zeros(n, dtype=np.int8)        # FUTURE/WAITING/RUNNING/DONE/REJECTED
        self.text: list[str | None] = [None] * n        # prompt text, where the trace has it
        self._ro: dict[str, np.ndarray] = {}
        for name in ("arrival", "prompt", "pred", "pred_lo", "pred_hi", "pred_q", "progress", "start_time",
                     "start_round", "admit_seq", "evictions", "status"):
            v = getattr(self, name).view()
            v.flags.writeable = False
            self._ro[name] = v


class SchedulerView:
    """Read-only window on the scheduler-visible state, handed to policies each decision.

    Attributes (all per-request arrays are indexed by request id and read-only):
        clock: current time (seconds, or rounds for the unit time base).
        round: index of the coming round.
        capacity: KV-cache memory limit M (tokens).
        waiting: ids of waiting requests, in the policy's queue order (see ``Policy.queue_key``),
            FCFS among equal keys.
        running: ids of running requests, in admission order (oldest first).
        usage: KV tokens held by the running batch after the last round, sum(s + progress).
        need: KV tokens the running batch needs in the coming round, sum(s + progress + 1).
        evicted_now: whether requests were evicted for lack of memory before this round.
        oracle: whether the configured predictor is the oracle (``pred`` is then the true
            length). Lets hindsight benchmarks (``hsf``) refuse to run on real predictions.
    """

    __slots__ = ("_pub", "clock", "round", "capacity", "waiting", "running", "usage", "need", "evicted_now",
                 "oracle")

    def __init__(self, pub: PublicState, clock: float, rnd: int, capacity: int,
                 waiting: np.ndarray, running: np.ndarray, usage: int, evicted_now: bool = False,
                 oracle: bool = False):
        self._pub = pub
        self.clock = clock
        self.round = rnd
        self.capacity = capacity
        if waiting.flags.writeable:
            waiting = waiting.view(); waiting.flags.writeable = False
        if running.flags.writeable:
            running = running.view(); running.flags.writeable = False
        self.waiting = waiting
        self.running = running
        self.usage = usage
        self.need = usage + len(running)
        self.evicted_now = evicted_now
        self.oracle = bool(oracle)

    # per-request arrays (read-only views)
    @property
    def arrival(self) -> np.ndarray: return self._pub._ro["arrival"]
    @property
    def prompt(self) -> np.ndarray: return self._pub._ro["prompt"]
    @property
    def pred(self) -> np.ndarray: return self._pub._ro["pred"]
    @property
    def pred_lo(self) -> np.ndarray: return self._pub._ro["pred_lo"]
    @property
    def pred_hi(self) -> np.ndarray: return self._pub._ro["pred_hi"]
    @property
    def pred_q(self) -> np.ndarray:
        """(n, Q) output-length quantiles at ``predictors.base.QUANTILE_LEVELS`` (tokens)."""
        return self._pub._ro["pred_q"]
    @property
    def progress(self) -> np.ndarray: return self._pub._ro["progress"]
    @property
    def start_time(self) -> np.ndarray: return self._pub._ro["start_time"]
    @property
    def start_round(self) -> np.ndarray: return self._pub._ro["start_round"]
    @property
    def admit_seq(self) -> np.ndarray: return self._pub._ro["admit_seq"]
    @property
    def evictions(self) -> np.ndarray: return self._pub._ro["evictions"]
    @property
    def status(self) -> np.ndarray: return self._pub._ro["status"]

    def text(self, i: int) -> str | None:
        """Prompt text of an arrived request (None where the trace has no text)."""
        return self._pub.text[i]

    @property
    def free(self) -> int:
        """Tokens left in the coming round if nothing is admitted: M - need."""
        return self.capacity - self.need
