"""``truto-stream sweep``: outputs, formats, exit statuses, progress, reports, the token."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

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
    expected_records,
    read_records,
    record_ids,
    run_cli,
)
from tests.support import EmulatorFactory

pytestmark = pytest.mark.anyio

RESOURCE = "usage-metering/users"


def _sweep(url: str, *args: str) -> list[str]:
    return ["sweep", RESOURCE, "--base-url", url, "--progress", "never", *args]


async def test_ndjson_to_stdout_by_discovery(emulator: EmulatorFactory, tmp_path: Path) -> None:
    emu = await emulator(**CLI_EMULATOR)
    report = tmp_path / "report.json"
    result = await run_cli(*_sweep(emu.url, "--report", str(report)))
    assert result.code == 0, result.err
    records = result.lines()
    assert record_ids(records) == expected_ids(emu.dataset)
    assert len(records) == len(expected_ids(emu.dataset))  # exactly once each
    expected = expected_records(emu.dataset)
    for record in records:
        account = record.pop("integrated_account_id")
        assert record == expected[(account, record["id"])]
    assert "summary" in result.err
    document = orjson.loads(report.read_bytes())
    assert document["exit_status"] == 0
    assert document["states"]["done"] == len(emu.dataset.accounts)
    assert document["totals"]["records"] == len(records)
    assert_no_token(result.stdout, result.stderr, paths=[tmp_path])


async def test_explicit_accounts_params_and_stream_mode(emulator: EmulatorFactory) -> None:
    emu = await emulator(**CLI_EMULATOR)
    chosen = [a.id for a in emu.dataset.accounts[:3]]
    args = [f"--account={a}" for a in chosen]
    result = await run_cli(
        *_sweep(emu.url, *args, "--mode", "stream", "--concurrency", "2"),
        "--param",
        "truto_exclude_fields[]=emails",
        "--param",
        "truto_exclude_fields[]=remote_data",
    )
    assert result.code == 0, result.err
    records = result.lines()
    assert record_ids(records) == expected_ids(emu.dataset, chosen)
    assert all("emails" not in r and "remote_data" not in r for r in records)


async def test_discovery_filters(emulator: EmulatorFactory) -> None:
    emu = await emulator(**CLI_EMULATOR)
    result = await run_cli(*_sweep(emu.url, "--integration", "openai", "--status", "active"))
    assert result.code == 0, result.err
    openai = [a.id for a in emu.dataset.accounts if a.integration == "openai"]
    assert record_ids(result.lines()) == expected_ids(emu.dataset, openai)


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "json", "parquet"])
async def test_formats_round_trip(emulator: EmulatorFactory, tmp_path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    emu = await emulator(**CLI_EMULATOR)
    out = tmp_path / f"users.{fmt}"
    result = await run_cli(*_sweep(emu.url, "--format", fmt, "--output", str(out)))
    assert result.code == 0, result.err
    assert result.stdout == b""
    assert not (tmp_path / f"users.{fmt}.partial").exists()
    records = read_records(fmt, out)
    expected = expected_records(emu.dataset)
    assert len(records) == len(expected)
    for record in records:
        account = record.pop("integrated_account_id")
        assert record == expected[(account, record["id"])]
    assert_no_token(result.stdout, result.stderr, paths=[tmp_path])


async def test_csv_columns_are_fixed(emulator: EmulatorFactory, tmp_path: Path) -> None:
    emu = await emulator(**CLI_EMULATOR)
    out = tmp_path / "users.csv"
    result = await run_cli(*_sweep(emu.url, "--format", "csv", "--output", str(out)))
    assert result.code == 0, result.err
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:3] == ["integrated_account_id", "id", "name"]
    assert {"emails", "roles", "status", "created_at", "last_active_at", "remote_data"} <= set(
        header
    )


async def test_a_failed_account_exits_1_and_the_finished_file_is_put_in_place(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    # Issue #9: a sweep that ran to its end keeps its file, even with a failed account.
    emu = await emulator(**CLI_EMULATOR, needs_reauth_accounts=1)
    reauth = next(a.id for a in emu.dataset.accounts if a.status == "needs_reauth")
    good = next(a.id for a in emu.dataset.accounts if a.status == "active")
    out, report = tmp_path / "users.ndjson", tmp_path / "report.json"
    result = await run_cli(
        *_sweep(emu.url, "--account", good, "--account", reauth),
        "--output",
        str(out),
        "--report",
        str(report),
    )
    assert result.code == 1, result.err
    assert reauth in result.err and "NeedsReauth" in result.err
    assert not (tmp_path / "users.ndjson.partial").exists()
    assert record_ids(orjson.loads(x) for x in out.read_bytes().splitlines()) == (
        expected_ids(emu.dataset, [good])
    )
    document = orjson.loads(report.read_bytes())
    states = {a["account_id"]: a["state"] for a in document["accounts"]}
    assert states == {good: "done", reauth: "failed"}
    assert document["exit_status"] == 1
    assert document["output"] == str(out) and document["partial_output"] is None
    assert_no_token(result.stdout, result.stderr, paths=[tmp_path])


async def test_discovery_skips_inactive_accounts(emulator: EmulatorFactory) -> None:
    emu = await emulator(**CLI_EMULATOR, needs_reauth_accounts=1, blocked_accounts=1)
    result = await run_cli(*_sweep(emu.url))
    assert result.code == 0, result.err
    assert record_ids(result.lines()) == expected_ids(emu.dataset)
    assert "needs_reauth" in result.err and "blocked" in result.err


async def test_progress_without_rich_degrades_to_plain_lines(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    # A `rich` that cannot be imported, ahead of the real one on the path.
    fake = tmp_path / "no-rich" / "rich"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('rich is not installed')\n")
    pythonpath = os.pathsep.join(p for p in (str(fake.parent), os.environ.get("PYTHONPATH")) if p)
    emu = await emulator(**CLI_EMULATOR)
    result = await run_cli(
        "sweep", RESOURCE, "--base-url", emu.url, "--progress", "always",
        env=cli_env(PYTHONPATH=pythonpath),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "summary" in result.err and "  records" in result.err
    assert "┌" not in result.err and "\x1b[" not in result.err
    assert record_ids(result.lines()) == expected_ids(emu.dataset)


async def test_quiet(emulator: EmulatorFactory) -> None:
    emu = await emulator(**CLI_EMULATOR)
    result = await run_cli(*_sweep(emu.url, "--quiet"))
    assert result.code == 0
    assert result.stderr == b""
    assert record_ids(result.lines()) == expected_ids(emu.dataset)


async def test_progress_always_goes_to_stderr(emulator: EmulatorFactory) -> None:
    emu = await emulator(**CLI_EMULATOR, latency_ms=20)
    result = await run_cli("sweep", RESOURCE, "--base-url", emu.url, "--progress", "always")
    assert result.code == 0, result.err
    assert "accounts" in result.err and "records" in result.err
    # stdout is nothing but records: `| jq` works.
    assert record_ids(result.lines()) == expected_ids(emu.dataset)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sweep", "users"], "MODEL/RESOURCE"),
        (["sweep", RESOURCE, "--param", "date"], "KEY=VALUE"),
        (["sweep", RESOURCE, "--param", "a=1", "--param", "a=2"], "given twice"),
        (["sweep", RESOURCE, "--account", "x", "--integration", "claude"], "either"),
        (["sweep", RESOURCE, "--concurrency", "0"], "concurrency"),
        (["sweep", RESOURCE, "--format", "xml"], "invalid choice"),
        (["sweep", RESOURCE, "--base-url", "http://example.com"], "plain http"),
        (["sweep", RESOURCE, "--output", "/nonexistent-dir/x.ndjson"], "does not exist"),
        (["list", RESOURCE], "--account"),
        (["nope"], "unknown command"),
    ],
)
async def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = await run_cli(*args)
    assert result.code == 2
    assert message in result.err
    assert result.stdout == b""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no API token"),
        (["--base-url", "http://example.com"], "pass --allow-insecure"),
        (["--checkpoint", "/nonexistent-dir/c.db"], "does not exist"),
        (["--report", "/nonexistent-dir/r.json"], "does not exist"),
    ],
)
async def test_usage_errors_print_the_error_alone(
    args: list[str], message: str, tmp_path: Path
) -> None:
    env = cli_env(token=None) if message == "no API token" else cli_env()
    result = await run_cli("sweep", RESOURCE, "--output", str(tmp_path / "u.ndjson"), *args,
                           env=env)  # fmt: skip
    assert result.code == 2
    assert message in result.err
    # No zero-valued summary, no word about an output: nothing was requested or written.
    assert "summary" not in result.err and "records" not in result.err
    assert "output incomplete" not in result.err and "Traceback" not in result.err
    assert os.listdir(tmp_path) == []


def _own_address() -> str | None:
    """A non-loopback address of this machine (no packet is sent to find it)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # UDP connect: picks a route, sends nothing
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


