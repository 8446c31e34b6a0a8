"""Policy interface.

Each round the engine asks the policy, in order:

1. :meth:`Policy.preempt` -- voluntary evictions (default: none);
2. :meth:`Policy.victims` -- only while the running batch would overflow the memory
   limit in the coming round; the policy's eviction rule;
3. :meth:`Policy.admit` -- which waiting requests to start in the coming round.

The engine validates every decision (feasible memory, ids in the right state) and
raises :class:`~kvsched.errors.PolicyError` otherwise, so memory never exceeds ``M``.
Policies see only a :class:`~kvsched.sim.view.SchedulerView`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np

from ..sim.view import SchedulerView

INF_ROUNDS = 1 << 62


@dataclass(frozen=True)
class NoParams:
    pass


EVICTION_RULES = ("newest", "least_progress", "most_memory")


def check_choice(key: str, value, valid) -> None:
    """Raise ConfigError naming ``key`` unless ``value`` is one of ``valid``."""
    if value not in valid:
        from ..errors import ConfigError
        raise ConfigError(f"{key}={value!r} is not valid; choose one of {', '.join(map(str, valid))}")


def order_victims(view: SchedulerView, rule: str) -> np.ndarray:
    """Running ids in the order a rule evicts them.

    ``newest``: most recently admitted first (vLLM's recompute preemption).
    ``least_progress``: fewest decoded tokens first, newest first among ties.
    ``most_memory``: largest current KV footprint first, newest first among ties.
    """
    run = np.asarray(view.running)
    seq = view.admit_seq[run]
    if rule == "newest":
        return run[np.argsort(-seq, kind="stable")]
    if rule == "least_progress":
        return run[np.lexsort((-seq, view.progress[run]))]
    if rule == "most_memory":
        mem = view.prompt[run] + view.progress[run]
        return run[np.lexsort((-seq, -mem))]
    raise ValueError(f"unknown eviction rule {rule!r}; valid: {', '.join(EVICTION_RULES)}")


def cover_excess(view: SchedulerView, ordered: np.ndarray, excess: int) -> list[int]:
    """Shortest prefix of ``ordered`` whose next-round memory covers ``excess`` tokens."""
    freed = view.prompt[ordered] + view.progress[ordered] + 1
    k = int(np.searchsorted(np.cumsum(freed), excess)) + 1
    return [int(i) for i in ordered[:k]]


class Policy:
    """Base class. Subclasses set ``name`` and, if configurable, ``Params`` (a frozen dataclass).

    Attributes:
        capacity: memory limit M (tokens).
        params: the policy's parameters.
        rng: a seeded numpy Generator for randomised tie-breaking.
    """

    name: ClassVar[str] = "base"
    Params: ClassVar[type] = NoParams
    #: True if :meth:`preempt` may evict without an overflow. The engine calls :meth:`preempt`
    #: only for such policies (and then does not skip rounds past the quiet period).
    voluntary_preemption: ClassVar[bool] = False
    #: True if the policy may leave the batch empty on purpose while requests wait (unit time
    #: base only): the engine then idles for :meth:`quiet_rounds` rounds instead of
    #: reporting a deadlock. Used to replay fixed schedules that contain idle gaps. Idling with
    #: nothing running or still to arrive is a deadlock after the livelock watchdog's bound.
    may_idle: ClassVar[bool] = False
    #: False if the policy never reads predictions (``pred``, ``pred_lo``, ``pred_hi``,
    #: ``pred_q``). The engine then runs no predictor for it and those arrays stay -1: the
    #: configured predictor cannot change its schedule, and its results are labelled without one.
    reads_predictions: ClassVar[bool] = True
    #: How many times its requests' output tokens the policy may decode, by design, between two
    #: completions (1 unless it restarts requests on purpose; GSA: about beta / (beta - 1)). The
    #: engine stops a run as a livelock only after ``Simulator.STALL_FACTOR`` times this much
    #: work without a completion.
    rework_factor: ClassVar[float] = 1.0
    #: True if the policy prices requests in time: ``__init__`` then also gets ``latency=``, the
    #: run's :class:`~kvsched.latency.base.LinearLatency` (None where it is built without one).
    uses_latency: ClassVar[bool] = False
    #: True for a benchmark defined by the true lengths (``hsf``): a run, and a sweep before any
    #: job starts, refuses it with any predictor but ``oracle``.
    needs_oracle: ClassVar[bool] = False
    #: True if the policy plans with ``pred_lo``/``pred_hi`` (``amin``, ``amax``): a run, and a sweep
    #: before any job starts, refuses a predictor that declares it gives none (``intervals = False``).
    needs_intervals: ClassVar[bool] = False

    def __init__(self, params=None, *, capacity: int, seed: int = 0):
        self.params = params if params is not None else self.Params()
        self.capacity = int(capacity)
        self.rng = np.random.default_rng(seed)
        rule = getattr(self.params, "eviction", "newest")
        if type(self).victims is Policy.victims and rule not in EVICTION_RULES:   # else it fails mid-run
            from ..errors import ConfigError
            raise ConfigError(f"algorithm {self.name!r}: eviction={rule!r} is not a rule of the default "
                              f"victims(); choose one of {', '.join(EVICTION_RULES)}, or implement victims")

    # --- hooks -------------------------------------------------------------------------
    def queue_key(self, view: SchedulerView, ids: np.ndarray) -> np.ndarray | None:
        """A static sort key for newly queued requests, or None for FCFS order.

        The engine keeps ``view.waiting`` sorted by (key, id). Called when requests join the
        queue (on arrival or after an eviction)."""
        return None

    def preempt(self, view: SchedulerView) -> Sequence[int]:
        """Running ids to evict voluntarily before this round (default: none). Called only for
        a policy with ``voluntary_preemption`` true."""
        return ()

    def victims(self, view: SchedulerView, excess: int) -> Sequence[int]:
        """Running ids to evict because the batch needs ``excess`` tokens more than M in the
        coming round. Default rule: ``params.eviction`` if present, else newest first."""
        rule = getattr(self.params, "eviction", "newest")
        return cover_excess(view, order_victims(view, rule), excess)

    def admit(self, view: SchedulerView) -> Sequence[int]:
        """Waiting ids to start in the coming round. The batch must fit in M this round."""
        raise NotImplementedError

    def quiet_rounds(self, view: SchedulerView) -> int:
        """Rounds (>= 1) during which, if no request arrives or completes, this policy would
        neither admit nor preempt anything. The engine may skip them in one step.

        Default: unbounded when the queue is empty and the policy has no voluntary
        preemption, else 1 (step round by round)."""
        if len(view.waiting) == 0 and not self.voluntary_preemption:
            return INF_ROUNDS
        return 1

