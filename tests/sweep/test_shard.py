"""Shards: picklable units of sweep work, run synchronously in another process."""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import threading
import time
import urllib.request
from typing import Any

import anyio
import orjson
import pytest

from tests.support import TOKEN
from truto_stream._collector import TUNED_THRESHOLDS
from truto_stream.accounts import AccountQuery
from truto_stream.client import Client, RateLimits
from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig, EmulatorProcess
from truto_stream.plan.model import Plan
from truto_stream.shard import (
    Shard,
    count_spent,
    plan_shards,
    run_shard,
    shard_client,
    token_spent,
)


def _run(shard: Shard) -> list[tuple[str, str]]:
    os.environ["TRUTO_API_TOKEN"] = TOKEN
    out: list[tuple[str, str]] = []
    for batch in run_shard(shard):
        out.extend((r["integrated_account_id"], r["id"]) for r in batch)
    return out


def test_plan_splits_accounts_and_the_token_budget() -> None:
    ids = [f"acc-{i}" for i in range(10)]
    shards = plan_shards(ids, 3, rate_limits=RateLimits(token_limit=500), base_url="http://x")
    assert sorted(a for s in shards for a in s.account_ids) == sorted(ids)
    assert all(s.rate_limits.token_limit == 166 for s in shards)
    assert all(s.rate_limits.account_limit == 50 for s in shards)
    assert pickle.loads(pickle.dumps(shards)) == shards
    assert TOKEN not in repr(shards)


def test_shards_run_in_subprocesses() -> None:
    accounts = tuple(
        AccountSpec(integration="openai", tenant_id="acme", users=150 + 10 * i) for i in range(6)
    )
    config = EmulatorConfig(tokens=(TOKEN,), seed=3, accounts=accounts)
    dataset = Dataset(config)
    want = {(a.id, u) for a in dataset.accounts for u in dataset.user_ids(a.id)}
    with EmulatorProcess(config) as emu:
        shards = plan_shards([a.id for a in dataset.accounts], 2, base_url=emu.url)
        context = multiprocessing.get_context("spawn")
        with context.Pool(2) as pool:
            results = pool.map(_run, shards, chunksize=1)
    got = [pair for result in results for pair in result]
    assert sorted(got) == sorted(want)


def test_closing_a_shard_early_stops_it() -> None:
    accounts = (AccountSpec(integration="claude", tenant_id="acme", users=50_000),)
    config = EmulatorConfig(tokens=(TOKEN,), seed=3, accounts=accounts)
    dataset = Dataset(config)
    with EmulatorProcess(config) as emu:
        shard = plan_shards([dataset.accounts[0].id], 1, base_url=emu.url)[0]
        batches = run_shard(shard, token=TOKEN)
        first = next(batches)
        batches.close()
    assert first and first[0]["integrated_account_id"] == dataset.accounts[0].id


def test_plan_takes_a_single_id_string_as_one_account() -> None:
    shards = plan_shards("acc-1", 3, base_url="http://x")
    assert [s.account_ids for s in shards] == [("acc-1",)]


def _stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_emulator/stats") as response:
        stats: dict[str, Any] = orjson.loads(response.read())
    return stats


def test_run_shard_runs_in_the_callers_thread() -> None:
    """No thread and queue hop per batch (issue #15: 18% of a shard's samples)."""
    accounts = tuple(AccountSpec(integration="openai", tenant_id="t", users=300) for _ in range(3))
    config = EmulatorConfig(tokens=(TOKEN,), seed=3, accounts=accounts)
    ids = [a.id for a in Dataset(config).accounts]
    with EmulatorProcess(config) as emu:
        [shard] = plan_shards(ids, 1, base_url=emu.url)
        threads = threading.active_count()
        users = 0
        for batch in run_shard(shard, token=TOKEN):
            assert threading.active_count() == threads
            users += len(batch)
    assert users == 900


def test_shards_of_a_plan_run_it_without_planning_again() -> None:
    accounts = tuple(
        AccountSpec(integration=i, tenant_id="acme", users=120 + 7 * n)
        for n, i in enumerate(("openai", "claude") * 3)
    )
    config = EmulatorConfig(tokens=(TOKEN,), seed=4, accounts=accounts)
    dataset = Dataset(config)
    ids = [a.id for a in dataset.accounts]
    want = {(a, u) for a in ids for u in dataset.user_ids(a)}

    async def make_plan(url: str) -> tuple[Plan, tuple[int, float]]:
        async with Client(TOKEN, base_url=url) as client:
            query = AccountQuery(tenant_id="acme")  # discovery: planning sends requests
            plan = await client.plan("usage-metering", "users", accounts=query)
            return plan, token_spent(client)

    with EmulatorProcess(config) as emu:
        plan, spent = anyio.run(make_plan, emu.url)
        before = _stats(emu.url)["requests"]["by_route"]
        shards = plan_shards(plan, 4, token_spent=spent, base_url=emu.url)
        got = [
            (r["integrated_account_id"], r["id"])
            for shard in shards
            for batch in run_shard(shard, token=TOKEN)
            for r in batch
        ]
        after = _stats(emu.url)["requests"]["by_route"]
    assert spent[0] >= plan.planning_requests > 0
    assert len(shards) == 4 and all(s.token_spent == spent[0] for s in shards)
    assert sorted(got) == sorted(want)
    grown = {route for route, n in after.items() if n != before.get(route)}
    assert grown == {"/unified/usage-metering/users"}  # no lookup, no schema read again
    assert sum(s.plan.unit_count for s in shards if s.plan) == plan.unit_count
    assert pickle.loads(pickle.dumps(shards)) == shards


@pytest.mark.anyio
async def test_requests_spent_elsewhere_count_against_a_shards_share() -> None:
    shard = plan_shards(["a"], 1, base_url="http://127.0.0.1:9")[0]
    async with shard_client(shard, TOKEN) as client:
        assert token_spent(client)[0] == 0
        count_spent(client, 7, time.time() - 1.0)
        assert token_spent(client)[0] == 7
        count_spent(client, 7, time.time() - 3600)  # long out of the window
        assert token_spent(client)[0] == 7


def test_run_shard_tunes_the_collector_only_when_asked() -> None:
    """``tune_gc`` reaches the shard's sweep: tuned while it runs, the caller's after."""
    accounts = tuple(AccountSpec(integration="openai", tenant_id="t", users=250) for _ in range(2))
    config = EmulatorConfig(tokens=(TOKEN,), seed=3, accounts=accounts)
    ids = [a.id for a in Dataset(config).accounts]
    callers = gc.get_threshold()
    with EmulatorProcess(config) as emu:
        [shard] = plan_shards(ids, 1, base_url=emu.url)
        seen = {gc.get_threshold() for _ in run_shard(shard, token=TOKEN, tune_gc=True)}
        assert seen == {TUNED_THRESHOLDS}
        assert gc.get_threshold() == callers
        assert {gc.get_threshold() for _ in run_shard(shard, token=TOKEN)} == {callers}
