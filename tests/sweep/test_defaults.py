"""A sweep's default concurrency is per mode (issue #15): 64 walks of short pages, but
at most 8 streams, whose large parts cost memory without going faster."""

from __future__ import annotations

import pytest

from tests.support import FAST_RETRY, TOKEN, EmulatorFactory
from truto_stream import Client
from truto_stream.emulator import AccountSpec
from truto_stream.sweep import DEFAULT_CONCURRENCY

pytestmark = pytest.mark.anyio


async def test_default_concurrency_per_mode() -> None:
    assert DEFAULT_CONCURRENCY == {"paged": 64, "stream": 8}
    client = Client(token=TOKEN, base_url="http://127.0.0.1:9", rate_limits=None)
    ids = ["a", "b"]
    assert client.sweep("usage-metering", "users", accounts=ids).concurrency == 64
    stream = client.sweep("usage-metering", "users", accounts=ids, mode="stream")
    assert stream.concurrency == 8
    given = client.sweep("usage-metering", "users", accounts=ids, mode="stream", concurrency=3)
    assert given.concurrency == 3


async def test_a_stream_sweep_walks_at_most_eight_accounts_at_once(
    emulator: EmulatorFactory,
) -> None:
    """Counted where the walks are: the emulator's most responses at once. (The report's
    ``running`` state is the caller's view: a unit stays running until the caller has
    pulled its last part, so it can show more units than walks.) The default is a cap
    reached on demand (tests/sweep/test_adaptive.py): these streams are slow (40 ms every
    50 records, latency-bound even at 8 walks on a slow machine) and long enough for the
    sweep to ramp up to it."""
    accounts = tuple(
        AccountSpec(integration="claude", tenant_id="t", users=1_000) for _ in range(20)
    )
    emu = await emulator(accounts=accounts, account_limit=0, token_limit=0, latency_ms=40)
    ids = [a.id for a in emu.dataset.accounts]
    users = 0
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY, rate_limits=None) as client:
        plan = await client.plan(
            "usage-metering", "users", accounts=ids, mode="stream", params={"limit": 50}
        )
        emu.reset_stats()  # the plan's lookups are not walks
        async with client.sweep("usage-metering", "users", plan=plan, mode="stream") as sweep:
            async for _, records in sweep.batches():
                users += len(records)
    assert users == 20 * 1_000
    assert emu.stats_snapshot()["responses"]["most_in_progress"] == 8
