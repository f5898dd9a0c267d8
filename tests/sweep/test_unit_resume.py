"""Resuming a unit in the middle of a page or a stream: skip exactly what was delivered.

Real HTTP to the emulator, real SQLite checkpoints; a first run is stopped part-way (the
caller breaks out), a second run with the same checkpoint must deliver exactly the records
the first one did not count as delivered, in order.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.support import FAST_RETRY, TOKEN, EmulatorFactory
from truto_stream import Client, ConfigurationError
from truto_stream.emulator import AccountSpec, Emulator

pytestmark = pytest.mark.anyio

USERS = 1_500


async def _one_account(emulator: EmulatorFactory, **options: Any) -> tuple[Emulator, str]:
    accounts = (AccountSpec(integration="claude", tenant_id="acme", users=USERS),)
    emu = await emulator(accounts=accounts, **options)
    return emu, emu.dataset.accounts[0].id


async def _run(
    emu: Emulator,
    account: str,
    checkpoint: Path,
    *,
    stop_after: int | None = None,
    **sweep: Any,
) -> tuple[list[str], list[int], Any]:
    """Sweep ``account``; return the ids received, each batch's size and the report.

    With ``stop_after``, the caller breaks out once it has received that many records.
    """
    ids: list[str] = []
    sizes: list[int] = []
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        running = client.sweep(
            "usage-metering", "users", accounts=[account], checkpoint=checkpoint, **sweep
        )
        async with running:
            async with contextlib.aclosing(running.batches()) as batches:
                async for _account, records in batches:
                    ids.extend(r["id"] for r in records)
                    sizes.append(len(records))
                    if stop_after is not None and len(ids) >= stop_after:
                        break
    return ids, sizes, running.report.accounts[account]


@pytest.mark.parametrize(
    ("mode", "framing", "params"),
    [
        ("stream", "envelope", {}),
        ("stream", "ndjson", {}),
        ("stream", "page", {"limit": 400}),
        ("paged", "envelope", {"limit": 500}),
    ],
)
async def test_a_resume_skips_exactly_what_was_pulled_past(
    emulator: EmulatorFactory, tmp_path: Path, mode: str, framing: str, params: dict[str, Any]
) -> None:
    emu, account = await _one_account(emulator, stream_framing=framing)
    everyone = list(emu.dataset.user_ids(account))
    checkpoint = tmp_path / "sweep.db"
    options: dict[str, Any] = {"mode": mode, "params": params, "buffer_records": 90}
    first, sizes, _ = await _run(emu, account, checkpoint, stop_after=700, **options)
    assert first == everyone[: len(first)]
    # Pulled past: every batch but the last one (the caller broke out while holding it).
    delivered = len(first) - sizes[-1]
    assert 0 < delivered < USERS

    second, _, report = await _run(emu, account, checkpoint, **options)
    assert second == everyone[delivered:]  # nothing skipped, nothing twice
    assert report.state == "done"
    assert report.duplicates_possible == 0
    assert report.resumed_skip > 0  # it resumed inside a page (or the stream)


async def test_a_changed_page_is_delivered_again_rather_than_skipped(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu, account = await _one_account(emulator)
    everyone = list(emu.dataset.user_ids(account))
    checkpoint = tmp_path / "sweep.db"
    options: dict[str, Any] = {"mode": "stream", "buffer_records": 100}
    first, sizes, _ = await _run(emu, account, checkpoint, stop_after=500, **options)
    delivered = len(first) - sizes[-1]
    # The upstream now answers differently: the record at the skip position is another.
    with sqlite3.connect(checkpoint) as db:
        changed = db.execute("UPDATE units SET last_id = 'someone-else'").rowcount
    assert changed == 1

    second, _, report = await _run(emu, account, checkpoint, **options)
    assert second == everyone  # delivered again from the start of the stream: no loss
    assert report.duplicates_possible == delivered
    assert report.state == "done"


async def test_a_page_shorter_than_the_skip_is_delivered_again(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu, account = await _one_account(emulator)
    everyone = list(emu.dataset.user_ids(account))
    checkpoint = tmp_path / "sweep.db"
    options: dict[str, Any] = {"params": {"limit": 500}, "buffer_records": 100}
    await _run(emu, account, checkpoint, stop_after=300, **options)
    with sqlite3.connect(checkpoint) as db:
        db.execute("UPDATE units SET skip = 10000")
    second, _, report = await _run(emu, account, checkpoint, **options)
    assert second == everyone  # the first page was in progress: all of it again
    assert report.duplicates_possible == 10_000


async def test_manual_commits_store_progress_only_with_the_sink_position(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu, account = await _one_account(emulator)
    everyone = list(emu.dataset.user_ids(account))
    checkpoint = tmp_path / "sweep.db"
    committed = 0
    seen: list[str] = []
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        sweep = client.sweep(
            "usage-metering",
            "users",
            accounts=[account],
            checkpoint=checkpoint,
            commits="manual",
            mode="stream",
            buffer_records=100,
        )
        async with sweep:
            assert sweep.sink_position is None
            async with contextlib.aclosing(sweep.batches()) as batches:
                async for n, (_account, records) in _enumerate(batches):
                    seen.extend(r["id"] for r in records)
                    if len(seen) >= 800:  # this last batch is never committed
                        break
                    if n % 3 == 2:
                        sweep.commit({"records": len(seen)})
                        committed = len(seen)
            # Per-record iteration cannot tell where a committed part ends: refused.
            with pytest.raises(ConfigurationError, match="manual"):
                async for _item in sweep:
                    pass
    assert 0 < committed < len(seen)

    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        again = client.sweep(
            "usage-metering",
            "users",
            accounts=[account],
            checkpoint=checkpoint,
            commits="manual",
            mode="stream",
        )
        rest: list[str] = []
        async with again:
            assert again.sink_position == {"records": committed}
            async for _account, records in again.batches():
                rest.extend(r["id"] for r in records)
            again.commit({"records": committed + len(rest)})
    # Records handed out after the last commit were not counted: they come again, once.
    assert seen[:committed] + rest == everyone

    async with Client(token=TOKEN, base_url=emu.url, retry=FAST_RETRY) as client:
        async with client.sweep(
            "usage-metering", "users", accounts=[account], checkpoint=checkpoint, mode="stream"
        ) as third:
            assert third.sink_position == {"records": USERS}
            assert [b async for b in third.batches()] == []
    with pytest.raises(ConfigurationError, match="manual"):
        third.commit(None)


async def _enumerate(batches: Any) -> Any:
    n = 0
    async for batch in batches:
        yield n, batch
        n += 1
