"""FCFS, shortest-predicted-first and MC-SF: greedy admission under a memory check.

All three admit waiting requests one at a time in a queue order while a memory check
holds, stopping at the first candidate that fails (or skipping it, ``scan: skip``):

* ``mcsf``  -- MC-SF: shortest predicted output first, exact future-peak check.
* ``sf``    -- shortest predicted output first; ``check: future_peak`` (default, then
  identical to ``mcsf``) or ``check: current`` (greedy on the coming round's memory only).
* ``fcfs``  -- arrival order; with ``check: future_peak`` this is the MC-SF paper's
  MC-Benchmark.

A running request that outlives its prediction is assumed to need one more round
(see :func:`remaining_rounds`); if memory runs out anyway the eviction rule applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..sim.view import SchedulerView
from .base import EVICTION_RULES, INF_ROUNDS, Policy, check_choice
from .future_peak import PeakProfile, first_fit_any, remaining_rounds
from .registry import register_policy

CHECKS = ("future_peak", "current")
QUIET_HORIZON = 4096   # rounds quiet_rounds looks ahead for a blocked candidate's first fit
SCANS = ("stop", "skip")


@dataclass(frozen=True)
class AdmissionParams:
    """check: 'future_peak' | 'current'; scan: 'stop' at the first failing candidate or 'skip' it;
    eviction: rule used when a too-short prediction makes memory overflow."""

    check: str = "future_peak"
    scan: str = "stop"
    eviction: str = "newest"

    def validate(self) -> None:
        check_choice("check", self.check, CHECKS)
        check_choice("scan", self.scan, SCANS)
        check_choice("eviction", self.eviction, EVICTION_RULES)


class GreedyAdmission(Policy):
    """Shared admission loop. Subclasses choose the queue order via ``by_prediction``."""

    Params = AdmissionParams
    by_prediction = False

    def _est(self, view: SchedulerView, ids) -> np.ndarray:
        """Estimated output lengths (tokens) the policy plans with; default the point prediction."""
        return view.pred[ids]

    def queue_key(self, view, ids):
        return self._est(view, ids) if self.by_prediction else None

    def _profile(self, view: SchedulerView) -> PeakProfile:
        run = np.asarray(view.running)
        s, j = view.prompt[run], view.progress[run]
        return PeakProfile(self.capacity, remaining_rounds(self._est(view, run), j, s, self.capacity), s + j + 1)

    def _candidate(self, view: SchedulerView, i: int) -> tuple[int, int]:
        s = int(view.prompt[i])
        rem = int(remaining_rounds(self._est(view, slice(i, i + 1)), np.zeros(1, np.int64), view.prompt[i:i + 1],
                                   self.capacity)[0])
        return rem, s + 1

    @property
    def reads_predictions(self) -> bool:   # FCFS on current memory needs no prediction
        return self.by_prediction or self._check != "current"

    @property
    def _check(self) -> str:
        return getattr(self.params, "check", "future_peak")

    @property
    def _scan(self) -> str:
        return getattr(self.params, "scan", "stop")

    def admit(self, view: SchedulerView) -> Sequence[int]:
        out: list[int] = []
        if self._check == "current":
            free = view.free
            for i in view.waiting:
                need = int(view.prompt[i]) + 1
                if need <= free:
                    out.append(int(i)); free -= need
                elif self._scan == "stop":
                    break
            return out
        prof = self._profile(view)
        for i in view.waiting:
            rem, base = self._candidate(view, int(i))
            if prof.fits(rem, base):
                prof.add(rem, base); out.append(int(i))
            elif self._scan == "stop":
                break
        return out

    def quiet_rounds(self, view: SchedulerView) -> int:
        if len(view.waiting) == 0:
            return INF_ROUNDS
        if self._check == "current":
            return INF_ROUNDS  # memory only grows until a completion: no candidate can fit sooner
        # rounds until a blocked candidate could first pass the check (running set unchanged;
        # running requests that outlive their predictions meanwhile are accounted for): the
        # head for ``scan: stop``; for ``skip`` any waiting request
        w = np.asarray(view.waiting[:1] if self._scan == "stop" else view.waiting)
        s = view.prompt[w]
        rem = remaining_rounds(self._est(view, w), np.zeros(len(w), np.int64), s, self.capacity)
        return max(1, first_fit_any(self._profile(view), rem, s + 1, QUIET_HORIZON))


@register_policy
class FCFS(GreedyAdmission):
    """First come, first served with the future-peak check (MC-Benchmark)."""
    name = "fcfs"


@register_policy
class ShortestFirst(GreedyAdmission):
    """Shortest predicted output first."""
    name = "sf"
    by_prediction = True


@dataclass(frozen=True)
class McsfParams(AdmissionParams):
    def validate(self) -> None:
        super().validate()
        if self.check != "future_peak":
            raise ConfigError("mcsf always uses check='future_peak'; use algorithm=sf for other checks")


@register_policy
class MCSF(GreedyAdmission):
    """MC-SF (Jaillet et al. 2025): shortest predicted first, admitted while the exact
    future-peak check holds; started requests run to completion unless a too-short
    prediction overflows memory."""
    name = "mcsf"
    Params = McsfParams
    by_prediction = True
