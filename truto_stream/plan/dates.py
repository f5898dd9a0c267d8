"""The days a sweep covers: ``DateRange``, lists of dates and the command line's forms (sans-IO).

Truto's per-day endpoints (Claude's ``usage-metering/users``) take ``date=YYYY-MM-DD`` and
describe that one day; a sweep over several days is one unit of work per (account, day).
Every date is checked before any request: malformed text and days after *today* (the UTC
date, unless the caller fixes it) are refused with :class:`ConfigurationError`, because the
server would refuse them one account at a time.

The command line's ``--date`` forms (:func:`parse_date_spec`)::

    2026-11-20                  that day
    2026-11-01..2026-11-27      every day from the first to the last, both included
    today, yesterday            relative to today (UTC)
    N-days-ago                  one day, N days before today (3-days-ago is Truto's default)
    last-N-days                 the N complete days before today (today excluded)
    this-month                  the first of this month up to yesterday
    last-month                  every day of the previous calendar month
    2026-11-01..yesterday       a range's ends may be relative too
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from truto_stream.errors import ConfigurationError

__all__ = [
    "MAX_DAYS",
    "DateRange",
    "Dates",
    "normalize_dates",
    "parse_date",
    "parse_date_spec",
    "utc_today",
]

#: The most days one sweep may cover (a bound on the plan: units are accounts x days).
MAX_DAYS: Final = 3660

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DAYS_AGO = re.compile(r"^(\d{1,4})-days?-ago$")
_LAST_DAYS = re.compile(r"^last-(\d{1,4})-days?$")


def utc_today() -> dt.date:
    """Today's date in UTC (what Truto's ``date`` parameters count from)."""
    return dt.datetime.now(dt.UTC).date()


def parse_date(value: str | dt.date) -> dt.date:
    """A ``YYYY-MM-DD`` string (or a :class:`datetime.date`) as a date.

    Raises :class:`ConfigurationError` for anything else, including datetimes (a day is
    meant, and a time zone would make it ambiguous).
    """
    if isinstance(value, dt.datetime):
        raise ConfigurationError(f"expected a date, got the datetime {value.isoformat()}")
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _ISO.match(value.strip()):
        raise ConfigurationError(f"malformed date {value!r}: expected YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigurationError(f"{value!r} is not a calendar date") from None


@dataclass(frozen=True)
class DateRange:
    """Every day from ``start`` to ``end``, both included (dates or ``YYYY-MM-DD``).

    ::

        DateRange("2026-11-01", "2026-11-27")      # 27 days
        DateRange.last(7)                          # the 7 complete days before today (UTC)
    """

    start: dt.date
    end: dt.date

    def __init__(self, start: str | dt.date, end: str | dt.date) -> None:
        first, last = parse_date(start), parse_date(end)
        if last < first:
            raise ConfigurationError(f"date range {first}..{last} ends before it starts")
        object.__setattr__(self, "start", first)
        object.__setattr__(self, "end", last)

    @classmethod
    def last(cls, days: int, *, today: dt.date | None = None) -> DateRange:
        """The ``days`` complete days before ``today`` (UTC by default; today excluded)."""
        if not isinstance(days, int) or days < 1:
            raise ConfigurationError(f"last(days): days must be an int >= 1, got {days!r}")
        today = today or utc_today()
        return cls(today - dt.timedelta(days=days), today - dt.timedelta(days=1))

    def __len__(self) -> int:
        return (self.end - self.start).days + 1

    def __iter__(self) -> Iterator[dt.date]:
        day = self.start
        while day <= self.end:
            yield day
            day += dt.timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.start}..{self.end}" if self.start != self.end else str(self.start)


#: What ``dates=`` accepts: a range, or any iterable of dates / ``YYYY-MM-DD`` strings.
Dates = DateRange | Iterable[str | dt.date]


def normalize_dates(dates: Dates, *, today: dt.date | None = None) -> tuple[str, ...]:
    """The days of ``dates`` as sorted, distinct ``YYYY-MM-DD`` strings.

    Raises :class:`ConfigurationError` when a date is malformed, after ``today`` (UTC by
    default), when there is none, or when there are more than :data:`MAX_DAYS`.
    """
    if isinstance(dates, str | dt.date):
        raise ConfigurationError("dates= takes a DateRange or a list of dates, not one date")
    if isinstance(dates, DateRange) and len(dates) > MAX_DAYS:
        raise ConfigurationError(f"{dates} covers {len(dates):,} days; at most {MAX_DAYS:,}")
    days = sorted({parse_date(d) for d in dates})
    if not days:
        raise ConfigurationError("dates= is empty: give at least one date")
    if len(days) > MAX_DAYS:
        raise ConfigurationError(f"{len(days):,} dates; at most {MAX_DAYS:,} per sweep")
    today = today or utc_today()
    if days[-1] > today:
        raise ConfigurationError(
            f"date {days[-1]} is in the future (today is {today} UTC): Truto refuses it"
        )
    return tuple(d.isoformat() for d in days)


def parse_date_spec(spec: str, *, today: dt.date | None = None) -> list[dt.date]:
    """The days one ``--date`` value names (see the module docstring for the forms).

    Raises :class:`ConfigurationError` for a malformed form or a range that ends before it
    starts; days in the future are refused later, by :func:`normalize_dates`.
    """
    today = today or utc_today()
    text = spec.strip().lower()
    if ".." in text:
        first, _, last = text.partition("..")
        if not first or not last:
            raise ConfigurationError(f"--date {spec!r}: a range needs both ends (A..B)")
        start, end = _one_day(first, today, spec), _one_day(last, today, spec)
        return list(DateRange(start, end))
    named = _named_range(text, today)
    if named is not None:
        return list(named)
    return [_one_day(text, today, spec)]


def _one_day(text: str, today: dt.date, spec: str) -> dt.date:
    if text == "today":
        return today
    if text == "yesterday":
        return today - dt.timedelta(days=1)
    ago = _DAYS_AGO.match(text)
    if ago:
        return today - dt.timedelta(days=int(ago.group(1)))
    if _ISO.match(text):
        return parse_date(text)
    raise ConfigurationError(
        f"--date {spec!r}: expected YYYY-MM-DD, A..B, today, yesterday, N-days-ago, "
        "last-N-days, this-month or last-month"
    )


def _named_range(text: str, today: dt.date) -> DateRange | None:
    last = _LAST_DAYS.match(text)
    if last:
        return DateRange.last(int(last.group(1)), today=today)
    first_of_month = today.replace(day=1)
    if text == "this-month":
        if today == first_of_month:
            raise ConfigurationError("--date this-month: today is the first, no complete day yet")
        return DateRange(first_of_month, today - dt.timedelta(days=1))
    if text == "last-month":
        end = first_of_month - dt.timedelta(days=1)
        return DateRange(end.replace(day=1), end)
    return None
