"""The MC-SF future-peak check (Jaillet et al., arXiv 2502.07115).

Time offsets ``tau = 0, 1, ...`` count rounds from the coming round. A request with
``base`` = its memory in the coming round (``s + progress + 1`` tokens) and ``rem``
predicted rounds left holds ``base + tau`` tokens at offset ``tau < rem``. Memory only
grows between completions, so the peak over all future rounds is attained at some
request's last predicted round ``tau = rem - 1``: checking those checkpoints is exact.
"""

from __future__ import annotations

import numpy as np


class PeakProfile:
    """Predicted memory of a set of requests from the coming round on (tokens)."""

    __slots__ = ("cap", "rem", "base", "_suffix")

    def __init__(self, capacity: int, rem: np.ndarray, base: np.ndarray):
        self.cap = int(capacity)
        order = np.argsort(rem, kind="stable")
        self.rem = np.asarray(rem, dtype=np.int64)[order]
        self.base = np.asarray(base, dtype=np.int64)[order]
        self._update()

    def _update(self) -> None:
        # suffix[m] = sum(base[m:]); suffix[len] = 0
        self._suffix = np.concatenate((np.cumsum(self.base[::-1])[::-1], [0]))

    def usage_at(self, tau: np.ndarray) -> np.ndarray:
        """Memory (tokens) at offsets ``tau`` of the requests in the profile."""
        idx = np.searchsorted(self.rem, tau, side="right")  # first with rem > tau
        return self._suffix[idx] + tau * (len(self.rem) - idx)

    def fits(self, rem: int, base: int, delay: int = 0) -> bool:
        """Whether a request with ``rem`` rounds and coming-round memory ``base``, started
        ``delay`` rounds from now, keeps every future round within capacity."""
        end = delay + rem - 1                      # its last round (offset)
        taus = self.rem - 1
        over = taus[(taus >= delay) & (taus <= end)]
        if len(over) and np.any(self.usage_at(over) + base + (over - delay) > self.cap):
            return False
        return bool(self.usage_at(np.array([end]))[0] + base + rem - 1 <= self.cap)

    def add(self, rem: int, base: int) -> None:
        i = int(np.searchsorted(self.rem, rem, side="right"))
        self.rem = np.insert(self.rem, i, rem)
        self.base = np.insert(self.base, i, base)
        self._update()

    def first_fit_delay(self, rem: int, base: int, horizon: int) -> int:
        """Smallest delay ``d`` in ``[0, horizon)`` at which the candidate would fit if the
        check were made ``d`` rounds from now with the same requests running, else ``horizon``.

        Estimates are fixed between events, so the profile built ``d`` rounds later follows
        from this one: each item has ``max(rem - d, 1)`` rounds left and holds ``base + d``.
        Items with ``rem <= d`` have outlived their prediction by then: they count for that
        coming round only (the whole batch must fit in it), not at later checkpoints.
        Vectorised over all delays: used to skip rounds while the head of the queue waits."""
        if horizon <= 0:
            return 0
        k = len(self.rem)
        # the coming round holds the whole batch, grown by d each: every delay from last on fails
        last = horizon if k == 0 else min(horizon, (self.cap - base - int(self._suffix[0])) // k + 1)
        if last <= 0:
            return int(horizon)
        d = np.arange(last, dtype=np.int64)[:, None]              # (H,1)
        taus = (self.rem - 1)[None, :]                            # (1,k)
        use = self.usage_at(self.rem - 1)[None, :]
        inside = (taus >= d) & (taus <= d + rem - 1)
        bad = np.any(inside & (use + base + (taus - d) > self.cap), axis=1)
        end = d[:, 0] + rem - 1
        bad |= self.usage_at(end) + base + rem - 1 > self.cap
        ok = np.flatnonzero(~bad)
        return int(ok[0]) if len(ok) else int(horizon)


def first_fit_any(profile: PeakProfile, rem: np.ndarray, base: np.ndarray, horizon: int) -> int:
    """Fewest rounds from now until any candidate (``rem`` predicted rounds, ``base`` tokens in
    its first round) would pass the check, the running set being unchanged; ``horizon`` if none
    does sooner. The search stops at the first value <= 1, so 0 and 1 both mean "now or in
    the next round" (``quiet_rounds`` is at least 1 anyway).

    Until a request arrives or completes, a policy that admits only candidates passing the
    check admits nothing before this round, so its ``quiet_rounds`` may skip to it. A
    candidate with no more rounds and no more memory than another fits whenever that one
    does, so only the Pareto-minimal (rounds, memory) pairs are tried."""
    rem, base = np.asarray(rem, dtype=np.int64), np.asarray(base, dtype=np.int64)
    order = np.lexsort((base, rem))
    rem, base = rem[order], base[order]
    prev = np.concatenate(([np.iinfo(np.int64).max], np.minimum.accumulate(base)[:-1]))
    keep = base < prev            # less memory than every shorter candidate
    best = int(horizon)
    for r, b in zip(rem[keep].tolist(), base[keep].tolist()):
        best = profile.first_fit_delay(r, b, horizon=best)
        if best <= 1:
            break
    return best


def remaining_rounds(pred: np.ndarray, progress: np.ndarray, prompt: np.ndarray, capacity: int) -> np.ndarray:
    """Predicted rounds left: ``pred - progress``, at least 1 (a running request that
    outlived its prediction needs at least one more round), and at most what memory can
    ever hold (``M - s - progress``)."""
    rem = np.maximum(pred - progress, 1)
    return np.minimum(rem, np.maximum(capacity - prompt - progress, 1))
