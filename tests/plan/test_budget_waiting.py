"""The rate budget says what it is waiting on (read by the live progress)."""

from __future__ import annotations

import time

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from truto_stream._ratelimit import RateBudget, RateLimiter


def test_the_budget_says_which_window_put_a_slot_later() -> None:
    budget = RateBudget(token_limit=3, account_limit=2, window=1.0, safety_fraction=0, safety_s=0)
    assert budget.reserve("a", 0.0) == 0.0 and not budget.token_bound
    assert budget.reserve("a", 0.0) == 0.0 and not budget.token_bound
    assert budget.reserve("a", 0.0) == 1.0 and not budget.token_bound  # a's own window
    assert budget.reserve("b", 0.0) == 0.0 and not budget.token_bound  # the token's 3rd
    assert budget.reserve("c", 0.0) == 1.0 and budget.token_bound  # the token is full


@pytest.mark.anyio
async def test_the_limiter_counts_its_waiters_by_cause() -> None:
    budget = RateBudget(token_limit=2, account_limit=1, window=0.3, safety_fraction=0, safety_s=0)
    limiter = RateLimiter(budget)
    for account in ("a", "b"):  # sent and answered at once
        budget.settle(account, await limiter.acquire(account), time.monotonic())
    seen: list[tuple[int, int]] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(limiter.acquire, "c")  # the token window is full: waits on it
        await wait_all_tasks_blocked()
        seen.append(limiter.waiting)
    assert seen == [(1, 0)]
    assert limiter.waiting == (0, 0)
    budget2 = RateBudget(token_limit=10, account_limit=1, window=0.3, safety_fraction=0, safety_s=0)
    limiter2 = RateLimiter(budget2)
    budget2.settle("a", await limiter2.acquire("a"), time.monotonic())
    async with anyio.create_task_group() as tg:
        tg.start_soon(limiter2.acquire, "a")  # only a's window is full
        await wait_all_tasks_blocked()
        seen.append(limiter2.waiting)
    assert seen[-1] == (0, 1)
    assert limiter2.waiting == (0, 0)
