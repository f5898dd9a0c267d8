"""Rate budgets: never more than the server allows, close to the allowed rate, adaptive."""

from __future__ import annotations

import heapq
import math
import random
import time

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truto_stream._ratelimit import (
    RateBudget,
    RateLimiter,
    SlidingWindow,
    parse_ratelimit_limit,
)


def max_in_window(times: list[float], window: float) -> int:
    """The most requests any server-side sliding window of length ``window`` sees.

    The server counts requests in (x - window, x]; two requests share a window iff they
    are less than ``window`` apart.
    """
    ordered = sorted(times)
    best = j = 0
    for i, t in enumerate(ordered):
        while ordered[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


# --- SlidingWindow --------------------------------------------------------------------------


def test_window_basic_schedule() -> None:
    win = SlidingWindow(3, 10.0)
    got = []
    for _ in range(7):
        t = win.next_free(0.0)
        win.record(t)
        got.append(t)
    assert got == [0.0, 0.0, 0.0, 10.0, 10.0, 10.0, 20.0]


def test_window_keeps_bounded_history() -> None:
    win = SlidingWindow(5, 1.0)
    now = 0.0
    for _ in range(10_000):
        now = win.next_free(now)
        win.record(now)
        assert len(win) <= 6  # one window of past times plus the one just reserved ahead
    assert now == pytest.approx((10_000 // 5 - 1) * 1.0)


def test_window_out_of_order_reservations_fill_gaps() -> None:
    # A reservation far ahead (a throttled account) must not block the present...
    win = SlidingWindow(2, 10.0)
    win.record(30.0)
    assert win.next_free(0.0) == 0.0
    win.record(0.0)
    win.record(0.0)
    assert win.next_free(5.0) == 10.0
    win.record(25.0)
    # ...and the present must respect the future: every gap is used, none over-filled.
    sent = [0.0, 0.0, 25.0, 30.0]
    for expected in (10.0, 10.0, 20.0, 35.0, 40.0):
        t = win.next_free(10.0)
        assert t == expected
        win.record(t)
        sent.append(t)
    assert max_in_window(sent, 10.0) == 2


def test_window_pause_and_release() -> None:
    win = SlidingWindow(5, 10.0)
    win.pause_until(7.0)
    win.pause_until(3.0)  # never shortens a pause
    assert win.paused_until == 7.0
    assert win.next_free(1.0) == 7.0
    assert win.next_free(8.0) == 8.0
    win.record(8.0)
    win.release(8.0)
    win.release(123.0)  # absent: no-op
    assert len(win) == 0


def test_window_validation() -> None:
    with pytest.raises(ValueError, match="limit"):
        SlidingWindow(0, 10.0)
    with pytest.raises(ValueError, match="window"):
        SlidingWindow(1, 0.0)
    with pytest.raises(ValueError, match="safety"):
        SlidingWindow(1, 1.0, safety_s=-1.0)


def test_observe_remaining_zero_pauses_when_others_use_the_budget() -> None:
    win = SlidingWindow(50, 10.0, safety_s=0.2)
    win.observe(0, 4.0, now=100.0)
    assert win.next_free(100.0) == pytest.approx(104.2)
    win2 = SlidingWindow(50, 10.0)
    win2.observe(0, None, now=0.0)  # no reset header: a whole window
    assert win2.next_free(0.0) == 10.0


def test_observe_full_window_we_know_about_adds_no_pause() -> None:
    # Our own 50 requests filled the window: the server's "remaining 0, reset 10" is what
    # we already know; pausing 10 s after every full window would halve throughput.
    win = SlidingWindow(50, 10.0)
    for i in range(50):
        win.record(i * 0.2)
    win.observe(0, 10.0, now=9.8)
    assert win.next_free(9.8) == pytest.approx(10.0)


def test_observe_lower_remaining_tightens() -> None:
    win = SlidingWindow(10, 10.0)
    for _ in range(2):
        win.record(0.0)
    # We think 8 are left; the server says 3 (another client used 5).
    win.observe(3, 10.0, now=0.0)
    slots = []
    for _ in range(4):
        t = win.next_free(0.0)
        win.record(t)
        slots.append(t)
    assert slots[:3] == [0.0, 0.0, 0.0]
    assert slots[3] == pytest.approx(10.0)
    # Observing the same again adds nothing more (our view already agrees).
    before = len(win)
    win.observe(0, 10.0, now=0.0)
    assert len(win) == before


def test_observe_phantoms_expire_at_reset() -> None:
    win = SlidingWindow(4, 10.0)
    win.observe(1, 3.0, now=0.0)  # 3 used by others, their window frees in 3 s
    assert win.next_free(0.0) == 0.0
    win.record(0.0)
    assert win.next_free(0.0) == pytest.approx(3.0)
    win.observe(None, None, now=1.0)
    win.observe(10, 1.0, now=1.0)  # higher than ours: ignored
    assert win.next_free(1.0) == pytest.approx(3.0)


@settings(max_examples=150, deadline=None)
@given(
    limit=st.integers(1, 8),
    arrivals=st.lists(st.floats(0.0, 50.0), min_size=1, max_size=80),
    horizon=st.lists(st.floats(0.0, 30.0), max_size=10),
    seed=st.integers(0, 2**32),
)
def test_window_never_over_commits(
    limit: int, arrivals: list[float], horizon: list[float], seed: int
) -> None:
    """Any arrival order, with future reservations mixed in: no window ever over limit."""
    window, pad = 5.0, 0.3
    win = SlidingWindow(limit, window, safety_s=pad)
    rng = random.Random(seed)
    sent: list[float] = []
    extra = sorted(horizon)
    for now in sorted(arrivals):
        t = win.next_free(now)
        assert t >= now
        win.record(t)
        sent.append(t)
        if extra and rng.random() < 0.3:  # an out-of-order reservation further ahead
            ahead = now + extra.pop()
            far = win.next_free(now, not_before=ahead)
            assert far >= ahead
            win.record(far)
            sent.append(far)
    # On our clock: a padded span apart.
    assert max_in_window(sent, window + pad - 1e-9) <= limit
    # On the server's clock, with any latency jitter up to the pad: a window apart.
    arrived = [t + 0.05 + rng.uniform(0.0, pad) for t in sent]
    assert max_in_window(arrived, window) <= limit


# --- RateBudget -----------------------------------------------------------------------------


def test_budget_padding_and_defaults() -> None:
    budget = RateBudget()
    assert budget.pad == pytest.approx(0.22)
    assert budget.token.limit == 500
    assert budget.account("a").limit == 50


def test_budget_throttled_account_does_not_block_others() -> None:
    budget = RateBudget(
        token_limit=10, account_limit=2, window=10.0, safety_fraction=0.0, safety_s=0.0
    )
    a = [budget.reserve("A", 0.0) for _ in range(5)]
    assert a == [0.0, 0.0, 10.0, 10.0, 20.0]
    # B is free now even though A holds token slots at 10 and 20.
    assert budget.reserve("B", 0.0) == 0.0


def test_budget_reserve_alternates_to_a_common_free_time() -> None:
    budget = RateBudget(
        token_limit=3, account_limit=3, window=10.0, safety_fraction=0.0, safety_s=0.0
    )
    # Token: busy (full) around 0..10 through other accounts; account A paused until 5.
    for acc in ("x", "y", "z"):
        budget.reserve(acc, 0.0)
    budget.account("A").pause_until(5.0)
    assert budget.reserve("A", 0.0) == 10.0


@settings(max_examples=60, deadline=None)
@given(
    accounts=st.integers(1, 12),
    workers=st.integers(1, 40),
    seed=st.integers(0, 2**32),
    use_none=st.booleans(),
)
def test_budget_never_exceeds_server_limits(
    accounts: int, workers: int, seed: int, use_none: bool
) -> None:
    """Simulated concurrent workers on a fake clock; the server's rule checked per key."""
    token_limit, account_limit, window = 20, 5, 2.0
    budget = RateBudget(token_limit=token_limit, account_limit=account_limit, window=window)
    rng = random.Random(seed)
    by_account: dict[str | None, list[float]] = {}
    all_sent: list[float] = []
    ready = [(rng.uniform(0.0, 1.0), w) for w in range(workers)]
    heapq.heapify(ready)
    for _ in range(300):
        now, w = heapq.heappop(ready)
        acct: str | None = f"acc{rng.randrange(accounts)}"
        if use_none and rng.random() < 0.2:
            acct = None
        t = budget.reserve(acct, now)
        assert t >= now
        arrival = t + rng.uniform(0.0, budget.pad)  # latency jitter within the pad
        all_sent.append(arrival)
        if acct is not None:
            by_account.setdefault(acct, []).append(arrival)
        heapq.heappush(ready, (t + rng.uniform(0.0, 0.5), w))
    assert max_in_window(all_sent, window) <= token_limit
    for times in by_account.values():
        assert max_in_window(times, window) <= account_limit


def test_long_run_achieves_95_percent_of_token_rate() -> None:
    budget = RateBudget()  # 500 / 10 s per token, 50 / 10 s per account
    rng = random.Random(7)
    ready = [(0.0, w) for w in range(64)]
    sent: list[float] = []
    n = 20_000
    for _ in range(n):
        now, w = heapq.heappop(ready)
        t = budget.reserve(f"acc{rng.randrange(40)}", now)  # 40 accounts: token binds
        sent.append(t)
        heapq.heappush(ready, (t + rng.uniform(0.05, 0.3), w))
    assert max_in_window(sent, 10.0) <= 500
    rate = n / (max(sent) - min(sent) + 10.0)  # the last window still counts
    assert rate >= 0.95 * 50.0
    assert budget.accounts_tracked <= 40


def test_long_run_achieves_95_percent_of_account_rate() -> None:
    budget = RateBudget()
    now, sent = 0.0, []
    for _ in range(5_000):
        t = budget.reserve("only", now)
        sent.append(t)
        now = t + 0.01
    assert max_in_window(sent, 10.0) <= 50
    rate = len(sent) / (sent[-1] - sent[0] + 10.0)
    assert rate >= 0.95 * 5.0
    # Bounded memory: one window's worth of times.
    assert len(budget.account("only")) <= 50
    assert len(budget.token) <= 500


def test_on_rate_limited_pauses_the_right_budget() -> None:
    budget = RateBudget()
    budget.on_rate_limited("A", 10.0, 100.0, remote=False)
    assert budget.reserve("A", 100.0) == 110.0
    assert budget.reserve("B", 100.0) == 100.0
    budget.on_rate_limited("B", None, 100.0, remote=True)  # default: a padded window
    assert budget.reserve("B", 100.0) == pytest.approx(110.22)
    assert budget.token.paused_until == -math.inf  # a vendor 429 never pauses the token
    budget.on_rate_limited(None, 3.0, 100.0, remote=True)
    assert budget.token.paused_until == -math.inf
    budget.on_rate_limited(None, 3.0, 100.0, remote=False)
    assert budget.reserve(None, 100.0) == 103.0
    assert budget.blocked_until("A") == 110.0


def test_observe_headers_routing_and_parsing() -> None:
    budget = RateBudget()
    # Account-level headers (any case), remaining 0 while we think 50 are left: pause.
    budget.observe_headers(
        "A",
        {"RateLimit-Limit": "50;w=10", "RateLimit-Remaining": "0", "ratelimit-reset": "6"},
        0.0,
    )
    assert budget.reserve("A", 0.0) == pytest.approx(6.22)
    # Token-level headers (limit matches the token's): tighten the token window.
    budget.observe_headers("B", {"ratelimit-limit": "500;w=10", "ratelimit-remaining": "0"}, 0.0)
    assert budget.token.paused_until == pytest.approx(10.22)
    # A lower limit for the same window lowers ours; other windows are left alone.
    budget.observe_headers("C", {"ratelimit-limit": "20;w=10"}, 0.0)
    assert budget.account("C").limit == 20
    budget.observe_headers("D", {"ratelimit-limit": "20;w=60"}, 0.0)
    assert budget.account("D").limit == 50
    # Garbage is ignored.
    budget.observe_headers("E", {"ratelimit-remaining": "lots", "ratelimit-reset": "-3"}, 0.0)
    budget.observe_headers(None, {}, 0.0)
    assert budget.account("E").paused_until == -math.inf


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50;w=10", (50, 10.0)),
        ("50", (50, None)),
        (" 110 ; w=60", (110, 60.0)),
        ("500;w=10, 50;w=1", (500, 10.0)),
        ("", None),
        (None, None),
        ("abc", None),
    ],
)
def test_parse_ratelimit_limit(
    value: str | None, expected: tuple[int, float | None] | None
) -> None:
    assert parse_ratelimit_limit(value) == expected


def test_forget_idle_bounds_memory() -> None:
    budget = RateBudget(token_limit=100_000)
    for i in range(10_000):
        budget.reserve(f"acc{i}", i * 0.001)
    budget.account("paused").pause_until(100.0)
    budget.forget_idle(15.0)
    assert 1 < budget.accounts_tracked < 10_000
    budget.forget_idle(50.0)
    assert budget.accounts_tracked == 1  # only the paused one
    budget.forget_idle(101.0)
    assert budget.accounts_tracked == 0
    # reserve() evicts by itself once a window has passed.
    for i in range(100):
        budget.reserve(f"b{i}", 200.0)
    assert budget.accounts_tracked == 100
    budget.reserve("c", 300.0)
    assert budget.accounts_tracked == 1


def test_many_waiting_acquirers_stay_fast() -> None:
    # 10,000 accounts queued at once on one token: reservations pile up far ahead.
    budget = RateBudget()
    start = time.perf_counter()
    times = [budget.reserve(f"acc{i}", 0.0) for i in range(10_000)]
    assert time.perf_counter() - start < 2.0
    assert max_in_window(times, 10.0) == 500


# --- RateLimiter ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_limiter_acquire_real_clock_tiny_window() -> None:
    budget = RateBudget(
        token_limit=100, account_limit=2, window=0.05, safety_fraction=0.0, safety_s=0.0
    )
    limiter = RateLimiter(budget)
    start = time.monotonic()
    for _ in range(4):
        slot = await limiter.acquire("A")
        budget.settle("A", slot, time.monotonic())  # answered at once
    assert time.monotonic() - start >= 0.05


@pytest.mark.anyio
async def test_limiter_cancelled_acquire_releases_its_slot() -> None:
    budget = RateBudget(
        token_limit=100, account_limit=1, window=30.0, safety_fraction=0.0, safety_s=0.0
    )
    fake_now = [0.0]
    limiter = RateLimiter(budget, clock=lambda: fake_now[0])
    await limiter.acquire("A")
    with anyio.move_on_after(0.01):
        await limiter.acquire("A")  # would wait 30 s: cancelled
    assert len(budget.account("A")) == 1
    assert len(budget.token) == 1


@pytest.mark.anyio
async def test_limiter_rereserves_when_paused_while_sleeping() -> None:
    """A 429 that pauses the budget while a waiter sleeps holds that waiter back too."""
    budget = RateBudget(
        token_limit=100, account_limit=1, window=0.02, safety_fraction=0.0, safety_s=0.0
    )
    clock_now = [0.0]
    limiter = RateLimiter(budget, clock=lambda: clock_now[0])
    assert await limiter.acquire("A") == 0.0
    budget.settle("A", 0.0, 0.0)  # answered at once
    granted: list[tuple[float, float]] = []  # (the slot, the budget's clock when granted)
    async with anyio.create_task_group() as tg:

        async def waiter() -> None:
            slot = await limiter.acquire("A")
            granted.append((slot, clock_now[0]))

        tg.start_soon(waiter)
        await anyio.lowlevel.checkpoint()
        # It sleeps toward its slot at 0.02; meanwhile a 429 pauses A until 0.03.
        budget.on_rate_limited("A", 0.03, 0.0, remote=False)
        clock_now[0] = 0.025  # it wakes here, past its old slot but inside the pause
        await anyio.sleep(0.1)
        assert granted == []  # still held back by the pause
        clock_now[0] = 0.04
    assert granted == [(0.04, 0.04)]
    # Its request counts where it really went: the window holds it at 0.04 only.
    assert budget.account("A")._times == [0.04]


@pytest.mark.anyio
async def test_limiter_more_waiters_than_the_limit_all_get_through() -> None:
    """12 tasks on a budget of 5 per window: the waiters take turns, none is starved.

    (Each waiter that woke used to re-book behind the others' future slots: with more
    waiters than the limit, nobody was ever granted again after the first 5.)
    """
    window, limit = 0.1, 5
    budget = RateBudget(
        token_limit=limit, account_limit=1000, window=window, safety_fraction=0, safety_s=0
    )
    limiter = RateLimiter(budget)
    granted: list[float] = []  # the slots, on the budget's (monotonic) clock

    async def worker(i: int) -> None:
        for _ in range(3):
            slot = await limiter.acquire(f"acc{i}")
            granted.append(slot)
            await anyio.sleep(0.002)  # the request and its answer
            budget.settle(f"acc{i}", slot, time.monotonic())

    started = time.monotonic()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for i in range(12):
                tg.start_soon(worker, i)
    assert len(granted) == 36
    assert max_in_window(granted, window) <= limit
    # The budget's pace: 5 at once, then 5 per window (a generous bound for a busy machine).
    assert time.monotonic() - started < (36 - limit) / limit * window + 1.0


def test_settle_moves_a_slot_to_when_the_answer_came() -> None:
    # Two requests per 1 s window; the first reached the server late (busy loop).
    budget = RateBudget(token_limit=2, account_limit=2, window=1.0, safety_fraction=0, safety_s=0)
    first = budget.reserve("a", 0.0)
    second = budget.reserve("a", 0.0)
    assert (first, second) == (0.0, 0.0)
    budget.settle("a", first, 0.4)
    # The third slot opens a window after the *settled* time of the oldest request.
    assert budget.reserve("a", 0.5) == 1.0
    assert budget.reserve("a", 0.5) == 1.4


def test_settle_never_moves_a_slot_earlier() -> None:
    budget = RateBudget(token_limit=1, account_limit=1, window=1.0, safety_fraction=0, safety_s=0)
    slot = budget.reserve("a", 5.0)
    budget.settle("a", slot, 4.0)
    assert budget.reserve("a", 5.0) == 6.0


# --- the life of a request, simulated: book, wake, send, answer ------------------------------


def simulate(
    budget: RateBudget,
    *,
    workers: int,
    requests: int,
    accounts: int,
    latency: tuple[float, float],
    seed: int,
) -> tuple[list[float], dict[str, list[float]], float]:
    """Workers driving the budget as the client does, on a simulated clock.

    Each worker books a slot, sleeps until it, re-books on waking, sends, and settles
    when its answer arrives ``latency`` later; the server counts each request at a random
    moment between sending and answering (a busy server's queue). Returns the server's
    count times (all, and per account) and when the last answer arrived. Raises if the
    budget stops granting (more waiters than the limit once passed the turn round).
    """
    rng = random.Random(seed)
    events: list[tuple[float, int, str, int, float]] = []  # (time, seq, kind, worker, slot)
    seq = 0

    def push(t: float, kind: str, worker: int, slot: float) -> None:
        nonlocal seq
        heapq.heappush(events, (t, seq, kind, worker, slot))
        seq += 1

    account_of = [f"acc{rng.randrange(accounts)}" for _ in range(workers)]
    counted: list[float] = []
    by_account: dict[str, list[float]] = {}
    started = 0
    for w in range(workers):
        push(rng.uniform(0.0, 0.1), "want", w, 0.0)
    now = last = 0.0
    for _ in range(requests * 200):
        if not events:
            break
        now, _, kind, w, slot = heapq.heappop(events)
        account = account_of[w]
        if kind == "want":
            if started == requests:
                continue
            started += 1
            slot = budget.reserve(account, now)
        elif kind == "wake":
            slot = budget.rebook(account, slot, now)
        else:  # "answer"
            budget.settle(account, slot, now)
            last = now
            push(now, "want", w, 0.0)
            continue
        if slot > now:
            push(slot, "wake", w, slot)
            continue
        budget.sent(account, slot)
        answer = now + rng.uniform(*latency)
        server = rng.uniform(now, answer)
        counted.append(server)
        by_account.setdefault(account, []).append(server)
        push(answer, "answer", w, slot)
    assert len(counted) == requests, f"only {len(counted)} of {requests} were ever sent"
    return counted, by_account, last


@settings(max_examples=80, deadline=None)
@given(
    limit=st.integers(1, 8),
    account_limit=st.integers(1, 8),
    accounts=st.integers(1, 6),
    waiters_per_slot=st.integers(1, 4),
    slow=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_any_number_of_waiters_get_through_and_no_window_overflows(
    limit: int, account_limit: int, accounts: int, waiters_per_slot: int, slow: bool, seed: int
) -> None:
    """More waiters than the limit all get through, and whenever the server counts each
    request between its sending and its answer (even answers slower than a window), no
    window on the server's clock holds more than the limits."""
    window = 1.0
    budget = RateBudget(
        token_limit=limit, account_limit=account_limit, window=window, safety_fraction=0, safety_s=0
    )
    latency = (0.5, 3.0) if slow else (0.0, 0.05)
    requests = 12 * limit
    counted, by_account, last = simulate(
        budget,
        workers=limit * waiters_per_slot + 1,
        requests=requests,
        accounts=accounts,
        latency=latency,
        seed=seed,
    )
    assert max_in_window(counted, window) <= limit
    for times in by_account.values():
        assert max_in_window(times, window) <= account_limit
    # Progress: a slot is held from sending until a window after the answer, and a waiter
    # looks again at most a window late; all workers may share one account.
    per_slot = 2 * window + latency[1]
    assert last <= (requests / min(limit, account_limit) + 1) * per_slot + 1.0


def test_unanswered_requests_keep_counting_after_a_window() -> None:
    """A request the server may still count (no answer yet) holds its place in the window."""
    budget = RateBudget(token_limit=2, account_limit=2, window=1.0, safety_fraction=0, safety_s=0)
    first = budget.reserve("a", 0.0)
    budget.sent("a", first)
    second = budget.reserve("a", 0.0)
    budget.sent("a", second)
    # At 1.5 neither has been answered: the server may count them any moment now.
    later = budget.reserve("b", 1.5)  # (the token's window, shared by every account)
    assert later > 1.5
    budget.release("b", later)
    # The first answer comes at 1.6: it counts from there, the other is still out.
    budget.settle("a", first, 1.6)
    later = budget.reserve("a", 1.6)
    assert later > 1.6
    budget.release("a", later)
    # The second at 1.7: both count from their answers, a window on.
    budget.settle("a", second, 1.7)
    assert budget.reserve("a", 1.7) == pytest.approx(2.6)
    assert budget.reserve("a", 1.7) == pytest.approx(2.7)


def test_no_pause_lasts_longer_than_max_pause() -> None:
    """Whatever a server asks for, the budget pauses at most ``max_pause`` (the retry
    policy's ``max_retry_after``), for the token as for an account."""
    budget = RateBudget(max_pause=2.0)
    assert budget.on_rate_limited(None, 10_000_000.0, 100.0, remote=False) == 2.0
    assert budget.reserve(None, 100.0) == 102.0
    assert budget.on_rate_limited("A", 10_000_000.0, 100.0, remote=False) == 2.0
    assert budget.reserve("A", 100.0) == 102.0
    assert budget.on_rate_limited("B", 1.5, 100.0, remote=True) == 1.5  # below: as asked
    # ratelimit-remaining 0 with a far reset: the same bound (plus the window's pad).
    budget.observe_headers("C", {"ratelimit-remaining": "0", "ratelimit-reset": "9999999"}, 100.0)
    assert budget.account("C").paused_until == pytest.approx(100.0 + 2.0 + budget.pad)
    with pytest.raises(ValueError, match="max_pause"):
        RateBudget(max_pause=-1.0)


# --- found by mutation testing (mutmut over _ratelimit.py): each failed to fail before -------


@pytest.mark.parametrize(
    "headers",
    [
        {"ratelimit-remaining": "-1", "ratelimit-reset": "5"},
        {"ratelimit-remaining": "inf", "ratelimit-reset": "5"},
        {"ratelimit-remaining": "nan", "ratelimit-reset": "5"},
        {"ratelimit-remaining": "0", "ratelimit-reset": "inf"},  # reset ignored: a window
    ],
)
def test_observe_ignores_numbers_that_are_not_counts(headers: dict[str, str]) -> None:
    budget = RateBudget(safety_fraction=0, safety_s=0)
    budget.observe_headers("A", headers, 100.0)
    paused = budget.account("A").paused_until
    if headers["ratelimit-remaining"] == "0":
        assert paused == pytest.approx(110.0)  # remaining 0 without a usable reset
    else:
        assert paused == -math.inf
        assert len(budget.account("A")) == 0


def test_observe_reads_x_prefixed_headers_and_a_limit_of_one() -> None:
    budget = RateBudget(safety_fraction=0, safety_s=0)
    budget.observe_headers("A", {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4"}, 0.0)
    assert budget.account("A").paused_until == pytest.approx(4.0)
    budget.observe_headers("B", {"ratelimit-limit": "1;w=10"}, 0.0)
    assert budget.account("B").limit == 1


def test_observe_pauses_for_a_short_reset_and_clamps_a_long_one() -> None:
    win = SlidingWindow(5, 10.0)
    win.observe(0, 0.5, now=0.0)
    assert win.paused_until == pytest.approx(0.5)
    win = SlidingWindow(5, 10.0)
    win.observe(0, 1000.0, now=0.0)
    assert win.paused_until == pytest.approx(100.0)  # at most ten windows


def test_observe_counts_unanswered_requests_as_ours() -> None:
    # Two requests went out and are still unanswered a window later; the server's count
    # (3 left of 5) agrees with ours: nothing is added.
    win = SlidingWindow(5, 1.0)
    for t in (0.0, 0.0):
        win.record(t)
        win.sent(t)
    win.observe(3, 1.0, now=1.5)
    assert win.used(1.5) == 2
    assert len(win) == 0
    assert win.next_free(1.5) == 1.5


def test_answers_to_requests_sent_at_the_same_moment_are_each_counted_once() -> None:
    win = SlidingWindow(3, 1.0)
    for _ in range(3):
        win.record(0.0)
        win.sent(0.0)
    win.answered(0.0, 0.2)
    win.answered(0.0, 0.3)
    win.answered(0.0, 0.4)
    assert win.next_free(2.0) == 2.0
    assert win.idle(2.0)  # nothing left in flight


def test_no_account_means_the_token_alone_and_release_and_blocked_until_take_none() -> None:
    budget = RateBudget(token_limit=10, account_limit=2, window=1.0, safety_fraction=0, safety_s=0)
    assert [budget.reserve(None, 0.0) for _ in range(5)] == [0.0] * 5
    later = budget.reserve(None, 0.0)
    budget.release(None, later)
    assert budget.blocked_until(None) == -math.inf
    # Accounts never seen: nothing to release, nothing blocks them.
    budget.release("never-seen", 1.0)
    assert budget.blocked_until("never-seen") == -math.inf
    assert budget.accounts_tracked == 0


def test_budget_validation() -> None:
    with pytest.raises(ValueError, match="safety margins"):
        RateBudget(safety_fraction=-0.1)
    with pytest.raises(ValueError, match="safety margins"):
        RateBudget(safety_s=-0.1)
    with pytest.raises(ValueError, match="max_pause"):
        SlidingWindow(1, 1.0, max_pause=-1.0)
    # A zero cap is allowed (RetryPolicy(max_retry_after=0)): no pause at all.
    budget = RateBudget(max_pause=0.0)
    budget.on_rate_limited("A", 30.0, 5.0, remote=False)
    assert budget.reserve("A", 5.0) == 5.0


def test_the_token_caps_its_pauses_too() -> None:
    budget = RateBudget(max_pause=2.0, safety_fraction=0, safety_s=0)
    budget.observe_headers(None, {"ratelimit-remaining": "0", "ratelimit-reset": "9999"}, 0.0)
    assert budget.token.paused_until == pytest.approx(2.0)


def test_a_fresh_budget_forgets_idle_accounts_by_itself() -> None:
    budget = RateBudget(token_limit=100_000)
    for i in range(1_000):
        budget.reserve(f"acc{i}", i * 0.1)  # 100 s: ten windows
    assert budget.accounts_tracked < 200


def test_a_common_time_is_free_in_both_windows() -> None:
    # The account is free at exactly 10 and from 30; the token, busy from 2 to 22, pushes
    # the account's 10 to 22, which the account forbids: it must go on to 30.
    budget = RateBudget(token_limit=1, account_limit=1, window=10.0, safety_fraction=0, safety_s=0)
    budget.account("A").record(0.0)
    budget.account("A").record(20.0)
    budget.token.record(12.0)
    assert budget.reserve("A", 0.0) == 30.0


def test_a_woken_waiter_does_not_yield_to_a_later_booking_after_its_account_moves_it() -> None:
    budget = RateBudget(token_limit=1, account_limit=1, window=10.0, safety_fraction=0, safety_s=0)
    budget.account("A").record(0.5)  # A's last request: A is free again at 10.5
    slot = budget.reserve("A", 1.0)
    budget.token.record(12.0)  # booked after A's slot, by another waiter
    assert budget.rebook("A", slot, 10.0) == 10.5


@pytest.mark.anyio
async def test_limiter_counts_its_request_as_sent_until_settled() -> None:
    budget = RateBudget(token_limit=100, account_limit=1, window=1.0, safety_fraction=0, safety_s=0)
    clock_now = [0.0]
    limiter = RateLimiter(budget, clock=lambda: clock_now[0])
    slot = await limiter.acquire("A")
    clock_now[0] = 5.0  # no answer yet, long after: it may still be counted any moment
    with anyio.move_on_after(0.05):
        await limiter.acquire("A")
        pytest.fail("granted while the account's only request was unanswered")
    budget.settle("A", slot, 5.0)
    clock_now[0] = 6.0
    assert await limiter.acquire("A") == 6.0
