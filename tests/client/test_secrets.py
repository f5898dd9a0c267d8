"""A server that echoes the token, or sends terminal escapes, in every place it can put text.

The token (and its URL, JSON, hex and base64 forms, alone or as ``Bearer <token>``) must
appear in no exception (message, attributes, repr, pickle, chain), no log record, no
line on stderr, no report, no checkpoint and no output file; server text in errors is
escaped and bounded. Served by a raw-socket server (tests/client/rawhttp.py) so that
the answers can be as broken as a real server's can be.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import pickle
import sqlite3
import subprocess
import sys
import traceback
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import orjson
import pytest

from tests.support import EmulatorFactory, echo_forms
from truto_stream import Client, RetryPolicy, TrutoError
from truto_stream.emulator import AccountSpec

from .rawhttp import Request, raw_server, response_head, send

TOKEN = "sk-live/9f8e7d6c5b4a+3210=zyx&w?v"
BEARER = f"Bearer {TOKEN}"
ESC = "\x1b[2J\x1b[31mPWNED\x1b]0;title\x07"
FAST = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0, max_retry_after=0.0)
PATH = "/unified/usage-metering/users"


def needles() -> list[str]:
    """Every form of the token a server might echo."""
    return echo_forms(TOKEN)


def leaks(text: str | bytes) -> list[str]:
    data = text if isinstance(text, str) else text.decode("utf-8", "replace")
    found = [n for n in needles() if n in data]
    if "\x1b" in data:
        found.append("a raw ESC character")
    return found


def echo_document() -> dict[str, Any]:
    b64 = base64.b64encode(f"Authorization: {BEARER}".encode()).decode()
    return {
        "statusCode": 400,
        "error": f"Bad Request {quote(BEARER)}",
        "message": f"Bad request with credentials {BEARER} for acc {ESC}",
        "truto_is_remote_error": False,
        "raw_response": {"echo": b64, "json": json.dumps(TOKEN)},
        "truto_error_insight": {
            "remote_error": {
                "description": f"sent {base64.urlsafe_b64encode(TOKEN.encode()).decode()}",
                "value": {"headers": {"authorization": BEARER}, "hex": TOKEN.encode().hex()},
            },
            BEARER: {"description": ESC, "value": [TOKEN] * 3},
        },
    }


ECHO_HEADERS = {"X-Echo": BEARER, "Retry-After": TOKEN, "ratelimit-reset": TOKEN}


async def _cut(writer: asyncio.StreamWriter) -> None:
    body = f'{{"result": [{{"id": "{BEARER}"}}, {{"id": "{ESC}'.encode()
    writer.write(response_head(200, length=len(body) + 1000) + body)
    await writer.drain()
    writer.close()


async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
    """Each account id is one way of echoing the token."""
    assert request.headers.get("authorization") == BEARER  # the client did send it
    account = request.param("integrated_account_id") or "discovery"
    if account == "acc-body":
        await send(writer, 400, echo_document(), ECHO_HEADERS, reason=BEARER)
    elif account == "acc-remote5xx":
        doc = {**echo_document(), "statusCode": 502, "truto_is_remote_error": True}
        await send(writer, 502, doc, ECHO_HEADERS, reason=BEARER)
    elif account == "acc-429":
        await send(writer, 429, {**echo_document(), "statusCode": 429}, {"Retry-After": "0"})
    elif account == "acc-status-line":
        writer.write(f"HTTP/1.1 2x0 {BEARER} {ESC}\r\nContent-Length: 2\r\n\r\n{{}}".encode())
        await writer.drain()
        writer.close()
    elif account == "acc-header-line":
        writer.write(f"HTTP/1.1 200 OK\r\n{BEARER}{ESC}\r\nContent-Length: 2\r\n\r\n{{}}".encode())
        await writer.drain()
        writer.close()
    elif account == "acc-malformed":
        text = f'{{"result": [{{"id": "u1"}}, {{"id": {BEARER} {ESC}}}], "next_cursor": null}}'
        await send(writer, 200, text.encode())
    elif account == "acc-malformed-large":
        users = b",".join(orjson.dumps({"id": f"u{i}", "n": "x" * 500}) for i in range(2000))
        body = b'{"result": [' + users + f", {BEARER} {ESC}]}}".encode()
        await send(writer, 200, body)
    elif account == "acc-content-type":
        await send(writer, 200, b"<html></html>", {"Content-Type": f"text/html{BEARER}{ESC}"})
    elif account == "acc-cut":
        await _cut(writer)
    else:
        await send(writer, 404, {"statusCode": 404, "message": f"no {BEARER}"})


ACCOUNTS = [
    "acc-body",
    "acc-remote5xx",
    "acc-429",
    "acc-status-line",
    "acc-header-line",
    "acc-malformed",
    "acc-malformed-large",
    "acc-content-type",
    "acc-cut",
]


def exception_texts(err: BaseException) -> list[str | bytes]:
    texts: list[str | bytes] = [str(err), repr(err), repr(vars(err)), pickle.dumps(err)]
    texts.append("".join(traceback.format_exception(err)))
    texts += [repr(err.__cause__), repr(err.__context__), repr(err.args)]
    texts.append(repr(pickle.loads(pickle.dumps(err)).__dict__))
    return texts


@pytest.mark.anyio
@pytest.mark.parametrize("account", ACCOUNTS)
async def test_no_exception_carries_the_token_or_raw_escapes(
    account: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with raw_server(handler) as url:
        async with Client(token=TOKEN, base_url=url, retry=FAST, rate_limits=None) as client:
            with pytest.raises(TrutoError) as info:
                async for _ in client.list("usage-metering", "users", account=account):
                    pass
    err = info.value
    assert err.account_id == account
    found = {i: leaks(text) for i, text in enumerate([*exception_texts(err), caplog.text])}
    assert not any(found.values()), (type(err).__name__, str(err), found)
    assert len(str(err)) < 2_000


@pytest.mark.anyio
async def test_server_text_is_kept_escaped_and_bounded() -> None:
    long = "A" * 10_000  # within the 64 KiB read of an error body

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, 400, {"error": "Bad Request", "message": f"{ESC}{long}"})

    async with raw_server(answer) as url:
        async with Client(token=TOKEN, base_url=url, retry=FAST) as client:
            with pytest.raises(TrutoError) as info:
                async for _ in client.list("usage-metering", "users", account="a"):
                    pass
    err = info.value
    assert "\\x1b[2J\\x1b[31mPWNED" in str(err)  # shown, as text
    assert "\x1b" not in str(err) + repr(err)
    assert len(str(err)) < 2_000
    assert "more chars" in str(err)


@pytest.mark.anyio
async def test_a_bad_status_line_does_not_quote_record_data() -> None:
    # A server out of step writes a body where a status line belongs.
    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(b'{"id": "u1", "name": "Alice Liddell", "email": "alice@example.com"}\r\n\r\n')
        await writer.drain()
        writer.close()

    async with raw_server(answer) as url:
        async with Client(token=TOKEN, base_url=url, retry=FAST) as client:
            with pytest.raises(TrutoError) as info:
                async for _ in client.list("usage-metering", "users", account="a"):
                    pass
    text = str(info.value) + repr(info.value) + "".join(traceback.format_exception(info.value))
    assert "Alice" not in text and "alice@" not in text
    assert "not valid HTTP" in str(info.value)


def _cli(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("truto-stream")), *args]


@pytest.mark.anyio
async def test_the_cli_shows_and_writes_no_token(tmp_path: Path) -> None:
    files = {name: str(tmp_path / name) for name in ("report.json", "sweep.db", "users.ndjson")}
    runs: dict[str, subprocess.CompletedProcess[bytes]] = {}

    async def run(name: str, *args: str) -> None:
        env = {**os.environ, "TRUTO_API_TOKEN": TOKEN, "NO_COLOR": "1"}
        runs[name] = await anyio.run_process(_cli(*args), env=env, check=False)

    async with raw_server(handler) as url, anyio.create_task_group() as tg:
        accounts = [arg for account in ACCOUNTS for arg in ("--account", account)]
        tg.start_soon(
            partial(
                run,
                "sweep",
                *("sweep", "usage-metering/users", *accounts, "--base-url", url),
                *("--report", files["report.json"], "--checkpoint", files["sweep.db"]),
                *("--output", files["users.ndjson"], "--progress", "never"),
            )
        )
        for account in ("acc-body", "acc-status-line", "acc-malformed"):
            args = ("list", "usage-metering/users", "--account", account, "--base-url", url)
            tg.start_soon(partial(run, f"list {account}", *args))
    swept = runs.pop("sweep")
    listed = list(runs.values())
    assert swept.returncode == 1, swept.stderr.decode()
    assert all(run.returncode == 1 for run in listed)
    texts = {"sweep stderr": swept.stderr, "sweep stdout": swept.stdout}
    texts |= {name: run.stderr + run.stdout for name, run in runs.items()}
    texts |= _files(tmp_path)
    accounts = orjson.loads(texts["report.json"])["accounts"]
    assert {a["account_id"]: a["state"] for a in accounts} == dict.fromkeys(ACCOUNTS, "failed")
    assert {"report.json", "sweep.db"} <= set(texts)
    assert {name: leaks(data) for name, data in texts.items() if leaks(data)} == {}


def _files(directory: Path) -> dict[str, bytes]:
    """Every file the run left (report, checkpoint, output or .partial), as text.

    A SQLite file is binary (any byte, ESC included, can occur in it): it is read as the
    SQL text of its contents; its raw bytes are still searched for the token.
    """
    texts = {}
    for path in directory.iterdir():
        if path.is_file() and path.suffix == ".db":
            with contextlib.closing(sqlite3.connect(path)) as db:
                texts[f"{path.name} (SQL)"] = "\n".join(db.iterdump()).encode()
            texts[path.name] = path.read_bytes().replace(b"\x1b", b"")
        elif path.is_file():
            texts[path.name] = path.read_bytes()
    return texts


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "error"), [("echo@#0x*", "BadRequest"), ("echo:500@#1x*", "ServerError")]
)
async def test_the_emulators_echo_fault_leaks_nothing(
    emulator: EmulatorFactory, caplog: pytest.LogCaptureFixture, fault: str, error: str
) -> None:
    # The emulator's own echo (Bearer <token>, URL-encoded, base64, in message,
    # raw_response, insight and a header); echo:500 is a remote 500, so retried first.
    caplog.set_level(logging.DEBUG)
    emu = await emulator(
        tokens=(TOKEN,),
        accounts=(AccountSpec(integration="claude", tenant_id="t", users=300, faults=fault),),
    )
    account = emu.dataset.accounts[0].id
    async with Client(token=TOKEN, base_url=emu.url, retry=FAST) as client:
        with pytest.raises(TrutoError) as info:
            async for _ in client.list(
                "usage-metering", "users", account=account, params={"limit": 100}
            ):
                pass
    err = info.value
    assert type(err).__name__ == error and err.account_id == account
    assert "<redacted>" in str(err)  # the echo was there, and was scrubbed
    found = {i: leaks(text) for i, text in enumerate([*exception_texts(err), caplog.text])}
    assert not any(found.values()), found
