"""Arrow batches and field projections from real sweeps against the emulator over HTTP."""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pa = pytest.importorskip("pyarrow")

from tests.support import FAST_RETRY, TOKEN, EmulatorFactory  # noqa: E402
from truto_stream import AccountQuery, Client  # noqa: E402
from truto_stream.arrow import model_schema, records_to_batch  # noqa: E402

pytestmark = pytest.mark.anyio

USERS = ("usage-metering", "users")
TODAY = "2026-07-15"
DAYS = ["2026-07-10", "2026-07-11"]


def _sweepable(emu: Any) -> list[Any]:
    return [a for a in emu.dataset.accounts if a.status == "active" and not a.is_blocked]


def _expected(emu: Any, *, dated: bool = False) -> Counter[tuple[str, str | None, str]]:
    want: Counter[tuple[str, str | None, str]] = Counter()
    for acc in _sweepable(emu):
        days: list[str | None] = list(DAYS) if dated and acc.vendor.takes_date else [None]
        for day in days:
            want.update((acc.id, day, uid) for uid in emu.dataset.user_ids(acc.id))
    return want


def _keys(batches: list[Any], *, dated: bool = False) -> Counter[tuple[str, str | None, str]]:
    table = pa.Table.from_batches(batches)
    days = table.column("date").to_pylist() if dated else [None] * table.num_rows
    accounts = table.column("integrated_account_id").to_pylist()
    return Counter(zip(accounts, days, table.column("id").to_pylist(), strict=True))


async def test_a_sweep_as_bounded_arrow_batches_holds_every_user_once(
    emulator: EmulatorFactory,
) -> None:
    emu = await emulator(users=(40, 700))
    async with (
        Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client,
        client.sweep(*USERS, accounts=AccountQuery(), concurrency=8) as sweep,
    ):
        batches = [b async for b in sweep.arrow_batches(batch_rows=500)]
    assert all(b.schema == model_schema(*USERS) for b in batches)
    assert all(b.num_rows == 500 for b in batches[:-1]) and 0 < batches[-1].num_rows <= 500
    assert _keys(batches) == _expected(emu)
    assert sweep.report.records == sum(b.num_rows for b in batches)


async def test_arrow_rows_equal_the_dict_sweeps_records(emulator: EmulatorFactory) -> None:
    # The same data, two ways: each Arrow row is what records_to_batch makes of the record
    # the dict iterator yields (unknown fields, nested structs, nulls and all).
    emu = await emulator(users=(5, 60), seed=3)
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        async with client.sweep(*USERS, accounts=AccountQuery(), concurrency=1) as sweep:
            rows = [r for b in [b async for b in sweep.arrow_batches()] for r in b.to_pylist()]
        async with client.sweep(*USERS, accounts=AccountQuery(), concurrency=1) as sweep:
            items = [(i.account_id, i.record) async for i in sweep]
    schema = model_schema(*USERS)
    want = [
        records_to_batch([record], schema, account_id=account).to_pylist()[0]
        for account, record in items
    ]
    key = ("integrated_account_id", "id")
    assert sorted(rows, key=lambda r: [r[k] for k in key]) == sorted(
        want, key=lambda r: [r[k] for k in key]
    )


async def test_a_dated_sweep_has_a_date_column(emulator: EmulatorFactory) -> None:
    emu = await emulator(users=(5, 50), today=TODAY)
    async with (
        Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client,
        client.sweep(*USERS, accounts=AccountQuery(), dates=DAYS, today=TODAY) as sweep,
    ):
        batches = [b async for b in sweep.arrow_batches(batch_rows=64)]
    assert batches[0].schema.names[:3] == ["integrated_account_id", "date", "id"]
    assert _keys(batches, dated=True) == _expected(emu, dated=True)


async def test_one_account_as_arrow_batches(emulator: EmulatorFactory) -> None:
    emu = await emulator(users=(250, 250))
    account = _sweepable(emu)[0]
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        batches = [
            b
            async for b in client.arrow_batches(
                *USERS, account=account.id, params={"limit": 100}, batch_rows=90
            )
        ]
    assert [b.num_rows for b in batches] == [90, 90, 70]
    table = pa.Table.from_batches(batches)
    assert table.column("id").to_pylist() == list(emu.dataset.user_ids(account.id))
    assert set(table.column("integrated_account_id").to_pylist()) == {account.id}


