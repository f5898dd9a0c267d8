"""Retry decisions (sans-IO): which errors to retry, how long to wait, Retry-After parsing.

The policy follows Truto's documented error model through ``TrutoError.retryable``
(429; 500, 502, 504 and any 5xx but 503 with ``truto_is_remote_error``; transport
errors and timeouts; a body cut short or malformed) and never retries 400/401/403/404/409/422/503
(the official TypeScript SDK hot-loops on 503 and retries 409). Waits are full-jitter exponential
backoff, except that a server's ``Retry-After`` is honoured (never retried earlier than it
says, ``0`` meaning at once) up to ``max_retry_after``, so a vendor's ``Retry-After: 3600``
does not stall a sweep for an hour. ``max_attempts`` counts every attempt including the
first: ``max_attempts=1`` means no retry at all (no falsy-default tricks).
"""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from truto_stream.errors import ConfigurationError, HTTPError, TrutoError

__all__ = ["Backoff", "RetryPolicy", "SkipOnRetry", "parse_retry_after"]

# delta-seconds per RFC 9110 is digits only; a decimal fraction is tolerated.
_DELTA = re.compile(r"[0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how patiently to retry a request.

    ``retry_after_jitter`` (an addition to the brief) spreads retries that were all told
    the same ``Retry-After`` by up to that many seconds, always *after* the server's time.
    """

    max_attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    retry_after_jitter: float = 0.05

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be an int >= 1, got {self.max_attempts}")
        for name in ("base_delay", "max_delay", "max_retry_after", "retry_after_jitter"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ConfigurationError(f"{name} must be a finite number >= 0, got {value!r}")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value, or None if absent or invalid.

    Accepts delta-seconds (``"10"``, ``"0"``, ``"1.5"``) and HTTP-dates (IMF-fixdate and the
    obsolete RFC 850 and asctime forms; a zone-less asctime date is GMT). A date in the past
    gives ``0.0``; negative, empty or unparseable values give None. ``now`` is Unix time.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA.fullmatch(text):
        seconds = float(text)
        return seconds if math.isfinite(seconds) else None
    if text[0] in "+-" or text[0].isdigit():
        return None  # "-5", "1e3", "10s": not delta-seconds, and no HTTP-date starts so
    try:
        when = parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # asctime carries no zone; HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    try:
        delta = when.timestamp() - current
    except (OverflowError, OSError, ValueError):
        return None
    return max(0.0, delta)


_SHARED_RNG = random.Random()


class Backoff:
    """Retry bookkeeping for one logical request (or one stream with :meth:`reset`).

    Call :meth:`next_delay` after each failed attempt: it records the attempt and returns
    the seconds to wait before the next one, or None to give up and raise the error.
    """

    def __init__(self, policy: RetryPolicy, rng: random.Random | None = None) -> None:
        self.policy = policy
        # One shared generator by default: seeding a new one per page costs more than the
        # rest of the retry bookkeeping.
        self._rng = rng if rng is not None else _SHARED_RNG
        self.attempts = 0
        """Failed attempts recorded by :meth:`next_delay` since creation or :meth:`reset`."""

    def next_delay(self, error: BaseException) -> float | None:
        """Record a failed attempt; the delay before the next one, or None to give up."""
        self.attempts += 1
        if not isinstance(error, TrutoError) or not error.retryable:
            return None
        if self.attempts >= self.policy.max_attempts:
            return None
        policy = self.policy
        if isinstance(error, HTTPError) and error.retry_after is not None:
            wait = min(max(0.0, error.retry_after), policy.max_retry_after)
            # Never earlier than told; a little later so clients told the same time spread.
            return wait + self._rng.uniform(0.0, policy.retry_after_jitter)
        retry_index = self.attempts - 1  # 0 for the first retry
        # Cap the exponent: 2.0**1100 overflows, and the cap is reached long before.
        ceiling = min(policy.max_delay, policy.base_delay * 2.0 ** min(retry_index, 64))
        return self._rng.uniform(0.0, ceiling)

    @property
    def remaining(self) -> int:
        """Attempts the policy still allows (``max_attempts - attempts``, at least 0)."""
        return max(0, self.policy.max_attempts - self.attempts)

    def reset(self) -> None:
        """Start the budget again after progress (a page delivered, a stream moving)."""
        self.attempts = 0


class SkipOnRetry:
    """Which records of one page were handed on, so that a retry hands each on once.

    A retried attempt re-sends the same cursor and the answer starts again from the
    page's first record: the records earlier attempts handed on are dropped from it.
    Call :meth:`begin` before each attempt and pass every batch the attempt parses
    through :meth:`take`.
    """

    __slots__ = ("_at_begin", "_skip", "delivered")

    def __init__(self) -> None:
        self.delivered = 0
        """Records of this page handed on, over every attempt."""
        self._skip = 0
        self._at_begin = 0

    def begin(self) -> None:
        """A new attempt starts: its first ``delivered`` records are skipped."""
        self._skip = self._at_begin = self.delivered

    def take(self, records: list[Any]) -> list[Any] | None:
        """The records of this batch not handed on before (counted as handed on now).

        None when the whole batch was handed on by an earlier attempt.
        """
        if self._skip:
            if len(records) <= self._skip:
                self._skip -= len(records)
                return None
            records, self._skip = records[self._skip :], 0
        self.delivered += len(records)
        return records

    @property
    def progressed(self) -> bool:
        """Whether the current attempt handed on records no earlier attempt had."""
        return self.delivered > self._at_begin
