"""The request workload: one record per request, stored as parallel arrays.

Times are in the workload's ``time_unit``: ``"s"`` (seconds, real traces) or
``"rounds"`` (unit rounds, theory generators). Sizes are in tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import TraceFormatError

SOURCE_ROW = "source_row"   # meta key: per request, its record in the trace file (0-based)


@dataclass(frozen=True)
class Workload:
    """A set of requests.

    Attributes:
        arrival: arrival times, float64, non-decreasing (seconds or rounds, see ``time_unit``).
        prompt: prompt (prefill) sizes in tokens, int64, >= 0.
        output: true output (decode) lengths in tokens, int64, >= 1. Hidden from policies.
        name: the trace's registry name.
        time_unit: ``"s"`` or ``"rounds"``.
        text: optional prompt texts (one per request), for content-based predictors.
        meta: free-form provenance (source file, sampling parameters, ...).
    """

    arrival: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    name: str = "custom"
    time_unit: str = "s"
    text: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        a = self._column(self.arrival, "arrival times", whole=False)
        s = self._column(self.prompt, "prompt sizes", whole=True)
        o = self._column(self.output, "output lengths", whole=True)
        object.__setattr__(self, "arrival", a)
        object.__setattr__(self, "prompt", s)
        object.__setattr__(self, "output", o)
        n = len(a)
        if len(s) != n or len(o) != n:
            raise TraceFormatError(
                f"workload {self.name!r}: arrays differ in length "
                f"(arrival {n}, prompt {len(s)}, output {len(o)})"
            )
        if self.text is not None and len(self.text) != n:
            raise TraceFormatError(f"workload {self.name!r}: {len(self.text)} texts for {n} requests")
        if self.time_unit not in ("s", "rounds"):
            raise TraceFormatError(f"workload {self.name!r}: time_unit must be 's' or 'rounds'")
        if n:
            if not np.all(np.isfinite(a)) or np.any(a < 0):
                raise TraceFormatError(f"workload {self.name!r}: arrival times must be finite and >= 0")
            if np.any(np.diff(a) < 0):
                raise TraceFormatError(f"workload {self.name!r}: arrival times must be non-decreasing")
            if np.any(s < 0):
                raise TraceFormatError(f"workload {self.name!r}: prompt sizes must be >= 0")
            if np.any(o < 1):
                i = int(np.argmax(o < 1))
                raise TraceFormatError(f"workload {self.name!r}: request {i} has output length {o[i]} < 1")

    def _column(self, x, what: str, whole: bool) -> np.ndarray:
        """``x`` as a 1-D float64 array, or int64 if ``whole`` (tokens): a fractional, NaN or
        non-numeric value is an error, not silently truncated."""
        v = np.asarray(x)
        try:
            if v.dtype.kind == "b":
                raise TypeError
            if v.dtype.kind not in "iuf":          # e.g. strings of digits
                v = v.astype(np.float64)
        except (TypeError, ValueError):
            raise TraceFormatError(f"workload {self.name!r}: {what} must be numbers") from None
        if v.ndim != 1:
            raise TraceFormatError(f"workload {self.name!r}: {what} must be a flat array, got shape {v.shape}")
        if not whole:
            return v.astype(np.float64, copy=False)
        if v.dtype.kind == "f":
            bad = ~np.isfinite(v) | (v != np.round(v))
            if np.any(bad):
                i = int(np.argmax(bad))
                raise TraceFormatError(f"workload {self.name!r}: {what} must be whole numbers of tokens "
                                       f"(request {i}: {v[i]:g})")
        return v.astype(np.int64, copy=False)

    def __len__(self) -> int:
        return len(self.arrival)

    def subset(self, idx: np.ndarray) -> "Workload":
        """The requests at positions ``idx`` (kept in arrival order)."""
        idx = np.sort(np.asarray(idx, dtype=np.int64))
        text = None if self.text is None else [self.text[i] for i in idx]
        n = len(self)
        # per-request metadata lists follow the selection; everything else is copied
        meta = {k: ([v[i] for i in idx] if isinstance(v, (list, tuple)) and len(v) == n and n > 0 else v)
                for k, v in self.meta.items()}
        return Workload(self.arrival[idx], self.prompt[idx], self.output[idx], self.name,
                        self.time_unit, text, meta)

    def with_arrivals(self, arrival: np.ndarray, time_unit: str | None = None) -> "Workload":
        """The same requests with new arrival times (must be non-decreasing)."""
        return Workload(np.asarray(arrival, dtype=np.float64), self.prompt, self.output, self.name,
                        time_unit or self.time_unit, self.text, dict(self.meta))
