"""An example user policy: shortest predicted first, with aging.

Shortest-first starves long requests under steady load. This policy ranks waiting requests
by ``predicted output (tokens) - aging * time waited (the run's time unit)``, so a request
that has waited long enough overtakes shorter newcomers. Admission uses MC-SF's exact
future-peak check on the predictions, and stops at the first candidate that does not fit.
It shows the three hooks a fast policy uses: ``queue_key`` (a fixed priority), ``admit`` and
``quiet_rounds`` (rounds the engine may skip).

Run it without touching the package::

    kvsched run plugins=[examples/aged_sf.py] algorithm=aged_sf algorithm.aging=5 \\
        trace=synthetic_mcsf trace.arrival_model=2 memory.capacity=auto latency=unit

``aging: 0`` is MC-SF's order (ties broken by arrival), which ``tests/test_plugins.py``
checks against the built-in ``mcsf``.
"""

from dataclasses import dataclass

import numpy as np

from kvsched.errors import ConfigError
from kvsched.policies import Policy, register_policy
from kvsched.policies.admission import QUIET_HORIZON
from kvsched.policies.base import INF_ROUNDS
from kvsched.policies.future_peak import PeakProfile, first_fit_any, remaining_rounds


@dataclass(frozen=True)
class Params:
    aging: float = 1.0   # tokens of predicted output forgiven per unit of time waited

    def validate(self) -> None:
        if not self.aging >= 0:
            raise ConfigError(f"aging must be >= 0, got {self.aging!r}")


@register_policy
class AgedShortestFirst(Policy):
    """Shortest predicted first with aging, under the future-peak check."""

    name = "aged_sf"
    Params = Params

    # Everything read here is public: arrivals, prompts, predictions, progress.
    def queue_key(self, view, ids):
        # pred - aging * (now - arrival) ranks requests as pred + aging * arrival: the "now" term
        # is the same for all, so the order never changes and the engine keeps view.waiting
        # sorted by this key (ties: arrival order)
        return view.pred[ids] + self.params.aging * view.arrival[ids]

    def _running_profile(self, view) -> PeakProfile:
        run = np.asarray(view.running)
        s, j = view.prompt[run], view.progress[run]
        return PeakProfile(view.capacity, remaining_rounds(view.pred[run], j, s, view.capacity), s + j + 1)

    def _rounds(self, view, ids):
        return remaining_rounds(view.pred[ids], np.zeros(len(ids), np.int64), view.prompt[ids], view.capacity)

    def admit(self, view):
        profile = self._running_profile(view)
        waiting = np.asarray(view.waiting)
        admitted = []
        for i, rem in zip(waiting.tolist(), self._rounds(view, waiting).tolist()):
            base = int(view.prompt[i]) + 1
            if not profile.fits(rem, base):
                break                      # the queue waits behind its head
            profile.add(rem, base)
            admitted.append(i)
        return admitted

    def quiet_rounds(self, view):
        """Rounds the engine may skip when nothing arrives or completes: until the head of the
        queue passes the check, nothing is admitted. Without this, the engine would call
        ``admit`` every round while requests wait (correct, but much slower)."""
        if len(view.waiting) == 0:
            return INF_ROUNDS
        head = np.asarray(view.waiting[:1])
        return max(1, first_fit_any(self._running_profile(view), self._rounds(view, head),
                                    view.prompt[head] + 1, horizon=QUIET_HORIZON))