async def test_allow_insecure_lets_plain_http_reach_a_host_that_is_not_loopback(
    emulator: EmulatorFactory,
) -> None:
    address = _own_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    emu = await emulator(**CLI_EMULATOR, host=address)  # still this machine
    assert emu.url.startswith(f"http://{address}:")
    refused = await run_cli(*_sweep(emu.url))
    assert refused.code == 2 and "--allow-insecure" in refused.err
    allowed = await run_cli(*_sweep(emu.url, "--allow-insecure"))
    assert allowed.code == 0, allowed.err
    assert record_ids(allowed.lines()) == expected_ids(emu.dataset)


async def test_no_token_is_a_usage_error() -> None:
    result = await run_cli("sweep", RESOURCE, env=cli_env(token=None))
    assert result.code == 2
    assert "no API token" in result.err and "TRUTO_API_TOKEN" in result.err


async def test_token_flag_works_and_is_never_echoed(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(**CLI_EMULATOR)
    result = await run_cli(
        *_sweep(emu.url, "--token", TOKEN, "--report", str(tmp_path / "r.json")),
        env=cli_env(token=None),
    )
    assert result.code == 0, result.err
    assert_no_token(result.stdout, result.stderr, paths=[tmp_path])


async def test_wrong_token_fails_clearly(emulator: EmulatorFactory) -> None:
    emu = await emulator(**CLI_EMULATOR)
    result = await run_cli(*_sweep(emu.url, "--token", "not-the-token"))
    assert result.code == 1
    assert "AuthError" in result.err or "401" in result.err
    assert "not-the-token" not in result.err


async def test_checkpoint_of_another_sweep_is_a_usage_error(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await emulator(**CLI_EMULATOR)
    checkpoint = str(tmp_path / "sweep.db")
    first = await run_cli(*_sweep(emu.url, "--checkpoint", checkpoint, "--output", "-"))
    assert first.code == 0, first.err
    other = await run_cli(*_sweep(emu.url, "--checkpoint", checkpoint, "--param", "limit=5"))
    assert other.code == 2
    assert "checkpoint" in other.err


async def test_closed_stdout_stops_quietly(emulator: EmulatorFactory) -> None:
    # Far more output than a pipe buffers, so the command must notice the closed pipe.
    emu = await emulator(**{**CLI_EMULATOR, "users": (200, 300)}, latency_ms=2)
    argv = command(*_sweep(emu.url, "--param", "limit=5", "--concurrency", "1"))
    script = f"{shlex.join(argv)} | head -c 1 >/dev/null; exit ${{PIPESTATUS[0]}}"
    done = await anyio.run_process(["bash", "-c", script], check=False, env=cli_env())
    assert done.returncode == 141  # like a process killed by SIGPIPE, as `| head` expects
    assert b"Traceback" not in done.stderr
