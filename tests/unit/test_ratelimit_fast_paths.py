"""The rate budget's fast paths agree with the budget as it was before them, step by step.

Random sequences of bookings, sends, answers (early, late, later than a window), headers,
429s and evictions, on random clocks and small limits (so that windows fill, pause and
prune), are run through :mod:`truto_stream._ratelimit` and the frozen reference
(:mod:`tests.unit.ratelimit_reference`): every answer and every piece of state must match.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from tests.unit import ratelimit_reference as reference
from truto_stream._ratelimit import RateBudget, SlidingWindow

ACCOUNTS = ("a", "b", "c", None)
#: Random operations (bookings and answers weighted double).
OPS: tuple[str, ...] = ("tick", "reserve", "reserve", "rebook", "release", "sent", "settle")
OPS += ("settle", "observe", "429", "forget", "used")
STEPS = (0.0, 0.0, 1e-6, 0.01, 0.3, 0.9, 1.0, 2.5, 7.0)


def window_state(win: SlidingWindow | reference.SlidingWindow) -> tuple[Any, ...]:
    return (
        list(win._times),
        dict(win._in_flight),
        dict(win._overdue_at),
        win._overdue,
        win._paused_until,
        win._clock,
        win.limit,
    )


def budget_state(budget: RateBudget | reference.RateBudget) -> tuple[Any, ...]:
    accounts = {key: window_state(win) for key, win in budget._accounts.items()}
    return window_state(budget.token), accounts, budget._last_eviction, budget.token_bound


_header_names = st.sampled_from(
    [
        "ratelimit-limit",
        "RateLimit-Remaining",
        "ratelimit-reset",
        "x-ratelimit-remaining",
        "X-RateLimit-Limit",
        "RATELIMIT-RESET",
        "Retry-After",
    ]
)
_header_values = st.sampled_from(
    ["0", "1", "2", "3", "5", "2;w=1", "3;w=1.0", "4;w=2", "0.5", "nan", ""]
)
plain_headers_st = st.dictionaries(_header_names, _header_values, max_size=3) | st.just(
    {"Content-Type": "application/json"}
)
#: As aiohttp hands them: case-insensitive, a name maybe twice (the last one counts).
caseless_headers_st = st.lists(st.tuples(_header_names, _header_values), max_size=4).map(
    lambda pairs: CIMultiDictProxy(CIMultiDict([("Content-Length", "2"), *pairs]))
)
headers_st = plain_headers_st | caseless_headers_st


class Pair:
    """The new budget and the reference, driven alike; every answer compared."""

    def __init__(self, **limits: Any) -> None:
        self.new = RateBudget(**limits)
        self.old = reference.RateBudget(**limits)

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        got = getattr(self.new, name)(*args, **kwargs)
        want = getattr(self.old, name)(*args, **kwargs)
        assert got == want, (name, args)
        assert budget_state(self.new) == budget_state(self.old), (name, args)
        return got


def step(pair: Pair, data: st.DataObject, now: float, booked: list[list[Any]]) -> float:
    """One random operation (bookings are ``[account, slot, sent]``); the clock after it."""
    op = data.draw(st.sampled_from(OPS))
    waiting = [b for b in booked if not b[2]]
    out = [b for b in booked if b[2]]
    if op == "tick":
        return now + data.draw(st.sampled_from(STEPS))
    if op == "reserve":
        account = data.draw(st.sampled_from(ACCOUNTS))
        booked.append([account, pair.call("reserve", account, now), False])
    elif op == "rebook" and waiting:
        entry = data.draw(st.sampled_from(waiting))
        entry[1] = pair.call("rebook", entry[0], entry[1], now)
    elif op == "release" and waiting:
        entry = data.draw(st.sampled_from(waiting))
        pair.call("release", entry[0], entry[1])
        booked.remove(entry)
    elif op == "sent" and waiting:
        entry = data.draw(st.sampled_from(waiting))
        pair.call("sent", entry[0], entry[1])
        entry[2] = True
    elif op == "settle" and out:
        entry = data.draw(st.sampled_from(out))
        actual = now + data.draw(st.sampled_from((0.0, 0.0, -0.5, 0.2)))
        if data.draw(st.booleans()):
            pair.call("settle", entry[0], entry[1], actual)
        else:
            # The answer's headers with it, as the fetch loop settles a success: the same
            # as settling, then observing them at the same time.
            headers = data.draw(headers_st)
            pair.new.settle(entry[0], entry[1], actual, headers)
            pair.old.settle(entry[0], entry[1], actual)
            pair.old.observe_headers(entry[0], headers, actual)
            assert budget_state(pair.new) == budget_state(pair.old), ("settle+headers", entry)
        booked.remove(entry)
    elif op == "observe":
        account = data.draw(st.sampled_from(ACCOUNTS))
        pair.call("observe_headers", account, data.draw(headers_st), now)
    elif op == "429":
        account = data.draw(st.sampled_from(ACCOUNTS))
        retry_after = data.draw(st.sampled_from((None, 0.0, 0.4, 3.0)))
        pair.call("on_rate_limited", account, retry_after, now, remote=data.draw(st.booleans()))
    elif op == "forget":
        pair.call("forget_idle", now)
    elif op == "used":
        assert pair.new.token.used(now) == pair.old.token.used(now)
        assert len(pair.new.token) == len(pair.old.token)
    return now


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    token_limit=st.integers(1, 6),
    account_limit=st.integers(1, 4),
    window=st.sampled_from((1.0, 2.5)),
    safety_s=st.sampled_from((0.0, 0.01, 0.3)),
    max_pause=st.sampled_from((0.5, float("inf"))),
    start=st.sampled_from((0.0, 1000.0, 123456.789)),
    data=st.data(),
)
def test_the_fast_paths_agree_with_the_reference(
    token_limit: int,
    account_limit: int,
    window: float,
    safety_s: float,
    max_pause: float,
    start: float,
    data: st.DataObject,
) -> None:
    pair = Pair(
        token_limit=token_limit,
        account_limit=account_limit,
        window=window,
        safety_fraction=0.0,
        safety_s=safety_s,
        max_pause=max_pause,
    )
    now = start
    booked: list[list[Any]] = []
    for _ in range(data.draw(st.integers(1, 80))):
        now = step(pair, data, now, booked)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    limit=st.integers(1, 5),
    gaps=st.lists(st.sampled_from((0.0, 1e-9, 0.05, 0.25, 1.0, 1.5)), min_size=1, max_size=60),
    lateness=st.lists(st.sampled_from((0.0, 0.1, 2.0)), min_size=1, max_size=60),
)
def test_a_window_alone_agrees_with_the_reference(
    limit: int, gaps: list[float], lateness: list[float]
) -> None:
    """Book, send and answer on one window, answers coming late or more than a span late
    (overdue), as the client does: the times booked and the state always match."""
    new, old = (
        SlidingWindow(limit, 1.0, safety_s=0.1),
        reference.SlidingWindow(limit, 1.0, safety_s=0.1),
    )
    now = 0.0
    for i, gap in enumerate(gaps):
        now += gap
        got, want = new.next_free(now), old.next_free(now)
        assert got == want
        for win in (new, old):
            win.record(got)
            win.sent(got)
        late = lateness[i % len(lateness)]
        if late < 1.0:
            now = max(now, got) + late
            new.answered(got, now)
            old.answered(got, now)
        assert window_state(new) == window_state(old)
        assert new.idle(now) == old.idle(now)
