"""A sweep walks while it plans: units start as soon as their account is resolved.

The emulator's admin routes are slowed (``admin_latency_ms``) so that planning takes
several round trips; the sweep's first unified request must come before planning ends
(the plan is set once the last lookup or discovery page has answered).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

from tests.support import FAST_RETRY, TOKEN, EmulatorFactory
from truto_stream import AccountQuery, Client
from truto_stream.emulator import AccountSpec, Emulator
from truto_stream.errors import AuthError, BadRequest
from truto_stream.plan import lookup as lookup_module
from truto_stream.sweep import Sweep

pytestmark = pytest.mark.anyio


@pytest.fixture
def single_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    """One account a lookup request: planning takes several rounds of ADMIN_MS to watch
    (batched, these tests' accounts would all be looked up in one request)."""
    monkeypatch.setattr(lookup_module, "LOOKUP_BATCH", 1)


#: Slow enough that 16 lookups at a time (or a discovery page) take a visible while.
ADMIN_MS = 150


def openai(n: int, users: int = 5) -> tuple[AccountSpec, ...]:
    return tuple(AccountSpec(integration="openai", tenant_id=f"t{i % 3}", users=users)
                 for i in range(n))  # fmt: skip


async def drain(sweep: Sweep) -> tuple[Counter[tuple[str, str]], Any, float]:
    """Every (account, user) swept, the plan and warnings as they were at the first item,
    and when the plan was set (``time.monotonic()``)."""
    planned: list[float] = []
    got: Counter[tuple[str, str]] = Counter()
    at_first: Any = "no item"

    async def watch() -> None:
        await sweep.wait_plan()
        planned.append(time.monotonic())

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        async for item in sweep:
            if not got:
                at_first = (sweep.plan, list(sweep.report.warnings))
            got[(item.account_id, item.record["id"])] += 1
    return got, at_first, planned[0]


def expected(emu: Emulator) -> Counter[tuple[str, str]]:
    ds = emu.dataset
    return Counter((a.id, uid) for a in ds.accounts for uid in ds.user_ids(a.id))


def first_unified_request(emu: Emulator) -> float:
    times = emu.stats_snapshot()["request_times"]
    return float(min(min(stamps) for stamps in times.values()))


async def test_looked_up_accounts_are_walked_while_others_are_still_looked_up(
    emulator: EmulatorFactory, single_lookups: None
) -> None:
    # limit=1000 is outside OpenAI's 1-100: every account given by id is looked up
    # (48 lookups, 16 at a time: three rounds of ADMIN_MS).
    emu = await emulator(accounts=openai(48), admin_latency_ms=ADMIN_MS)
    ids = [a.id for a in emu.dataset.accounts]
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        async with client.sweep(
            "usage-metering", "users", accounts=ids, params={"limit": 1000}
        ) as sweep:
            got, at_first, planned_at = await drain(sweep)
    assert got == expected(emu)
    plan_at_first, warnings_at_first = at_first
    assert plan_at_first is None  # the first record came before planning ended
    # ... and the clamped limit was already in the report's warnings.
    assert warnings_at_first == ["OpenAI Codex: limit 100: 1000 is outside OpenAI Codex's 1-100"]
    assert first_unified_request(emu) < planned_at
    stats = emu.stats_snapshot()["requests"]
    assert stats["by_route"]["/integrated-account/{id}"] == 48  # each looked up once
    assert {q["limit"] for q in stats["by_query"]} == {100}  # clamped, as planned
    plan = sweep.plan
    assert plan is not None and [a.account_id for a in plan.accounts] == ids  # given order
    assert plan.planning_requests == 48 + 1  # the lookups and OpenAI's query schema
    assert sweep.report.warnings == list(plan.warnings)
    assert any("1000 is outside OpenAI Codex's 1-100" in w for w in plan.warnings)
    assert sweep.report.ok and sweep.report.count("done") == 48


async def test_discovered_accounts_are_walked_as_their_page_arrives(
    emulator: EmulatorFactory,
) -> None:
    # Ten accounts per discovery page, five pages, each ADMIN_MS late.
    accounts = (
        *openai(40),
        AccountSpec(integration="claude", tenant_id="t0", status="needs_reauth"),
        AccountSpec(integration="cursor", tenant_id="t1", is_blocked=True),
        *openai(8),
    )
    emu = await emulator(accounts=accounts, admin_latency_ms=ADMIN_MS, admin_default_limit=10)
    active = [a.id for a in emu.dataset.accounts if a.status == "active" and not a.is_blocked]
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        async with client.sweep("usage-metering", "users", accounts=AccountQuery()) as sweep:
            got, at_first, planned_at = await drain(sweep)
    assert at_first[0] is None
    assert first_unified_request(emu) < planned_at
    assert {k for k in got} == {k for k in expected(emu) if k[0] in active}
    assert all(n == 1 for n in got.values())
    plan = sweep.plan
    assert plan is not None and [a.account_id for a in plan.accounts] == active
    assert [s.reason for s in plan.skipped] == ["account status is 'needs_reauth'",
                                                "account is blocked"]  # fmt: skip
    report = sweep.report
    assert report.count("done") == 48 and report.count("skipped") == 2
    assert emu.stats_snapshot()["requests"]["by_route"]["/integrated-account"] == 5


async def test_breaking_out_stops_planning(emulator: EmulatorFactory, single_lookups: None) -> None:
    emu = await emulator(accounts=openai(64), admin_latency_ms=ADMIN_MS)
    ids = [a.id for a in emu.dataset.accounts]
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        async with client.sweep(
            "usage-metering", "users", accounts=ids, params={"limit": 1000}
        ) as sweep:
            async for _ in sweep:
                break
        assert sweep.plan is None  # never made: planning was stopped
        await anyio.sleep(ADMIN_MS * 3 / 1000)
    # Lookups stopped with the sweep: fewer than the 64 planned, none after it closed.
    lookups = emu.stats_snapshot()["requests"]["by_route"]["/integrated-account/{id}"]
    assert lookups < 64


class _HalfDiscovery:
    """A Truto whose account listing fails on its second page (400), once the accounts of
    the first page have been walked; ``fail=False`` serves an empty second page instead."""

    def __init__(self, accounts: int) -> None:
        self.ids = [f"acc-{i}" for i in range(accounts)]
        self.walked: Counter[str] = Counter()
        self.fail = True
        self._all_walked = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/integrated-account", self.listing)
        app.router.add_get("/unified/usage-metering/users", self.users)
        app.router.add_get("/unified/usage-metering/users/{name}/meta/list", self.no_schema)
        return app

    async def listing(self, request: web.Request) -> web.Response:
        if not request.query.get("next_cursor"):
            accounts = [{"id": i, "status": "active", "is_blocked": False,
                         "integration": {"name": "cursor"}, "tenant_id": "t"}
                        for i in self.ids]  # fmt: skip
            return web.json_response({"result": accounts, "next_cursor": "page-2"})
        if not self.fail:
            return web.json_response({"result": [], "next_cursor": None})
        # Bounded: a sweep that plans first walks nothing before this page.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_walked.wait(), 5)
        return web.json_response({"error": "Invalid next_cursor"}, status=400)

    async def users(self, request: web.Request) -> web.Response:
        account = request.query["integrated_account_id"]
        self.walked[account] += 1
        if set(self.walked) == set(self.ids):
            self._all_walked.set()
        return web.json_response({"result": [{"id": f"{account}-u"}], "next_cursor": None})

    async def no_schema(self, request: web.Request) -> web.Response:
        return web.json_response({"error": "Not found"}, status=404)


async def test_a_discovery_failing_midway_fails_the_sweep_after_checkpointing_what_it_walked(
    tmp_path: Path,
) -> None:
    truto = _HalfDiscovery(3)
    runner = web.AppRunner(truto.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    checkpoint = tmp_path / "sweep.ckpt"
    try:
        async with Client(token=TOKEN, base_url=f"http://127.0.0.1:{port}",
                          retry=FAST_RETRY) as client:  # fmt: skip
            with pytest.raises(BadRequest):
                async with client.sweep(
                    "usage-metering", "users", accounts=AccountQuery(), checkpoint=checkpoint
                ) as sweep:
                    async for _ in sweep:
                        pass
            assert sweep.plan is None
            truto.fail = False
            async with client.sweep(
                "usage-metering", "users", accounts=AccountQuery(), checkpoint=checkpoint
            ) as again:
                assert [i async for i in again] == []
    finally:
        await runner.cleanup()
    assert truto.walked == Counter(truto.ids)  # walked once: the failed run's are kept
    assert {r.state for r in again.report.accounts.values()} == {"done"}


async def test_a_refused_lookup_fails_the_sweep_with_one_typed_error(
    emulator: EmulatorFactory,
) -> None:
    emu = await emulator(accounts=openai(20))
    ids = [a.id for a in emu.dataset.accounts]
    async with Client(token="not-the-token", base_url=emu.url, retry=FAST_RETRY) as client:
        with pytest.raises(AuthError) as refused:
            async with client.sweep(
                "usage-metering", "users", accounts=ids, params={"limit": 1000}
            ) as sweep:
                async for _ in sweep:
                    pass
    assert type(refused.value) is AuthError  # not an exception group
    assert sweep.plan is None and sweep.report.accounts == {}


async def test_a_sweep_stopped_while_planning_resumes_from_its_checkpoint(
    emulator: EmulatorFactory, tmp_path: Path, single_lookups: None
) -> None:
    emu = await emulator(accounts=openai(48, users=30), admin_latency_ms=ADMIN_MS)
    ids = [a.id for a in emu.dataset.accounts]
    checkpoint = tmp_path / "sweep.db"
    seen: Counter[tuple[str, str]] = Counter()
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        options: dict[str, Any] = {"accounts": ids, "params": {"limit": 1000},
                                   "checkpoint": checkpoint}  # fmt: skip
        async with client.sweep("usage-metering", "users", **options) as first:
            async for item in first:
                seen[(item.account_id, item.record["id"])] += 1
                if len(seen) == 100:
                    break
        assert first.plan is None  # stopped while planning
        done = {r.account_id for r in first.report.accounts.values() if r.state == "done"}
        before = emu.stats_snapshot()["requests"]["by_route"]["/integrated-account/{id}"]
        async with client.sweep("usage-metering", "users", **options) as second:
            async for item in second:
                seen[(item.account_id, item.record["id"])] += 1
    assert set(seen) == set(expected(emu))  # everything, at least once
    lookups = emu.stats_snapshot()["requests"]["by_route"]["/integrated-account/{id}"]
    assert lookups - before == 48 - len(done)  # finished accounts are not looked up again
    assert second.plan is not None and set(second.plan.finished) == done
    assert second.report.ok
