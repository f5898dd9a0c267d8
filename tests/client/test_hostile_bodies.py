"""Bodies the emulator would never send, over real sockets, through ``Client.list``.

Each ends within a bounded time with a typed error (issue #10 items 3, 4, 5, 6, 9):
deep nesting, a cursor that is not a string, records that are not objects, duplicated
``result`` / ``next_cursor``, large records (linear cost, bounded memory, prompt
cancellation). Small bodies are sent with a Content-Length (decoded whole), large or
paused ones chunked (decoded incrementally): the verdict is the same on every path.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from tests.client.hostile import (
    ONE_ATTEMPT,
    RawServer,
    history_record,
    large_record,
    list_all,
)
from tests.support import TOKEN
from truto_stream import BodyLimits, Client, MalformedBody

ROOT = Path(__file__).resolve().parents[2]
PADDING = b",".join([b'{"id":"pad","name":"padding record"}'] * 20_000)  # ~700 KB


def run_probe(server: RawServer) -> tuple[str, int, int, float]:
    """List from ``server`` in a fresh process: (error, records, peak RSS KiB, seconds)."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.client.hostile", server.url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    ).stdout.split()
    return out[0], int(out[1]), int(out[2]), float(out[3])


def refused(server: RawServer, *, mode: str = "stream", within: float = 10.0) -> MalformedBody:
    """Run the list against ``server``: it must fail with MalformedBody, within ``within``."""
    start = time.monotonic()
    with pytest.raises(MalformedBody) as info:
        anyio.run(lambda: list_all(server.url, mode=mode), backend="asyncio")
    assert time.monotonic() - start < within
    return info.value


def variants(body: bytes) -> list[RawServer]:
    """The body whole (with a length), and chunked in small paused pieces."""
    return [
        RawServer(body, chunked=False),
        RawServer(body, piece=7, pause=0.0005) if len(body) < 4096 else RawServer(body, piece=4096),
    ]


# --- #10.3 nesting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"result":[' + b"[" * 40_000,
        b'{"result":[{"a":' + b"[" * 40_000,
        b'{"result":[{"a":1}],"next_cursor":' + b"[" * 40_000,
        b"[" * 40_000,
    ],
)
def test_deep_nesting_is_refused_in_bounded_time(body: bytes) -> None:
    # Before: 40,000 levels in several chunks reached 3.9 GB (the incremental path).
    for server in (RawServer(body, piece=4096, pause=0.001), RawServer(body, chunked=False)):
        with server:
            refused(server, within=5)


def test_deep_nesting_peak_memory() -> None:
    with RawServer(b'{"result":[' + b"[" * 40_000, piece=4096, pause=0.001) as server:
        error, _records, peak_kib, _seconds = run_probe(server)
    assert error == "MalformedBody"
    assert peak_kib < 200 * 1024, peak_kib


# --- #10.4 next_cursor --------------------------------------------------------------------------


@pytest.mark.parametrize("cursor", [b"12345", b'{"page":2}', b"true", b"[1]"])
@pytest.mark.parametrize("mode", ["paged", "stream"])
def test_a_cursor_that_is_not_a_string_fails_the_page(cursor: bytes, mode: str) -> None:
    # Before: the walk ended quietly after the page's 3 records.
    small = b'{"result":[{"id":1},{"id":2},{"id":3}],"next_cursor":' + cursor + b"}"
    large = b'{"result":[' + PADDING + b'],"next_cursor":' + cursor + b"}"
    for body in (small, large):
        for server in variants(body):
            with server:
                assert "next_cursor" in str(refused(server, mode=mode))


# --- #10.5 records that are not objects ---------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"result":["abc",[1,2],"def"]}',
        b"[1, null]",
        b'{"result":[{"id":1},"abc"]}',
        b'{"result":{"a":{"id":1},"b":"x"}}',
        b'{"id":1}\n[1,2]\n"x"\n',
    ],
)
def test_records_that_are_not_objects_fail_the_page(body: bytes) -> None:
    # Before: written out as broken lines ({"integrated_account_id":"acc00002",abc"...).
    for server in variants(body):
        with server:
            assert "not a JSON object" in str(refused(server))
    if body.startswith(b'{"result":['):
        with RawServer(b'{"result":[' + PADDING + b"," + body[len(b'{"result":[') :]) as server:
            refused(server)