async def test_fields_are_left_out_on_the_wire_and_locally(emulator: EmulatorFactory) -> None:
    emu = await emulator(users=(30, 80))
    account = _sweepable(emu)[0].id
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        async with client.sweep(*USERS, accounts=[account]) as full:
            async for _ in full:
                pass
        async with client.sweep(*USERS, accounts=[account], fields="name,emails") as narrow:
            records = [item.record async for item in narrow]
        async with client.sweep(*USERS, accounts=[account], fields=["name"]) as narrow_arrow:
            batches = [b async for b in narrow_arrow.arrow_batches()]
        listed = [r async for r in client.list(*USERS, account=account, fields="status")]
    assert records and all(set(r) <= {"id", "name", "emails"} for r in records)
    assert all("emails" in r for r in records)
    # The server left the other fields out: far fewer bytes for the same users.
    narrow_bytes = narrow.report.to_dict()["totals"]["bytes"]
    assert narrow_bytes < full.report.to_dict()["totals"]["bytes"] / 2
    assert narrow.report.records == full.report.records
    assert batches[0].schema.names == ["integrated_account_id", "id", "name"]
    assert all(set(r) <= {"id", "status"} for r in listed) and len(listed) == len(records)


async def test_a_server_ignoring_the_exclusion_is_projected_locally(
    emulator: EmulatorFactory,
) -> None:
    emu = await emulator(users=(10, 20))
    account = _sweepable(emu)[0].id
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        # An unknown model's field set is unknown, so nothing is excluded on the wire: the
        # emulator's users route is reached through the path the projection cannot check.
        pages = client.pages(*USERS, account=account, fields="name")
        async with contextlib.aclosing(pages) as stream:
            async for page in stream:
                assert all(set(r) == {"id", "name"} for r in page.records)


async def test_a_checkpointed_arrow_sweep_resumes_without_losing_a_record(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    # Stop after two batches (records of many parts are in flight in the batcher); the
    # checkpoint must count only parts wholly handed out, so the rerun brings the rest.
    emu = await emulator(users=(200, 400), accounts_per_integration=2)
    db = tmp_path / "sweep.db"
    first: list[Any] = []
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        async with client.sweep(
            *USERS, accounts=AccountQuery(), checkpoint=db, concurrency=4
        ) as sweep:
            async with contextlib.aclosing(sweep.arrow_batches(batch_rows=333)) as batches:
                async for batch in batches:
                    first.append(batch)
                    if len(first) == 2:
                        break
        async with client.sweep(*USERS, accounts=AccountQuery(), checkpoint=db) as sweep:
            rest = [b async for b in sweep.arrow_batches(batch_rows=333)]
    seen = _keys(first) + _keys(rest)
    want = _expected(emu)
    assert set(seen) == set(want)  # nothing lost
    # Delivered again: the batch in hand when it stopped (never pulled past), and the
    # head of the one page part that batch cut in two (its unit's position is before it).
    again = {key for key, n in seen.items() if n > 1}
    outside = again - set(_keys(first[1:]))
    assert len({account for account, _, _ in outside}) <= 1


async def test_manual_commits_with_arrow_batches_give_each_record_once(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(users=(200, 400))
    db = tmp_path / "sweep.db"
    kept: Counter[tuple[str, str | None, str]] = Counter()
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        async with client.sweep(
            *USERS, accounts=AccountQuery(), checkpoint=db, commits="manual"
        ) as sweep:
            async with contextlib.aclosing(sweep.arrow_batches(batch_rows=250)) as batches:
                async for batch in batches:
                    kept += _keys([batch])  # "stored" ...
                    sweep.commit()  # ... and said so
                    if sum(kept.values()) >= 750:
                        break
        async with client.sweep(
            *USERS, accounts=AccountQuery(), checkpoint=db, commits="manual"
        ) as sweep:
            async for batch in sweep.arrow_batches(batch_rows=250):
                kept += _keys([batch])
                sweep.commit()
    assert kept == _expected(emu)  # every record exactly once
