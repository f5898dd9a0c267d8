"""Planned sweeps against the emulator over HTTP: page sizes, dates, estimates, warnings."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support import FAST_RETRY, TOKEN, EmulatorFactory, frozen_heap
from truto_stream import AccountQuery, Client, DateRange, RateLimits
from truto_stream.emulator import AccountSpec, EmulatorConfig, EmulatorProcess
from truto_stream.plan import Plan, render_plan

from .servers import stats_of

pytestmark = pytest.mark.anyio

TODAY = "2026-07-15"
WEEK = DateRange("2026-07-06", "2026-07-12")
DAYS = [d.isoformat() for d in WEEK]


def specs(claude: int, openai: int, cursor: int, *, n: int = 2) -> tuple[AccountSpec, ...]:
    out = []
    for integration, users in (("claude", claude), ("openai", openai), ("cursor", cursor)):
        out += [
            AccountSpec(integration=integration, tenant_id=f"t{i}", users=users) for i in range(n)
        ]
    return tuple(out)


def expected(emu: Any) -> Counter[tuple[str, str | None, str]]:
    """Every (account, date, user) of the data set: Claude once per day, others once."""
    want: Counter[tuple[str, str | None, str]] = Counter()
    for acc in emu.dataset.accounts:
        days = DAYS if acc.vendor.takes_date else [None]
        for day in days:
            want.update((acc.id, day, uid) for uid in emu.dataset.user_ids(acc.id))
    return want


async def test_a_week_of_a_mixed_sweep_under_the_limits(emulator: EmulatorFactory) -> None:
    # Truto's limits in shape (10x fewer per account than per token) on a 0.5 s window:
    # every Claude account makes 21 requests and every OpenAI one 11, over its 10.
    emu = await emulator(accounts=specs(2_500, 1_050, 300), today=TODAY,
                         token_limit=100, account_limit=10, rate_window_s=0.5)  # fmt: skip
    limits = RateLimits(token_limit=100, account_limit=10, window=0.5)
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY, rate_limits=limits) as c:
        async with c.sweep("usage-metering", "users", accounts=AccountQuery(), dates=WEEK,
                           today=TODAY) as sweep:  # fmt: skip
            got: Counter[tuple[str, str | None, str]] = Counter()
            samples: dict[tuple[str, str | None], dict[str, Any]] = {}
            async for item in sweep:
                got[(item.account_id, item.date, item.record["id"])] += 1
                samples.setdefault((item.account_id, item.date), item.record)
    assert got == expected(emu)  # every (account, date, user) exactly once
    ds = emu.dataset
    for (account, day), record in samples.items():  # each day's own records
        assert record == ds.user(account, 0, date=day), (account, day)
    stats = emu.stats_snapshot()
    queries = {(q["integrated_account_id"], q["date"], q["limit"]): q["requests"]
               for q in stats["requests"]["by_query"]}  # fmt: skip
    want: dict[tuple[str, str | None, int | None], int] = {}
    for acc in ds.accounts:
        if acc.integration == "claude":  # one request per 1,000 users per day
            want.update({(acc.id, d, 1000): 3 for d in DAYS})
        elif acc.integration == "openai":  # one per 100 users, swept once
            want[(acc.id, None, 100)] = 11
        else:  # the whole team in one page, once
            want[(acc.id, None, None)] = 1
    assert queries == want
    assert stats["requests"]["by_integration"] == {"claude": 42, "openai": 22, "cursor": 2}
    assert stats["rate_limited"] == {"truto": 0, "remote": 0}
    assert "429" not in stats["status_counts"]
    report = sweep.report
    assert report.ok and report.count("done") == 2 * 7 + 2 + 2
    claude = [r for r in report.accounts.values() if r.integration == "claude"]
    assert sorted({r.date or "" for r in claude}) == DAYS and all(r.tenant_id for r in claude)
    assert report.to_dict()["started_at"].endswith("Z")


async def test_the_dry_run_estimate_and_time_floor_hold() -> None:
    # Every account holds 1,000 users, so the estimate's assumption is the truth. The token
    # budget binds: 68 small requests at 20 per 1.5 s window take at least 4.5 s. (Small pages:
    # the time must be the limits', not the emulator's rendering on a busy machine.)
    accounts = (
        *(AccountSpec(integration="claude", tenant_id="t", users=1_000) for _ in range(2)),
        *(AccountSpec(integration="openai", tenant_id="t", users=1_000) for _ in range(6)),
        *(AccountSpec(integration="cursor", tenant_id="t", users=1_000) for _ in range(2)),
    )
    config = EmulatorConfig(tokens=(TOKEN,), seed=4, accounts=accounts, today=TODAY,
                            token_limit=20, account_limit=50, rate_window_s=1.5)  # fmt: skip
    limits = RateLimits(token_limit=20, account_limit=50, window=1.5)
    days = DateRange("2026-07-10", "2026-07-12")
    params = {"truto_ignore_remote_data": True}
    with EmulatorProcess(config) as emu:
        async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY, rate_limits=limits) as c:
            plan = await c.plan("usage-metering", "users", accounts=AccountQuery(), dates=days,
                                params=params, today=TODAY, assume_records=1_000)  # fmt: skip
            before = await stats_of(emu.url)
        assert before["requests"]["by_query"] == []  # no unified list request
        est = plan.estimate
        assert est.requests == 2 * 3 * 1 + 6 * 10 + 2 * 1
        assert est.floor_s == pytest.approx(4.5)
        assert "at least 5 s at the client's rate limits" in render_plan(plan)
        await warm_up(emu.url, plan, params)  # the emulator renders its first pages slowly
        await stats_of(emu.url, reset=True)
        # A fresh client and fresh windows: the sweep runs the plan as made, nothing else.
        async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY, rate_limits=limits) as c:
            # The suite's heap is not the sweep's: a full collection of it must not pause
            # the timed sweep (tests/support.py, frozen_heap).
            with frozen_heap():
                started = time.monotonic()
                async with c.sweep("usage-metering", "users", plan=plan) as sweep:
                    async for _batch in sweep.batches():
                        pass
                elapsed = time.monotonic() - started
        stats = await stats_of(emu.url)
    made = sum(q["requests"] for q in stats["requests"]["by_query"])
    assert made == stats["requests"]["total"]  # the plan's sweep made no other request
    assert abs(est.requests - made) <= 0.05 * made
    assert est.floor_s <= elapsed <= 1.10 * est.floor_s, elapsed
    assert stats["rate_limited"] == {"truto": 0, "remote": 0} and sweep.report.ok


async def warm_up(url: str, plan: Plan, params: dict[str, Any]) -> None:
    """One page of one account per integration (the emulator builds its templates)."""
    firsts = {a.integration: a.account_id for a in plan.accounts}
    async with Client(token=TOKEN, base_url=url, retry=FAST_RETRY) as client:
        for account in firsts.values():
            async with contextlib.aclosing(
                client.pages("usage-metering", "users", account=account, params=params)
            ) as pages:
                await anext(pages)


async def test_an_explicit_limit_is_clamped_per_integration(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=specs(300, 250, 20, n=1), today=TODAY)
    async with (
        Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client,
        client.sweep(
            "usage-metering", "users", accounts=AccountQuery(), params={"limit": "1000"}
        ) as sweep,  # fmt: skip
    ):
        records = sum([len(b.records) async for b in sweep.batches()])
    assert records == 300 + 250 + 20 and sweep.report.ok  # no OpenAI account failed
    assert sweep.report.warnings == [
        "OpenAI Codex: limit 100: 1000 is outside OpenAI Codex's 1-100"
    ]
    limits = {q["integration"]: q["limit"] for q in emu.stats_snapshot()["requests"]["by_query"]}
    assert limits == {"claude": 1000, "openai": 100, "cursor": None}


async def test_discovery_that_matches_nothing_and_unknown_names_warn(
    emulator: EmulatorFactory,
) -> None:
    emu = await emulator(today=TODAY)
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        sweep = client.sweep(
            "usage-metering", "users", accounts=AccountQuery(integration="zendesk")
        )
        async with sweep:
            assert [i async for i in sweep] == []
    warnings = sweep.report.warnings
    assert any("'zendesk' is not one truto-stream knows" in w and "claude, openai, cursor" in w
               for w in warnings)  # fmt: skip
    assert "discovery matched no account (filters: integration.name=zendesk)" in warnings
    assert sweep.report.to_dict()["warnings"] == warnings
    assert emu.stats_snapshot()["requests"]["by_integration"] == {}


async def test_accounts_given_by_id_are_looked_up_for_dates_once(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(accounts=specs(150, 150, 10, n=1), today=TODAY)
    ids = [a.id for a in emu.dataset.accounts]
    checkpoint = tmp_path / "sweep.db"
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        async with client.sweep("usage-metering", "users", accounts=ids, dates=DAYS[:2],
                                today=TODAY, checkpoint=checkpoint) as first:  # fmt: skip
            got = Counter([(i.account_id, i.date) async for i in first])
        claude, openai, cursor = ids
        assert got == {(claude, DAYS[0]): 150, (claude, DAYS[1]): 150, (openai, None): 150,
                       (cursor, None): 10}  # fmt: skip
        assert (
            first.plan is not None and first.plan.planning_requests == 1 + 3
        )  # a batch lookup, schemas
        total = emu.stats_snapshot()["requests"]["total"]
        async with client.sweep("usage-metering", "users", accounts=ids, dates=DAYS[:2],
                                today=TODAY, checkpoint=checkpoint) as second:  # fmt: skip
            assert [i async for i in second] == []
    # Finished accounts are neither looked up nor swept again: not one request.
    assert emu.stats_snapshot()["requests"]["total"] == total
    assert second.plan is not None and len(second.plan.finished) == 3
    states = {(r.account_id, r.date): (r.state, r.note) for r in second.report.accounts.values()}
    note = "finished in an earlier run (checkpoint)"
    assert states == {k: ("done", note) for k in got}


async def test_a_given_plan_is_run_as_is(emulator: EmulatorFactory) -> None:
    emu = await emulator(accounts=specs(120, 120, 5, n=1), today=TODAY)
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        plan = await client.plan("usage-metering", "users", accounts=AccountQuery(),
                                 params={"truto_ignore_remote_data": True})  # fmt: skip
        planning = emu.stats_snapshot()["requests"]["total"]
        async with client.sweep("usage-metering", "users", plan=plan) as sweep:
            records = [i.record async for i in sweep]
        with pytest.raises(Exception, match="come from the plan"):
            client.sweep("usage-metering", "users", plan=plan, accounts=["x"])
        with pytest.raises(Exception, match="the plan is for usage-metering/users"):
            client.sweep("usage-metering", "usage", plan=plan)
    assert len(records) == 245 and all("remote_data" not in r for r in records)
    stats = emu.stats_snapshot()["requests"]
    assert stats["total"] - planning == sum(q["requests"] for q in stats["by_query"])


async def test_bad_dates_and_limits_fail_before_any_request(emulator: EmulatorFactory) -> None:
    emu = await emulator(today=TODAY)
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        for kwargs, message in (
            ({"dates": ["2026-13-01"]}, "malformed date|not a calendar date"),
            ({"dates": DateRange("2026-07-14", "2026-07-16"), "today": TODAY}, "in the future"),
            ({"params": {"limit": "lots"}}, "whole number"),
            ({"dates": DAYS, "params": {"date": DAYS[0]}}, "not a date param too"),
        ):
            with pytest.raises(Exception, match=message):
                client.sweep("usage-metering", "users", accounts=AccountQuery(), **kwargs)
            with pytest.raises(Exception, match=message):
                await client.plan("usage-metering", "users", accounts=AccountQuery(), **kwargs)
    assert emu.stats_snapshot()["requests"]["total"] == 0
