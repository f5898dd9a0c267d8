"""A server that echoes the token inside successful (2xx) bodies, everywhere it can.

Records (in every obvious form of the token, also as a key), ``next_cursor`` (which the
checkpoint stores), the envelope's other members and the integrated accounts' fields
(the status a sweep's skip reason quotes, the tenant id a report shows) all carry it.
Whatever the library hands on is built from the body's bytes after the transport has
replaced every form of the token in them: the token reaches no record, page metadata,
cursor, log record, stderr line, report, checkpoint (the SQLite file and its WAL, read
while the sweep runs) or output file, in any of the four formats.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from truto_stream import AccountQuery, Client, RetryPolicy

from .rawhttp import Request, raw_server, response_head, send
from .test_secrets import BEARER, TOKEN, needles

FAST = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0, max_retry_after=0.0)
USERS = "/unified/usage-metering/users"
#: Users on the first page of an account: a body over 512 KiB, parsed as it streams.
FIRST_PAGE = 3000
ECHOES = needles()


def leaks(text: str | bytes) -> list[str]:
    """The forms of the token in ``text`` (binary files and progress bars hold ESC bytes)."""
    data = text if isinstance(text, str) else text.decode("utf-8", "replace")
    return [echo for echo in ECHOES if echo in data]


def user(account: str, i: int) -> dict[str, Any]:
    echo = ECHOES[i % len(ECHOES)]
    record: dict[str, Any] = {"id": f"{account}-u{i}", "name": f"User {i}", "note": f"x {echo} y"}
    if i % 97 == 0:
        record[BEARER] = {"nested": [echo, {"deeper": TOKEN}]}
    return record


def first_page(account: str) -> bytes:
    records = [user(account, i) for i in range(FIRST_PAGE)]
    return orjson.dumps({"result": records, "next_cursor": f"p2-{TOKEN}", "echo": BEARER})


def small_page(account: str, page: int, next_cursor: str | None) -> bytes:
    start = FIRST_PAGE + 5 * (page - 2)
    records = [user(account, i) for i in range(start, start + 5)]
    return orjson.dumps({"result": records, "next_cursor": next_cursor, "n": TOKEN})


ACCOUNTS_PAGE_1 = {
    "result": [
        {"id": "acc-a", "status": "active", "tenant_id": f"t-{TOKEN}", "context": {"k": BEARER}},
        {"id": "acc-b", "status": f"paused by {BEARER}", "tenant_id": "t2"},
    ],
    "next_cursor": f"a2-{TOKEN}",
}
ACCOUNTS_PAGE_2 = {"result": [{"id": "acc-c", "status": "active"}], "next_cursor": None}


async def trickle(writer: asyncio.StreamWriter, body: bytes, piece: int = 1000) -> None:
    """A close-delimited body in small writes: the token's forms straddle the reads."""
    writer.write(response_head(200, length=None))
    for i in range(0, len(body), piece):
        writer.write(body[i : i + piece])
        await writer.drain()
    writer.close()


