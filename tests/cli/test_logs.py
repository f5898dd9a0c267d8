"""``--log-format``, ``--log-file`` and ``--log-level``, as subprocesses."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cli.support import CLI_EMULATOR, TOKEN, assert_no_token, run_cli
from tests.support import EmulatorFactory, echo_forms
from truto_stream.emulator import AccountSpec

pytestmark = pytest.mark.anyio

RESOURCE = "usage-metering/users"

#: One account per event the log must show.
FAULTS = {
    "healthy": None,
    "retried": "502@#1",
    "throttled": "remote429:0.05@#0",
    "echoed-then-healed": "echo:502@#0",
    "echoed-and-failed": "echo@#0",
}


def _sweep(url: str, *args: str) -> list[str]:
    return ["sweep", RESOURCE, "--base-url", url, "--progress", "never", *args]


async def _faulty(emulator: EmulatorFactory) -> tuple[Any, dict[str, str]]:
    accounts = tuple(
        AccountSpec(integration="openai", tenant_id=name, users=150, faults=faults)
        for name, faults in FAULTS.items()
    )
    emu = await emulator(**{**CLI_EMULATOR, "accounts": accounts})
    ids = {spec.tenant_id: acc.id for spec, acc in zip(accounts, emu.dataset.accounts, strict=True)}
    return emu, ids


async def test_json_log_file_has_every_event_and_no_token(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu, ids = await _faulty(emulator)
    log = tmp_path / "sweep.log"
    result = await run_cli(
        *_sweep(emu.url, "--output", str(tmp_path / "out.ndjson")),
        "--log-format",
        "json",
        "--log-file",
        str(log),
    )
    assert result.code == 1, result.err  # the echoed 400 fails its account
    lines = log.read_bytes().splitlines()
    events = [orjson.loads(line) for line in lines]  # every line is one JSON object
    for event in events:
        assert {"ts", "level", "logger", "message", "event"} <= event.keys()
        assert dt.datetime.fromisoformat(event["ts"]).tzinfo is not None
        assert event["logger"].startswith("truto_stream.")
    assert {e["level"] for e in events} <= {"INFO", "WARNING", "ERROR"}  # INFO by default

    def of(kind: str, name: str) -> list[dict[str, Any]]:
        return [e for e in events if e["event"] == kind and e.get("account_id") == ids[name]]

    for name in ids:
        assert len(of("unit.start", name)) == 1
    for name in ("healthy", "retried", "throttled", "echoed-then-healed"):
        (finish,) = of("unit.finish", name)
        assert (finish["records"], finish["pages"], finish["level"]) == (150, 2, "INFO")
    (retry,) = of("retry", "retried")
    assert (retry["status"], retry["attempt"], retry["level"]) == (502, 1, "WARNING")
    assert retry["delay"] >= 0 and retry["error_type"] == "ServerError"
    (throttled,) = of("rate_limited", "throttled")
    assert (throttled["retry_after"], throttled["capped"], throttled["remote"]) == (
        0.05,
        False,
        True,
    )
    assert throttled["wait"] >= 0.05
    assert of("retry", "echoed-then-healed")
    (failed,) = of("unit.failed", "echoed-and-failed")
    assert (failed["error_type"], failed["status"], failed["level"]) == ("BadRequest", 400, "ERROR")
    (finished,) = [e for e in events if e["event"] == "sweep.finish"]
    assert finished["states"]["failed"] == 1 and finished["totals"]["records"] == 600
    assert not of("page", "healthy")  # DEBUG only
    for blob in (log.read_bytes(), result.stdout, result.stderr):
        for form in echo_forms(TOKEN):
            assert form.encode() not in blob
    assert_no_token(result.stdout, result.stderr, paths=[tmp_path])
    assert "summary" in result.err and '"event"' not in result.err  # the log went to the file


async def test_text_log_on_stderr_at_debug(emulator: EmulatorFactory, tmp_path: Path) -> None:
    emu = await emulator(**CLI_EMULATOR)
    account = emu.dataset.accounts[0].id
    result = await run_cli(
        "--log-level",
        "debug",
        *_sweep(emu.url, "--account", account, "--param", "limit=5"),
        "--log-format=text",
    )
    assert result.code == 0, result.err
    lines = [line for line in result.err.splitlines() if " truto_stream." in line]
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert all(re.match(stamp + r" (DEBUG|INFO) truto_stream\.(fetch|sweep): ", x) for x in lines)
    pages = [x for x in lines if ": page " in x]
    users = emu.dataset.account(account).user_count
    assert len(pages) == max(1, -(-users // 5))
    assert any(f"account {account}: done, {users} records" in x for x in lines)
    assert_no_token(result.stdout, result.stderr)


async def test_no_log_option_no_log(emulator: EmulatorFactory) -> None:
    emu = await emulator(**CLI_EMULATOR, faults="502@#0")
    result = await run_cli(*_sweep(emu.url))
    assert result.code == 0, result.err
    assert "truto_stream." not in result.err and "retrying" not in result.err


async def test_log_options_are_checked(tmp_path: Path) -> None:
    bad = await run_cli("sweep", RESOURCE, "--log-format", "xml")
    assert bad.code == 2 and "invalid choice: 'xml'" in bad.err
    missing = await run_cli("sweep", RESOURCE, "--log-file")
    assert missing.code == 2 and "--log-file" in missing.err
    unwritable = await run_cli("sweep", RESOURCE, "--log-file", str(tmp_path / "no" / "x.log"))
    assert unwritable.code == 2 and "cannot open the log file" in unwritable.err
