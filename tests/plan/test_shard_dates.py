"""Shards over dates: each record of a run_shard batch carries the day it describes."""

from __future__ import annotations

from collections import Counter

from tests.support import TOKEN
from truto_stream.emulator import AccountSpec, Dataset, EmulatorConfig, EmulatorProcess
from truto_stream.shard import plan_shards, run_shard

DAYS = ("2026-07-13", "2026-07-14")


def test_shard_batches_carry_the_date() -> None:
    accounts = (
        AccountSpec(integration="claude", tenant_id="acme", users=120),
        AccountSpec(integration="openai", tenant_id="acme", users=80),
    )
    config = EmulatorConfig(tokens=(TOKEN,), seed=3, accounts=accounts, today="2026-07-15")
    ds = Dataset(config)
    claude, openai = (a.id for a in ds.accounts)
    with EmulatorProcess(config) as emu:
        shards = plan_shards([claude, openai], 1, base_url=emu.url, dates=DAYS)
        assert shards[0].dates == DAYS
        records = [r for batch in run_shard(shards[0], token=TOKEN) for r in batch]
    got = Counter((r["integrated_account_id"], r["date"]) for r in records)
    assert got == {(claude, DAYS[0]): 120, (claude, DAYS[1]): 120, (openai, None): 80}
    oracle = {(d, u["id"]): u for d in DAYS for u in ds.users(claude, date=d)}
    for record in records:
        if record["date"] is not None:
            account, day = record.pop("integrated_account_id"), record.pop("date")
            assert account == claude and record == oracle[(day, record["id"])]
