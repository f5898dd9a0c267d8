"""Request estimates and the rate limits' time floor (sans-IO)."""

from __future__ import annotations

import bisect

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truto_stream.plan.estimate import (
    RateCeiling,
    UnitGroup,
    estimate,
    format_duration,
    requests_per_unit,
    window_floor,
)


def earliest_finish(n: int, limit: int, window: float) -> float:
    """Send ``n`` requests as early as a sliding window of ``limit`` per ``window`` allows
    (at most ``limit`` in any half-open ``[t, t + window)``); the last one's time."""
    sent: list[float] = []
    t = 0.0
    for _ in range(n):
        while True:
            i = bisect.bisect_right(sent, t - window)  # those still in [t - window, t]
            if len(sent) - i < limit:
                break
            t = sent[len(sent) - limit] + window
        sent.append(t)
    return sent[-1] if sent else 0.0


@given(
    st.integers(min_value=0, max_value=400),
    st.integers(min_value=1, max_value=60),
    st.sampled_from([0.25, 1.0, 2.0, 10.0]),
)
def test_the_floor_is_the_earliest_a_sliding_window_allows(
    n: int, limit: int, window: float
) -> None:
    assert window_floor(n, limit, window) == pytest.approx(earliest_finish(n, limit, window))


def test_requests_per_unit() -> None:
    assert requests_per_unit(2500, 1000, paged=True) == 3
    assert requests_per_unit(2000, 1000, paged=True) == 2
    assert requests_per_unit(0, 1000, paged=True) == 1
    assert requests_per_unit(2500, None, paged=True) == 1
    assert requests_per_unit(2500, 100, paged=False) == 1


def test_estimate_adds_up_and_finds_the_busiest_account() -> None:
    groups = [
        UnitGroup("c1", "claude", units=30, per_unit=3),  # 90 requests on one account
        UnitGroup("o1", "openai", units=1, per_unit=25),
        UnitGroup("o2", "openai", units=1, per_unit=25),
        UnitGroup("x1", "cursor", units=1, per_unit=1),
    ]
    est = estimate(groups, records_per_unit=2500, ceiling=RateCeiling())
    assert (est.requests, est.units) == (141, 33)
    assert est.by_integration == {"claude": 90, "openai": 50, "cursor": 1}
    assert (est.busiest_account, est.busiest_account_requests) == ("c1", 90)
    assert est.token_floor_s == 0.0  # 141 requests fit in one 500-request window
    assert est.account_floor_s == 10.0  # but 90 on one account need two 50-request windows
    assert est.floor_s == 10.0
    assert est.summary().startswith("~141 requests, at least 10 s")


def test_the_issues_example() -> None:
    est = estimate(
        [UnitGroup(f"a{i}", "claude", 1, 31) for i in range(400)],
        records_per_unit=31_000,
        ceiling=RateCeiling(),
    )
    assert est.requests == 12_400
    assert format_duration(est.floor_s) == "4 min"  # (12,400 - 1) // 500 windows of 10 s


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (0.2, "1 s"), (12, "12 s"), (248, "4 min 8 s"), (240, "4 min"),
     (7500, "2 h 5 min"), (7200, "2 h")],
)  # fmt: skip
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
