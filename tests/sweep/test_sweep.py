"""Sweeps over real HTTP: exactness under faults, backpressure, isolation, clean exits."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import anyio.lowlevel
import pytest

from tests.support import FAST_RETRY, TOKEN, EmulatorFactory
from truto_stream import AuthError, Client, ConfigurationError, NeedsReauth
from truto_stream.client import RateLimits
from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig, EmulatorProcess
from truto_stream.sweep import AccountQuery

pytestmark = pytest.mark.anyio


def mixed_accounts(n: int, max_users: int, seed: int = 3, **extra: Any) -> tuple[AccountSpec, ...]:
    rng = random.Random(seed)
    integrations = ("claude", "openai", "cursor")
    return tuple(
        AccountSpec(
            integration=integrations[i % 3],
            tenant_id=f"tenant-{i % 7}",
            users=rng.randint(0, max_users),
            **extra,
        )
        for i in range(n)
    )


def expected(emu: Any, states: tuple[str, ...] = ("active",)) -> Counter[tuple[str, str]]:
    want: Counter[tuple[str, str]] = Counter()
    for acc in emu.dataset.accounts:
        if acc.status in states and not acc.is_blocked:
            want.update((acc.id, uid) for uid in emu.dataset.user_ids(acc.id))
    return want


async def test_two_hundred_accounts_with_faults_and_limits() -> None:
    # The emulator runs in its own process (the other core); limits are scaled to a 1 s
    # window so the test stays quick while the client's budget still has to pace it.
    config = EmulatorConfig(
        tokens=(TOKEN,),
        seed=11,
        accounts=mixed_accounts(200, 5_000),
        faults="500@0.03,502@0.02,504@0.02,cut@0.02,reset@0.01,remote429@0.02,empty@0.02",
        remote_retry_after_s=0,
        rate_window_s=1.0,
        token_limit=1_500,
        account_limit=40,
    )
    dataset = Dataset(config)
    want: Counter[tuple[str, str]] = Counter(
        (a.id, uid) for a in dataset.accounts for uid in dataset.user_ids(a.id)
    )
    with EmulatorProcess(config) as emu:
        async with Client(
            token=TOKEN,
            base_url=emu.url,
            retry=FAST_RETRY,
            rate_limits=RateLimits(token_limit=1_500, account_limit=40, window=1.0),
        ) as client:
            got: Counter[tuple[str, str]] = Counter()
            async with client.sweep(
                "usage-metering",
                "users",
                accounts=[a.id for a in dataset.accounts],
                concurrency=64,
            ) as sweep:
                async for account_id, records in sweep.batches():
                    got.update((account_id, r["id"]) for r in records)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{emu.url}/_emulator/stats") as response:
                stats = await response.json()
    assert got == want
    assert max(got.values()) == 1
    report = sweep.report
    assert report.ok
    assert report.count("done") == 200
    assert sum(r.retries for r in report.accounts.values()) > 0
    assert stats["rate_limited"]["truto"] == 0


async def test_slow_consumer_bounds_the_buffer(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=mixed_accounts(20, 3_000, seed=5))
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        async with client.sweep(
            "usage-metering",
            "users",
            accounts=[a.id for a in emu.dataset.accounts],
            params={"limit": 100},
            concurrency=8,
            buffer_records=500,
        ) as sweep:
            seen = 0
            async for _item in sweep:
                seen += 1
                if seen % 50 == 0:
                    # A slow caller: let the workers run until they block on the buffer.
                    for _ in range(20):
                        await anyio.lowlevel.checkpoint()
        assert sweep.peak_buffered_records <= 500
        assert seen == sum(expected(emu).values())


async def _stats_when(url: str, ok: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Poll the out-of-process emulator's stats until ``ok`` holds (bounded: 5 s)."""
    async with aiohttp.ClientSession() as session:
        with anyio.fail_after(5):
            while True:
                async with session.get(f"{url}/_emulator/stats") as response:
                    stats: dict[str, Any] = await response.json()
                if ok(stats):
                    return stats
                await anyio.sleep(0.01)