def test_raw_bodies_are_handed_on_whole() -> None:
    body = b'{"result":["abc",[1,2],"def"],"next_cursor":null}'
    with RawServer(body, chunked=False) as server:
        got = anyio.run(
            lambda: list_all(server.url, mode="paged", params={"truto_response_format": "raw"}),
            backend="asyncio",
        )
    assert got == ["abc", [1, 2], "def"]


# --- #10.9 duplicated names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"result":[{"id":1}],"result":[{"id":2}],"next_cursor":null}',
        b'{"result":[{"id":1}],"next_cursor":"a","next_cursor":null}',
        b'{"next_cursor":"a","result":[{"id":1}],"next_cursor":null}',
    ],
)
@pytest.mark.parametrize("mode", ["paged", "stream"])
def test_a_duplicated_result_or_cursor_fails_the_page(body: bytes, mode: str) -> None:
    # Before: the last result won in a small body, the first above 512 KiB.
    large = body.replace(b'{"id":1}', PADDING + b',{"id":1}', 1)
    for data in (body, large):
        for server in variants(data):
            with server:
                assert "twice" in str(refused(server, mode=mode))


# --- #10.6 large records ------------------------------------------------------------------------


def test_a_large_record_is_parsed_in_linear_time() -> None:
    # Before: one 8 MB record took 55 s (the growing buffer was decoded again each chunk).
    with large_record(8 * 2**20) as server:
        start = time.monotonic()
        got = anyio.run(lambda: list_all(server.url), backend="asyncio")
        elapsed = time.monotonic() - start
    assert [r["id"] for r in got] == ["a", "big", "z"]  # type: ignore[index]
    assert elapsed < 10, elapsed


def test_a_16_mb_record_peak_memory() -> None:
    # About 45 MB of it is the record's own Python objects.
    with large_record(16 * 2**20, history_record) as server:
        error, records, peak_kib, _seconds = run_probe(server)
    assert (error, records) == ("none", 3)
    assert peak_kib < 200 * 1024, peak_kib


def test_whitespace_after_a_record_is_not_rescanned() -> None:
    # Before: whitespace after the first record made the parser rescan the buffer.
    body = b'{"result":[{"id":"a"}' + b" " * (24 * 2**20) + b',{"id":"b"}],"next_cursor":null}'
    with RawServer(body, piece=2**18) as server:
        start = time.monotonic()
        got = anyio.run(lambda: list_all(server.url), backend="asyncio")
        elapsed = time.monotonic() - start
    assert got == [{"id": "a"}, {"id": "b"}]
    assert elapsed < 10, elapsed


def test_cancelling_mid_record_returns_promptly() -> None:
    # The read loop reaches a real scheduling point per chunk, with bounded work per
    # chunk: cancelling in the middle of a 16 MB record returns within about a second.
    async def main() -> float:
        got: list[object] = []
        first = anyio.Event()
        async with Client(token=TOKEN, base_url=server.url, retry=ONE_ATTEMPT) as client:

            async def consume() -> None:
                async for record in client.list(
                    "usage-metering", "users", account="acc1", mode="stream"
                ):
                    got.append(record)
                    first.set()

            async with anyio.create_task_group() as group:
                group.start_soon(consume)
                await first.wait()
                await anyio.sleep(0.3)  # well inside the big record by now
                cancelled = time.monotonic()
                group.cancel_scope.cancel()
            elapsed = time.monotonic() - cancelled
        assert got == [{"id": "a"}]
        return elapsed

    # Paced (64 KiB per 10 ms, about 2.5 s in all): still arriving when the cancel comes,
    # however fast the machine parses.
    with large_record(16 * 2**20, pause=0.01) as server:
        assert anyio.run(main, backend="asyncio") < 1.0


def test_body_limits_are_set_on_the_client() -> None:
    # The bounds are the caller's: a lower nesting limit refuses what the default accepts.
    body = b'{"result":[{"id":1,"tags":[[["deep"]]]}],"next_cursor":null}'

    async def run(limits: BodyLimits | None) -> list[object]:
        async with Client(
            token=TOKEN, base_url=server.url, retry=ONE_ATTEMPT, body_limits=limits
        ) as client:
            return [r async for r in client.list("usage-metering", "users", account="acc1")]

    for server in variants(body):
        with server:
            assert len(anyio.run(run, None, backend="asyncio")) == 1
            with pytest.raises(MalformedBody, match="deeper than 5 levels"):
                anyio.run(run, BodyLimits(max_depth=5), backend="asyncio")
