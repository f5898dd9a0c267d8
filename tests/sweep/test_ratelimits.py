"""A healthy sweep at default settings sees no 429 and stays within Truto's limits."""

from __future__ import annotations

import bisect

import aiohttp
import pytest

from truto_stream import Client, RateLimits
from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig, EmulatorProcess

from ..client.conftest import FAST_RETRY, TOKEN

pytestmark = pytest.mark.anyio

#: Truto's limits (500 per token and 50 per account per window), with the window scaled
#: from 10 s to 1 s on both sides so the test runs in seconds.
WINDOW = 1.0


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


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