def _idle(stats: dict[str, Any]) -> bool:
    return bool(stats["responses"]["in_progress"] <= 1)  # the stats request itself


def _closed(stats: dict[str, Any]) -> bool:
    return _idle(stats) and stats["connections"]["open"] <= 1


@pytest.mark.parametrize("plain_for", [False, True])
async def test_breaking_out_leaves_nothing_running(plain_for: bool) -> None:
    config = EmulatorConfig(tokens=(TOKEN,), seed=9, accounts=mixed_accounts(30, 20_000, seed=9))
    ids = [a.id for a in Dataset(config).accounts]
    with EmulatorProcess(config) as emu:
        async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
            sweep = client.sweep("usage-metering", "users", accounts=ids)
            count = 0
            if plain_for:
                # No `async with`: the loop opens the sweep; breaking out closes it.
                async for _ in sweep:
                    count += 1
                    if count == 10:
                        break
                # asyncio closes the abandoned generator in a task of its own.
                await sweep.wait_closed()
            else:
                async with sweep:
                    async for _ in sweep:
                        count += 1
                        if count == 10:
                            break
            # Every task the sweep started is gone (the sweep's tasks are named after it).
            ours = [t for t in asyncio.all_tasks() if "truto_stream" in t.get_name()]
            assert ours == []
            stats = await _stats_when(emu.url, _idle)
            # It stopped early: a full sweep takes thousands of requests.
            assert stats["requests"]["total"] < 300
            assert sweep.report.finished_at is not None
        # Closing the client closes its pooled keep-alive connections too.
        await _stats_when(emu.url, _closed)


async def test_failed_and_skipped_accounts_are_reported(emulator: EmulatorFactory) -> None:
    accounts = (
        *mixed_accounts(6, 400, seed=4),
        AccountSpec(integration="claude", tenant_id="acme", users=50, status="needs_reauth"),
        AccountSpec(integration="cursor", tenant_id="acme", users=50, is_blocked=True),
    )
    emu = await emulator(accounts=accounts)
    ids = [a.id for a in emu.dataset.accounts]
    reauth, blocked = ids[-2], ids[-1]
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        # Explicit ids: the two bad accounts are tried, fail, and the rest complete.
        async with client.sweep("usage-metering", "users", accounts=ids) as sweep:
            got = Counter([(i.account_id, i.record["id"]) async for i in sweep])
        report = sweep.report
        assert report.accounts[reauth].state == "failed"
        assert report.accounts[reauth].error_type == "NeedsReauth"
        assert report.accounts[blocked].state == "failed"
        assert report.accounts[blocked].error_type == "AccountBlocked"
        assert report.count("done") == 6 and not report.ok
        assert got == expected(emu)

        # Discovery: accounts that are not active, or blocked, are skipped with a reason.
        async with client.sweep(
            "usage-metering", "users", accounts=AccountQuery(tenant_id="acme")
        ) as sweep:
            async for _ in sweep:
                pass
        report = sweep.report
        assert report.accounts[reauth].state == "skipped"
        assert "needs_reauth" in (report.accounts[reauth].error or "")
        assert report.accounts[blocked].state == "skipped"

        with pytest.raises(NeedsReauth):
            async with client.sweep(
                "usage-metering", "users", accounts=[reauth, *ids[:3]], on_error="raise"
            ) as sweep:
                async for _ in sweep:
                    pass


async def test_records_from_all_accounts_interleave(emulator: EmulatorFactory) -> None:
    accounts = (
        AccountSpec(integration="claude", tenant_id="big", users=60_000),
        *(AccountSpec(integration="openai", tenant_id="small", users=300) for _ in range(5)),
    )
    # Rate limits off on both sides: this test is about scheduling, not pacing.
    emu = await emulator(accounts=accounts, account_limit=0, token_limit=0)
    big = emu.dataset.accounts[0].id
    order: list[str] = []
    async with (
        Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY, rate_limits=None) as client,
        client.sweep(
            "usage-metering",
            "users",
            accounts=[a.id for a in emu.dataset.accounts],
            params={"limit": 100},
            buffer_records=1_000,
        ) as sweep,
    ):
        async for account_id, records in sweep.batches():
            order.extend([account_id] * len(records))
    last_small = max(i for i, a in enumerate(order) if a != big)
    # Every small account finished long before the big one did.
    assert last_small < len(order) // 2


