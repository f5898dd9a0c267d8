"""The emulator's ``echo`` fault against every place the command writes text (issue #9).

A server that quotes the token (``Bearer <token>``, URL-encoded, base64, in ``message``,
``raw_response``, ``truto_error_insight`` and a header) on a refused page, a retried
gateway error, a retried remote 500 and a fatal 401: the token, in none of its forms,
reaches stdout, stderr, the JSON log file (at DEBUG), the report, the checkpoint (its
bytes and its SQL text) or the output, in any of the four formats.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cli.support import CLI_EMULATOR, cli_env, run_cli
from tests.support import EmulatorFactory, echo_forms
from truto_stream.emulator import AccountSpec

pytestmark = pytest.mark.anyio

#: Characters that URL-encoding, JSON and base64 each write differently.
TOKEN = "cli/SECRET+tok=en&7f3a?9c1e"

#: tenant -> the account's fault: refused at once, healed after a retry, a remote 500
#: retried twice then healed, and a healthy one.
FAULTS = {
    "refused": "echo@#0",
    "gateway": "echo:502@#0",
    "remote": "echo:500@#1x2",
    "healthy": None,
}


def token_forms() -> list[bytes]:
    """Every form of the token a server might echo."""
    return [form.encode() for form in echo_forms(TOKEN)]


def written(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (parquet parts included); a SQLite file also as SQL."""
    out: dict[str, bytes] = {}
    for path in sorted(directory.rglob("*")):
        if not path.is_file():
            continue
        out[str(path.relative_to(directory))] = path.read_bytes()
        if path.suffix == ".db":
            with contextlib.closing(sqlite3.connect(path)) as db:
                out[f"{path.name} (SQL)"] = "\n".join(db.iterdump()).encode()
    return out


def leaks(blobs: dict[str, bytes]) -> dict[str, list[bytes]]:
    forms = token_forms()
    found = {name: [f for f in forms if f in blob] for name, blob in blobs.items()}
    return {name: hits for name, hits in found.items() if hits}


async def _emulator(emulator: EmulatorFactory, faults: dict[str, str | None]) -> Any:
    accounts = tuple(
        AccountSpec(integration="openai", tenant_id=tenant, users=120, faults=fault)
        for tenant, fault in faults.items()
    )
    return await emulator(**{**CLI_EMULATOR, "tokens": (TOKEN,), "accounts": accounts})


def _sweep_args(url: str, tmp_path: Path, fmt: str) -> list[str]:
    return [
        "--log-level", "debug", "--log-format", "json", "--log-file", str(tmp_path / "log.json"),
        "sweep", "usage-metering/users", "--base-url", url, "--format", fmt,
        "--output", str(tmp_path / f"users.{fmt}"), "--report", str(tmp_path / "report.json"),
        "--checkpoint", str(tmp_path / "sweep.db"), "--progress", "always",
    ]  # fmt: skip


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "json", "parquet"])
async def test_an_echoing_server_leaks_into_no_file_stream_or_log(
    emulator: EmulatorFactory, tmp_path: Path, fmt: str
) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    emu = await _emulator(emulator, FAULTS)
    result = await run_cli(*_sweep_args(emu.url, tmp_path, fmt), env=cli_env(TOKEN))
    assert result.code == 1, result.err  # the refused account fails; the others finish
    report = orjson.loads((tmp_path / "report.json").read_bytes())
    assert (report["states"]["done"], report["states"]["failed"]) == (3, 1)
    assert report["totals"]["retries"] >= 3  # the echoing 502 and 500s were retried
    (failed,) = [a for a in report["accounts"] if a["state"] == "failed"]
    assert "<redacted>" in failed["error"]  # the echo reached the report, scrubbed
    events = [orjson.loads(line) for line in (tmp_path / "log.json").read_bytes().splitlines()]
    assert any(e["event"] == "retry" for e in events)
    assert any(e["event"] == "unit.failed" for e in events)
    assert (tmp_path / f"users.{fmt}").exists()  # every account ended: the file is in place
    blobs = {"stdout": result.stdout, "stderr": result.stderr, **written(tmp_path)}
    assert b"<redacted>" in blobs["stderr"]
    assert leaks(blobs) == {}


async def test_an_echoed_401_ends_the_sweep_without_the_token(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    # A refused token is the sweep's own failure: its error goes to stderr and the report.
    emu = await _emulator(emulator, {"refused": "echo:401@#0x*", "healthy": None})
    result = await run_cli(*_sweep_args(emu.url, tmp_path, "ndjson"), env=cli_env(TOKEN))
    assert result.code == 1, result.err
    report = orjson.loads((tmp_path / "report.json").read_bytes())
    assert "<redacted>" in json.dumps(report)
    blobs = {"stdout": result.stdout, "stderr": result.stderr, **written(tmp_path)}
    assert leaks(blobs) == {}


async def test_list_of_an_echoing_server_leaks_nothing(
    emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await _emulator(emulator, {"refused": "echo@#1"})
    account = emu.dataset.accounts[0].id
    output = tmp_path / "page.ndjson"
    args = ["list", "usage-metering/users", "--account", account, "--all", "--base-url", emu.url]
    result = await run_cli(*args, "--output", str(output), env=cli_env(TOKEN))
    assert result.code == 1, result.err
    assert b"<redacted>" in result.stderr
    blobs = {"stdout": result.stdout, "stderr": result.stderr, **written(tmp_path)}
    assert leaks(blobs) == {}
