"""Shards: picklable units of sweep work, run synchronously in another process."""

from __future__ import annotations

import multiprocessing
import os
import pickle

from tests.support import TOKEN
from truto_stream.client import RateLimits
from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig, EmulatorProcess
from truto_stream.shard import Shard, plan_shards, run_shard


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
