"""An example user policy: shortest predicted first, with aging.

Shortest-first starves long requests under steady load. This policy ranks waiting requests
by ``predicted output (tokens) - aging * time waited (the run's time unit)``, so a request
that has waited long enough overtakes shorter newcomers. Admission uses MC-SF's exact
future-peak check on the predictions, and stops at the first candidate that does not fit.

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
from kvsched.policies.future_peak import PeakProfile, remaining_rounds


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

    def admit(self, view):
        # Everything read here is public: arrivals, prompts, predictions, progress.
        run = np.asarray(view.running)
        s, j = view.prompt[run], view.progress[run]
        profile = PeakProfile(view.capacity, remaining_rounds(view.pred[run], j, s, view.capacity), s + j + 1)
        waiting = np.asarray(view.waiting)
        key = view.pred[waiting] - self.params.aging * (view.clock - view.arrival[waiting])
        admitted = []
        for i in waiting[np.argsort(key, kind="stable")]:   # ties: arrival order
            rem = int(remaining_rounds(view.pred[i:i + 1], np.zeros(1, np.int64), view.prompt[i:i + 1],
                                       view.capacity)[0])
            base = int(view.prompt[i]) + 1
            if not profile.fits(rem, base):
                break
            profile.add(rem, base)
            admitted.append(int(i))
        return admitted
