"""``truto-stream sweep`` with plans, as a subprocess: --dry-run, --date, warnings, resume."""

from __future__ import annotations

import csv
import io
import math
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from tests.cli.support import CLI_EMULATOR, assert_no_token, cli_env, command, run_cli
from tests.support import EmulatorFactory
from truto_stream.emulator import AccountSpec, Dataset

pytestmark = pytest.mark.anyio

RESOURCE = "usage-metering/users"
TODAY = "2026-07-15"
DAYS = ["2026-07-12", "2026-07-13", "2026-07-14"]


def mixed(claude: int, openai: int, cursor: int) -> tuple[AccountSpec, ...]:
    return (
        AccountSpec("claude", "acme", users=claude),
        AccountSpec("claude", "globex", users=claude),
        AccountSpec("openai", "acme", users=openai),
        AccountSpec("cursor", "globex", users=cursor),
        AccountSpec("openai", "acme", users=10, status="needs_reauth"),
    )


def expected(ds: Dataset, days: list[str]) -> set[tuple[str, str | None, str]]:
    out: set[tuple[str, str | None, str]] = set()
    for acc in ds.accounts:
        if acc.status != "active":
            continue
        for day in days if acc.vendor.takes_date else [None]:
            out.update((acc.id, day, uid) for uid in ds.user_ids(acc.id))
    return out


def keyed(records: list[dict[str, Any]]) -> list[tuple[str, str | None, str]]:
    return [(r["integrated_account_id"], r["date"], r["id"]) for r in records]


async def test_dry_run_prints_the_plan_without_a_unified_request(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(**CLI_EMULATOR, accounts=mixed(2_500, 250, 30), today=TODAY)
    report = tmp_path / "plan.json"
    result = await run_cli(
        "sweep", RESOURCE, "--base-url", emu.url, "--date", "last-3-days", "--today", TODAY,
        "--dry-run", "--assume-size", "2500", "--report", str(report),
    )  # fmt: skip
    assert result.code == 0, result.err
    text = result.stdout.decode()
    assert text.startswith("plan: usage-metering/users, paged, 3 days, 2026-07-12 to 2026-07-14")
    assert "Claude        2 accounts x 3 days = 6 units: limit 1000 (the largest)" in text
    assert "OpenAI Codex  1 account, once: limit 100 (the largest); no date parameter" in text
    assert "skipped 1 account: account status is 'needs_reauth' (1)" in text
    assert "~44 requests, at least 0 s at Truto's limits" in text  # 2 x 3 x 3 + 25 + 1
    stats = emu.stats_snapshot()["requests"]
    assert stats["by_query"] == [] and stats["by_integration"] == {}
    plan = orjson.loads(report.read_bytes())["plan"]
    assert plan["units"] == 8 and plan["estimate"]["requests"] == 44
    assert_no_token(result.stdout, result.stderr, paths=[tmp_path])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("2026-13-01", "not a calendar date"),
        ("2026-07-14..2026-07-16", "is in the future (today is 2026-07-15 UTC)"),
        ("next-week", "expected YYYY-MM-DD, A..B, today"),
        ("2026-07-10..2026-07-01", "ends before it starts"),
    ],
)
async def test_a_bad_date_is_a_usage_error_before_any_request(
    emulator: EmulatorFactory, spec: str, message: str
) -> None:
    emu = await emulator(**CLI_EMULATOR, today=TODAY)
    extra = ["--dry-run"] if "future" in message else []  # parsed the same way
    result = await run_cli(
        "sweep", RESOURCE, "--base-url", emu.url, "--date", spec, "--today", TODAY, *extra
    )
    assert result.code == 2, result.err
    assert message in result.err
    assert emu.stats_snapshot()["requests"]["total"] == 0


