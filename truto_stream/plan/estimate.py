"""How many requests a plan will make, and the least time Truto's rate limits allow (sans-IO).

Requests per unit need the account's size, which Truto does not tell before the walk
(neither the account listing nor the meta schema carries it): the estimate assumes
``records_per_unit`` records in every unit and says so. A paged unit of ``n`` records at
``p`` per request takes ``max(1, ceil(n / p))`` requests; an endpoint that answers in one
page, or a stream, takes one.

The time floor: a sliding window of ``limit`` requests per ``window`` seconds lets ``n``
requests go no faster than the ``(k * limit + 1)``-th one a window after the
``((k - 1) * limit + 1)``-th, so the last one leaves at least ``floor((n - 1) / limit)``
windows after the first. That bounds the whole sweep (per token) and the busiest
integrated account (per account, whatever its units).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_RECORDS_PER_UNIT",
    "Estimate",
    "RateCeiling",
    "estimate",
    "format_duration",
    "requests_per_unit",
    "window_floor",
]

#: What the estimate assumes an account holds, when nobody says (a typical organisation).
DEFAULT_RECORDS_PER_UNIT: Final = 1000


@dataclass(frozen=True)
class RateCeiling:
    """The rate limits the time floor is computed for (Truto's published ones by default)."""

    token_limit: int = 500
    account_limit: int = 50
    window: float = 10.0

    def describe(self) -> str:
        return (
            f"{self.token_limit}/{_secs(self.window)} per token, "
            f"{self.account_limit}/{_secs(self.window)} per account"
        )


@dataclass(frozen=True)
class UnitGroup:
    """Units that cost the same: ``units`` of one account, ``per_unit`` requests each."""

    account_id: str
    integration: str | None
    units: int
    per_unit: int


@dataclass(frozen=True)
class Estimate:
    """Requests a plan will make and the least time the rate limits allow for them."""

    requests: int
    units: int
    records_per_unit: int
    by_integration: dict[str, int]
    busiest_account: str | None
    busiest_account_requests: int
    token_floor_s: float
    account_floor_s: float
    ceiling: RateCeiling

    @property
    def floor_s(self) -> float:
        """At least this long at the ceiling's limits (the larger of the two floors)."""
        return max(self.token_floor_s, self.account_floor_s)

    def summary(self) -> str:
        """``~12,400 requests, at least 4 min 8 s at Truto's limits``."""
        return (
            f"~{self.requests:,} requests, at least {format_duration(self.floor_s)} "
            f"at the rate limits ({self.ceiling.describe()})"
        )


def window_floor(requests: int, limit: int, window: float) -> float:
    """The least time from the first to the last of ``requests`` under a sliding window."""
    if requests <= 1 or limit <= 0:
        return 0.0
    return ((requests - 1) // limit) * window


def requests_per_unit(records: int, per_request: int | None, *, paged: bool) -> int:
    """Requests one unit of ``records`` takes at ``per_request`` records per request."""
    if not paged or per_request is None:
        return 1
    return max(1, math.ceil(records / per_request))


def estimate(
    groups: Iterable[UnitGroup], *, records_per_unit: int, ceiling: RateCeiling
) -> Estimate:
    """Add up ``groups`` (one per account) into an :class:`Estimate`."""
    total = units = 0
    by_integration: dict[str, int] = {}
    busiest: str | None = None
    busiest_requests = 0
    for group in groups:
        cost = group.units * group.per_unit
        total += cost
        units += group.units
        name = group.integration or "unknown"
        by_integration[name] = by_integration.get(name, 0) + cost
        if cost > busiest_requests:
            busiest, busiest_requests = group.account_id, cost
    return Estimate(
        requests=total,
        units=units,
        records_per_unit=records_per_unit,
        by_integration=by_integration,
        busiest_account=busiest,
        busiest_account_requests=busiest_requests,
        token_floor_s=window_floor(total, ceiling.token_limit, ceiling.window),
        account_floor_s=window_floor(busiest_requests, ceiling.account_limit, ceiling.window),
        ceiling=ceiling,
    )


def format_duration(seconds: float) -> str:
    """``0 s``, ``12 s``, ``4 min 8 s``, ``2 h 5 min`` (rounded to the second)."""
    total = max(0, math.ceil(seconds - 1e-9))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def _secs(window: float) -> str:
    return f"{window:g} s"