class EchoServer:
    """Answers users and integrated-account lists; can hold third pages back."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.release.set()
        self.cursors: list[str] = []

    async def __call__(self, request: Request, writer: asyncio.StreamWriter) -> None:
        cursor = request.param("next_cursor")
        if cursor:
            self.cursors.append(cursor)
        if request.path == "/integrated-account":
            page = ACCOUNTS_PAGE_2 if cursor else ACCOUNTS_PAGE_1
            await send(writer, 200, page)
            return
        account = request.param("integrated_account_id") or "?"
        if cursor is None:
            await trickle(writer, first_page(account))
        elif cursor.startswith("p2-"):
            await send(writer, 200, small_page(account, 2, f"p3-{TOKEN}"))
        else:
            await self.release.wait()
            await send(writer, 200, small_page(account, 3, None))


@pytest.mark.anyio
async def test_records_cursors_and_metadata_carry_no_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = EchoServer()
    pages = []
    async with raw_server(server) as url:
        async with Client(token=TOKEN, base_url=url, retry=FAST, rate_limits=None) as client:
            async for page in client.pages("usage-metering", "users", account="acc-a"):
                pages.append(page)
    records = [r for page in pages for r in page.records]
    assert [r["id"] for r in records] == [f"acc-a-u{i}" for i in range(FIRST_PAGE + 10)]
    assert all("<redacted>" in r["note"] for r in records)  # every echo, in every form
    finals = [page for page in pages if page.final]
    assert (
        finals[0].next_cursor == "p2-<redacted>" and finals[0].meta["echo"] == "Bearer <redacted>"
    )
    assert finals[1].next_cursor == "p3-<redacted>" and finals[2].meta["n"] == "<redacted>"
    # What the client sent back: scrubbed too (a server that needs it gets "<redacted>").
    assert server.cursors == ["p2-<redacted>", "p3-<redacted>"]
    texts = [repr(page) for page in pages] + [orjson.dumps(records).decode(), caplog.text]
    texts += [repr(page.meta) for page in finals]
    assert [leaks(text) for text in texts if leaks(text)] == []


@pytest.mark.anyio
async def test_discovered_accounts_carry_no_token() -> None:
    async with raw_server(EchoServer()) as url:
        async with Client(token=TOKEN, base_url=url, retry=FAST, rate_limits=None) as client:
            accounts = [a async for a in client.integrated_accounts()]
            async with client.sweep(
                "usage-metering", "users", accounts=AccountQuery(), concurrency=2
            ) as sweep:
                async for _ in sweep:
                    pass
            report = sweep.report
    assert [a["id"] for a in accounts] == ["acc-a", "acc-b", "acc-c"]
    assert accounts[0]["tenant_id"] == "t-<redacted>"
    text = orjson.dumps(accounts).decode() + repr(report) + orjson.dumps(report.to_dict()).decode()
    assert leaks(text) == []
    assert "paused by Bearer <redacted>" in text  # the skip reason, quoting server text


def _cli(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("truto-stream")), *args]


async def _run(args: list[str], **options: Any) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "TRUTO_API_TOKEN": TOKEN, "NO_COLOR": "1"}
    return await anyio.run_process(_cli(*args), env=env, check=False, **options)


def _files(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (a Parquet file also as its rows: they are compressed)."""
    found = {}
    for path in sorted(directory.rglob("*")):
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            continue  # a directory, or a file gone since the listing (SQLite's journal)
        found[path.name] = data
        if ".parquet" in path.name and data.endswith(b"PAR1"):
            import pyarrow.parquet as pq

            rows = pq.read_table(path).to_pylist()
            found[f"{path.name} (rows)"] = orjson.dumps(rows, default=str)
    return found


async def _wait_for_checkpoint(directory: Path, needle: bytes) -> dict[str, bytes]:
    """The checkpoint's files once ``needle`` is in them (the sweep is still running)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        files = {n: d for n, d in _files(directory).items() if n.startswith("sweep.db")}
        if any(needle in data for data in files.values()):
            return files
        await anyio.sleep(0.02)
    raise AssertionError(f"the checkpoint never held {needle!r}: {sorted(_files(directory))}")


@pytest.mark.anyio
@pytest.mark.parametrize("fmt", ["ndjson", "csv", "json", "parquet"])
async def test_the_cli_writes_no_token_anywhere(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    server = EchoServer()
    # Third pages wait until the running checkpoint was read (it holds the cursor for
    # them); not for parquet, which commits progress only with whole row groups (10,000
    # rows, more than the pages before).
    hold = fmt != "parquet"
    if hold:
        server.release.clear()
    async with raw_server(server) as url, anyio.create_task_group() as tg:
        runs: dict[str, subprocess.CompletedProcess[bytes]] = {}

        async def sweep() -> None:
            runs["sweep"] = await _run(
                [
                    *("sweep", "usage-metering/users", "--base-url", url, "--format", fmt),
                    *("--output", str(out / f"users.{fmt}"), "--checkpoint", str(out / "sweep.db")),
                    *("--report", str(out / "report.json"), "--progress", "always"),
                ]
            )

        tg.start_soon(sweep)
        running = {}
        if hold:
            # The second pages' next cursor is in the checkpoint's WAL while the sweep runs.
            running = await _wait_for_checkpoint(out, b"p3-")
            server.release.set()
    for args in (
        ["list", "usage-metering/users", "--account", "acc-a"],
        [
            *("list", "usage-metering/users", "--account", "acc-a", "--all", "--format", fmt),
            *("--output", str(out / f"listed.{fmt}")),
        ],
        ["accounts"],
    ):
        async with raw_server(EchoServer()) as url:
            runs[args[0] + str(len(runs))] = await _run([*args, "--base-url", url])
    assert runs["sweep"].returncode == 0, runs["sweep"].stderr.decode()
    assert all(run.returncode == 0 for run in runs.values())
    report = orjson.loads((out / "report.json").read_bytes())
    states = {a["account_id"]: a["state"] for a in report["accounts"]}
    assert states == {"acc-a": "done", "acc-b": "skipped", "acc-c": "done"}
    texts = {f"{name} (running)": data for name, data in running.items()}
    texts |= _files(out)
    for name, run in runs.items():
        texts |= {f"{name} stdout": run.stdout, f"{name} stderr": run.stderr}
    assert {f"users.{fmt}", f"listed.{fmt}", "sweep.db", "report.json"} <= set(texts)
    assert {name: leaks(data) for name, data in texts.items() if leaks(data)} == {}
    assert b"<redacted>" in texts["list1 stderr"]  # the next cursor it prints
