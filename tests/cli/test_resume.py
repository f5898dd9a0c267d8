"""Checkpoints across runs: kill -9 mid-sweep, Ctrl-C, and continuing a partial output file."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from tests.cli.support import (
    CLI_EMULATOR,
    TOKEN,
    assert_no_token,
    cli_env,
    command,
    expected_ids,
    read_records,
    record_ids,
    run_cli,
)
from tests.support import EmulatorFactory
from tests.unit.checkpoint_helpers import write_v1
from truto_stream import Client
from truto_stream.emulator import AccountSpec
from truto_stream.sweep import sweep_key

pytestmark = pytest.mark.anyio

RESOURCE = "usage-metering/users"

#: Slow enough to interrupt mid-sweep: small pages, some latency, one account at a time.
SLOW: dict[str, Any] = {**CLI_EMULATOR, "users": (150, 250), "latency_ms": 15}
SLOW_ARGS = ["--param", "limit=10", "--concurrency", "2", "--progress", "never"]


async def _run_until(
    args: list[str], lines: int, signum: signal.Signals
) -> tuple[int, bytes, bytes]:
    """Start the command, read ``lines`` records from stdout, send ``signum``, drain it.

    Synchronises on the output itself (no sleeps): the signal arrives mid-sweep.
    """
    process = await anyio.open_process(command(*args), env=cli_env(), stdin=subprocess.DEVNULL)
    async with process:
        assert process.stdout is not None and process.stderr is not None
        out = b""
        async for chunk in process.stdout:
            out += chunk
            if out.count(b"\n") >= lines:
                break
        process.send_signal(signum)
        async for chunk in process.stdout:
            out += chunk
        err = b""
        async for chunk in process.stderr:
            err += chunk
        code = await process.wait()
    return code, out, err


def _complete_lines(data: bytes) -> list[dict[str, Any]]:
    """Records of the complete lines (a killed writer may leave half a line)."""
    complete = data[: data.rfind(b"\n") + 1]
    return [orjson.loads(line) for line in complete.splitlines() if line.strip()]


async def test_sigkill_then_rerun_yields_every_record(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(**SLOW)
    checkpoint = tmp_path / "sweep.db"
    args = ["sweep", RESOURCE, "--base-url", emu.url, "--checkpoint", str(checkpoint)]
    code, first, _ = await _run_until([*args, *SLOW_ARGS], 60, signal.SIGKILL)
    assert code == -signal.SIGKILL
    before = _complete_lines(first)
    expected = expected_ids(emu.dataset)
    assert 60 <= len(before) < len(expected)

    second = await run_cli(*args, *SLOW_ARGS)
    assert second.code == 0, second.err
    after = second.lines()
    assert record_ids(before) | record_ids(after) == expected
    assert_no_token(first, second.stdout, second.stderr, paths=[tmp_path])


async def test_sigint_exits_130_with_a_committed_checkpoint(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(**SLOW)
    checkpoint = tmp_path / "sweep.db"
    args = ["sweep", RESOURCE, "--base-url", emu.url, "--checkpoint", str(checkpoint)]
    report = tmp_path / "report.json"
    code, first, err = await _run_until(
        [*args, *SLOW_ARGS, "--report", str(report)], 60, signal.SIGINT
    )
    assert code == 130, err.decode()
    assert b"interrupted" in err
    assert b"Traceback" not in err
    # The checkpoint is committed: every record written so far is accounted for.
    with sqlite3.connect(checkpoint) as db:
        rows = db.execute("SELECT state, cursor, records FROM units").fetchall()
    assert rows
    committed = sum(records for _, _, records in rows)
    before = _complete_lines(first)
    assert 0 < committed <= len(before)
    assert orjson.loads(report.read_bytes())["exit_status"] == 130

    second = await run_cli(*args, *SLOW_ARGS)
    assert second.code == 0, second.err
    after = second.lines()
    expected = expected_ids(emu.dataset)
    assert record_ids(before) | record_ids(after) == expected
    assert len(after) < len(expected)  # it resumed rather than starting over
    assert_no_token(first, err, second.stdout, second.stderr, paths=[tmp_path])


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "json", "parquet"])
async def test_a_rerun_retries_failed_accounts_into_the_finished_file(
    emulator: EmulatorFactory, tmp_path: Path, fmt: str
) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    # One account answers vendor 429s (Retry-After: 0) on its second page more times than
    # the client retries: the first run fails it; the second run gets through.
    accounts = (
        AccountSpec("claude", "acme", users=40, faults="remote429:0@#1x8"),
        AccountSpec("openai", "acme", users=30),
        AccountSpec("cursor", "globex", users=20),
    )
    emu = await emulator(**CLI_EMULATOR, accounts=accounts)
    out, checkpoint = tmp_path / f"users.{fmt}", tmp_path / "sweep.db"
    args = [
        "sweep", RESOURCE, "--base-url", emu.url, "--param", "limit=10", "--format", fmt,
        "--output", str(out), "--checkpoint", str(checkpoint), "--progress", "never",
        "--row-group-rows", "7",
    ]  # fmt: skip
    first = await run_cli(*args)
    assert first.code == 1, first.err
    assert "RateLimited" in first.err
    # Every account reached its end: the file is in place, readable, without the failed one.
    partial = tmp_path / f"users.{fmt}.partial"
    assert out.exists() and not partial.exists()
    assert "rerun with the same --checkpoint" in first.err

    failed = emu.dataset.accounts[0].id
    before = read_records(fmt, out)
    assert len(record_ids(before)) == len(before)
    assert record_ids(before) < expected_ids(emu.dataset)
    # The failed account's first page was delivered before its second failed.
    assert sum(1 for a, _ in record_ids(before) if a == failed) == 10

    second = await run_cli(*args)
    assert second.code == 0, second.err
    assert not partial.exists() and not (tmp_path / f"users.{fmt}.parts").exists()
    records = read_records(fmt, out)
    assert record_ids(records) == expected_ids(emu.dataset)
    assert len(records) == len(expected_ids(emu.dataset))  # exactly once each

    # A third run finds everything done: the complete file is left exactly as it was.
    complete = out.read_bytes()
    third = await run_cli(*args)
    assert third.code == 0, third.err
    assert out.read_bytes() == complete
    # And a failing run (the token is refused) does not disturb it either.
    refused = await run_cli(*args, "--token", "not-the-token")
    assert refused.code == 1
    assert out.read_bytes() == complete and not partial.exists()
    assert_no_token(first.stderr, second.stderr, third.stderr, paths=[tmp_path])


async def test_sigterm_exits_143(emulator: EmulatorFactory, tmp_path: Path) -> None:
    emu = await emulator(**SLOW)
    checkpoint = tmp_path / "sweep.db"
    args = ["sweep", RESOURCE, "--base-url", emu.url, *SLOW_ARGS, "--checkpoint", str(checkpoint)]
    code, _, err = await _run_until(args, 30, signal.SIGTERM)
    assert code == 143, err.decode()
    assert b"interrupted; checkpoint committed" in err and b"Traceback" not in err


@pytest.mark.parametrize("fmt", ["ndjson", "parquet"])
async def test_a_version_1_checkpoint_resumes_into_the_output_it_left(
    emulator: EmulatorFactory, tmp_path: Path, fmt: str
) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    emu = await emulator(**CLI_EMULATOR)
    done = emu.dataset.accounts[0].id
    out, checkpoint = tmp_path / f"users.{fmt}", tmp_path / "sweep.db"
    # What truto-stream 1 left: one account done, its records in the partial output (the
    # last line torn by a kill), and no output position in the checkpoint.
    users = list(emu.dataset.users(done))
    lines = [orjson.dumps({"integrated_account_id": done, **u}) for u in users]
    partial = tmp_path / f"users.{fmt}.partial"
    partial.write_bytes(b"\n".join(lines) + b'\n{"integrated_account_id": "' + done.encode())
    key = sweep_key(
        Client(TOKEN, base_url=emu.url).base_url, "usage-metering", "users", {}, "paged"
    )
    write_v1(checkpoint, key, [(done, "done", None, len(users), 1, None)])
    args = [
        "sweep", RESOURCE, "--base-url", emu.url, "--format", fmt, "--output", str(out),
        "--checkpoint", str(checkpoint), "--progress", "never",
    ]  # fmt: skip
    result = await run_cli(*args)
    if fmt == "parquet":  # no position to cut a parquet output back to: refused
        assert result.code == 2 and "older truto-stream" in result.err
        return
    assert result.code == 0, result.err
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert record_ids(records) == expected_ids(emu.dataset)
    assert len(records) == len(expected_ids(emu.dataset))  # the done account is not fetched
