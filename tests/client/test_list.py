"""Listing one account over real HTTP: paged and stream modes, parameters, metadata."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from tests.support import EmulatorFactory
from truto_stream import Client, ConfigurationError
from truto_stream.emulator import AccountSpec

pytestmark = pytest.mark.anyio

ClientFor = Callable[..., AbstractAsyncContextManager[Client]]


def one_account(integration: str, users: int, **spec: Any) -> tuple[AccountSpec, ...]:
    return (AccountSpec(integration=integration, tenant_id="acme", users=users, **spec),)


async def test_paged_walk_yields_every_user_once(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    emu = await emulator(accounts=one_account("claude", 2_345))
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        ids = [u["id"] async for u in client.list("usage-metering", "users", account=account)]
    assert ids == list(emu.dataset.user_ids(account))
    assert len(set(ids)) == 2_345


@pytest.mark.parametrize("framing", ["envelope", "ndjson", "array", "page"])
async def test_stream_mode_matches_paged_mode(
    emulator: EmulatorFactory, client_for: ClientFor, framing: str
) -> None:
    emu = await emulator(accounts=one_account("openai", 1_500), stream_framing=framing)
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        paged = [u async for u in client.list("usage-metering", "users", account=account)]
        streamed = [
            u async for u in client.list("usage-metering", "users", account=account, mode="stream")
        ]
    assert streamed == paged
    assert len(paged) == 1_500


@pytest.mark.parametrize("placement", ["before", "after", "both"])
async def test_stream_envelope_metadata_anywhere(
    emulator: EmulatorFactory, client_for: ClientFor, placement: str
) -> None:
    emu = await emulator(
        accounts=one_account("claude", 3_000), stream_framing="envelope", stream_meta=placement
    )
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        pages = [
            p async for p in client.pages("usage-metering", "users", account=account, mode="stream")
        ]
    final = [p for p in pages if p.final]
    assert len(final) == 1
    assert final[0].result_count == 3_000
    assert sum(len(p.records) for p in pages) == 3_000


async def test_pages_expose_cursor_and_metadata(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    emu = await emulator(accounts=one_account("claude", 250))
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        pages = [
            p
            async for p in client.pages(
                "usage-metering", "users", account=account, params={"limit": 100}
            )
        ]
    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert [p.result_count for p in pages] == [100, 100, 50]
    assert pages[0].cursor is None
    assert pages[1].cursor == pages[0].next_cursor
    assert pages[2].next_cursor is None
    assert all(p.final and p.account_id == account for p in pages)
    assert "prev_cursor" in pages[0].meta


async def test_resume_from_a_cursor(emulator: EmulatorFactory, client_for: ClientFor) -> None:
    emu = await emulator(accounts=one_account("openai", 300))
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        first = None
        async for page in client.pages("usage-metering", "users", account=account):
            first = page
            break
        assert first is not None and first.next_cursor
        rest = [
            u["id"]
            async for u in client.list(
                "usage-metering", "users", account=account, cursor=first.next_cursor
            )
        ]
    assert [u["id"] for u in first.records] + rest == list(emu.dataset.user_ids(account))


async def test_field_support_per_integration(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    emu = await emulator(
        accounts=(
            AccountSpec(integration="claude", tenant_id="t", users=5),
            AccountSpec(integration="openai", tenant_id="t", users=5),
            AccountSpec(integration="cursor", tenant_id="t", users=5),
        )
    )
    seen: dict[str, set[str]] = {}
    async with client_for(emu) as client:
        for acc in emu.dataset.accounts:
            async for user in client.usage_metering.users(acc.id):
                seen.setdefault(acc.integration, set()).update(user)
    assert "last_active_at" in seen["claude"] and "roles" not in seen["claude"]
    assert "created_at" in seen["openai"] and "roles" in seen["openai"]
    assert "roles" in seen["cursor"] and "created_at" not in seen["cursor"]
    for fields in seen.values():
        assert {"id", "name", "emails", "status"} <= fields


async def test_query_parameters_pass_through(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    emu = await emulator(accounts=one_account("claude", 30))
    account = emu.dataset.accounts[0].id
    params = {
        "truto_exclude_fields": ["emails", "status"],
        "truto_ignore_remote_data": True,
        "remote_query": {"foo": "bar"},
        "date": dt.date(2026, 11, 20),
        "limit": 10,
        "unused": None,
    }
    before = dict(params)
    async with client_for(emu) as client:
        users = [
            u async for u in client.list("usage-metering", "users", account=account, params=params)
        ]
    assert params == before  # the caller's params are never mutated
    assert len(users) == 30
    for user in users:
        assert "emails" not in user and "status" not in user and "remote_data" not in user
        assert "id" in user


async def test_key_by_results(emulator: EmulatorFactory, client_for: ClientFor) -> None:
    emu = await emulator(accounts=one_account("openai", 120))
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        users = [
            u
            async for u in client.list(
                "usage-metering", "users", account=account, params={"truto_key_by": "id"}
            )
        ]
    assert [u["id"] for u in users] == list(emu.dataset.user_ids(account))


async def test_debug_envelope_is_exposed(emulator: EmulatorFactory, client_for: ClientFor) -> None:
    emu = await emulator(accounts=one_account("claude", 150))
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        pages = [
            p
            async for p in client.pages(
                "usage-metering",
                "users",
                account=account,
                params={"truto_response_format": "debug"},
            )
        ]
    assert sum(len(p.records) for p in pages) == 150
    assert all(isinstance(p.meta.get("debug"), dict) for p in pages)


async def test_cursor_integration_is_one_large_page(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    emu = await emulator(accounts=one_account("cursor", 12_000))
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        pages = [p async for p in client.pages("usage-metering", "users", account=account)]
    assert sum(len(p.records) for p in pages) == 12_000
    assert {p.index for p in pages} == {0}
    assert pages[-1].final and pages[-1].next_cursor is None


async def test_breaking_early_closes_the_connection(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    emu = await emulator(accounts=one_account("claude", 200_000), stream_framing="ndjson")
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        count = 0
        async for _user in client.list("usage-metering", "users", account=account, mode="stream"):
            count += 1
            if count == 10:
                break
        # The generator is closed at once (CPython finalises it on break): its producer
        # was cancelled and its connection closed before we get here.
        await emu.wait_idle()
        stats = emu.stats_snapshot()
        assert stats["responses"]["in_progress"] == 0
        assert stats["responses"]["aborted"] >= 1
        assert stats["connections"]["open"] == 0


async def test_aclosing_stops_the_fetch(emulator: EmulatorFactory, client_for: ClientFor) -> None:
    emu = await emulator(accounts=one_account("claude", 50_000))
    account = emu.dataset.accounts[0].id
    async with client_for(emu) as client:
        records = client.list("usage-metering", "users", account=account, params={"limit": 100})
        async with contextlib.aclosing(records) as users:
            async for _ in users:
                break
        await emu.wait_idle()
        # The producer is gone (aclosing waited for it) and prefetch is bounded: only a
        # few pages were ever requested, not 500.
        total = emu.stats_snapshot()["requests"]["total"]
        assert total <= 4
        assert emu.stats_snapshot()["connections"]["open"] <= 1  # pooled keep-alive


async def test_prefetch_is_bounded_with_a_slow_consumer(
    emulator: EmulatorFactory, client_for: ClientFor
) -> None:
    emu = await emulator(accounts=one_account("openai", 3_000))
    account = emu.dataset.accounts[0].id
    leads = []
    async with client_for(emu, prefetch=2) as client:
        pages = client.pages("usage-metering", "users", account=account, params={"limit": 100})
        async for page in pages:
            # A slow caller: give the producer plenty of turns before pulling again.
            for _ in range(200):
                await anyio.lowlevel.checkpoint()
            leads.append(emu.stats_snapshot()["requests"]["total"] - (page.index + 1))
    # Pages fetched ahead of the caller: the producer ran ahead (overlap), but never
    # further than two buffered pages plus the one being fetched.
    assert max(leads) <= 3
    assert max(leads) >= 2


async def test_client_requires_async_with(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=one_account("claude", 5))
    client = Client(token="test-token", base_url=emu.url)
    with pytest.raises(ConfigurationError, match="async with"):
        async for _ in client.list("usage-metering", "users", account="x"):
            pass
