"""GET /integrated-account[/{id}], and /_emulator/stats from the server's side."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import aiohttp
import anyio
import pytest

from tests.emulator.helpers import USERS, get, users_page
from tests.support import EmulatorFactory
from truto_stream.emulator import AccountSpec, Emulator
from truto_stream.emulator.stats import token_fingerprint

pytestmark = pytest.mark.anyio


async def _all_accounts(emu: Emulator, **params: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        q = dict(params)
        if cursor:
            q["next_cursor"] = cursor
        reply = await get(emu, "/integrated-account", q)
        assert reply.status == 200
        body = reply.json()
        assert set(body) == {"result", "next_cursor", "limit"}
        out += body["result"]
        cursor = body["next_cursor"]
        if cursor is None:
            return out


async def test_list_pages_and_filters(emulator: EmulatorFactory) -> None:
    emu = await emulator(
        accounts_per_integration=4, needs_reauth_accounts=1, blocked_accounts=1, tenants=3
    )
    everything = await _all_accounts(emu, limit="5")
    assert [a["id"] for a in everything] == [a.id for a in emu.dataset.accounts]
    for item in everything:
        dt.datetime.strptime(item["created_at"], "%Y-%m-%d %H:%M:%S")
        dt.datetime.strptime(item["updated_at"], "%Y-%m-%d %H:%M:%S")
        assert "is_blocked" in item
    claude_active = await _all_accounts(
        emu, **{"integration.name": "claude", "status": "active", "limit": "2"}
    )
    assert {a["id"] for a in claude_active} == {
        a.id for a in emu.dataset.accounts if a.integration == "claude" and a.status == "active"
    }
    tenant = emu.dataset.tenants[0]
    mine = await _all_accounts(emu, tenant_id=tenant)
    assert mine
    assert all(a["tenant_id"] == tenant for a in mine)
    reauth = await _all_accounts(emu, status="needs_reauth")
    assert len(reauth) == 3


async def test_default_admin_limit(emulator: EmulatorFactory) -> None:
    emu = await emulator(admin_default_limit=4)
    body = (await get(emu, "/integrated-account")).json()
    assert body["limit"] == 4
    assert len(body["result"]) == 4
    assert body["next_cursor"]


async def test_admin_latency_delays_listing_pages_and_lookups(emulator: EmulatorFactory) -> None:
    emu = await emulator(admin_latency_ms=150)
    acc = emu.dataset.accounts[0].id
    for path in ("/integrated-account", f"/integrated-account/{acc}"):
        started = time.monotonic()
        assert (await get(emu, path)).status == 200
        assert time.monotonic() - started >= 0.15, path


async def test_admin_bad_cursor_and_limit(emulator: EmulatorFactory) -> None:
    emu = await emulator()
    assert (await get(emu, "/integrated-account", {"limit": "0"})).status == 400
    assert (await get(emu, "/integrated-account", {"next_cursor": "zzz"})).status == 400
    acc = emu.dataset.accounts[0].id
    users_cursor = (await users_page(emu, acc, limit="1")).json()["next_cursor"]
    reply = await get(emu, "/integrated-account", {"next_cursor": users_cursor})
    assert reply.status == 400


async def test_get_one_account(emulator: EmulatorFactory) -> None:
    emu = await emulator(blocked_accounts=1)
    blocked = next(a for a in emu.dataset.accounts if a.is_blocked)
    body = (await get(emu, f"/integrated-account/{blocked.id}")).json()
    assert body["id"] == blocked.id
    assert body["is_blocked"] is True
    assert body["tenant_id"] == blocked.tenant_id
    assert (await get(emu, "/integrated-account/nope")).status == 404
    assert (await get(emu, f"/integrated-account/{blocked.id}", token=None)).status == 401


async def test_stats_report_what_was_served(emulator: EmulatorFactory) -> None:
    emu = await emulator(users=(30, 30), account_limit=1)
    acc = emu.dataset.accounts[0].id
    assert (await users_page(emu, acc)).status == 200
    assert (await users_page(emu, acc)).status == 429
    await get(emu, USERS, token="wrong")
    async with aiohttp.ClientSession() as s, s.get(emu.url + "/_emulator/stats") as r:
        assert r.status == 200
        stats = await r.json()
    assert stats["requests"]["total"] == 3
    assert stats["requests"]["by_account"] == {acc: 2}
    by_token = stats["requests"]["by_token"]
    assert by_token[token_fingerprint("test-token")] == 2
    assert "test-token" not in str(stats)
    assert "wrong" not in str(stats)
    assert stats["status_counts"] == {"200": 1, "401": 1, "429": 1}
    assert stats["rate_limited"]["truto"] == 1
    assert stats["bytes_sent"] > 0
    assert len(stats["request_times"][acc]) == 2
    assert stats["responses"]["in_progress"] >= 0
    assert stats["connections"]["open"] is not None


async def test_stats_count_the_most_requests_answered_at_once(
    emulator: EmulatorFactory,
) -> None:
    accounts = tuple(AccountSpec("claude", "t", users=30) for _ in range(3))
    emu = await emulator(accounts=accounts, account_limit=0, token_limit=0, latency_ms=50)
    ids = [a.id for a in emu.dataset.accounts[:3]]
    async with anyio.create_task_group() as tg:
        for acc in ids:
            tg.start_soon(users_page, emu, acc)
    assert emu.stats_snapshot()["responses"]["most_in_progress"] == 3
    emu.reset_stats()  # from what is in progress now: nothing
    await users_page(emu, ids[0])
    assert emu.stats_snapshot()["responses"]["most_in_progress"] == 1


async def test_stats_timestamps_are_bounded(emulator: EmulatorFactory) -> None:
    emu = await emulator(stats_timestamps=3)
    acc = emu.dataset.accounts[0].id
    for _ in range(5):
        await users_page(emu, acc)
    stamps = emu.stats_snapshot()["request_times"][acc]
    assert len(stamps) == 3
    assert stamps == sorted(stamps)


async def test_stats_can_be_turned_off(emulator: EmulatorFactory) -> None:
    emu = await emulator(stats=False)
    await users_page(emu, emu.dataset.accounts[0].id)
    snap = emu.stats_snapshot()
    assert snap["requests"]["by_account"] == {}
    assert snap["requests"]["total"] == 1


async def test_config_endpoint_hides_tokens(emulator: EmulatorFactory) -> None:
    emu = await emulator(tokens=("secret-token-1",))
    async with aiohttp.ClientSession() as s, s.get(emu.url + "/_emulator/config") as r:
        text = await r.text()
    assert "secret-token-1" not in text
    assert token_fingerprint("secret-token-1") in text


async def test_refused_requests_are_counted_by_route(emulator: EmulatorFactory) -> None:
    emu = await emulator()
    acc = emu.dataset.accounts[0].id
    await get(emu, f"/integrated-account/{acc}", token=None)
    await get(emu, f"/integrated-account/{acc}", token="nope")
    await get(emu, f"/integrated-account/{acc}")
    stats = emu.stats_snapshot()
    assert stats["requests"]["total"] == 3
    assert stats["requests"]["by_route"] == {"/integrated-account/{id}": 3}
    assert stats["status_counts"] == {"200": 1, "401": 2}


async def test_list_filters_by_ids(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts_per_integration=4, tenants=3)
    accounts = emu.dataset.accounts
    asked = [accounts[5].id, accounts[1].id, "no-such-account"]
    found = await _all_accounts(emu, **{"id[in]": ",".join(asked)})
    assert [a["id"] for a in found] == [accounts[1].id, accounts[5].id]  # the dataset's order
    assert found[0] == (await get(emu, f"/integrated-account/{accounts[1].id}")).json()
    tenant = accounts[1].tenant_id
    both = await _all_accounts(emu, **{"id[in]": ",".join(asked), "tenant_id": tenant})
    assert [a["id"] for a in both] == [a.id for a in (accounts[1], accounts[5])
                                       if a.tenant_id == tenant]  # fmt: skip
    paged = await _all_accounts(emu, **{"id[in]": ",".join(a.id for a in accounts), "limit": "3"})
    assert [a["id"] for a in paged] == [a.id for a in accounts]
