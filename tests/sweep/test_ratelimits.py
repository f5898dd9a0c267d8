"""A healthy sweep at default settings sees no 429 and stays within Truto's limits."""

from __future__ import annotations

import asyncio
import bisect
import time

import aiohttp
import anyio
import orjson
import pytest

from tests.support import FAST_RETRY, TOKEN
from truto_stream import Client, RateLimits
from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig, EmulatorProcess

from .rawhttp import Reply, raw_server

pytestmark = pytest.mark.anyio

#: Truto's limits (500 per token and 50 per account per window), with the window scaled
#: from 10 s to 1 s on both sides so the test runs in seconds.
WINDOW = 1.0


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


async def _warm_up(url: str, account: str) -> None:
    """One request (the emulator's first takes most of a second), then fresh windows."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        users = f"{url}/unified/usage-metering/users?integrated_account_id={account}"
        async with session.get(users) as response:
            assert response.status == 200
            await response.read()
        async with session.post(f"{url}/_emulator/reset?rate_limits=true") as response:
            assert response.status == 200


async def test_healthy_sweep_has_no_429_and_respects_the_limits() -> None:
    accounts = tuple(
        AccountSpec(integration="openai", tenant_id="acme", users=3_000) for _ in range(40)
    )
    config = EmulatorConfig(
        tokens=(TOKEN,), seed=21, accounts=accounts, rate_window_s=WINDOW, stats_timestamps=100
    )
    ids = [a.id for a in Dataset(config).accounts]
    with EmulatorProcess(config) as emu:
        async with Client(
            token=TOKEN, base_url=emu.url, retry=FAST_RETRY, rate_limits=RateLimits(window=WINDOW)
        ) as client:
            records = 0
            async with client.sweep("usage-metering", "users", accounts=ids) as sweep:
                async for _account, batch in sweep.batches():
                    records += len(batch)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{emu.url}/_emulator/stats") as response:
                stats = await response.json()
    assert records == 40 * 3_000
    assert sweep.report.ok
    assert stats["rate_limited"] == {"truto": 0, "remote": 0}
    assert stats["requests"]["by_route"]["/unified/usage-metering/users"] == 40 * 30
    every = [t for times in stats["request_times"].values() for t in times]
    assert _max_in_window(every, WINDOW) <= 500
    for times in stats["request_times"].values():
        assert _max_in_window(times, WINDOW) <= 50


async def test_concurrency_above_the_token_limit_keeps_the_budgets_pace() -> None:
    """512 workers against a 500-request budget: the sweep finishes at the budget's pace.

    More waiting workers than the limit used to pass the turn round forever: each one that
    woke re-booked behind the others' future slots, so after the first 500 requests
    nothing was ever sent again.
    """
    window = 4.0  # 125 requests/s: the budget binds, not a busy 2-core machine
    accounts = tuple(
        AccountSpec(integration="openai", tenant_id="t", users=10) for _ in range(1_500)
    )
    config = EmulatorConfig(
        tokens=(TOKEN,), seed=5, accounts=accounts, rate_window_s=window, stats_timestamps=10
    )
    ids = [a.id for a in Dataset(config).accounts]
    with EmulatorProcess(config) as emu:
        await _warm_up(emu.url, ids[0])
        async with Client(
            token=TOKEN, base_url=emu.url, retry=FAST_RETRY, rate_limits=RateLimits(window=window)
        ) as client:
            started = time.monotonic()
            with anyio.fail_after(30):
                async with client.sweep(
                    "usage-metering", "users", accounts=ids, concurrency=512
                ) as sweep:
                    records = sum([len(batch) async for _account, batch in sweep.batches()])
            elapsed = time.monotonic() - started
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{emu.url}/_emulator/stats") as response:
                stats = await response.json()
    assert records == 1_500 * 10
    assert sweep.report.ok
    assert stats["rate_limited"] == {"truto": 0, "remote": 0}
    every = [t for times in stats["request_times"].values() for t in times]
    assert len(every) == 1_500
    assert _max_in_window(every, window) <= 500
    pace = 1_500 / (500 / window)  # the budget's pace: requests / (limit / window)
    assert pace / elapsed >= 0.9, f"{elapsed:.2f} s for a {pace:.2f} s pace"


async def test_a_server_that_counts_requests_late_never_answers_429() -> None:
    """The server counts a request when it gets to it: the first five, 0.7 s after they
    arrived (longer than the 0.5 s window), the others at once; each is answered a moment
    after it is counted. The budget counts an unanswered request as present (and an
    answered one from its answer's arrival), so the three workers waiting meanwhile are
    not let through when the five slots are a window old, and nothing is refused."""
    limit, window = 5, 0.5
    arrived = 0
    counted: list[float] = []
    refused = 0

    async def route(path: str, query: str) -> Reply:
        nonlocal arrived, refused
        arrived += 1
        if arrived <= limit:
            await asyncio.sleep(0.7)  # queued: not counted yet
        now = time.monotonic()
        if sum(1 for t in counted if t > now - window) >= limit:
            refused += 1
            body = orjson.dumps({"message": "Too many requests", "status": 429})
            return 429, {"Content-Type": "application/json", "Retry-After": "1"}, body
        counted.append(now)
        await asyncio.sleep(0.01)
        records = [{"id": f"user-{i}"} for i in range(3)]
        body = orjson.dumps({"result": records, "next_cursor": None})
        return 200, {"Content-Type": "application/json"}, body

    ids = [f"acc-{i}" for i in range(12)]
    limits = RateLimits(token_limit=limit, account_limit=1_000, window=window)
    async with raw_server(route) as url:
        async with Client(
            token=TOKEN, base_url=url, retry=FAST_RETRY, rate_limits=limits
        ) as client:
            with anyio.fail_after(30):
                async with client.sweep(
                    "usage-metering", "users", accounts=ids, concurrency=8
                ) as sweep:
                    records = sum([len(batch) async for _account, batch in sweep.batches()])
    assert records == 36
    assert refused == 0
    assert _max_in_window(counted, window) <= limit
