"""What one response may cost in time and in decoded bytes (sans-IO).

- :class:`Timeouts` is the user's configuration of every wait on one attempt.
- :class:`RateFloor` fails a body that arrives slower than ``Timeouts.min_rate``. It
  counts only the time spent *waiting for the server* (inside a read that found nothing
  buffered): while the caller is slow and the body waits in buffers, no time is
  counted, so backpressure never fails a healthy stream.
- :class:`CompressionLimits` and :class:`Inflation` bound what a compressed body may
  decode to, in total and as a ratio of the compressed bytes received, so that a few
  megabytes of gzip cannot cost minutes of CPU as gigabytes of whitespace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from truto_stream.errors import ConfigurationError

__all__ = [
    "INFLATION_ALLOWANCE",
    "CompressionLimits",
    "Inflation",
    "RateFloor",
    "Timeouts",
]


def _check_seconds(owner: object, *names: str, allow_none: bool = False) -> None:
    for name in names:
        value = getattr(owner, name)
        if value is None and allow_none:
            continue
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ConfigurationError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class Timeouts:
    """Bounds, in seconds, on each attempt at a request; each really cancels the attempt.

    - ``connect``: establishing a connection (pool wait included).
    - ``request``: the longest wait for a response's status and headers (None: no bound).
    - ``read_idle``: the longest silence while reading headers or body: no byte for this
      long fails the attempt (and it is retried). Before the headers it bounds the wait
      from when the request first has its connection (a wait for a pooled one is
      bounded by ``connect``, not this); in a body, each wait for the server's next bytes
      (as for ``min_rate``, a body waiting in buffers for a slow caller is not silence).
      0: no bound.
    - ``min_rate`` and ``rate_window``: a body must arrive at ``min_rate`` bytes per
      second or more on average over each ``rate_window`` seconds spent waiting for the
      server, else the attempt fails with :class:`~truto_stream.errors.TransferTooSlow`
      (and it is retried). This ends a body that trickles in a byte at a time, which
      ``read_idle`` alone never would. ``min_rate=0`` turns it off.

    There is no total time per request: a long healthy stream is never cut, and time
    spent waiting for a slow caller (backpressure) is never counted against the server.
    """

    connect: float = 10.0
    read_idle: float = 60.0
    request: float | None = 120.0
    min_rate: float = 100.0
    rate_window: float = 60.0

    def __post_init__(self) -> None:
        _check_seconds(self, "connect", "read_idle", "min_rate")
        _check_seconds(self, "request", allow_none=True)
        if not (isinstance(self.rate_window, int | float) and 0 < self.rate_window < math.inf):
            raise ConfigurationError(f"rate_window must be > 0, got {self.rate_window!r}")


class RateFloor:
    """Fails a transfer slower than ``min_rate`` bytes/s over windows of waiting time.

    Time is counted in consecutive windows of ``window`` seconds *spent waiting*; each
    window must bring ``min_rate * window`` bytes. Feed it with :meth:`record` after
    every read; bound each wait by :meth:`allowance`.
    """

    __slots__ = ("_got", "_need", "_waited", "min_rate", "window")

    def __init__(self, min_rate: float, window: float) -> None:
        self.min_rate = min_rate
        self.window = window
        self._need = min_rate * window
        self._waited = 0.0
        self._got = 0

    @property
    def enabled(self) -> bool:
        return self._need > 0

    def allowance(self) -> float:
        """How long the next wait may last before the floor is missed (inf if off)."""
        if not self.enabled:
            return math.inf
        left = self.window - self._waited
        return left if self._got < self._need else left + self.window

    def record(self, waited: float, received: int) -> bool:
        """A read waited ``waited`` seconds and brought ``received`` bytes: still fast enough?

        The bytes are counted at the end of the wait (in the window where it ended).
        """
        if not self.enabled:
            return True
        self._waited += max(0.0, waited)
        while self._waited >= self.window:
            if self._got < self._need:
                return False
            self._waited -= self.window
            self._got = 0
        self._got += received
        return True


#: A compressed body may always decode to this much, whatever its ratio: a small page of
#: very repetitive JSON is not a bomb.
INFLATION_ALLOWANCE: Final = 8 * 2**20


@dataclass(frozen=True)
class CompressionLimits:
    """What a compressed (gzip, deflate, br, zstd) response body may decode to.

    - ``max_decoded_bytes``: the decoded size of one body. The default (4 GiB) is several
      times the largest real stream (one million users is about 600 MB).
    - ``max_ratio``: decoded bytes per compressed byte received so far, once a body has
      decoded past 8 MiB. Real JSON pages compress about 10x with gzip; a decompression
      bomb, 1,000x and more.

    A body past either fails its page with :class:`~truto_stream.errors.BodyTooLarge`,
    which is not retried. None turns a limit off. An uncompressed body is bounded by
    the time it takes to arrive instead (see :class:`Timeouts`).
    """

    max_decoded_bytes: int | None = 4 * 2**30
    max_ratio: float | None = 200.0

    def __post_init__(self) -> None:
        size, ratio = self.max_decoded_bytes, self.max_ratio
        if size is not None and (not isinstance(size, int) or size < 1):
            raise ConfigurationError(f"max_decoded_bytes must be an int >= 1, got {size!r}")
        if ratio is not None and (
            not isinstance(ratio, int | float) or not math.isfinite(ratio) or ratio < 1
        ):
            raise ConfigurationError(f"max_ratio must be a finite number >= 1, got {ratio!r}")


class Inflation:
    """Checks a compressed body's decoded size against :class:`CompressionLimits`."""

    __slots__ = ("_limits",)

    def __init__(self, limits: CompressionLimits) -> None:
        self._limits = limits

    def excess(self, decoded: int, compressed: int) -> str | None:
        """Why ``decoded`` bytes from ``compressed`` ones is too much, or None if it is not."""
        size, ratio = self._limits.max_decoded_bytes, self._limits.max_ratio
        if size is not None and decoded > size:
            return f"it decoded past max_decoded_bytes={size}"
        if ratio is not None and decoded > INFLATION_ALLOWANCE and decoded > ratio * compressed:
            return (
                f"{compressed} compressed bytes decoded to {decoded} "
                f"(more than max_ratio={ratio:g} times)"
            )
        return None