async def test_discovery_is_lazy_and_filters(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=mixed_accounts(30, 50, seed=8), admin_default_limit=4)
    async with (
        Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client,
        client.sweep(
            "usage-metering", "users", accounts=AccountQuery(integration="claude", status="active")
        ) as sweep,
    ):
        got = Counter([(i.account_id, i.record["id"]) async for i in sweep])
    want = Counter(
        {
            k: v
            for k, v in expected(emu).items()
            if emu.dataset.account(k[0]).integration == "claude"
        }
    )
    assert got == want
    assert set(sweep.report.accounts) == {
        a.id for a in emu.dataset.accounts if a.integration == "claude"
    }


async def test_the_report_is_live_while_accounts_run(emulator: EmulatorFactory) -> None:
    accounts = (
        AccountSpec(integration="openai", tenant_id="t", users=2_000, faults="502@#1,500@#2"),
    )
    emu = await emulator(accounts=accounts)
    account = emu.dataset.accounts[0].id
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        async with client.sweep("usage-metering", "users", accounts=[account]) as sweep:
            async for item in sweep:
                if item.page.index == 5:
                    live = sweep.report.accounts[account]
                    assert live.state == "running"
                    assert live.retries == 2
                    assert live.requests >= 8
                    break


async def test_a_rerun_with_the_checkpoint_skips_finished_accounts(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(accounts=mixed_accounts(5, 300, seed=6))
    ids = [a.id for a in emu.dataset.accounts]
    checkpoint = tmp_path / "sweep.db"
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        async with client.sweep(
            "usage-metering", "users", accounts=ids, checkpoint=checkpoint
        ) as first:
            got = Counter([(i.account_id, i.record["id"]) async for i in first])
        assert got == expected(emu)
        requests = emu.stats_snapshot()["requests"]["total"]
        async with client.sweep(
            "usage-metering", "users", accounts=ids, checkpoint=checkpoint
        ) as second:
            assert [i async for i in second] == []
    assert emu.stats_snapshot()["requests"]["total"] == requests
    for account_id in ids:
        report = second.report.accounts[account_id]
        assert report.state == "done"
        assert report.note is not None
        assert report.error is None


async def test_a_failed_discovery_is_raised_as_one_typed_error(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=mixed_accounts(3, 50, seed=2))
    async with Client(token="not-the-token", base_url=emu.url, retry=FAST_RETRY) as client:
        with pytest.raises(AuthError) as refused:
            async with client.sweep("usage-metering", "users", accounts=AccountQuery()) as sweep:
                async for _ in sweep:
                    pass
    # Not an exception group (the sweep's tasks run in groups): the caller handles one error.
    assert type(refused.value) is AuthError
    assert sweep.report.finished_at is not None
    assert sweep.report.accounts == {}


async def test_a_single_account_id_string_is_one_account(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=mixed_accounts(3, 300, seed=12))
    account = emu.dataset.accounts[1].id
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        async with client.sweep("usage-metering", "users", accounts=account) as sweep:
            got = Counter([(i.account_id, i.record["id"]) async for i in sweep])
    # One account, never one per character of its id.
    assert set(sweep.report.accounts) == {account}
    assert sweep.report.ok
    assert got == Counter({k: v for k, v in expected(emu).items() if k[0] == account})


@pytest.mark.parametrize("accounts", [[123], [""], ["ok", None], b"acc-1", {"acc-1": 1}, 7])
async def test_account_ids_that_are_not_strings_are_refused(
    emulator: EmulatorFactory, accounts: Any
) -> None:
    emu = await emulator(accounts=mixed_accounts(1, 10, seed=1))
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        with pytest.raises(ConfigurationError, match="account"):
            client.sweep("usage-metering", "users", accounts=accounts)
