"""Retry decisions: what is retried, how long to wait, Retry-After in all its forms."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truto_stream import errors as e
from truto_stream._retry import Backoff, RetryPolicy, SkipOnRetry, parse_retry_after

NOW = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT


# --- parse_retry_after ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10", 10.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("007", 7.0),
        ("Sun, 06 Nov 1994 08:49:47 GMT", 10.0),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:47 GMT", 10.0),  # obsolete RFC 850
        ("Sun Nov  6 08:49:47 1994", 10.0),  # obsolete asctime, zone-less = GMT
        ("Sun, 06 Nov 1994 10:49:47 +0200", 10.0),
        ("Sun, 06 Nov 1994 08:00:00 GMT", 0.0),  # in the past
        ("Sat, 01 Jan 1980 00:00:00 GMT", 0.0),
    ],
)
def test_parse_retry_after_valid(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "-1",
        "-0.5",
        "+5",
        "1e3",
        "10s",
        "abc",
        "inf",
        "nan",
        "Sun, 99 Foo",
        "1.",
        ".5",
    ],
)
def test_parse_retry_after_invalid(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_parse_retry_after_defaults_to_wall_clock() -> None:
    soon = datetime.fromtimestamp(datetime.now(UTC).timestamp() + 3600, UTC)
    got = parse_retry_after(format_datetime(soon, usegmt=True))
    assert got is not None
    assert 3590 < got <= 3600


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(-(10**6), 10**6))
def test_parse_retry_after_dates_property(base: int, offset: int) -> None:
    now = 1_700_000_000.0 + base
    when = datetime.fromtimestamp(now + offset, UTC)
    got = parse_retry_after(format_datetime(when, usegmt=True), now=now)
    assert got == pytest.approx(max(0.0, float(offset)))
    assert parse_retry_after(str(offset), now=now) == (float(offset) if offset >= 0 else None)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_parse_retry_after_never_raises(value: str) -> None:
    got = parse_retry_after(value, now=NOW)
    assert got is None or got >= 0.0


# --- which errors are retried ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (e.error_for_status(400, {}), False),
        (e.error_for_status(401, {}), False),
        (e.error_for_status(401, {"truto_is_remote_error": True}), False),
        (e.error_for_status(403, {}), False),
        (e.error_for_status(404, {}), False),
        (e.error_for_status(409, {}), False),
        (e.error_for_status(422, {}), False),
        (e.error_for_status(503, {}), False),
        (e.error_for_status(503, {}, retry_after=1.0), False),
        (e.error_for_status(418, {}), False),
        (e.error_for_status(429, {}), True),
        (e.error_for_status(429, {"truto_is_remote_error": True}), True),
        (e.error_for_status(500, {}), True),
        (e.error_for_status(500, {"truto_is_remote_error": True}), True),
        (e.error_for_status(502, {}), True),
        (e.error_for_status(504, {}), True),
        (e.error_for_status(501, {}), False),
        (e.error_for_status(501, {"truto_is_remote_error": True}), True),
        (e.error_for_status(502, {"truto_is_remote_error": True}), True),
        (e.TransportError("reset"), True),
        (e.RequestTimeout("idle"), True),
        (e.TruncatedBody("cut"), True),
        (e.MalformedBody("bad"), True),
        (e.UnexpectedContentType("html"), False),
        (e.CursorLoop("loop"), False),
        (e.PageLimitExceeded("cap"), False),
        (e.ConfigurationError("cfg"), False),
        (ValueError("not ours"), False),
        (OSError("not wrapped"), False),
    ],
)
def test_retryable_classes(error: BaseException, retried: bool) -> None:
    backoff = Backoff(RetryPolicy(), random.Random(1))
    delay = backoff.next_delay(error)
    assert (delay is not None) is retried
    assert backoff.attempts == 1


def test_attempts_are_exhausted_and_reset() -> None:
    policy = RetryPolicy(max_attempts=3)
    backoff = Backoff(policy, random.Random(0))
    err = e.TransportError("x")
    assert backoff.next_delay(err) is not None  # attempt 1 failed -> retry
    assert backoff.next_delay(err) is not None  # attempt 2 failed -> retry
    assert backoff.remaining == 1
    assert backoff.next_delay(err) is None  # attempt 3 failed -> give up: 3 attempts in all
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.next_delay(err) is not None


def test_max_attempts_one_means_no_retry() -> None:
    assert Backoff(RetryPolicy(max_attempts=1)).next_delay(e.TransportError("x")) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": 1.5},
        {"base_delay": -1.0},
        {"max_delay": float("inf")},
        {"max_retry_after": float("nan")},
    ],
)
def test_policy_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(e.ConfigurationError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_retry_after_is_honoured_and_clamped() -> None:
    policy = RetryPolicy(max_retry_after=60.0, retry_after_jitter=0.05)
    rng = random.Random(3)
    for ra, low, high in [(0.0, 0.0, 0.05), (10.0, 10.0, 10.05), (3600.0, 60.0, 60.05)]:
        backoff = Backoff(policy, rng)
        delay = backoff.next_delay(e.error_for_status(429, {}, retry_after=ra))
        assert delay is not None
        assert low <= delay <= high
    exact = Backoff(RetryPolicy(retry_after_jitter=0.0))
    assert exact.next_delay(e.error_for_status(502, {}, retry_after=2.0)) == 2.0


# --- delay bounds ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 80),
    st.floats(0.0, 5.0),
    st.floats(0.0, 100.0),
    st.integers(0, 2**32),
)
def test_full_jitter_bounds(max_attempts: int, base: float, cap: float, seed: int) -> None:
    policy = RetryPolicy(max_attempts=max_attempts, base_delay=base, max_delay=cap)
    backoff = Backoff(policy, random.Random(seed))
    err = e.error_for_status(502, {})
    delays: list[float] = []
    while (delay := backoff.next_delay(err)) is not None:
        retry_index = len(delays)
        assert 0.0 <= delay <= min(cap, base * 2.0**retry_index)
        delays.append(delay)
    assert len(delays) == max_attempts - 1
    assert backoff.attempts == max_attempts


def test_full_jitter_spreads_and_grows() -> None:
    policy = RetryPolicy(max_attempts=100, base_delay=1.0, max_delay=8.0)
    samples: dict[int, list[float]] = {i: [] for i in range(5)}
    rng = random.Random(42)
    for _ in range(400):
        backoff = Backoff(policy, rng)
        for i in range(5):
            delay = backoff.next_delay(e.TransportError("x"))
            assert delay is not None
            samples[i].append(delay)
    means = [sum(v) / len(v) for v in samples.values()]
    # Mean of uniform(0, c) is c/2: 0.5, 1, 2, 4, 4 (capped at 8).
    for mean, ceiling in zip(means, [1.0, 2.0, 4.0, 8.0, 8.0], strict=True):
        assert ceiling * 0.4 < mean < ceiling * 0.6


# --- SkipOnRetry -----------------------------------------------------------------------


@settings(max_examples=200)
@given(
    attempts=st.lists(
        st.tuples(st.integers(0, 60), st.lists(st.integers(1, 9), min_size=1, max_size=12)),
        min_size=1,
        max_size=6,
    )
)
def test_skip_on_retry_hands_each_record_on_once(
    attempts: list[tuple[int, list[int]]],
) -> None:
    # Each attempt re-reads the same records from the start, up to some point, in
    # batches of any size: what is handed on is the longest prefix, once, in order.
    records = list(range(60))
    skip = SkipOnRetry()
    out: list[int] = []
    for upto, sizes in attempts:
        skip.begin()
        before = skip.delivered
        i = 0
        for size in itertools.cycle(sizes):
            if i >= upto:
                break
            batch = records[i : min(upto, i + size)]
            i += len(batch)
            taken = skip.take(batch)
            if taken is not None:
                out.extend(taken)
        assert skip.progressed == (skip.delivered > before)
    assert out == records[: max(upto for upto, _ in attempts)]
    assert skip.delivered == len(out)


def test_skip_on_retry_returns_none_for_a_batch_delivered_before() -> None:
    skip = SkipOnRetry()
    skip.begin()
    assert skip.take([1, 2, 3]) == [1, 2, 3]
    skip.begin()
    assert skip.take([1, 2]) is None
    assert not skip.progressed
    assert skip.take([3, 4]) == [4]
    assert skip.progressed
    assert skip.take([]) == []  # an empty batch with nothing left to skip is handed on


# --- found by mutation testing (mutmut over _retry.py): each failed to fail before ----------


@pytest.mark.parametrize(
    "value",
    [
        "9" * 400,  # delta-seconds that overflow a float
        "21 Oct 2015 07:28:00 GMT",  # RFC 2822 without the day name: not an HTTP-date
        "1 Jan 2030 00:00:00 GMT",
    ],
)
def test_parse_retry_after_refuses_near_misses(value: str) -> None:
    assert parse_retry_after(value, now=0) is None


def test_a_zoneless_date_is_gmt_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        now = datetime(1994, 11, 6, 8, 49, 0, tzinfo=UTC).timestamp()
        assert parse_retry_after("Sun Nov  6 08:49:37 1994", now=now) == 37.0
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_backoff_draws_from_the_generator_it_is_given() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=100.0)
    delays = [Backoff(policy, random.Random(7)).next_delay(e.ServerError(502)) for _ in range(3)]
    assert delays[0] == delays[1] == delays[2] == random.Random(7).uniform(0.0, 1.0)


def test_policy_errors_name_the_field() -> None:
    with pytest.raises(e.ConfigurationError, match="max_attempts must be an int >= 1, got 0"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(e.ConfigurationError, match="max_delay must be a finite number >= 0"):
        RetryPolicy(max_delay=-1)


def test_a_batch_exactly_as_long_as_the_skip_is_none() -> None:
    skip = SkipOnRetry()
    skip.begin()
    assert skip.take([1, 2]) == [1, 2]
    skip.begin()  # a retry: the first two records were handed on already
    assert skip.take(["a", "b"]) is None
    assert skip.take(["c"]) == ["c"]