async def test_dated_records_carry_their_date(emulator: EmulatorFactory, tmp_path: Path) -> None:
    emu = await emulator(**CLI_EMULATOR, accounts=mixed(120, 90, 15), today=TODAY)
    args = ["sweep", RESOURCE, "--base-url", emu.url, "--today", TODAY, "--progress", "never"]
    result = await run_cli(*args, "--date", DAYS[0], "--date", f"{DAYS[1]}..yesterday")
    assert result.code == 0, result.err
    records = result.lines()
    got = keyed(records)
    assert sorted(got, key=str) == sorted(expected(emu.dataset, DAYS), key=str)  # once each
    ds = emu.dataset
    oracle = {
        (acc.id, day, user["id"]): user
        for acc in ds.accounts
        if acc.status == "active"
        for day in (DAYS if acc.vendor.takes_date else [None])
        for user in ds.users(acc.id, date=day)
    }
    for record in records:  # each record is that day's, as the API serves it
        account, day = record.pop("integrated_account_id"), record.pop("date")
        assert record == oracle[(account, day, record["id"])]
    out = tmp_path / "users.csv"
    result = await run_cli(*args, "--date", DAYS[2], "--format", "csv", "--output", str(out))
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert list(rows[0])[:3] == ["integrated_account_id", "date", "id"]
    dates = {(r["integrated_account_id"], r["date"]) for r in rows}
    claude = [a.id for a in emu.dataset.accounts if a.integration == "claude"]
    assert {(a, DAYS[2]) for a in claude} < dates
    assert all(d == "" for a, d in dates if a not in claude)


async def test_unknown_integrations_and_empty_discovery_warn(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(**CLI_EMULATOR, today=TODAY)
    report = tmp_path / "report.json"
    result = await run_cli(
        "sweep", RESOURCE, "--base-url", emu.url, "--integration", "claud", "--quiet",
        "--report", str(report),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "warning: integration 'claud' is not one truto-stream knows" in result.err
    assert "(known: claude, openai, cursor)" in result.err
    assert "warning: discovery matched no account (filters: integration.name=claud)" in result.err
    assert len(orjson.loads(report.read_bytes())["warnings"]) == 2


async def _kill_after(args: list[str], lines: int) -> bytes:
    """Start the command, read ``lines`` records from stdout, SIGKILL it."""
    process = await anyio.open_process(command(*args), env=cli_env(), stdin=subprocess.DEVNULL)
    async with process:
        assert process.stdout is not None
        out = b""
        async for chunk in process.stdout:
            out += chunk
            if out.count(b"\n") >= lines:
                break
        process.send_signal(signal.SIGKILL)
        await process.wait()
    return out[: out.rfind(b"\n") + 1]


async def test_kill_and_resume_a_date_range_sweep(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    # Small pages and some latency: slow enough to be killed part-way through the days.
    emu = await emulator(**CLI_EMULATOR, accounts=mixed(800, 400, 30), today=TODAY,
                         latency_ms=10)  # fmt: skip
    checkpoint = tmp_path / "sweep.db"
    args = [
        "sweep", RESOURCE, "--base-url", emu.url, "--date", f"{DAYS[0]}..{DAYS[-1]}",
        "--today", TODAY, "--param", "limit=50", "--concurrency", "2", "--progress", "never",
        "--checkpoint", str(checkpoint),
    ]  # fmt: skip
    first = await _kill_after(args, 2_000)
    with sqlite3.connect(checkpoint) as db:
        committed = {key: pages for key, pages in db.execute("SELECT unit_key, pages FROM units")}
    assert committed  # it got somewhere, and not to the end
    emu.reset_stats()
    second = await run_cli(*args)
    assert second.code == 0, second.err
    records = [orjson.loads(line) for line in first.splitlines()] + second.lines()
    assert set(keyed(records)) == expected(emu.dataset, DAYS)  # every unit complete
    with sqlite3.connect(checkpoint) as db:
        rows = db.execute("SELECT unit_key, account_id, date, state FROM units").fetchall()
    units = [r for r in rows if r[3] != "skipped"]
    assert len(units) == 2 * 3 + 1 + 1 and all(r[3] == "done" for r in units)
    # The second run fetched each unit's pages from its committed cursor on, once each:
    # nothing before that cursor, nothing twice.
    made = {(q["integrated_account_id"], q["date"]): q["requests"]
            for q in emu.stats_snapshot()["requests"]["by_query"]}  # fmt: skip
    ds = emu.dataset
    for key, account, date, _ in units:
        acc = ds.account(account)
        pages = 1 if acc.integration == "cursor" else max(1, math.ceil(acc.user_count / 50))
        assert made.get((account, date), 0) == pages - committed.get(key, 0), key
    assert_no_token(first, second.stdout, second.stderr, paths=[tmp_path])
