"""Time bases: how long a scheduling round takes.

A round's duration depends on what it processes::

    T(round) = c0 + c_p * prefill_tokens + c_d * batch_size + c_kv * kv_tokens

``prefill_tokens`` are the prompt tokens of requests (re)started in the round,
``batch_size`` the number of requests that produce a token in it and ``kv_tokens``
the KV-cache tokens the batch holds in that round. The unit time base is the special
case ``T = 1`` (one round per time unit), as in the theory papers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class LinearLatency:
    """Linear round-time model. Coefficients in seconds (per token / per request).

    Attributes:
        c0: fixed cost of a round (s).
        c_p: cost per prefill token (s/token).
        c_d: cost per request in the batch (s/request).
        c_kv: cost per KV-cache token read (s/token).
        power_w: mean board power while busy (W), or None if unknown; energy = power_w * busy time.
        unit: ``"s"`` for seconds, ``"rounds"`` for the unit time base.
        name: a label recorded in results.
    """

    c0: float
    c_p: float = 0.0
    c_d: float = 0.0
    c_kv: float = 0.0
    power_w: float | None = None
    unit: str = "s"
    name: str = "linear"

    def __post_init__(self) -> None:
        for key in ("c0", "c_p", "c_d", "c_kv"):
            v = getattr(self, key)
            if not (math.isfinite(v) and v >= 0):
                raise ConfigError(f"LinearLatency {self.name!r}: {key}={v!r} must be finite and >= 0")
        if self.power_w is not None and not (math.isfinite(self.power_w) and self.power_w >= 0):
            raise ConfigError(f"LinearLatency {self.name!r}: power_w={self.power_w!r} must be >= 0 or None")
        if self.unit not in ("s", "rounds"):
            raise ConfigError(f"LinearLatency {self.name!r}: unit={self.unit!r}, expected 's' or 'rounds'")

    def round_time(self, prefill_tokens: float, batch_size: float, kv_tokens: float) -> float:
        """Duration (time units) of one round."""
        return self.c0 + self.c_p * prefill_tokens + self.c_d * batch_size + self.c_kv * kv_tokens

    def span(self, k: int, batch_size: int, kv0: float) -> float:
        """Duration of ``k`` decode-only rounds with a constant batch of ``batch_size`` requests,
        whose KV tokens are ``kv0`` in the first round and grow by ``batch_size`` per round."""
        if k <= 0:
            return 0.0
        per = self.c0 + self.c_d * batch_size + self.c_kv * kv0
        return k * per + self.c_kv * batch_size * k * (k - 1) / 2.0

    def rounds_within(self, dt: float, batch_size: int, kv0: float) -> int:
        """Smallest ``k >= 1`` with ``span(k) >= dt`` (``0`` if ``dt <= 0``): after that many
        decode-only rounds the clock has reached a point ``dt`` time units ahead.

        Raises ``ValueError`` if ``dt`` is not finite or the rounds take no time (no such ``k``)."""
        if dt <= 0:
            return 0
        if not math.isfinite(dt):
            raise ValueError(f"rounds_within: dt={dt!r} must be finite")
        # span(k) = a k^2 + b k, with a >= 0 and a + b = span(1) >= 0
        a = self.c_kv * batch_size / 2.0
        b = self.c0 + self.c_d * batch_size + self.c_kv * kv0 - a
        if a > 0:
            disc = math.sqrt(b * b + 4.0 * a * dt)
            # positive root of a k^2 + b k - dt, in the form that avoids cancellation
            root = 2.0 * dt / (b + disc) if b > 0 else (disc - b) / (2.0 * a)
        elif b > 0:
            root = dt / b
        else:
            raise ValueError(
                f"rounds_within: rounds take no time (batch_size={batch_size}, kv0={kv0}) in {self.name!r}"
            )
        k = max(math.ceil(root), 1)
        while k > 1 and self.span(k - 1, batch_size, kv0) >= dt:  # guard float rounding
            k -= 1
        while self.span(k, batch_size, kv0) < dt:
            k += 1
        return k

    @property
    def is_unit(self) -> bool:
        return self.unit == "rounds"


def unit_rounds() -> LinearLatency:
    """The theory's time base: every round lasts one time unit."""
    return LinearLatency(c0=1.0, unit="rounds", name="unit")
