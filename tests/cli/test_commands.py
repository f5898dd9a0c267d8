"""``truto-stream list``, ``accounts``, ``demo`` and the help texts."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from tests.cli.support import (
    CLI_EMULATOR,
    assert_no_token,
    expected_ids,
    record_ids,
    run_cli,
)
from tests.support import EmulatorFactory
from truto_stream.cli.demo import demo_config
from truto_stream.emulator import Dataset

pytestmark = pytest.mark.anyio

RESOURCE = "usage-metering/users"

SWEEP_OPTIONS = [
    "--account", "--tenant-id", "--integration", "--status", "--param", "--mode",
    "--concurrency", "--checkpoint", "--format", "--output", "--report", "--base-url",
    "--token", "--progress", "--quiet",
]  # fmt: skip


async def test_help_lists_commands_and_options() -> None:
    top = await run_cli("--help")
    assert top.code == 0
    for name in ("sweep", "list", "accounts", "demo", "emulator"):
        assert name in top.stdout.decode()
    sweep = await run_cli("sweep", "--help")
    assert sweep.code == 0
    text = sweep.stdout.decode()
    for option in SWEEP_OPTIONS:
        assert option in text, option
    for choice in ("ndjson", "csv", "json", "parquet", "paged", "stream", "auto", "always"):
        assert choice in text
    for cmd, options in {
        "list": ["--account", "--all", "--cursor", "--format", "--output"],
        "accounts": ["--tenant-id", "--integration", "--status", "--format"],
        "demo": ["--output", "--mode", "--progress"],
    }.items():
        result = await run_cli(cmd, "--help")
        assert result.code == 0
        for option in options:
            assert option in result.stdout.decode(), (cmd, option)


async def test_list_one_page_then_all(emulator: EmulatorFactory) -> None:
    emu = await emulator(**CLI_EMULATOR)
    account = next(
        a for a in emu.dataset.accounts if a.integration == "claude" and a.user_count > 10
    )
    base = ["list", RESOURCE, "--account", account.id, "--base-url", emu.url]
    one = await run_cli(*base, "--param", "limit=5")
    assert one.code == 0, one.err
    first_page = one.lines()
    assert [r["id"] for r in first_page] == list(emu.dataset.user_ids(account.id))[:5]
    assert all(r["integrated_account_id"] == account.id for r in first_page)
    assert "next_cursor:" in one.err
    cursor = one.err.split("next_cursor:")[1].split()[0]

    rest = await run_cli(*base, "--param", "limit=5", "--cursor", cursor, "--all")
    assert rest.code == 0, rest.err
    assert record_ids(first_page) | record_ids(rest.lines()) == expected_ids(
        emu.dataset, [account.id]
    )
    every = await run_cli(*base, "--all", "--format", "json")
    assert every.code == 0
    assert record_ids(orjson.loads(every.stdout)) == expected_ids(emu.dataset, [account.id])
    assert_no_token(one.stdout, one.stderr, rest.stdout, rest.stderr)


async def test_list_failure_exits_1(emulator: EmulatorFactory) -> None:
    emu = await emulator(**CLI_EMULATOR, blocked_accounts=1)
    blocked = next(a for a in emu.dataset.accounts if a.is_blocked)
    result = await run_cli("list", RESOURCE, "--account", blocked.id, "--base-url", emu.url)
    assert result.code == 1
    assert "AccountBlocked" in result.err


async def test_accounts_table_and_ndjson(emulator: EmulatorFactory) -> None:
    emu = await emulator(**CLI_EMULATOR, needs_reauth_accounts=1)
    table = await run_cli("accounts", "--base-url", emu.url)
    assert table.code == 0, table.err
    text = table.stdout.decode()
    assert text.splitlines()[0].split()[:4] == ["ID", "TENANT", "INTEGRATION", "STATUS"]
    for account in emu.dataset.accounts:
        assert account.id in text
    assert "needs_reauth" in text

    ndjson = await run_cli(
        "accounts", "--base-url", emu.url, "--format", "ndjson", "--integration", "cursor"
    )
    assert ndjson.code == 0
    rows = ndjson.lines()
    cursor = {a.id for a in emu.dataset.accounts if a.integration == "cursor"}
    assert {r["id"] for r in rows} == cursor
    assert all(r["integration"]["name"] == "cursor" for r in rows)

    status = await run_cli("accounts", "--base-url", emu.url, "--status", "needs_reauth")
    assert status.code == 0
    assert len(status.stdout.decode().splitlines()) == 1 + 3  # heading + one per integration
    assert_no_token(table.stdout, table.stderr, ndjson.stdout, status.stdout)


def test_demo_scenario_is_realistic() -> None:
    dataset = Dataset(demo_config())
    accounts = dataset.accounts
    assert {a.integration for a in accounts} == {"claude", "openai", "cursor"}
    assert 20 <= len(accounts) < 100
    assert min(a.user_count for a in accounts) == 100
    assert max(a.user_count for a in accounts) == 50_000
    assert any(a.status == "needs_reauth" for a in accounts)
    assert any(a.is_blocked for a in accounts)
    assert any(a.faults for a in accounts)
    assert dataset.config.token_limit == 500 and dataset.config.account_limit == 50


@pytest.mark.slow
async def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    started = time.monotonic()
    result = await run_cli("demo", "--progress", "never", cwd=tmp_path)
    assert time.monotonic() - started < 30  # the bound, on this 2-core machine
    assert result.code == 0, result.err
    out = tmp_path / "demo-users.ndjson"
    assert out.exists() and not (tmp_path / "demo-users.ndjson.partial").exists()
    assert "summary" in result.err and str(out) in result.err
    assert "checked against the emulator's data set" in result.err
    dataset = Dataset(demo_config())
    ids = {(a.id, uid) for a in dataset.accounts for uid in dataset.user_ids(a.id)}
    with out.open("rb") as lines:
        seen = {(r["integrated_account_id"], r["id"]) for r in map(orjson.loads, lines)}
    assert seen <= ids
    skipped = [a.id for a in dataset.accounts if a.status != "active" or a.is_blocked]
    assert all(account in result.err for account in skipped)
    # The looping cursor is stopped and reported; transient faults were retried.
    assert "CursorLoop" in result.err
    retries = int(result.err.split("retries")[1].split()[0].replace(",", ""))
    assert retries > 0
