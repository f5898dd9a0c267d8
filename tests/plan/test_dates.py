"""Dates a sweep covers: DateRange, normalisation and the --date forms (sans-IO)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truto_stream.errors import ConfigurationError
from truto_stream.plan.dates import (
    MAX_DAYS,
    DateRange,
    normalize_dates,
    parse_date,
    parse_date_spec,
)

TODAY = dt.date(2026, 11, 29)
days = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))


def test_parse_date_takes_iso_days_only() -> None:
    assert parse_date("2026-11-20") == dt.date(2026, 11, 20)
    assert parse_date(dt.date(2026, 1, 2)) == dt.date(2026, 1, 2)
    for bad in ("2026-11", "20-11-2026", "2026/11/20", "", "2026-11-20T00:00:00"):
        with pytest.raises(ConfigurationError, match="malformed date"):
            parse_date(bad)
    with pytest.raises(ConfigurationError, match="not a calendar date"):
        parse_date("2026-02-30")
    with pytest.raises(ConfigurationError, match="datetime"):
        parse_date(dt.datetime(2026, 1, 2, 3, 4))


def test_a_range_includes_both_ends() -> None:
    r = DateRange("2026-11-01", "2026-11-27")
    assert len(r) == 27 == len(list(r))
    assert next(iter(r)) == dt.date(2026, 11, 1) and list(r)[-1] == dt.date(2026, 11, 27)
    assert str(r) == "2026-11-01..2026-11-27"
    assert str(DateRange("2026-11-01", "2026-11-01")) == "2026-11-01"
    with pytest.raises(ConfigurationError, match="ends before it starts"):
        DateRange("2026-11-02", "2026-11-01")


def test_last_days_are_the_complete_days_before_today() -> None:
    r = DateRange.last(7, today=TODAY)
    assert (r.start, r.end) == (dt.date(2026, 11, 22), dt.date(2026, 11, 28))
    with pytest.raises(ConfigurationError):
        DateRange.last(0, today=TODAY)


def test_normalize_sorts_dedupes_and_refuses_the_future() -> None:
    got = normalize_dates(["2026-11-20", dt.date(2026, 11, 19), "2026-11-20"], today=TODAY)
    assert got == ("2026-11-19", "2026-11-20")
    assert normalize_dates(DateRange("2026-11-28", "2026-11-29"), today=TODAY)[-1] == "2026-11-29"
    with pytest.raises(ConfigurationError, match="in the future"):
        normalize_dates(DateRange("2026-11-28", "2026-11-30"), today=TODAY)
    with pytest.raises(ConfigurationError, match="empty"):
        normalize_dates([], today=TODAY)
    with pytest.raises(ConfigurationError, match="not one date"):
        normalize_dates("2026-11-20", today=TODAY)
    with pytest.raises(ConfigurationError, match="at most"):
        normalize_dates(DateRange("1990-01-01", "2026-01-01"), today=TODAY)
    assert len(normalize_dates(DateRange.last(MAX_DAYS, today=TODAY), today=TODAY)) == MAX_DAYS


@pytest.mark.parametrize(
    ("spec", "first", "last", "count"),
    [
        ("2026-11-20", "2026-11-20", "2026-11-20", 1),
        ("2026-11-01..2026-11-27", "2026-11-01", "2026-11-27", 27),
        ("today", "2026-11-29", "2026-11-29", 1),
        ("yesterday", "2026-11-28", "2026-11-28", 1),
        ("3-days-ago", "2026-11-26", "2026-11-26", 1),
        ("last-7-days", "2026-11-22", "2026-11-28", 7),
        ("last-1-day", "2026-11-28", "2026-11-28", 1),
        ("this-month", "2026-11-01", "2026-11-28", 28),
        ("last-month", "2026-10-01", "2026-10-31", 31),
        ("2026-11-25..yesterday", "2026-11-25", "2026-11-28", 4),
        (" Last-7-Days ", "2026-11-22", "2026-11-28", 7),
    ],
)
def test_date_spec_forms(spec: str, first: str, last: str, count: int) -> None:
    got = parse_date_spec(spec, today=TODAY)
    assert (got[0].isoformat(), got[-1].isoformat(), len(got)) == (first, last, count)


def test_this_month_on_the_first_and_last_month_in_january() -> None:
    with pytest.raises(ConfigurationError, match="no complete day"):
        parse_date_spec("this-month", today=dt.date(2026, 11, 1))
    got = parse_date_spec("last-month", today=dt.date(2026, 1, 15))
    assert (got[0], got[-1]) == (dt.date(2025, 12, 1), dt.date(2025, 12, 31))


@pytest.mark.parametrize(
    "spec",
    [
        "2026-11",
        "last-x-days",
        "..2026-11-01",
        "2026-11-01..",
        "next-week",
        "2026-11-05..2026-11-01",
        "2026-13-01",
        "last--7-days",
    ],
)
def test_malformed_date_specs_are_configuration_errors(spec: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_date_spec(spec, today=TODAY)


@given(days, days)
def test_a_range_spec_is_every_day_between(a: dt.date, b: dt.date) -> None:
    first, last = min(a, b), max(a, b)
    got = parse_date_spec(f"{first}..{last}", today=TODAY)
    assert got[0] == first and got[-1] == last
    assert len(got) == (last - first).days + 1
    assert all((y - x).days == 1 for x, y in itertools.pairwise(got))


@given(st.integers(min_value=1, max_value=2000), days)
def test_last_n_days_is_n_days_ending_yesterday(n: int, today: dt.date) -> None:
    got = parse_date_spec(f"last-{n}-days", today=today)
    assert len(got) == n and got[-1] == today - dt.timedelta(days=1)


# -- found by mutation testing (docs/mutation.md): a given today is the one used, and
# each refusal says what it refuses


def test_a_given_today_is_used_not_the_clock() -> None:
    later = dt.date(2099, 1, 10)  # after the real clock's today
    assert normalize_dates(["2099-01-09"], today=later) == ("2099-01-09",)
    assert DateRange.last(2, today=later) == DateRange("2099-01-08", "2099-01-09")
    assert parse_date_spec("yesterday..today", today=later) == [
        dt.date(2099, 1, 9),
        dt.date(2099, 1, 10),
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: DateRange.last(0, today=TODAY), "last(days): days must be an int >= 1, got 0"),
        (
            lambda: normalize_dates("2026-11-01", today=TODAY),
            "dates= takes a DateRange or a list of dates, not one date",
        ),
        (lambda: normalize_dates([], today=TODAY), "dates= is empty: give at least one date"),
        (
            lambda: normalize_dates([TODAY - dt.timedelta(days=d) for d in range(MAX_DAYS + 1)]),
            f"{MAX_DAYS + 1:,} dates; at most {MAX_DAYS:,} per sweep",
        ),
        (
            lambda: normalize_dates(["2026-11-28", "2026-12-02", "2026-12-01"], today=TODAY),
            "date 2026-12-02 is in the future (today is 2026-11-29 UTC): Truto refuses it",
        ),
        (
            lambda: parse_date_spec("..2026-11-01", today=TODAY),
            "--date '..2026-11-01': a range needs both ends (A..B)",
        ),
        (
            lambda: parse_date_spec("2026-11-01..", today=TODAY),
            "--date '2026-11-01..': a range needs both ends (A..B)",
        ),
        (
            lambda: parse_date_spec(" Someday ", today=TODAY),
            "--date ' Someday ': expected YYYY-MM-DD, A..B, today, yesterday, N-days-ago, "
            "last-N-days, this-month or last-month",
        ),
        (
            lambda: parse_date_spec("2026-11-01..Someday", today=TODAY),
            "--date '2026-11-01..Someday': expected YYYY-MM-DD",
        ),
        (
            lambda: parse_date_spec("Someday..2026-11-01", today=TODAY),
            "--date 'Someday..2026-11-01': expected YYYY-MM-DD",
        ),
        (
            lambda: parse_date_spec("this-month", today=dt.date(2026, 11, 1)),
            "--date this-month: today is the first, no complete day yet",
        ),
    ],
)
def test_each_refusal_says_what_it_refuses(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        call()
    assert str(caught.value).startswith(message)
