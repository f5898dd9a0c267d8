"""Sliding-window rate limits (Truto: 500 / 10 s per token, 50 / 10 s per account)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = ["Decision", "SlidingWindow", "format_seconds"]


def format_seconds(value: float) -> str:
    """A header-friendly number: ``10`` for whole seconds, else up to 3 decimals."""
    if value <= 0:
        return "0"
    if float(value).is_integer():
        return str(int(value))
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text != "0" else "0.001"


@dataclass(frozen=True)
class Decision:
    """The outcome of one hit: allowed or not, the budget left and when a slot frees."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: float
    window_s: float

    def headers(self) -> dict[str, str]:
        """Truto's normalised ``ratelimit-*`` headers (none from a disabled limit: a
        ``0`` limit with ``0`` remaining would tell a client to pause)."""
        if self.limit <= 0:
            return {}
        return {
            "ratelimit-limit": f"{self.limit};w={format_seconds(self.window_s)}",
            "ratelimit-remaining": str(self.remaining),
            "ratelimit-reset": format_seconds(_ceil_ms(self.reset_s)),
        }


def _ceil_ms(value: float) -> float:
    # Round up to whole seconds when the window is in whole seconds, else to milliseconds.
    if value >= 1:
        return float(math.ceil(value))
    return math.ceil(value * 1000) / 1000


class SlidingWindow:
    """A sliding-window log per key: at most ``limit`` hits in any ``window_s`` seconds.

    Rejected hits are not recorded, so a client that waits for ``Retry-After`` gets in.
    ``limit <= 0`` disables the limit.
    """

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float) -> Decision:
        """Record a hit at ``now`` (monotonic seconds) if the window has room."""
        if self.limit <= 0:
            return Decision(True, 0, 0, 0.0, self.window_s)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        horizon = now - self.window_s
        while hits and hits[0] <= horizon:
            hits.popleft()
        allowed = len(hits) < self.limit
        if allowed:
            hits.append(now)
        reset = hits[0] + self.window_s - now if hits else 0.0
        return Decision(allowed, self.limit, self.limit - len(hits), max(reset, 0.0), self.window_s)

    def clear(self) -> None:
        """Forget every hit."""
        self._hits.clear()
