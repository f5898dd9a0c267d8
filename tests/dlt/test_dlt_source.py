"""The dlt source into a real DuckDB, fed by sweeps of the emulator over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

dlt = pytest.importorskip("dlt")
duckdb = pytest.importorskip("duckdb")

from tests.cli.support import TOKEN, cli_env, command  # noqa: E402
from tests.support import EmulatorFactory  # noqa: E402
from truto_stream.dlt import SweepOutcome, truto_resources, truto_source  # noqa: E402

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

# dlt's anonymous telemetry would reach the internet: never from tests.
os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"

TODAY = "2026-07-15"
DAYS = ["2026-07-10", "2026-07-11"]


def _pipeline(tmp_path: Path, name: str = "truto") -> Any:
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(tmp_path / "truto.duckdb")),
        dataset_name="unified",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def _rows(path: Path) -> list[tuple[str, str, str]]:
    with duckdb.connect(str(path), read_only=True) as con:
        query = "select integrated_account_id, date, id from unified.usage_metering_users"
        return [(str(a), str(d), str(i)) for a, d, i in con.sql(query).fetchall()]


def _expected(emu: Any, *, dated: bool = False) -> set[tuple[str, str, str]]:
    want = set()
    for acc in emu.dataset.accounts:
        if acc.status != "active" or acc.is_blocked:
            continue
        days = DAYS if dated and acc.vendor.takes_date else [""]
        want |= {(acc.id, day, uid) for day in days for uid in emu.dataset.user_ids(acc.id)}
    return want


async def test_a_pipeline_into_duckdb_holds_exactly_the_emulators_users(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(tokens=(TOKEN,), users=(20, 300), needs_reauth_accounts=1)
    pipeline = _pipeline(tmp_path)

    def run() -> None:
        pipeline.run(truto_source(base_url=emu.url, token=TOKEN))

    await anyio.to_thread.run_sync(run)
    rows = _rows(tmp_path / "truto.duckdb")
    assert len(rows) == len(set(rows)) and set(rows) == _expected(emu)
    # A second run (the last sweep ended, so a new one) merges: no duplicate, none lost.
    await anyio.to_thread.run_sync(run)
    again = _rows(tmp_path / "truto.duckdb")
    assert len(again) == len(rows) and set(again) == set(rows)


async def test_dated_units_are_keyed_by_their_day(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(tokens=(TOKEN,), users=(5, 60), today=TODAY)
    pipeline = _pipeline(tmp_path)

    def run() -> None:
        resources = truto_resources(base_url=emu.url, token=TOKEN, dates=DAYS)
        pipeline.run(resources)

    await anyio.to_thread.run_sync(run)
    rows = _rows(tmp_path / "truto.duckdb")
    assert len(rows) == len(set(rows)) and set(rows) == _expected(emu, dated=True)


async def test_a_run_cut_short_is_continued_by_the_next_from_dlt_state(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(tokens=(TOKEN,), users=(100, 400))
    want = _expected(emu)
    pipeline = _pipeline(tmp_path)
    outcomes: list[SweepOutcome] = []

    def run(limit: int | None) -> None:
        resources = truto_resources(
            base_url=emu.url,
            token=TOKEN,
            max_records=limit,
            batch_rows=150,
            concurrency=3,
            on_outcome=outcomes.append,
        )
        pipeline.run(resources)

    await anyio.to_thread.run_sync(run, 300)
    first = outcomes[-1]
    assert first.stopped and not first.complete and first.records == 300
    assert len(_rows(tmp_path / "truto.duckdb")) == 300
    await anyio.to_thread.run_sync(run, None)
    second = outcomes[-1]
    assert second.complete and not second.stopped
    # Continued where the loaded data ends: nothing fetched twice, nothing missing.
    assert first.records + second.records == len(want)
    rows = _rows(tmp_path / "truto.duckdb")
    assert len(rows) == len(set(rows)) and set(rows) == want


async def test_the_load_command_killed_and_rerun_ends_complete(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    # Each page takes 20 ms, so a load of 500 users across rounds of 150 takes seconds;
    # the command is killed (SIGKILL) once its first round is loaded, then run again.
    emu = await emulator(tokens=(TOKEN,), users=(150, 250), latency_ms=20)
    want = _expected(emu)
    db = tmp_path / "truto.duckdb"
    args = [
        "load",
        "usage-metering/users",
        "--base-url",
        emu.url,
        "--duckdb-file",
        str(db),
        "--pipelines-dir",
        str(tmp_path / "pipelines"),
        "--records-per-load",
        "150",
        "--concurrency",
        "2",
        "--param",
        "limit=50",
    ]
    env = cli_env(RUNTIME__DLTHUB_TELEMETRY="false")
    async with await anyio.open_process(
        command(*args), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    ) as process:
        assert process.stderr is not None
        seen = b""
        async for chunk in process.stderr:
            seen += chunk
            if b"load 1:" in seen:
                break
        process.send_signal(signal.SIGKILL)
        await process.wait()
    assert b"load 1:" in seen, seen.decode(errors="replace")
    done = await anyio.run_process(command(*args, "--report", str(tmp_path / "r.json")),
                                   env=env, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    rows = _rows(db)
    assert len(rows) == len(set(rows)) and set(rows) == want
    assert TOKEN.encode() not in done.stderr + seen + (tmp_path / "r.json").read_bytes()
